"""The Swarm driver: the container driver's interface, over a Docker Swarm cluster.

Each replica slot is a Swarm service of one replica (``mooring-<app>-<instance id>``). mooring keeps
the release: which slots change, in which batches, behind which gates; Swarm keeps each slot's task
alive: it places it (constraints, spread), restarts it by the service's restart policy, and moves it
off a node that is gone. Slot-per-service, not one Swarm service per mooring service driven by
Swarm's own update machinery, because mooring's contract is per target (start the new instance,
gate it, switch the edge, drain and stop the old one, record each step) and Swarm's updater only
reports a whole service's progress and keeps one previous spec.

The driver learns what tasks do by reading the cluster's task list on one timer for all instances
(one API call per tick, whatever the number of instances), and moves each record through the same
lifecycle as a local instance (:mod:`mooring.runtime.states`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any, TypeVar

import docker

from mooring.runtime.container.address import EngineAddress
from mooring.runtime.container.errors import ContainerEngineUnreachable
from mooring.runtime.container.logs import convert
from mooring.runtime.errors import InstanceBusy, UnknownInstance
from mooring.runtime.facts import InstanceFacts
from mooring.runtime.log_reader import as_stamp, timestamp_of
from mooring.runtime.record import InstanceRecord, exit_fields
from mooring.runtime.states import RESTING_STATES, ExitReason, ExitStatus, InstanceState, is_legal
from mooring.runtime.waiters import RecordWaiters

from . import cluster_api
from .spec import SwarmSpec
from .tasks import SlotState, TaskView, awaits_reaper, is_image_failure, is_unschedulable, slot_state

log = logging.getLogger("mooring.runtime.swarm")
S = InstanceState
T = TypeVar("T")
OnChange = Callable[[InstanceRecord], Awaitable[None] | None]

POLL_INTERVAL = 0.2  # seconds between two reads of the cluster's task list while a slot is changing
REST_INTERVAL = 1.0  # ... and while every slot runs or rests (a restart or a lost node is seen within it)
START_WAIT = 120.0  # how long start() waits for a task to run before handing back a starting record
UNSCHEDULABLE_GRACE = 5.0  # a task no node can take fails its start after this long


class SwarmDriver:
    """Owns this engine's instances on one Swarm cluster, reached through a manager."""

    name = "swarm"

    def __init__(self, address: EngineAddress, *, home_label: str, on_change: OnChange | None = None) -> None:
        self.address = address
        self.home_label = home_label
        self._engine_on_change = on_change
        self._client: docker.APIClient | None = None
        self._connecting: asyncio.Lock | None = None
        self._records: dict[str, InstanceRecord] = {}
        self._specs: dict[str, SwarmSpec] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._stopping: set[str] = set()
        self._pending_since: dict[str, float] = {}
        self._waiters = RecordWaiters("cluster instance")
        self._poller: asyncio.Task[None] | None = None
        self._nodes: dict[str, dict[str, Any]] = {}  # node id -> the manager's view of it
        self._node_watchers: list[Callable[[dict[str, Any], str, str], None]] = []

    # --- connection and the one poller ---------------------------------------------------

    async def client(self) -> docker.APIClient:
        if self._client is not None:
            return self._client
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._client is None:
                self._client = await asyncio.to_thread(cluster_api.connect, self.address)
                self._poller = asyncio.create_task(self._poll_forever())
        return self._client

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        client = await self.client()
        return await asyncio.to_thread(fn, client, *args, **kwargs)

    async def _poll_forever(self) -> None:
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a manager that does not answer for a while: keep the records
                log.warning("cannot read the cluster's tasks: %s", exc)
            changing = self._stopping or any(
                r.state in (S.STARTING, S.STOPPING, S.BACKOFF) for r in self._records.values()
            )
            await asyncio.sleep(POLL_INTERVAL if changing else REST_INTERVAL)

    async def poll_once(self) -> None:
        """Read every task and node once and move each record to what its tasks say."""
        client = await self.client()
        # Only services known before the reads can be judged by them: one created meanwhile is
        # missing from this listing and must not be taken for gone.
        known = {iid: r.container_id for iid, r in self._records.items()}
        tasks, nodes, services = await asyncio.gather(
            asyncio.to_thread(cluster_api.tasks, client),
            asyncio.to_thread(cluster_api.nodes, client),
            asyncio.to_thread(cluster_api.services, client, self.home_label),
        )
        existing = {str(row["ID"]) for row in services}
        self._update_nodes(nodes)
        by_service: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for task in tasks:
            by_service[str(task.get("ServiceID", ""))].append(task)
        for instance_id, record in list(self._records.items()):
            if record.container_id is None or record.state in RESTING_STATES or instance_id in self._stopping:
                continue
            if known.get(instance_id) != record.container_id:
                continue  # created after the reads began: the next tick judges it
            lock = self._lock(instance_id)
            if lock.locked():
                continue  # a start or stop is moving it; the next tick sees the result
            async with lock:
                slot = slot_state(by_service.get(record.container_id, []))
                if slot.phase == "gone" and record.container_id in existing:
                    slot = SlotState("starting")  # a new service whose task Swarm has not made yet
                await self._follow(instance_id, slot)

    def _update_nodes(self, nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            node_id = str(node["ID"])
            before = self._nodes.get(node_id)
            self._nodes[node_id] = node
            old = (before or {}).get("Status", {}).get("State")
            new = node.get("Status", {}).get("State")
            if before is not None and old != new:
                for watcher in self._node_watchers:
                    watcher(node, str(old), str(new))

    def on_node_change(self, watcher: Callable[[dict[str, Any], str, str], None]) -> None:
        """Call ``watcher(node, old_state, new_state)`` when a node goes down or comes back."""
        self._node_watchers.append(watcher)

    def node_name(self, node_id: str) -> str:
        node = self._nodes.get(node_id) or {}
        return str((node.get("Description") or {}).get("Hostname") or node_id[:12])

    def node_address(self, node_id: str) -> str | None:
        node = self._nodes.get(node_id) or {}
        return (node.get("Status") or {}).get("Addr") or None

    async def _follow(self, instance_id: str, slot: SlotState) -> None:
        """One record's move, from what the tasks of its service say now."""
        record = self._records[instance_id]
        if slot.phase == "running" and slot.current is not None:
            await self._running(instance_id, slot.current, restarted=slot.ended_tasks)
            return
        if slot.phase == "starting":
            self._pending_since.setdefault(instance_id, time.time())
            if record.state is S.RUNNING:  # its task ended and Swarm brings another: a restart
                status = _ended_status(slot.last)
                await self._set(instance_id, S.BACKOFF, **exit_fields(status))
                await self._set(instance_id, S.STARTING, restarts=record.restarts + 1)
                return
            why = slot.why
            if record.state is S.STARTING and (
                is_image_failure(why)
                or (
                    is_unschedulable(why)
                    and time.time() - self._pending_since[instance_id] > UNSCHEDULABLE_GRACE
                )
            ):
                await self._give_up(instance_id, f"the cluster cannot run it: {why}")
            elif record.state is S.STARTING and why != record.last_exit_detail:
                await self._set(instance_id, last_exit_detail=why)
            return
        # ended or gone: Swarm brings no other task
        if slot.phase == "gone":
            status = ExitStatus(ExitReason.DIED_WHILE_AWAY, detail="its Swarm service is gone")
        else:
            status = _ended_status(slot.last)
        if record.state is S.STARTING:
            await self._give_up(instance_id, status.detail or slot.why, status)
        elif record.state is S.RUNNING:
            final = S.EXITED if status.reason is ExitReason.CLEAN_EXIT else S.FAILED
            await self._set(instance_id, final, **exit_fields(status))

    async def _running(self, instance_id: str, task: TaskView, *, restarted: int) -> None:
        record = self._records[instance_id]
        self._pending_since.pop(instance_id, None)
        where: dict[str, Any] = {
            "task_id": task.task_id,
            "node": self.node_name(task.node_id),
            "host": self.node_address(task.node_id),
            "host_ports": {str(k): v for k, v in task.ports.items()},
        }
        if record.state is S.STARTING:
            await self._set(instance_id, S.RUNNING, started_at=time.time(), restart_at=None, **where)
        elif record.state is S.RUNNING and record.task_id != task.task_id:
            # Swarm replaced the task between two reads (a restart or a move to another node)
            await self._set(instance_id, restarts=record.restarts + 1, started_at=time.time(), **where)
        elif record.state is S.RUNNING and (record.host, record.host_ports) != (
            where["host"],
            where["host_ports"],
        ):
            await self._set(instance_id, **where)

    async def _give_up(self, instance_id: str, detail: str, status: ExitStatus | None = None) -> None:
        """The slot will not run: stop Swarm from trying, and fail the record with the cluster's words."""
        record = self._records[instance_id]
        if record.container_id is not None:
            await self._call(cluster_api.scale, record.container_id, 0)
        status = status or ExitStatus(ExitReason.START_FAILED, detail=detail)
        if status.reason is not ExitReason.START_FAILED:
            status = ExitStatus(ExitReason.START_FAILED, detail=detail)
        await self._set(instance_id, S.FAILED, **exit_fields(status))

    # --- records and waiting --------------------------------------------------------------

    def _lock(self, instance_id: str) -> asyncio.Lock:
        return self._locks.setdefault(instance_id, asyncio.Lock())

    def record(self, instance_id: str) -> InstanceRecord:
        try:
            return self._records[instance_id]
        except KeyError:
            raise UnknownInstance(
                f"no cluster instance {instance_id!r} is supervised here",
                hint="`mooring ps` lists the instances the engine knows",
            ) from None

    def records(self) -> list[InstanceRecord]:
        return list(self._records.values())

    def __contains__(self, instance_id: object) -> bool:
        return instance_id in self._records

    async def _set(
        self, instance_id: str, state: InstanceState | None = None, **changes: Any
    ) -> InstanceRecord:
        """The one place a record changes: checks the move is legal, journals it, wakes waiters."""
        current = self._records[instance_id]
        if state is not None and state is not current.state:
            if not is_legal(current.state, state):
                raise AssertionError(f"instance {instance_id}: illegal move {current.state} -> {state}")
            changes.update(state=state, state_since=time.time())
        record = dataclasses.replace(current, **changes)
        self._records[instance_id] = record
        try:
            if self._engine_on_change is not None:
                result = self._engine_on_change(record)
                if inspect.isawaitable(result):
                    await result
        finally:
            self._waiters.wake(instance_id)
        return record

    async def wait_for(
        self,
        instance_id: str,
        predicate: Callable[[InstanceRecord], bool] | Collection[InstanceState],
        timeout: float,
    ) -> InstanceRecord:
        return await self._waiters.wait_for(instance_id, self.record, predicate, timeout)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, spec: SwarmSpec, *, wait: float = START_WAIT) -> InstanceRecord:
        """Create the slot's service and wait (bounded) for its task to run; a refusal is a failed record."""
        instance_id = spec.instance_id
        async with self._lock(instance_id):
            current = self._records.get(instance_id)
            if current is not None and current.state not in RESTING_STATES:
                raise InstanceBusy(f"cluster instance {instance_id} is {current.state}; stop it first")
            if current is None:
                self._records[instance_id] = InstanceRecord(
                    instance_id, spec.to_dict(), S.STOPPED, time.time(), "", "", ""
                )
            self._specs[instance_id] = spec
            await self._set(
                instance_id, S.STARTING, spec=spec.to_dict(), restart_streak=0, consecutive_failures=0
            )
            self._pending_since[instance_id] = time.time()
            try:
                if spec.network:
                    await self._call(cluster_api.ensure_network, spec.network, spec.container.app)
                service_id = await self._call(cluster_api.create_service, spec, self.home_label)
            except ContainerEngineUnreachable as exc:
                return await self._start_failed(instance_id, exc.message)
            except docker.errors.DockerException as exc:
                detail = getattr(exc, "explanation", None) or str(exc)
                return await self._start_failed(
                    instance_id, f"the Swarm manager refused the service: {detail}"
                )
            await self._set(instance_id, container_id=service_id)
        with contextlib.suppress(TimeoutError):
            return await self.wait_for(instance_id, lambda r: r.state is not S.STARTING, wait)
        return self._records[instance_id]

    async def _start_failed(self, instance_id: str, detail: str) -> InstanceRecord:
        status = ExitStatus(ExitReason.START_FAILED, detail=detail)
        return await self._set(instance_id, S.FAILED, **exit_fields(status))

    async def stop(self, instance_id: str, *, timeout: float | None = None) -> InstanceRecord:
        """Scale the slot to zero (Swarm sends the stop signal, then SIGKILL after the grace period),
        wait until its task no longer runs, then remove the service."""
        self.record(instance_id)
        self._stopping.add(instance_id)
        try:
            async with self._lock(instance_id):
                record = self._records[instance_id]
                spec = self._specs.get(instance_id) or SwarmSpec.from_dict(record.spec)
                if record.state is S.RUNNING:
                    await self._set(instance_id, S.STOPPING)
                service_id = record.container_id
                if service_id is not None:
                    await self._remove_service(service_id, timeout or spec.container.stop_timeout + 30)
                current = self._records[instance_id]
                if current.state is S.STARTING:  # never got to run: STARTING -> FAILED -> STOPPED
                    await self._set(instance_id, S.FAILED, **exit_fields(_stopped(spec)))
                    return await self._set(instance_id, S.STOPPED, container_id=None)
                if current.state is S.STOPPING:
                    return await self._set(
                        instance_id, S.STOPPED, container_id=None, **exit_fields(_stopped(spec))
                    )
                if current.state is S.STOPPED:
                    return await self._set(instance_id, container_id=None)
                return await self._set(instance_id, S.STOPPED, container_id=None)  # backoff, exited, failed
        finally:
            self._stopping.discard(instance_id)

    async def _remove_service(self, service_id: str, timeout: float) -> None:
        """Scale the slot's service to zero, wait until its task has stopped and Swarm's task reaper is
        done with it, then remove the service.

        The wait for the reaper is not cosmetic: Docker 20.10 (Debian 12's docker.io) crashes the
        manager when a service is removed while the reaper deletes one of its tasks (a nil task in
        swarmkit's ``SetServiceTasksRemove``, fixed upstream only in 2025, moby/swarmkit#3223). A task scaled
        down has desired state ``remove`` and is deleted once it has stopped; ``down`` of 30 slots hit
        that race within minutes.
        """
        if await self._call(cluster_api.scale, service_id, 0):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                tasks = [TaskView.of(t) for t in await self._call(cluster_api.tasks_of, service_id)]
                if not any(
                    t.state in ("running", "starting", "preparing") or awaits_reaper(t) for t in tasks
                ):
                    break
                await asyncio.sleep(POLL_INTERVAL)
        await self._call(cluster_api.remove_service, service_id)

    async def stop_all(self, instance_ids: Collection[str] | None = None) -> list[InstanceRecord]:
        ids = list(self._records) if instance_ids is None else list(instance_ids)
        return list(await asyncio.gather(*(self.stop(i) for i in ids)))

    async def forget(self, instance_id: str, *, delete_logs: bool = False) -> None:
        record = self.record(instance_id)
        if record.state not in RESTING_STATES:
            raise InstanceBusy(
                f"cluster instance {instance_id} is {record.state}; stop it before forgetting it"
            )
        if record.container_id is not None:
            await self._remove_service(record.container_id, record_stop_timeout(record))
        for table in (self._records, self._specs, self._locks, self._pending_since):
            table.pop(instance_id, None)

    async def adopt(self, record: InstanceRecord) -> InstanceRecord:
        """Take over a slot recorded by an earlier engine, found by its ``mooring.instance`` label."""
        instance_id = record.instance_id
        if instance_id in self._records:
            raise InstanceBusy(f"cluster instance {instance_id} is already supervised here")
        self._records[instance_id], self._specs[instance_id] = record, SwarmSpec.from_dict(record.spec)
        found = await self._call(cluster_api.find_service, instance_id, self.home_label)
        async with self._lock(instance_id):
            if found is not None and record.container_id != found["ID"]:
                record = await self._set(instance_id, container_id=str(found["ID"]))
            if record.state in RESTING_STATES:
                return record
            if found is None:
                status = ExitStatus(ExitReason.DIED_WHILE_AWAY, detail="its Swarm service is gone")
                final = S.EXITED if record.state in (S.STARTING, S.RUNNING) else S.STOPPED
                if record.state is S.BACKOFF:
                    await self._set(instance_id, S.STARTING)
                if record.state is S.STOPPING:
                    return await self._set(instance_id, S.STOPPED, container_id=None, **exit_fields(status))
                return await self._set(instance_id, final, container_id=None, **exit_fields(status))
            if record.state is S.STOPPING:
                await self._remove_service(str(found["ID"]), record_stop_timeout(record))
                status = ExitStatus(ExitReason.STOPPED, detail="stop finished after an engine restart")
                return await self._set(instance_id, S.STOPPED, container_id=None, **exit_fields(status))
            if record.state is S.BACKOFF:
                await self._set(instance_id, S.STARTING)
        await self.poll_once()  # the tasks' truth now, not the record's from before the restart
        return self._records[instance_id]

    async def orphans(self, known: Collection[str]) -> list[str]:
        """Services of this engine on the cluster that no record knows."""
        rows = await self._call(cluster_api.services, self.home_label)
        labels = [(row, ((row.get("Spec") or {}).get("Labels") or {})) for row in rows]
        return [str(row["ID"]) for row, lab in labels if lab.get("mooring.instance") not in known]

    async def remove_service(self, service_id: str) -> None:
        await self._remove_service(service_id, 60.0)

    async def remove_unused_secrets(self, app: str) -> None:
        """The app's Swarm secrets that no service of the cluster uses any more (after a down)."""
        await self._call(cluster_api.remove_unused_secrets, app, self.home_label)

    async def detach_all(self) -> None:
        """Stop watching; every service keeps running on the cluster (engine shutdown)."""
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._client = None
        self._records.clear()
        self._specs.clear()

    # --- facts, logs, nodes ---------------------------------------------------------------

    def facts(self, instance_id: str) -> InstanceFacts:
        record = self.record(instance_id)
        running = record.state is S.RUNNING and record.started_at is not None
        return InstanceFacts(
            instance_id=instance_id,
            state=record.state.value,
            pid=None,
            restarts=record.restarts,
            uptime=time.time() - record.started_at if running and record.started_at else None,
            cpu_percent=None,  # the manager does not see other nodes' cgroups
            rss_bytes=None,
            memory_bytes=None,
            oom_kills=None,
            limits_applied=True,
            limits_note=f"on node {record.node}" if record.node else "",
            last_exit=record.last_exit_message,
        )

    async def read_log_tail(self, instance_id: str, n: int) -> list[str]:
        """The last ``n`` lines of the slot's tasks (Swarm gathers them from whichever node ran them)."""
        lines = await self._service_lines(instance_id, tail=n)
        return lines[-n:] if n else lines

    async def read_log_since(self, instance_id: str, since: float) -> list[str]:
        first = as_stamp(since)  # the API takes whole seconds: drop what is older than asked
        return [
            line
            for line in await self._service_lines(instance_id, since=since)
            if timestamp_of(line) >= first
        ]

    async def follow_log(self, instance_id: str, since: float | None) -> AsyncIterator[str]:
        """New lines as they come: the service log API of a manager has no follow over every node
        that works across task moves, so read what is new once a second."""
        seen: set[str] = set()
        start = since if since is not None else time.time()
        while True:
            lines = await self.read_log_since(instance_id, start)
            for line in lines:
                if line not in seen:
                    seen.add(line)
                    yield line
            if len(seen) > 10_000:
                seen = set(lines)
            record = self._records.get(instance_id)
            if record is None or record.container_id is None:
                return
            await asyncio.sleep(1.0)

    async def _service_lines(self, instance_id: str, **options: Any) -> list[str]:
        service_id = self.record(instance_id).container_id
        if service_id is None:
            return []
        out, err = await asyncio.gather(
            self._call(cluster_api.service_logs, service_id, stdout=True, stderr=False, **options),
            self._call(cluster_api.service_logs, service_id, stdout=False, stderr=True, **options),
        )
        return sorted(convert(out, "stdout") + convert(err, "stderr"))

    async def nodes(self) -> list[dict[str, Any]]:
        """Every node as ``mooring nodes`` shows it, with the number of this engine's tasks on it."""
        rows = await self._call(cluster_api.nodes)
        self._update_nodes(rows)
        on_node: dict[str, int] = defaultdict(int)
        for record in self._records.values():
            if record.state is S.RUNNING and record.node:
                on_node[record.node] += 1
        result = []
        for node in rows:
            name = str((node.get("Description") or {}).get("Hostname") or node["ID"][:12])
            result.append(
                {
                    "id": str(node["ID"]),
                    "name": name,
                    "role": (node.get("Spec") or {}).get("Role"),
                    "availability": (node.get("Spec") or {}).get("Availability"),
                    "state": (node.get("Status") or {}).get("State"),
                    "address": (node.get("Status") or {}).get("Addr"),
                    "leader": bool((node.get("ManagerStatus") or {}).get("Leader")),
                    "tasks": on_node.get(name, 0),
                }
            )
        return sorted(result, key=lambda n: n["name"])

    async def set_availability(self, node: str, availability: str) -> None:
        """``drain`` moves the node's tasks elsewhere (each slot's service restarts its task on another node)."""
        await self._call(cluster_api.set_availability, node, availability)


def _ended_status(task: TaskView | None) -> ExitStatus:
    if task is None:
        return ExitStatus(ExitReason.DIED_WHILE_AWAY, detail="no task")
    detail = task.error or task.message
    if task.state == "rejected":
        return ExitStatus(ExitReason.START_FAILED, detail=detail)
    if task.state in ("orphaned", "shutdown") and task.exit_code in (None, 0):
        return ExitStatus(ExitReason.DIED_WHILE_AWAY, detail=detail or f"task {task.state}")
    if task.exit_code == 0:
        return ExitStatus(ExitReason.CLEAN_EXIT, 0)
    if task.exit_code is not None and task.exit_code > 128:
        return ExitStatus(ExitReason.KILLED, task.exit_code, task.exit_code - 128, detail=detail)
    return ExitStatus(ExitReason.CRASHED, task.exit_code, detail=detail)


def record_stop_timeout(record: InstanceRecord) -> float:
    """How long removing a recorded slot's service may wait for its task: its stop grace and 30 s."""
    return SwarmSpec.from_dict(record.spec).container.stop_timeout + 30


def _stopped(spec: SwarmSpec) -> ExitStatus:
    return ExitStatus(
        ExitReason.STOPPED,
        detail=f"scaled to 0 on the cluster (stop grace {spec.container.stop_timeout:g}s)",
    )
