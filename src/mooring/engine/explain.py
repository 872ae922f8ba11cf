"""``status --explain``: why a release waits or failed, and what the operator runs next."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Protocol

from mooring.engine.book import InstanceBook
from mooring.errors import NotFound
from mooring.health import Prober
from mooring.manifest.snapshot import ReleaseSnapshot
from mooring.runtime.dispatch import Drivers
from mooring.store import Release, Store

LOG_LINES = 20  # enough for the end of a traceback
ERROR_SCAN_LINES = 400  # how far back the first error line is looked for
# The line that names what went wrong: a Python/Java exception (``RuntimeError: boom``), a Go panic,
# a FATAL/ERROR-levelled log line. Only the first one counts: what follows it is usually its fallout
# (a gunicorn arbiter's own HaltServer traceback after a worker's boot error).
ERROR_LINE = re.compile(
    r"(?:^|\s)(?:[A-Za-z_][\w.]*(?:Error|Exception|Exit)(?::|$)|panic:|fatal error:|FATAL\b|ERROR\b|\[error\])"
)


class ReleaseViews(Protocol):
    def view(self, release: Release, with_targets: bool = True) -> dict[str, Any]: ...


class Explained(Protocol):
    """What ``explain`` reads of the engine (engine/core.py): releases and their events, the release
    view, probe results, exit records and log tails."""

    @property
    def store(self) -> Store: ...

    @property
    def releases(self) -> ReleaseViews: ...

    @property
    def prober(self) -> Prober: ...

    @property
    def book(self) -> InstanceBook: ...

    @property
    def supervisor(self) -> Drivers: ...


async def explain(engine: Explained, app: str) -> dict[str, Any]:
    """The gate the app's current release waits on (with its deadline), per-target probe results,
    the last log lines of failed instances and the next command."""
    release = engine.store.latest_release(app)
    if release is None:
        names = sorted(a.name for a in engine.store.list_apps())
        raise NotFound(
            f"no app named {app!r}" if app not in names else f"app {app!r} has no releases yet",
            hint=f"known apps: {', '.join(names)}" if names else "no apps yet; apply one with: mooring up",
        )
    view = engine.releases.view(release)
    snapshot = ReleaseSnapshot.decode(release.snapshot)
    events = engine.store.release_events(release.id)
    open_batch = _open_batch(events)
    gate: dict[str, Any] | None = None
    state, control = view["rollout"]["state"], view["rollout"]["control"]
    parked = (release.failure or {}).get("reason") if control == "paused" else None
    if parked in ("store_unavailable", "executor_error"):
        # parked by the engine itself (engine/outage.py), not by the operator: say why
        gate = {
            "kind": "operator",  # the operator may resume it; the store case also resumes by itself
            "batch": None,
            "service": None,
            "deadline": None,
            "detail": release.message or parked,
        }
    elif control == "paused" or state == "blocked":
        gate = {
            "kind": "operator",
            "batch": None,
            "service": None,
            "deadline": None,
            "detail": "the rollout is paused and waits for you",
        }
    elif open_batch is not None and view["rollout"]["active"]:
        started: datetime = open_batch.created_at
        service = open_batch.payload.get("service", "")
        policy = snapshot.rollout(service)
        deadline = started + timedelta(seconds=policy.health_check_timeout + policy.min_ready)
        gate = {
            "kind": "readiness",
            "batch": open_batch.payload.get("batch"),
            "service": service,
            "deadline": deadline.isoformat(),
            "detail": (
                f"batch {open_batch.payload.get('batch')} of {service} waits for its targets to be ready "
                f"(health_check_timeout {policy.health_check_timeout:g}s, min_ready {policy.min_ready:g}s)"
            ),
        }
    # the instance each target failed with: a rolled-back target now names the instance that was
    # restored (or none), and its reason says only that it was rolled back
    failures = {e.payload.get("target"): e.payload for e in events if e.type == "target.failed"}
    targets = []
    for t in view["targets"]:
        failure = failures.get(t["target"])
        if t["state"] not in ("starting", "failed") and not (t["state"] == "rolled_back" and failure):
            continue
        iid = t["instance_id"]
        reason, detail = t["reason"], t["detail"]
        if failure is not None and t["state"] in ("failed", "rolled_back"):
            iid = failure.get("instance_id") or iid
            reason = failure.get("reason") or reason
            detail = failure.get("detail") or detail
        entry: dict[str, Any] = {
            "target": t["target"],
            "state": t["state"],
            "reason": reason,
            "detail": detail,
            "instance_id": iid,
            "probe": _probe(engine, iid),
            "exit": _exit(engine, iid),
            "logs": [],
            "first_error": None,
        }
        if t["state"] in ("failed", "rolled_back") and iid:
            scanned = await _log_tail(engine, iid)  # ended instances' logs are kept (log_catalog)
            entry["logs"] = scanned[-LOG_LINES:]
            entry["first_error"] = first_error(scanned)
        targets.append(entry)
    return {
        "release": view,
        "gate": gate,
        "targets": targets,
        "next": next_commands(view),
    }


def _open_batch(events: list[Any]) -> Any:
    """The last batch.started without its batch.completed."""
    current = None
    for e in events:
        if e.type == "batch.started":
            current = e
        elif (
            e.type == "batch.completed"
            and current is not None
            and e.payload.get("batch") == current.payload.get("batch")
        ):
            current = None
    return current


def _probe(engine: Explained, instance_id: str | None) -> dict[str, Any] | None:
    """The last probe result of a live instance: HTTP status or error, exec exit code and output."""
    if not instance_id or instance_id not in engine.prober:
        return None
    status = engine.prober.status(instance_id)
    last = status.last_result
    return {
        "health": status.state.value,
        "ok": last.ok if last else None,
        "detail": last.detail if last else "no probe has answered yet",
        "status_code": last.status_code if last else None,
        "exit_code": last.exit_code if last else None,
        "at": datetime.fromtimestamp(last.at).astimezone().isoformat() if last else None,
    }


def _exit(engine: Explained, instance_id: str | None) -> dict[str, Any] | None:
    if not instance_id or instance_id not in engine.book.entries:
        return None
    try:
        record = engine.supervisor.record(instance_id)
    except Exception:  # known to the book but not (yet) to the supervisor
        return None
    return {
        "state": record.state.value,
        "exit_code": record.last_exit_code,
        "message": record.last_exit_message,
    }


def first_error(lines: list[str]) -> str | None:
    """The first line of the last run's output that names an error, without its timestamp."""
    for line in lines:
        text = line.split(" ", 1)[1] if line[:4].isdigit() and " " in line else line
        stream, _, rest = text.partition(" ")
        if stream == "mooring":  # the engine's own lines (exit code, giving up) are in `process` already
            continue
        if ERROR_LINE.search(rest if stream in ("stdout", "stderr") else text):
            return text
    return None


async def _log_tail(engine: Explained, instance_id: str) -> list[str]:
    try:  # a container's logs come from its engine, so reading them is asynchronous
        return await engine.supervisor.logs.read_tail(instance_id, ERROR_SCAN_LINES)
    except (OSError, KeyError, ValueError):
        return []


def next_commands(view: dict[str, Any]) -> list[str]:
    """What an operator would run next, given the release's state."""
    app = view["app"]
    state, control, status = view["rollout"]["state"], view["rollout"]["control"], view["status"]
    if status == "completed":
        return []
    if control == "paused":
        failed = [t["target"] for t in view.get("targets", []) if t["state"] == "failed"]
        first = [f"mooring logs --app {app} {failed[0]}"] if failed else []
        return [
            *first,
            f"mooring rollout resume --app {app}",
            f"mooring rollout cancel --app {app}",
            f"mooring rollback --app {app} --print",
        ]
    if view["rollout"]["active"]:
        return [f"mooring events --app {app} -f", f"mooring rollout pause --app {app}"]
    if state in ("failed", "degraded"):
        return [f"mooring rollback --app {app} --print", "mooring up (with a fixed manifest)"]
    return [f"mooring history --app {app}"]
