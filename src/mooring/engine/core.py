"""The engine: owns the store, the supervisor and the prober; recovers instances at start-up."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from mooring import __version__
from mooring.engine.book import BookEntry, InstanceBook
from mooring.engine.cluster import Campaign, ClusterConfig
from mooring.engine.event_hub import EventHub
from mooring.engine.event_tail import EventTail
from mooring.engine.http_routes import Maintenance, check_claims
from mooring.engine.image_pins import pin_images
from mooring.engine.journal import Journal
from mooring.engine.lifecycle import Lifecycle
from mooring.engine.log_catalog import DEFAULT_KEEP, DEFAULT_MAX_SIZE, LogCatalog, LogMeta
from mooring.engine.metrics import EngineCollector, EngineMetrics
from mooring.engine.notify import Notifier
from mooring.engine.oneshots import ENDED, OneShots
from mooring.engine.outage import cancel_all, note_stall
from mooring.engine.published import live_rules, reconcile_listeners
from mooring.engine.reconcile import Reconciler
from mooring.engine.release_runtime import EngineRuntime
from mooring.engine.releases import ReleaseManager
from mooring.engine.schedules import CronScheduler
from mooring.engine.secret_files import remove_secret_files
from mooring.engine.secret_material import SecretMaterial
from mooring.engine.snapshots import Snapshots
from mooring.engine.specs import point_probe
from mooring.engine.stall import StallWatch
from mooring.engine.tokens import Tokens
from mooring.errors import NotFound, StoreError
from mooring.health import HealthState, Prober, Transition
from mooring.network import Edge, PublishError, mappings_of
from mooring.runtime.dispatch import Drivers
from mooring.runtime.record import InstanceRecord
from mooring.runtime.states import InstanceState
from mooring.runtime.swarm.address import no_cluster_message
from mooring.store import Event, Release, open_store
from mooring.store.keyring import key_file_path

log = logging.getLogger("mooring.engine")


# the states a process instance enters before a side effect (a spawn, a signal): their records are
# committed before it
_BEFORE_EFFECT = frozenset({InstanceState.STARTING, InstanceState.STOPPING})


class Engine:
    """One per host: the only writer of state and the only owner of workloads."""

    version = __version__

    def __init__(
        self,
        home: Path,
        database_url: str | None = None,
        cluster: ClusterConfig | None = None,
        address: str | None = None,
    ) -> None:
        self.home = home
        self.started_at = time.time()
        self.store = open_store(database_url, key_file=key_file_path(home))
        # With a cluster, this engine leads only once elected; until then the store refuses its writes.
        self.campaign: Campaign | None = None
        if cluster is not None:
            try:
                self.campaign = Campaign(self.store, cluster, home, address)
            except Exception:
                self.store.close()
                raise
        self.started = asyncio.Event()  # set once it leads and recovered (always, on a lone engine)
        self.book = InstanceBook(self.store)
        self.book.on_forget = lambda iid: remove_secret_files(home, iid)
        # both drivers behind the interface the engine has always used of the process Supervisor;
        # the cluster's workloads are labelled with the cluster, so any engine of it adopts them
        self.supervisor = Drivers(
            home, on_change=self._on_record, cluster_label=f"cluster:{cluster.name}" if cluster else None
        )
        self.supervisor.node_watchers.append(self._on_node_change)
        self.prober = Prober(container_exec=self.supervisor.run_check)
        self.book.catalog = LogCatalog(home / "logs", self.supervisor.process.logs.files, self._log_retention)
        self.proxy = Edge(home)  # the published ports: one HAProxy, which outlives the engine
        self.proxy.on_restart = self._edge_restarted
        self.tokens: Tokens = self.store  # the API's auth and token routes see only this port
        self.event_hub = EventHub()
        # one journal (the store, waking event-stream followers) and one snapshot cache, handed to
        # the collaborators that write events or read snapshots
        self.journal = Journal(self.store, on_event=self.event_hub.notify, book=self.book)
        self.snapshots = Snapshots(lambda release_id: self.store.get_release(release_id).snapshot)
        # app -> (the store's release_changes when computed, service -> published ports): the
        # listing of instances would otherwise read up to 200 releases from the store per request
        self._published_cache: dict[str, tuple[int, dict[str, dict[str, str]]]] = {}
        self.maintenance = Maintenance(self.store, self.journal, self.proxy)
        self.secret_material = SecretMaterial(self.store, home)
        # sideways calls go through callables: a settled release brings its crons, an ended run
        # frees its cron for the next tick
        self.releases = ReleaseManager(
            self.store,
            self.journal,
            self.book,
            EngineRuntime(
                self.store,
                self.journal,
                self.snapshots,
                self.book,
                self.supervisor,
                self.prober,
                self.proxy,
                self.secret_material,
                home,
                admit=self.admit,
                watch_health=self.watch_health,
            ),
            check_claims=lambda app, snapshot: check_claims(self.proxy, app, snapshot),
            pin_images=lambda app, snapshot: pin_images(
                self.journal, self.supervisor, app, snapshot, pull=True
            ),
            reconcile_listeners=lambda app: reconcile_listeners(self, app),
            reconcile_orphans=lambda app: self.reconciler.after_release(app, self.releases.background),
            on_settled=lambda app: self.schedules.refresh(app),
        )
        self.reconciler = Reconciler(
            self.store, self.book, self.journal, self.releases, stop=self.releases.runtime.stop
        )
        self.oneshots = OneShots(
            self.snapshots,
            self.book,
            self.supervisor,
            self.journal,
            self.secret_material,
            on_run_ended=lambda run: self.schedules.run_ended(run),
        )
        self.schedules = CronScheduler(self.store, self.journal, self.snapshots, self.oneshots)
        self.lifecycle = Lifecycle(
            self.store,
            self.book,
            self.supervisor,
            self.prober,
            self.proxy,
            self.releases,
            stop_crons=self.schedules.stop_app,
            reconcile_listeners=lambda app: reconcile_listeners(self, app),
        )
        self.stalls = StallWatch(lambda seconds: note_stall(self.releases, seconds))
        self._reconciler: asyncio.Task[None] | None = None
        self._drained_for_node: set[str] = set()  # withdrawn for a node drain, until their task moves
        # Consumers of the journal's events, fed on the loop after each commit (never by the executor).
        self.event_tail = EventTail(self.store, self.event_hub)
        self.metrics = EngineMetrics(
            self.store,
            self.book,
            EngineCollector(
                self.store,
                self.book,
                self.supervisor,
                self.proxy,
                version=self.version,
                started_at=self.started_at,
                health_of=self.health_of,
                releases_running=self.releases.running_count,
            ),
        )
        self.notifier = Notifier(home, self.store)

    def _log_retention(self, meta: LogMeta) -> tuple[int, int]:
        """``logs.keep`` and ``logs.max_size`` of the instance's workload in its release."""
        section: dict[str, Any]
        try:
            snapshot = self.snapshots.data(meta.release_id)
            kinds = (meta.kind, "service", "worker", "cron")  # a pre-deploy worker is booked as a service
            section = next(
                (snapshot[k][meta.service] for k in kinds if meta.service in snapshot.get(k, {})), {}
            )
        except Exception:  # its release is gone: the defaults
            section = {}
        retention = section.get("logs") or {}
        return int(retention.get("keep", DEFAULT_KEEP)), int(retention.get("max_size", DEFAULT_MAX_SIZE))

    # --- start-up and shutdown -------------------------------------------------------------

    async def lead(self) -> None:
        """Start as the leader: at once on a lone engine; in a cluster once elected, then exactly as
        a restarted engine (adopt, recover every release in flight) after voiding the old leases."""
        campaign = self.campaign
        if campaign is not None:
            campaign.start()
            await campaign.won.wait()
            campaign.void_old_leases()
            for app in self.store.list_apps():
                self.journal.append_event(
                    app.name,
                    "engine.leader_changed",
                    {
                        "cluster": campaign.config.name,
                        "epoch": campaign.fence.epoch,
                        "leader": campaign.me.id,
                        "host": campaign.me.host,
                        "address": campaign.me.address,
                    },
                )
        await self.start()
        self.started.set()

    @property
    def following(self) -> bool:
        """A cluster engine not (yet) leading: it answers reads and forwards the rest."""
        return self.campaign is not None and not self.started.is_set()

    async def start(self) -> None:
        self.notifier.load()  # a broken [notify] in engine.toml fails the start, with the key path
        # every stored value is known to the masker before any output of an adopted instance is read
        self.store.load_all_secrets_for_masking()
        await self.prober.start()
        self.stalls.start()
        self.prober.on_result = self.metrics.observe_probe
        self.event_tail.add(self.metrics.observe_event)
        self.event_tail.add(self.notifier.observe_event)
        self.event_tail.start()
        self.notifier.start()
        await self.proxy.start()  # adopts the running HAProxy; nothing changes in it before resume
        await self._adopt_instances()
        await self._restore_proxy()
        self.maintenance.restore()
        await self.proxy.resume()
        self.releases.recover()
        self._reconciler = asyncio.create_task(self.reconciler.forever(), name="reconcile")
        self.oneshots.adopt()  # before the crons: a run the previous engine left going blocks its overlap
        self.schedules.start()

    async def _adopt_instances(self) -> None:
        """Re-attach every instance a previous engine recorded; report the ones that died meanwhile."""
        for row in self.store.list_instances():
            try:
                restored = self.book.restore(row)
            except StoreError as exc:  # its sealed env does not open (wrong key file): leave it be
                log.error("cannot adopt instance %s: %s; %s", row.id, exc.message, exc.hint or "")
                continue
            if restored is None:
                self.store.delete_instance(row.id)
                continue
            entry, record = restored
            self.book.add(row.id, entry)
            try:
                adopted = await self.supervisor.adopt(record, row.driver)
            except Exception:
                log.exception("could not adopt instance %s; leaving its process alone", row.id)
                continue
            if entry.kind != "service" and record.state not in ENDED and adopted.state in ENDED:
                self.oneshots.ended_while_away.add(row.id)  # its end is still to be recorded
            log.warning("adopted instance %s: %s (pid %s)", row.id, adopted.state, adopted.pid)
            self.watch_health(row.id)

    async def _restore_proxy(self) -> None:
        """State the published ports again from the adopted instances that were cut over.

        HAProxy served them all along; ``resume`` then changes only what differs (an instance that
        died meanwhile leaves, nothing else moves).

        An instance caught mid-start (its target still ``starting``) never passed its gate: recovery
        stops it, and it never receives traffic.
        """
        in_flight = {
            t.instance_id
            for r in self.store.find_releases(status=("pending", "in_progress"))
            for t in self.store.list_targets(r.id)
            if t.state == "starting" and t.instance_id
        }
        for iid, entry in list(self.book.entries.items()):
            if iid in in_flight or entry.record is None or entry.record.state is not InstanceState.RUNNING:
                continue
            try:
                await self.proxy.publish(entry.app, entry.service, self.published(entry))
                await self.proxy.route_http(
                    entry.app, entry.service, live_rules(self, entry.app, entry.service)
                )
                self.admit(iid, entry)
            except PublishError as exc:  # the engine still starts: the operator sees it in the log
                log.error("after the restart: %s", exc)

    def _edge_restarted(self, restarts: int) -> None:
        """HAProxy died and is being started again: every app with published ports hears of it."""
        for app in sorted({app for app, _ in self.proxy.routes}):
            self.journal.append_event(
                app, "edge.restarted", {"restarts": restarts, "log": self.proxy.process.log_tail(3)}
            )

    def admit(self, instance_id: str, entry: BookEntry) -> None:
        """Put an instance behind its service's published ports (binding them if needed)."""
        mappings = self.published(entry)
        route = self.proxy.route(entry.app, entry.service)
        if not mappings and not route.http:
            return
        if not all(m in route.listeners for m in mappings):
            raise PublishError(
                f"ports of service {entry.service} are not published; cannot admit {instance_id}"
            )
        host, ports = self.upstream_address(entry)
        self.proxy.admit(entry.app, entry.service, instance_id, host, ports)
        self._refresh_upstream(instance_id)

    @staticmethod
    def upstream_address(entry: BookEntry) -> tuple[str, dict[int, int]]:
        """Where the edge reaches an instance: loopback and its own ports here; for a cluster
        instance, the node its task runs on and the ports published there (they move with the task)."""
        record = entry.record
        if entry.driver == "swarm" and record is not None and record.host:
            return record.host, {int(k): v for k, v in record.host_ports.items()}
        return "127.0.0.1", entry.ports

    def published(self, entry: BookEntry) -> list[Any]:
        """The published ports of the instance's service, as its own release recorded them."""
        svc = self.snapshots.data(entry.release_id).get("service", {}).get(entry.service)
        return mappings_of(svc) if svc else []

    async def shutdown(self) -> None:
        """Stop supervising but leave every instance running, for the next engine to adopt.

        Release executors stop where they are; their releases stay in_progress and resume in place
        when the next engine starts.
        """
        if self.campaign is not None and not self.started.is_set():  # a follower: nothing of its own runs
            self.campaign.stop()
            self.store.close()
            return
        for _, task in list(self.releases.executors.values()):
            task.cancel()
        await asyncio.gather(*(t for _, t in self.releases.executors.values()), return_exceptions=True)
        await cancel_all(self.releases.background)
        await self.stalls.close()
        if self._reconciler is not None:
            self._reconciler.cancel()
            await asyncio.gather(self._reconciler, return_exceptions=True)
        await self.schedules.close()
        await self.oneshots.close()
        await self.event_tail.close()
        await self.notifier.close()
        await self.supervisor.detach_all()
        await self.proxy.close()
        await self.prober.close()
        self.book.flush()  # changes of the last loop turn
        if self.campaign is not None:
            self.campaign.stop()  # the lock is free at once: a follower takes over
        self.store.close()

    # --- wiring between runtime, prober and store ---------------------------------------------

    def _on_record(self, record: InstanceRecord) -> asyncio.Future[None] | None:
        before = self.book.entries.get(record.instance_id)
        moved = (
            before is not None
            and before.driver == "swarm"
            and before.record is not None
            and (before.record.host, before.record.host_ports) != (record.host, record.host_ports)
        )
        from_node = before.record.node if before is not None and before.record is not None else None
        # Only a process about to start or to be signalled waits for its record's commit (journal
        # before effect); that it runs or has ended is a fact no effect of its own follows: it rides
        # on the next commit (engine/book.py).
        urgent = record.state in _BEFORE_EFFECT or before is None or before.driver != "process"
        committed = self.book.persist(record, self.health_of(record.instance_id), urgent=urgent)
        if moved:
            self._follow_moved_task(record.instance_id)
            if before is not None and from_node and record.node and from_node != record.node:
                self.journal.append_event(
                    before.app,
                    "instance.moved",
                    {
                        "instance": record.instance_id,
                        "service": before.service,
                        "from": from_node,
                        "to": record.node,
                    },
                )
        self._refresh_upstream(record.instance_id)
        # Shielded: the commit is shared by every instance changed in the same loop turn, and a
        # cancelled waiter must not cancel it for the others.
        return asyncio.shield(committed) if committed is not None else None

    def _refresh_upstream(self, instance_id: str) -> None:
        """A crashed or unhealthy instance gets no new connection until it runs and passes again."""
        entry = self.book.entries.get(instance_id)
        if entry is None or self.proxy.upstream(instance_id) is None:
            return
        running = entry.record is not None and entry.record.state is InstanceState.RUNNING
        self.proxy.set_available(
            instance_id, running and self.health_of(instance_id) != HealthState.UNHEALTHY.value
        )

    def watch_health(self, instance_id: str) -> None:
        entry = self.book.entries[instance_id]
        probe = entry.probe
        if entry.driver == "swarm" and entry.record is not None:
            if entry.record.host is None:
                return  # its task does not run yet: aimed and registered once it does
            probe = point_probe(probe, self._declared_check_port(entry), entry.record)
        if probe is not None:
            self.prober.register(instance_id, probe, self._on_health)

    def _declared_check_port(self, entry: BookEntry) -> int | None:
        svc = self.snapshots.data(entry.release_id).get("service", {}).get(entry.service) or {}
        check = svc.get("health_check") or {}
        return check.get("port")

    def _follow_moved_task(self, instance_id: str) -> None:
        """Swarm restarted or moved a cluster instance's task: probe and route to where it is now."""
        entry = self.book.entries[instance_id]
        if instance_id in self.prober:
            self.prober.unregister(instance_id)
        self.watch_health(instance_id)
        if self.proxy.upstream(instance_id) is not None:
            self.proxy.reaim(instance_id, *self.upstream_address(entry))
        if instance_id in self._drained_for_node:  # it left a drained node: it serves where it runs now
            self._serve_again(instance_id)

    def _on_health(self, instance_id: str, transition: Transition) -> None:
        entry = self.book.entries.get(instance_id)
        if entry is not None and entry.record is not None:
            self.book.persist(entry.record, transition.current.value, urgent=False)
        self._refresh_upstream(instance_id)

    def health_of(self, instance_id: str) -> str | None:
        if instance_id not in self.prober:
            return None
        return self.prober.status(instance_id).state.value

    # --- the cluster ----------------------------------------------------------------------

    async def nodes(self) -> list[dict[str, Any]]:
        """The Swarm's nodes (``NotFound`` with how to configure one when the engine has none)."""
        if not self.supervisor.has_cluster:
            raise NotFound(no_cluster_message(self.home))
        return await self.supervisor.swarm.nodes()

    async def set_node_availability(self, node: str, availability: str) -> dict[str, Any]:
        rows = await self.nodes()
        match = [n for n in rows if node in (n["name"], n["id"])]
        if not match:
            names = ", ".join(n["name"] for n in rows)
            raise NotFound(f"no node {node!r} in the cluster (nodes: {names})")
        if availability == "drain":
            await self._drain_node_traffic(str(match[0]["name"]))
        await self.supervisor.swarm.set_availability(match[0]["id"], availability)
        if availability == "active":  # a drain called off: what still runs there serves again
            for instance_id in sorted(self._drained_for_node):
                self._serve_again(instance_id)
        after = {n["id"]: n for n in await self.nodes()}
        return after[match[0]["id"]]

    async def _drain_node_traffic(self, node: str) -> None:
        """Before Swarm stops a node's tasks: no new connection to them, and their sessions end
        (up to each one's ``drain_timeout``), so a drain under load fails no request. Each one
        takes connections again once its task runs elsewhere (``_follow_moved_task``)."""
        on_node = [
            iid
            for iid, e in self.book.entries.items()
            if e.driver == "swarm"
            and e.record is not None
            and e.record.node == node
            and self.proxy.upstream(iid) is not None
        ]
        self._drained_for_node.update(on_node)
        timeouts = [self.releases.runtime.drain_timeout(iid) for iid in on_node]
        await asyncio.gather(*(self.proxy.withdraw(iid, t) for iid, t in zip(on_node, timeouts, strict=True)))

    def _serve_again(self, instance_id: str) -> None:
        self._drained_for_node.discard(instance_id)
        entry = self.book.entries.get(instance_id)
        if entry is not None and self.proxy.upstream(instance_id) is not None:
            self.proxy.admit(entry.app, entry.service, instance_id, *self.upstream_address(entry))

    def _on_node_change(self, node: dict[str, Any], old: str, new: str) -> None:
        """A node went down or came back: an event in each app with instances on it."""
        name = str((node.get("Description") or {}).get("Hostname") or node.get("ID"))
        kind = "node.down" if new == "down" else "node.ready" if new == "ready" else "node.changed"
        apps = {
            e.app
            for e in self.book.entries.values()
            if e.driver == "swarm" and e.record is not None and e.record.node == name
        }
        for app in sorted(apps):
            self.journal.append_event(
                app,
                kind,
                {"node": name, "from": old, "to": new, "address": (node.get("Status") or {}).get("Addr")},
            )

    # --- queries --------------------------------------------------------------------------

    def app_of_release(self, release_id: str) -> str | None:
        """The app a release belongs to; None for an unknown release (its route answers 404)."""
        try:
            return self.store.get_release(release_id).app
        except NotFound:
            return None

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "version": self.version,
            "pid": os.getpid(),
            "home": str(self.home),
            "started_at": self.started_at,
            "instances": len(self.book.entries),
        }
        if self.campaign is not None:
            info["cluster"] = self.campaign.status()
            info["role"] = "leader" if self.campaign.leading else "follower"
        return info

    def leader_address(self) -> str | None:
        """Where a follower forwards what it does not answer itself; None while nobody else leads."""
        return self.campaign.leader_address() if self.campaign is not None else None

    def release(self, release_id: str) -> Release:
        return self.store.get_release(release_id)

    def release_events(self, release_id: str) -> list[Event]:
        return self.store.release_events(release_id)

    def events_since(self, app: str, seq: int, limit: int) -> list[Event]:
        return self.store.events_since(app, seq, limit=limit)

    def knows_app(self, app: str) -> bool:
        return any(a.name == app for a in self.store.list_apps())

    def live_release(self, app: str) -> Release | None:
        """The release whose workers and crons run now (else the app's latest)."""
        return self.schedules.live_release(app) or self.store.latest_release(app)

    def instances(self, app: str | None = None) -> list[dict[str, Any]]:
        rows = []
        published: dict[str, dict[str, dict[str, str]]] = {}
        for iid, entry in sorted(
            self.book.entries.items(), key=lambda kv: (kv[1].app, kv[1].service, kv[1].replica)
        ):
            if app is not None and entry.app != app:
                continue
            if entry.app not in published:
                published[entry.app] = self._published(entry.app)
            rows.append(self.instance_view(iid, entry, published[entry.app].get(entry.service, {})))
        return rows

    def _published(self, app: str) -> dict[str, dict[str, str]]:
        """service -> instance port -> ``HOST_IP:HOST_PORT`` the edge publishes it on (live release).

        Kept until a release of this engine's store changes (`Store.release_changes`); engines that
        share a database read it each time (another engine may have changed the live release).
        """
        changes = self.store.release_changes  # read first: a change while computing invalidates
        cached = self._published_cache.get(app)
        if cached is not None and cached[0] == changes and self.campaign is None:
            return cached[1]
        live = self.live_release(app)
        if live is None:
            published: dict[str, dict[str, str]] = {}
        else:
            try:
                services = self.snapshots.data(live.id).get("service", {})
            except Exception:  # an unreadable snapshot leaves ps without published ports, not broken
                log.debug("published ports of %s: snapshot of %s unreadable", app, live.id, exc_info=True)
                return {}
            published = {
                name: {
                    str(p["port"]): f"{p.get('host_ip') or '0.0.0.0'}:{p['host_port']}"
                    for p in svc.get("ports", [])
                    if p.get("host_port")
                }
                for name, svc in services.items()
            }
        self._published_cache[app] = (changes, published)
        return published

    def instance_view(
        self, iid: str, entry: BookEntry, published: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """One row of the listing; its keys in the order of api/schemas.py's InstanceView, so the API
        writes it without validating it again (api/rows_json.py)."""
        facts = self.supervisor.facts(iid)
        record = self.supervisor.record(iid)
        host, ports = self.upstream_address(entry)
        return {
            "id": iid,
            "app": entry.app,
            "service": entry.service,
            "replica": entry.replica,
            "driver": entry.driver,
            "state": facts.state,
            "health": self.health_of(iid),
            "pid": facts.pid,
            "restarts": facts.restarts,
            "uptime": facts.uptime,
            "cpu_percent": facts.cpu_percent,
            "memory_bytes": facts.memory_bytes if facts.memory_bytes is not None else facts.rss_bytes,
            "ports": {str(k): v for k, v in ports.items()},
            "published": published if published is not None else {},
            "upstream": f"{host}:{next(iter(ports.values()))}" if ports else None,
            "serving": self.proxy.serving(iid),
            "proxy": self.proxy.instance_counters(iid),
            "exit_code": record.last_exit_code,
            "last_error": facts.last_exit or None,
            "limits": None if facts.limits_applied else (facts.limits_note or "limits not applied"),
            "release_id": entry.release_id,
            "node": record.node,
        }

    # --- app lifecycle (the release executor takes this over) ------------------------------------

    async def down(
        self, app: str, services: list[str] | None = None, wait_lock: float | None = None
    ) -> dict[str, Any]:
        return await self.lifecycle.down(app, services, wait_lock)

    # --- logs -----------------------------------------------------------------------------

    def _log_sources(self, app: str, target: str | None, release: str | None = None) -> dict[str, str]:
        """Label -> instance id of the logs asked for.

        Live instances match by service, slot (``web-1``) or id. Ended ones (replaced, failed,
        rolled back, past worker and cron runs) are kept by the log catalog: by id always; by name
        when nothing of that name runs now (its last instances); every instance of a release with
        ``release`` (an id or its prefix).
        """
        entries = self.book.of_app(app)
        catalog = self.book.catalog
        past = catalog.all(app) if catalog is not None else []
        if release is not None:
            found = [m for m in past if m.release_id.startswith(release)]
            found += [_meta_of(iid, e) for iid, e in entries.items() if e.release_id.startswith(release)]
            found = [m for m in found if target in (None, m.service, m.instance_id)]
            if not found:
                raise NotFound(
                    f"no instance of app {app!r} ran in release {release!r}"
                    + (f" matching {target!r}" if target else ""),
                    hint=f"mooring history --app {app} lists the releases",
                )
            return {m.instance_id: m.instance_id for m in _unique(found)}
        chosen = {
            f"{e.service}-{e.replica}": iid
            for iid, e in sorted(entries.items(), key=lambda kv: (kv[1].service, kv[1].replica))
            if target in (None, e.service, iid, f"{e.service}-{e.replica}")
        }
        if not chosen and target is not None:
            ended = [m for m in past if m.ended_at and m.instance_id not in entries]
            by_id = [m for m in ended if m.instance_id == target]
            if by_id:
                return {target: target}
            last: dict[str, str] = {}  # the newest ended instance of each slot of that name
            for meta in ended:
                if target in (meta.service, f"{meta.service}-{meta.replica}"):
                    last[f"{meta.service}-{meta.replica}"] = meta.instance_id
            chosen = last
        if not chosen:
            known = sorted({e.service for e in entries.values()} | {m.service for m in past})
            raise NotFound(
                f"no instance of app {app!r} matches {target!r}"
                if target
                else f"app {app!r} has no instances",
                hint=f"services: {', '.join(known)}" if known else "start it with: mooring up",
            )
        return chosen

    async def logs(
        self,
        app: str,
        target: str | None,
        *,
        tail: int | None,
        since: float | None,
        follow: bool,
        release: str | None = None,
    ) -> AsyncIterator[str]:
        from mooring.runtime.log_reader import interleave

        sources = self._log_sources(app, target, release)
        reader = self.supervisor.logs
        if follow:
            # with since (a remote client resuming a lost follow) it starts there, not at a tail
            default_tail = 10 if since is None else 0
            async for line in reader.follow_many(
                sources, tail=tail if tail is not None else default_tail, since=since
            ):
                yield line
            return
        history: dict[str, list[str]] = {}
        for label, iid in sources.items():
            try:
                lines = (
                    await reader.read_since(iid, since)
                    if since is not None
                    else await reader.read_tail(iid, tail or 100)
                )
            except Exception:  # forgotten meanwhile (a cron's next run replaced its last one): no lines
                log.debug("logs of %s: gone while reading", iid, exc_info=True)
                continue
            history[label] = lines[-tail:] if tail else lines
        merged = list(interleave(history))
        for line in merged[-tail:] if tail else merged:
            yield line


def _meta_of(instance_id: str, entry: BookEntry) -> LogMeta:
    started = entry.record.started_at if entry.record and entry.record.started_at else 0.0
    return LogMeta(
        instance_id, entry.app, entry.service, entry.replica, entry.release_id, entry.kind, started or 0.0
    )


def _unique(metas: list[LogMeta]) -> list[LogMeta]:
    seen: dict[str, LogMeta] = {}
    for meta in metas:
        seen.setdefault(meta.instance_id, meta)
    return sorted(seen.values(), key=lambda m: (m.started_at, m.instance_id))
