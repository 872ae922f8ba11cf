"""The engine's Prometheus metrics (``GET /metrics``); names and labels are documented in docs/metrics.md.

Two sources, so the executor is never touched:
- gauges and the counters the engine already keeps (restarts, proxy counters) are computed at scrape
  time from the engine's state (``EngineCollector``);
- durations and outcome counters are fed by the event tail (``observe_event``) and by the prober's
  result hook (``observe_probe``). They count from the engine's start, as Prometheus counters do.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from mooring.engine.book import InstanceBook
from mooring.engine.outcomes import release_outcome
from mooring.health.result import ProbeResult
from mooring.network import Edge
from mooring.runtime.dispatch import Drivers
from mooring.runtime.record import InstanceRecord
from mooring.store import Event, Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TARGET_STATES = ("pending", "starting", "ready", "failed", "rolled_back", "skipped", "removed")
# Releases take seconds to many minutes; batches and probes are shorter.
RELEASE_BUCKETS = (1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600)
BATCH_BUCKETS = (0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
PROBE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
CRON_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)


class EngineMetrics:
    """One registry per engine: the collector of live state plus the event-fed histograms and counters."""

    def __init__(self, store: Store, book: InstanceBook, collector: EngineCollector) -> None:
        self.store = store
        self.book = book
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.releases_finished = Counter(
            "mooring_releases_finished",
            "Releases that reached a final status since the engine started.",
            ["app", "status"],
            registry=r,
        )
        self.release_duration = Histogram(
            "mooring_release_duration_seconds",
            "From a release's start to its final status.",
            ["app", "status"],
            buckets=RELEASE_BUCKETS,
            registry=r,
        )
        self.batch_duration = Histogram(
            "mooring_batch_duration_seconds",
            "From a batch's start to its end (all its targets ready or failed).",
            ["app", "service"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.target_transitions = Counter(
            "mooring_target_transitions",
            "Target state changes recorded by release executors, by the state entered.",
            ["app", "service", "state"],
            registry=r,
        )
        self.release_controls = Counter(
            "mooring_release_controls",
            "Operator and engine controls of releases: pause, resume, cancel requests, pauses, rollbacks.",
            ["app", "action"],
            registry=r,
        )
        self.probe_duration = Histogram(
            "mooring_probe_duration_seconds",
            "How long one health probe took.",
            ["app", "service", "kind"],
            buckets=PROBE_BUCKETS,
            registry=r,
        )
        self.probes = Counter(
            "mooring_probes",
            "Health probes run, by result (ok or fail).",
            ["app", "service", "kind", "result"],
            registry=r,
        )
        self.cron_runs = Counter(
            "mooring_cron_runs",
            "Cron and worker runs that ended (or were skipped), by outcome.",
            ["app", "kind", "name", "outcome"],
            registry=r,
        )
        self.cron_duration = Histogram(
            "mooring_cron_run_duration_seconds",
            "How long a cron or worker run took.",
            ["app", "kind", "name"],
            buckets=CRON_BUCKETS,
            registry=r,
        )
        self.events = Counter(
            "mooring_events", "Events recorded in the journal, by type.", ["app", "type"], registry=r
        )
        r.register(collector)
        self._batch_started: dict[tuple[str, int, str], float] = {}

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    # --- fed by the event tail and the prober ----------------------------------------------------

    def observe_event(self, event: Event) -> None:
        app, kind, p = event.app, event.type, event.payload
        self.events.labels(app, kind).inc()
        at = event.created_at.timestamp()
        outcome = release_outcome(event)
        if outcome is not None:
            self.releases_finished.labels(app, outcome).inc()
            duration = self._release_duration(event)
            if duration is not None:
                self.release_duration.labels(app, outcome).observe(duration)
        if kind in ("release.paused", "release.resumed", "release.rolling_back") or kind.endswith(
            "_requested"
        ):
            self.release_controls.labels(app, kind[len("release.") :]).inc()
        elif kind == "batch.started" and event.release_id:
            self._batch_started[(event.release_id, int(p.get("batch", 0)), str(p.get("service")))] = at
        elif kind == "batch.completed" and event.release_id:
            key = (event.release_id, int(p.get("batch", 0)), str(p.get("service")))
            started = self._batch_started.pop(key, None)
            if started is not None:
                self.batch_duration.labels(app, key[2]).observe(max(0.0, at - started))
        elif kind.startswith("target.") and p.get("state"):
            self.target_transitions.labels(app, str(p.get("service", "")), str(p["state"])).inc()
        elif kind in ("cron.finished", "worker.finished") and p.get("outcome"):
            which = kind.split(".")[0]
            name = str(p.get(which, ""))
            self.cron_runs.labels(app, which, name, str(p["outcome"])).inc()
            if isinstance(p.get("duration"), int | float):
                self.cron_duration.labels(app, which, name).observe(float(p["duration"]))
        elif kind == "cron.skipped":
            self.cron_runs.labels(app, "cron", str(p.get("cron", "")), "skipped").inc()

    def _release_duration(self, event: Event) -> float | None:
        if event.release_id is None:
            return None
        release = self.store.get_release(event.release_id)
        start = release.started_at or release.created_at
        end = release.finished_at or event.created_at
        return max(0.0, (end - start).total_seconds())

    def observe_probe(self, instance_id: str, kind: str, result: ProbeResult) -> None:
        entry = self.book.entries.get(instance_id)
        app, service = (entry.app, entry.service) if entry else ("", instance_id)
        self.probe_duration.labels(app, service, kind).observe(result.latency_ms / 1000)
        self.probes.labels(app, service, kind, "ok" if result.ok else "fail").inc()


class EngineCollector(Collector):
    """Gauges computed from the engine's state at each scrape: nothing to keep in step.

    ``health_of(instance_id)`` is the prober's verdict (None without a health check);
    ``releases_running()`` counts the release executors at work (engine/releases.py).
    """

    def __init__(
        self,
        store: Store,
        book: InstanceBook,
        drivers: Drivers,
        proxy: Edge,
        *,
        version: str,
        started_at: float,
        health_of: Callable[[str], str | None],
        releases_running: Callable[[], int],
    ) -> None:
        self.store = store
        self.book = book
        self.drivers = drivers
        self.proxy = proxy
        self.version = version
        self.started_at = started_at
        self.health_of = health_of
        self.releases_running = releases_running

    def describe(self) -> list[Any]:
        return []  # computed per scrape; no fixed description needed

    def collect(self) -> Iterator[Any]:
        yield from self._engine_facts()
        releases = GaugeMetricFamily(
            "mooring_releases", "Releases recorded, by app and status.", labels=["app", "status"]
        )
        for (app, status), n in sorted(self.store.release_counts().items()):
            releases.add_metric([app, status], n)
        yield releases
        apps = sorted(a.name for a in self.store.list_apps())
        yield from self._current_releases(apps)
        yield from self._instances()
        yield from self._proxy(apps)

    def _engine_facts(self) -> Iterator[Any]:
        info = GaugeMetricFamily("mooring_engine_info", "The engine answering.", labels=["version"])
        info.add_metric([self.version], 1)
        yield info
        yield GaugeMetricFamily(
            "mooring_engine_start_time_seconds",
            "When the engine started, seconds since the epoch.",
            value=self.started_at,
        )
        yield GaugeMetricFamily(
            "mooring_engine_uptime_seconds",
            "Seconds since the engine started.",
            value=time.time() - self.started_at,
        )
        yield CounterMetricFamily(
            "mooring_store_commits",
            "Write transactions this engine committed to the store.",
            value=self.store.commits,
        )
        yield GaugeMetricFamily(
            "mooring_releases_running",
            "Release executors running now.",
            value=self.releases_running(),
        )

    def _current_releases(self, apps: list[str]) -> Iterator[Any]:
        store = self.store
        targets = GaugeMetricFamily(
            "mooring_targets",
            "Targets of each app's current (newest) release, by state.",
            labels=["app", "release", "state"],
        )
        progress = GaugeMetricFamily(
            "mooring_current_release_info",
            "Each app's current release: 1, with its number, status and control as labels.",
            labels=["app", "release", "number", "status", "control"],
        )
        for app in apps:
            release = store.latest_release(app)
            if release is None:
                continue
            progress.add_metric([app, release.id, str(release.number), release.status, release.control], 1)
            tally = Tally(t.state for t in store.list_targets(release.id))
            for state in TARGET_STATES:
                targets.add_metric([app, release.id, state], tally.get(state, 0))
        yield progress
        yield targets

    def _instances(self) -> Iterator[Any]:
        instances = GaugeMetricFamily(
            "mooring_instances",
            "Instances the engine owns, by state and health ('none' without a health check).",
            labels=["app", "service", "kind", "state", "health"],
        )
        restarts = CounterMetricFamily(
            "mooring_instance_restarts",
            "Restarts of each instance by its restart policy.",
            labels=["app", "service", "instance"],
        )
        tally: Tally[tuple[str, str, str, str, str]] = Tally()
        # From the supervisor's records, not Engine.instances(): that samples cpu and memory of every
        # process (psutil), most of a scrape's time, for numbers no metric here uses.
        for iid, entry in list(self.book.entries.items()):
            record: InstanceRecord | None
            try:
                record = self.drivers.record(iid)
            except Exception:  # forgotten meanwhile (a cron's next run replaced it)
                record = entry.record
            if record is None:
                continue
            health = self.health_of(iid) or "none"
            tally[(entry.app, entry.service, entry.kind, record.state.value, health)] += 1
            restarts.add_metric([entry.app, entry.service, iid], record.restarts)
        for labels, n in sorted(tally.items()):
            instances.add_metric(list(labels), n)
        yield instances
        yield restarts

    def _proxy(self, apps: list[str]) -> Iterator[Any]:
        """Per published service, read through ``Proxy.view(app)`` (the edge's counters, whatever serves them)."""
        labels = ["app", "service"]
        connections = CounterMetricFamily(
            "mooring_edge_connections",
            "Client connections accepted on the service's published ports.",
            labels=labels,
        )
        errors = CounterMetricFamily(
            "mooring_edge_errors",
            "Client connections the edge could not serve (no ready instance, or all refused).",
            labels=labels,
        )
        active = GaugeMetricFamily("mooring_edge_active_connections", "Connections open now.", labels=labels)
        sent = CounterMetricFamily(
            "mooring_edge_bytes",
            "Bytes through the edge: in = client to instance, out = instance to client.",
            labels=[*labels, "direction"],
        )
        for app in apps:
            for route in self.proxy.view(app):
                c = route.get("counters") or {}
                service = str(route.get("service"))
                connections.add_metric([app, service], c.get("connections", 0))
                errors.add_metric([app, service], c.get("errors", 0))
                active.add_metric([app, service], c.get("active", 0))
                sent.add_metric([app, service, "in"], c.get("bytes_in", 0))
                sent.add_metric([app, service, "out"], c.get("bytes_out", 0))
        yield from (connections, errors, active, sent)
