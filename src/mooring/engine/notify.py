"""Signed webhooks on release outcomes, pauses, rollbacks and failed cron runs (docs/notify.md).

Never in a release's way: the event tail hands each event over on the loop, the notifier only builds
the body and puts it on the webhook's bounded queue (dropping, and logging it, when the queue is
full); one task per webhook sends, retries with backoff and writes the delivery log.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mooring import __version__
from mooring.engine.notify_config import NotifyConfig, Webhook, load_notify
from mooring.engine.outcomes import release_outcome
from mooring.store import Event, Store

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("mooring.engine")

MAX_BACKOFF = 60.0
LOG_FILE = "notify-deliveries.jsonl"
LOG_MAX_BYTES = 8 * 1024 * 1024  # then the log moves to .1 (one old generation kept)
SIGNATURE_HEADER = "X-Mooring-Signature"
TIMESTAMP_HEADER = "X-Mooring-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``<timestamp>.<body>``: what a receiver recomputes."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def notify_events(event: Event) -> list[str]:
    """The notify events an engine event stands for, most specific first (a webhook gets the first it wants)."""
    outcome = release_outcome(event)
    if outcome is not None:
        return [f"release.{outcome}"] + (["release.paused"] if event.type == "release.paused" else [])
    if event.type in ("release.paused", "release.rolling_back", "node.down"):
        return [event.type]
    if event.type == "cron.finished" and event.payload.get("outcome") != "succeeded":
        return ["cron.failed"]
    return []


@dataclass
class Delivery:
    id: str
    webhook: Webhook
    event: str
    app: str
    release_id: str | None
    body: bytes


class DeliveryLog:
    """One JSON line per attempt (and per dropped delivery), in ``$MOORING_HOME``: `mooring notify log`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, record: dict[str, Any]) -> None:
        try:
            if self.path.exists() and self.path.stat().st_size > LOG_MAX_BYTES:
                self.path.replace(self.path.with_suffix(".jsonl.1"))
            with self.path.open("a") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")
        except OSError:
            log.exception("cannot write the webhook delivery log %s", self.path)

    def deliveries(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest ``limit`` deliveries, newest first, each with its attempts."""
        by_id: dict[str, dict[str, Any]] = {}
        for path in (self.path.with_suffix(".jsonl.1"), self.path):
            try:
                lines = path.read_text().splitlines()
            except FileNotFoundError:
                continue
            for line in lines:
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a crash
                d = by_id.setdefault(
                    r["delivery"],
                    {k: r.get(k) for k in ("delivery", "webhook", "url", "event", "app", "release_id")}
                    | {"attempts": []},
                )
                d["state"] = r["state"]
                d["updated_at"] = r["at"]
                d["attempts"].append(
                    {k: r.get(k) for k in ("attempt", "at", "state", "http_status", "error", "duration_ms")}
                )
        return sorted(by_id.values(), key=lambda d: d["updated_at"], reverse=True)[:limit]


class Notifier:
    """Owns the webhooks' queues and senders; ``observe_event`` is the event tail's consumer."""

    def __init__(self, home: Path, store: Store) -> None:
        self.home = home
        self.store = store
        self.config = NotifyConfig()
        self.log = DeliveryLog(home / LOG_FILE)
        self._queues: dict[str, asyncio.Queue[Delivery]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self._host = socket.gethostname()

    def load(self) -> None:
        self.config = load_notify(self.home)
        for hook in self.config.webhooks:
            log.warning(
                "webhook %s: %s for %s", hook.name, hook.view()["url"], ", ".join(sorted(hook.events))
            )

    def start(self) -> None:
        if not self.config.webhooks:
            return
        import httpx  # ~5 MiB resident with what it pulls in: only for an engine with webhooks

        self._client = httpx.AsyncClient(follow_redirects=False)
        loop = asyncio.get_running_loop()
        for hook in self.config.webhooks:
            queue: asyncio.Queue[Delivery] = asyncio.Queue(self.config.queue)
            self._queues[hook.name] = queue
            self._tasks.append(loop.create_task(self._sender(hook, queue), name=f"webhook-{hook.name}"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def view(self, limit: int) -> dict[str, Any]:
        return {
            "webhooks": [h.view() for h in self.config.webhooks],
            "deliveries": self.log.deliveries(limit),
        }

    # --- enqueue: on the loop, quick, never raising into the tail ----------------------------------

    def observe_event(self, event: Event) -> None:
        kinds = notify_events(event)
        if not kinds or not self._queues:
            return
        bodies: dict[str, bytes] = {}
        for hook in self.config.webhooks:
            kind = next((k for k in kinds if hook.wants(k, event.app)), None)
            if kind is None:
                continue
            if kind not in bodies:
                bodies[kind] = json.dumps(self._body(kind, event), sort_keys=True).encode()
            delivery = Delivery(uuid.uuid4().hex[:16], hook, kind, event.app, event.release_id, bodies[kind])
            try:
                self._queues[hook.name].put_nowait(delivery)
            except asyncio.QueueFull:
                log.error(
                    "webhook %s: queue full (%d), dropping %s of %s",
                    hook.name,
                    self.config.queue,
                    kind,
                    event.app,
                )
                self._record(delivery, 0, "dropped", error=f"queue full ({self.config.queue} waiting)")

    def _body(self, kind: str, event: Event) -> dict[str, Any]:
        body: dict[str, Any] = {
            "event": kind,
            "app": event.app,
            "at": event.created_at.isoformat(),
            "app_seq": event.app_seq,
            "engine": {"host": self._host, "version": __version__},
            "release": None,
            "details": {k: v for k, v in event.payload.items() if k != "log_tail"},
        }
        if event.release_id is not None:
            body["release"] = self._release_summary(event.release_id)
        return body

    def _release_summary(self, release_id: str) -> dict[str, Any]:
        r = self.store.get_release(release_id)
        started = r.started_at or r.created_at
        return {
            "id": r.id,
            "number": r.number,
            "status": r.status,
            "control": r.control,
            "trigger": r.trigger,
            "source_release_id": r.source_release_id,
            "message": r.message,
            "manifest_hash": r.manifest_hash,
            "targets": {
                "total": r.targets_total,
                "ready": r.targets_ready,
                "failed": r.targets_failed,
                "unchanged": r.targets_unchanged,
                "removed": r.targets_removed,
                "pending": r.targets_pending,
            },
            "failure": r.failure,
            "created_at": r.created_at.isoformat(),
            "started_at": r.started_at.isoformat() if r.started_at else None,
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            "duration_seconds": (r.finished_at - started).total_seconds() if r.finished_at else None,
        }

    # --- send: one task per webhook, in order, with retries -----------------------------------------

    async def _sender(self, hook: Webhook, queue: asyncio.Queue[Delivery]) -> None:
        while True:
            delivery = await queue.get()
            try:
                await self._deliver(delivery)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook %s: delivery %s failed unexpectedly", hook.name, delivery.id)

    async def _deliver(self, d: Delivery) -> None:
        import httpx  # imported by start() already

        hook = d.webhook
        assert self._client is not None
        delay = hook.backoff
        for attempt in range(1, hook.max_attempts + 1):
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": f"mooring/{__version__}",
                "X-Mooring-Event": d.event,
                "X-Mooring-Delivery": d.id,
                "X-Mooring-Attempt": str(attempt),
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(hook.secret, timestamp, d.body),
            }
            started = time.monotonic()
            status: int | None = None
            error: str | None = None
            try:
                reply = await self._client.post(
                    hook.url, content=d.body, headers=headers, timeout=hook.timeout
                )
                status = reply.status_code
            except httpx.TimeoutException:
                error = f"no answer within {hook.timeout:g}s"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            took = round((time.monotonic() - started) * 1000, 1)
            if status is not None and 200 <= status < 300:
                self._record(d, attempt, "delivered", http_status=status, duration_ms=took)
                return
            retryable = status is None or status >= 500 or status in (408, 429)
            last = attempt == hook.max_attempts or not retryable
            if status is not None:
                error = f"HTTP {status}" + ("" if retryable else " (not retried: the receiver refused it)")
            self._record(
                d,
                attempt,
                "failed" if last else "retrying",
                http_status=status,
                error=error,
                duration_ms=took,
            )
            if last:
                log.error(
                    "webhook %s: gave up on %s of %s after %d attempt(s): %s",
                    hook.name,
                    d.event,
                    d.app,
                    attempt,
                    error,
                )
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    def _record(self, d: Delivery, attempt: int, state: str, **extra: Any) -> None:
        self.log.write(
            {
                "delivery": d.id,
                "webhook": d.webhook.name,
                "url": d.webhook.view()["url"],
                "event": d.event,
                "app": d.app,
                "release_id": d.release_id,
                "attempt": attempt,
                "at": time.time(),
                "state": state,
                **extra,
            }
        )
