"""Live progress of a release from its events: one line per batch and per target change, with the
health state and the time spent against the readiness deadline.

On a terminal the target lines update in place (rich Live) and waiting targets tick; in a pipe every
change is its own plain line, so logs and tests read the same story.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.text import Text

from mooring.cli.output import out
from mooring.client import Client
from mooring.client.events import KEEPALIVE, app_events

ENDINGS = {
    "release.completed",
    "release.partially_failed",
    "release.failed",
    "release.rolled_back",
    "release.cancelled",
    "release.paused",
    "release.superseded",
}
TARGET_WORDS = {
    "target.starting": "starting",
    "target.gated": "healthy",
    "target.health": "unhealthy",
    "target.ready": "ready",
    "target.failed": "failed",
    "target.removed": "removed",
    "target.rolled_back": "rolled back",
    "target.rollback_failed": "rollback failed",
    "target.interrupted": "interrupted",
    "target.withdrawn": "withdrawn",
    "target.requeued": "requeued",
}


def seconds(value: float) -> str:
    return f"{value:.1f}s"


def _at(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["at"]).timestamp()


@dataclass
class TargetLine:
    target: str
    state: str = "pending"
    deadline: float | None = None
    started_at: float | None = None  # wall clock of target.starting
    ended_after: float | None = None  # seconds from start to the last terminal change
    note: str = ""

    def render(self, now: float | None = None) -> str:
        if self.started_at is None:
            took = ""
        else:
            elapsed = (
                self.ended_after
                if self.ended_after is not None
                else max(0.0, (now or time.time()) - self.started_at)
            )
            took = seconds(elapsed) + (f"/{self.deadline:g}s" if self.deadline is not None else "")
        parts = [f"  {self.target:<16}", f"{self.state:<12}", took]
        if self.note:
            parts.append(self.note)
        return " ".join(p for p in parts if p).rstrip()


@dataclass
class ReleaseProgress:
    """Folds a release's events into lines; ``emit`` receives each new or changed line in plain mode."""

    emit: Callable[[str], None]
    deadlines: dict[str, float] = field(default_factory=dict)  # service -> readiness timeout
    rows: list[str | TargetLine] = field(default_factory=list)
    targets: dict[str, TargetLine] = field(default_factory=dict)

    def feed(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "batch.started":
            service = event.get("service", "")
            if event.get("readiness_timeout") is not None:
                self.deadlines[service] = float(event["readiness_timeout"])
            deadline = self.deadlines.get(service)
            limit = f", readiness deadline {deadline:g}s" if deadline is not None else ""
            self._line(f"batch {event['batch']} {service}: {', '.join(event.get('targets', []))}{limit}")
        elif kind == "batch.completed":
            self._line(
                f"batch {event['batch']} {event.get('service', '')} done: {event.get('ready', 0)} ready, "
                f"{event.get('failed', 0)} failed"
                + (f", {event['interrupted']} interrupted" if event.get("interrupted") else "")
            )
        elif kind in TARGET_WORDS:
            self._target(event, TARGET_WORDS[kind])
        elif kind == "instance.stopped" and event.get("why") == "stop_first":
            # the old instance drained and stopped before the new one started: its readiness
            # deadline counts from now, so the clock shown restarts too
            line = self.targets.get(event.get("target", ""))
            if line is not None and line.ended_after is None:
                line.started_at = _at(event)
        elif kind == "batch.order_forced":
            self._line(f"{event.get('service')}: rolling stop_first: {event.get('why')}")
        elif kind == "image.pulling":
            self._line(f"{event.get('service')}: pulling image {event.get('image')}")
        elif kind == "image.pulled":
            self._line(
                f"{event.get('service')}: pulled image {event.get('image')} in {event.get('seconds', 0):g}s"
            )
        elif kind == "image.pull_failed":
            self._line(f"{event.get('service')}: image pull failed: {event.get('error')}")
        elif kind in ("worker.started", "worker.finished"):
            error = event.get("error")
            what = "started" if kind == "worker.started" else ("failed: " + error if error else "finished")
            self._line(f"worker {event.get('worker')} {what}")
        elif kind in ("release.paused", "release.rolling_back", "release.superseded", "release.resumed"):
            detail = event.get("message") or event.get("why") or event.get("by") or ""
            self._line(f"{kind.split('.', 1)[1].replace('_', ' ')}" + (f": {detail}" if detail else ""))

    def _line(self, text: str) -> None:
        self.rows.append(text)
        self.emit(text)

    def _target(self, event: dict[str, Any], word: str) -> None:
        name = event.get("target", "?")
        line = self.targets.get(name)
        if line is None:
            line = TargetLine(
                name, deadline=self.deadlines.get(event.get("service") or name.rsplit("-", 1)[0])
            )
            self.targets[name] = line
            self.rows.append(line)
        at = _at(event)
        if event["type"] == "target.starting":
            line.started_at, line.ended_after, line.note = at, None, event.get("instance_id") or ""
        elif line.started_at is not None and event["type"] != "target.health":
            line.ended_after = max(0.0, at - line.started_at)
        if event["type"] == "target.health":  # still waiting: the probe's verdict, e.g. unhealthy: HTTP 500
            word = event.get("health") or word
            line.note = f"{word}: {event.get('detail', '')}".strip(": ")
        if event["type"] in ("target.failed", "target.rollback_failed"):
            reason = event.get("reason") or ""
            line.note = f"{reason}: {event.get('detail', '')}".strip(": ")
        line.state = word
        self.emit(line.render(now=at))

    def renderable(self) -> Group:
        now = time.time()
        return Group(*(Text(r if isinstance(r, str) else r.render(now)) for r in self.rows))


def watch_release(client: Client, release: dict[str, Any], live: bool) -> None:
    """Print the release's progress from its events until an ending event or the executor stops.

    Starts at the release's first event, or at its last resume, so nothing between the POST and
    the stream is missed and an earlier run's ending does not end this one.
    """
    rid, app = release["id"], release["app"]
    so_far = client.get(f"/v1/releases/{rid}/events")
    resumes = [e for e in so_far if e["type"] == "release.resume_requested"]
    start = resumes[-1] if resumes else (so_far[0] if so_far else None)
    since = start["app_seq"] - 1 if start else 0
    if live:
        progress = ReleaseProgress(emit=lambda _: None)
        with Live(get_renderable=progress.renderable, console=out, refresh_per_second=4, transient=False):
            _pump(client, app, rid, since, progress)
    else:
        progress = ReleaseProgress(emit=lambda text: out.print(text, markup=False))
        _pump(client, app, rid, since, progress)


def _pump(client: Client, app: str, rid: str, since: int, progress: ReleaseProgress) -> None:
    for event in app_events(client, app, since=since, follow=True):
        if event is KEEPALIVE:
            # a quiet stream: make sure the executor is still at work (it may have stopped on an error)
            if not client.get(f"/v1/releases/{rid}/wait", timeout=0)["rollout"]["active"]:
                return
            continue
        if event.get("release_id") != rid:
            continue
        progress.feed(event)
        if event["type"] in ENDINGS:
            return
