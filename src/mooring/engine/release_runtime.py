"""The executor's runtime port, implemented with the engine's supervisor, prober and book."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mooring.engine.book import BookEntry, InstanceBook
from mooring.engine.journal import Journal
from mooring.engine.secret_files import SecretFileError, remove_secret_files
from mooring.engine.secret_material import SecretMaterial
from mooring.engine.snapshots import Snapshots
from mooring.engine.specs import build_instance, new_instance_id, runs_on_cluster
from mooring.engine.stall import wait_first
from mooring.errors import MooringError
from mooring.health import HealthState, HealthStatus, Prober
from mooring.manifest.diff import spec_hash
from mooring.manifest.durations import parse_duration
from mooring.network import Edge, PublishError, mappings_of, rules_of
from mooring.release.model import Reason
from mooring.release.ports import Readiness, Traffic
from mooring.runtime.container import ImagePullFailed
from mooring.runtime.dispatch import Drivers
from mooring.runtime.states import InstanceState
from mooring.store import Store

log = logging.getLogger("mooring.engine")
ENDED = {InstanceState.EXITED, InstanceState.FAILED, InstanceState.STOPPED}
DOWN = {*ENDED, InstanceState.BACKOFF}


def judged(status: HealthStatus) -> bool:
    """Healthy, or unhealthy on the instance's own answer: the readiness gate can decide now."""
    if status.state is HealthState.HEALTHY:
        return True
    last = status.last_result
    return status.state is HealthState.UNHEALTHY and last is not None and last.answered


class EngineRuntime:
    """Starts, gates and stops instances for releases.

    ``admit(instance_id, entry)`` puts an instance behind its published ports and
    ``watch_health(instance_id)`` registers its probe: the engine's own (engine/core.py), which also
    does both for adopted instances.
    """

    def __init__(
        self,
        store: Store,
        journal: Journal,
        snapshots: Snapshots,
        book: InstanceBook,
        drivers: Drivers,
        prober: Prober,
        proxy: Edge,
        secret_material: SecretMaterial,
        home: Path,
        *,
        admit: Callable[[str, BookEntry], None],
        watch_health: Callable[[str], None],
    ) -> None:
        self.store = store
        self.journal = journal
        self.snapshots = snapshots
        self.book = book
        self.drivers = drivers
        self.prober = prober
        self.proxy = proxy
        self.secret_material = secret_material
        self.home = home
        self.admit = admit
        self.watch_health = watch_health
        self._pulls: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._apps: dict[str, str] = {}  # release id -> its app

    def snapshot(self, release_id: str) -> dict[str, Any]:
        return self.snapshots.data(release_id)

    def _app_of(self, release_id: str) -> str:
        """A release's app never changes: read once (a store read per start was 14 % of `up` at N=500)."""
        app = self._apps.get(release_id)
        if app is None:
            app = self._apps[release_id] = self.store.get_release(release_id).app
        return app

    def new_instance_id(self, service: str, replica: int) -> str:
        return new_instance_id(service, replica)

    def exists(self, instance_id: str) -> bool:
        return instance_id in self.book.entries

    def serve(self, instance_id: str) -> None:
        """Cut over: the proxy may send new connections to this instance (it passed its gate)."""
        entry = self.book.entries.get(instance_id)
        if entry is None:
            return
        try:
            self.admit(instance_id, entry)
        except PublishError as exc:  # start() published the ports; only a concurrent down unpublishes them
            log.error("cannot cut over to %s: %s", instance_id, exc)

    async def switch(self, serve: Sequence[str], retire: Sequence[str]) -> None:
        """blue_green's cut-over in one edge sync: the new set in, the old set draining, together."""
        for instance_id in serve:
            self.serve(instance_id)
        for instance_id in retire:
            self.proxy.retire(instance_id)
        await self.proxy.sync_soon()

    async def weigh(self, release_id: str, service: str, canary: Sequence[str], percent: int | None) -> None:
        """A weighted canary's share of the service's traffic, in the edge (rollout.canary_weight)."""
        app = self._app_of(release_id)
        await self.proxy.weigh(app, service, canary, percent)

    async def traffic(self, instance_ids: Sequence[str]) -> dict[str, Traffic]:
        """The edge's HTTP counters of each instance, read from HAProxy now (rollout.analysis)."""
        await self.proxy.refresh()
        found = {}
        for instance_id in instance_ids:
            c = self.proxy.instance_counters(instance_id) or {}
            found[instance_id] = Traffic(
                c.get("requests", 0), c.get("http_5xx", 0), c.get("response_ms", 0.0)
            )
        return found

    async def prepare(self, service: str, release_id: str) -> str | None:
        """Pull the service's image if the container engine lacks it; the error text if that fails."""
        snapshot = self.snapshot(release_id)
        image = snapshot["service"][service].get("image")
        if not image or runs_on_cluster(snapshot, service):
            return None  # a cluster's nodes pull their own images when Swarm places a task
        try:
            driver = self.drivers.container
            if not await driver.has_image(image):
                # one pull (and one pair of events) per release and image, however many targets wait
                key = (release_id, image)
                if key not in self._pulls:
                    self._pulls[key] = asyncio.ensure_future(self._pull(release_id, service, image))
                await asyncio.shield(self._pulls[key])
        except ImagePullFailed as exc:
            return f"service {service}: {exc.message}"
        except Exception as exc:  # no engine at all, a broken engine.toml: still this image's problem
            return f"service {service}: cannot get image {image!r}: {exc}"
        return None

    async def _pull(self, release_id: str, service: str, image: str) -> None:
        """Pull with ``image.pulling`` then ``image.pulled`` or ``image.pull_failed`` in the release's events."""
        app = self._app_of(release_id)
        journal = self.journal  # through the journal: it wakes event-stream followers
        journal.append_event(app, "image.pulling", {"service": service, "image": image}, release_id)
        started = time.monotonic()
        try:
            await self.drivers.container.ensure_image(image)
        except Exception as exc:
            error = getattr(exc, "message", None) or str(exc)
            journal.append_event(
                app, "image.pull_failed", {"service": service, "image": image, "error": error}, release_id
            )
            raise
        finally:
            self._pulls.pop((release_id, image), None)
        seconds = round(time.monotonic() - started, 2)
        journal.append_event(
            app, "image.pulled", {"service": service, "image": image, "seconds": seconds}, release_id
        )

    async def start(self, instance_id: str, service: str, replica: int, release_id: str) -> str | None:
        snapshot = self.snapshot(release_id)
        svc = snapshot["service"][service]
        app = self._app_of(release_id)
        try:
            legacy, named, folder = self.secret_material(app, snapshot, service, "service", instance_id)
            planned = build_instance(
                app,
                service,
                replica,
                snapshot,
                legacy,
                release_id,
                spec_hash(svc),
                instance_id=instance_id,
                named_secrets=named,
                secrets_dir=folder,
            )
        except (ValueError, KeyError) as exc:
            return f"cannot build the instance: {exc}"
        except (MooringError, SecretFileError, OSError) as exc:
            remove_secret_files(self.home, instance_id)
            return f"cannot give the instance its secrets: {exc}"
        try:  # bind the published ports before the instance runs: a port in use fails this target only
            await self.proxy.publish(app, service, mappings_of(svc))
            await self.proxy.route_http(app, service, rules_of(app, service, svc))
        except PublishError as exc:
            return str(exc)
        entry = BookEntry(app, service, replica, release_id, spec_hash(svc), planned.ports, planned.probe)
        entry.driver = planned.spec.driver
        self.book.add(instance_id, entry)
        try:
            record = await self.drivers.start(planned.spec)
        except Exception as exc:  # an invalid spec, a runtime bug: the target fails, the engine lives
            log.exception("starting %s failed", instance_id)
            return f"{type(exc).__name__}: {exc}"
        if record.state not in (InstanceState.RUNNING, InstanceState.STARTING):
            return record.last_exit_message or f"instance is {record.state.value}"
        self.watch_health(instance_id)
        return None

    async def wait_ready(
        self,
        instance_id: str,
        timeout: float,
        min_ready: float,
        interrupt: asyncio.Event,
        on_health: Callable[[str, str], None] | None = None,
    ) -> Readiness:
        gate = asyncio.ensure_future(self._gate(instance_id, timeout, min_ready, on_health))
        stop = asyncio.ensure_future(interrupt.wait())
        try:
            done, _ = await asyncio.wait({gate, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (gate, stop):
                task.cancel()
            await asyncio.gather(gate, stop, return_exceptions=True)
        if gate in done and not gate.cancelled() and gate.exception() is None:
            return gate.result()
        if gate in done and gate.exception() is not None:
            return Readiness(False, Reason.READINESS_FAILED, str(gate.exception()))
        return Readiness(False, interrupted=True)

    async def _gate(
        self,
        instance_id: str,
        timeout: float,
        min_ready: float,
        on_health: Callable[[str, str], None] | None = None,
    ) -> Readiness:
        supervisor, prober = self.drivers, self.prober
        if instance_id not in prober or timeout == 0:
            try:
                record = await supervisor.wait_for(
                    instance_id, {InstanceState.RUNNING, *DOWN}, timeout or 30.0
                )
            except TimeoutError:
                return Readiness(False, Reason.READINESS_TIMEOUT, f"not running within {timeout or 30.0:g}s")
            if record.state is not InstanceState.RUNNING:
                return Readiness(False, Reason.PROCESS_EXITED, record.last_exit_message)
        else:
            # fail fast: `retries` counted failures (after start_period) make it unhealthy; when the
            # instance itself answered the last of them (HTTP 500, exit 1) that is a verdict and the
            # gate fails now. No answer at all (refused, timeout) may be a slow start: the deadline decides.
            # The deadline does not count time the engine did not run (engine/stall.py); the inner
            # waits get a far deadline of their own, only as a bound.
            bound = timeout * 4 + 600
            healthy = asyncio.ensure_future(prober.wait_until(instance_id, judged, bound))
            died = asyncio.ensure_future(supervisor.wait_for(instance_id, DOWN, bound))
            try:
                done = await wait_first({healthy, died}, timeout)
            finally:
                for task in (healthy, died):
                    task.cancel()
                await asyncio.gather(healthy, died, return_exceptions=True)
            if not (healthy in done and not healthy.cancelled() and healthy.exception() is None):
                record = supervisor.record(instance_id)
                if record.state in DOWN:
                    return Readiness(False, Reason.PROCESS_EXITED, record.last_exit_message)
                # one fresh probe before failing: the last result may predate a freeze of the engine
                status = await prober.probe_fresh(instance_id)
                if status.state is not HealthState.HEALTHY:
                    last = status.last_result.detail if status.last_result else "no probe answered"
                    if status.state is HealthState.UNHEALTHY:
                        return Readiness(False, Reason.READINESS_FAILED, f"unhealthy: {last}")
                    return Readiness(
                        False, Reason.READINESS_TIMEOUT, f"not healthy within {timeout:g}s ({last})"
                    )
            status = prober.status(instance_id)
            if status.state is HealthState.UNHEALTHY:
                status = await prober.probe_fresh(instance_id)  # judged on a result from before a freeze?
            if status.state is HealthState.UNHEALTHY:
                last = status.last_result.detail if status.last_result else "no probe answered"
                if on_health is not None:
                    on_health(status.state.value, last)
                return Readiness(False, Reason.READINESS_FAILED, f"unhealthy: {last}")
        if min_ready > 0:
            return await self._stable(instance_id, min_ready)
        return Readiness(True)

    async def _stable(self, instance_id: str, window: float) -> Readiness:
        """Ready must hold for ``window``: a crash or an unhealthy probe inside it fails the target."""
        supervisor, prober = self.drivers, self.prober
        waits: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(supervisor.wait_for(instance_id, DOWN, window))
        ]
        if instance_id in prober:
            waits.append(asyncio.ensure_future(prober.wait_for(instance_id, {HealthState.UNHEALTHY}, window)))
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        broke = [t for t in done if not t.cancelled() and t.exception() is None]
        if not broke:
            return Readiness(True)
        record = supervisor.record(instance_id)
        detail = record.last_exit_message if record.state in DOWN else "turned unhealthy"
        return Readiness(False, Reason.UNSTABLE, f"inside min_ready {window:g}s: {detail}")

    async def stop(self, instance_id: str) -> int:
        entry = self.book.entries.get(instance_id)
        if entry is None:
            return 0
        left = 0
        if self.proxy.upstream(instance_id) is not None:
            # no new connections, then let the open ones finish (up to drain_timeout) before stopping
            drain = self.drain_timeout(instance_id)
            left = await self.proxy.withdraw(instance_id, drain)
            if left:
                log.warning(
                    "%s (app %s, service %s): %d connection(s) still open after drain_timeout %gs; "
                    "stopping it cuts them",
                    instance_id,
                    entry.app,
                    entry.service,
                    left,
                    drain,
                )
        if instance_id in self.prober:
            self.prober.unregister(instance_id)
        try:
            await self.drivers.stop(instance_id)
            await self.drivers.forget(instance_id)
        except Exception:  # unknown to the supervisor (never started): only the book has it
            log.debug("stop of %s: not supervised", instance_id, exc_info=True)
        await self.proxy.forget(instance_id)  # after the stop: its last sessions ended with it
        self.book.forget(instance_id)
        await self._unpublish_if_removed(entry.app, entry.service)
        return left

    async def _unpublish_if_removed(self, app: str, service: str) -> None:
        """The last instance of a service the app's latest release no longer has: free its ports."""
        if any(e.app == app and e.service == service for e in self.book.entries.values()):
            return
        latest = self.store.latest_release(app)
        if latest is None or service not in self.snapshot(latest.id).get("service", {}):
            await self.proxy.unpublish(app, service)

    def drain_timeout(self, instance_id: str) -> float:
        entry = self.book.entries[instance_id]
        return self.snapshots.decoded(entry.release_id).rollout(entry.service).drain_timeout

    async def run_worker(self, name: str, release_id: str) -> str | None:
        snapshot = self.snapshot(release_id)
        worker = dict(snapshot["worker"][name])
        worker.setdefault("replicas", 1)
        worker.setdefault("ports", [])
        view = {**snapshot, "service": {**snapshot.get("service", {}), name: worker}}
        app = self._app_of(release_id)
        iid = new_instance_id(name, 1)
        legacy, named, folder = self.secret_material(app, view, name, "service", iid)
        planned = build_instance(
            app,
            name,
            1,
            view,
            legacy,
            release_id,
            spec_hash(worker),
            instance_id=iid,
            named_secrets=named,
            secrets_dir=folder,
        )
        supervisor = self.drivers
        entry = BookEntry(app, name, 1, release_id, spec_hash(worker), {}, None)
        entry.driver = planned.spec.driver
        self.book.add(iid, entry)
        await supervisor.start(planned.spec)
        limit = parse_duration(worker.get("timeout", "0s")) or 24 * 3600.0
        try:
            record = await supervisor.wait_for(iid, ENDED, limit)
        except TimeoutError:
            await supervisor.stop(iid)
            problem: str | None = f"worker {name} ran longer than its timeout {limit:g}s"
        else:
            problem = (
                None if record.last_exit_code == 0 else f"worker {name} failed: {record.last_exit_message}"
            )
        await supervisor.forget(iid)
        self.book.forget(iid)
        return problem
