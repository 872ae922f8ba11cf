"""``status --explain``: why a release waits or failed, and what the operator runs next."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mooring.errors import NotFound
from mooring.manifest.snapshot import ReleaseSnapshot

if TYPE_CHECKING:
    from mooring.engine.core import Engine

LOG_LINES = 10


async def explain(engine: Engine, app: str) -> dict[str, Any]:
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
    targets = []
    for t in view["targets"]:
        if t["state"] not in ("starting", "failed"):
            continue
        iid = t["instance_id"]
        entry: dict[str, Any] = {
            "target": t["target"],
            "state": t["state"],
            "reason": t["reason"],
            "detail": t["detail"],
            "instance_id": iid,
            "probe": _probe(engine, iid),
            "exit": _exit(engine, iid),
            "logs": [],
        }
        if t["state"] == "failed" and iid:
            entry["logs"] = await _log_tail(engine, iid)
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


def _probe(engine: Engine, instance_id: str | None) -> dict[str, Any] | None:
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


def _exit(engine: Engine, instance_id: str | None) -> dict[str, Any] | None:
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


async def _log_tail(engine: Engine, instance_id: str) -> list[str]:
    try:  # a container's logs come from its engine, so reading them is asynchronous
        return await engine.supervisor.logs.read_tail(instance_id, LOG_LINES)
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
