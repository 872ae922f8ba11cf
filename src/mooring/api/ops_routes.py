"""Operator routes: app status and list, marked history, dry-run plan, explain, rollback preview and the
app's event stream (Server-Sent Events). Reads are GET, so the remote read scope covers them."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from mooring.api.schemas import MAX_SEQ, AppName, PlanRequest
from mooring.api.views import AppStatus, AppSummary, Explain, HistoryEntry, PlanView, RollbackPreview
from mooring.engine.app_views import AppViews
from mooring.engine.explain import explain
from mooring.errors import NotFound, UsageError

if TYPE_CHECKING:
    from mooring.engine import Event
    from mooring.engine.core import Engine

KEEPALIVE = 15.0  # seconds between SSE comments on a quiet stream, so proxies and clients see it alive
PAGE = 500


def event_dict(e: Event) -> dict[str, Any]:
    return {
        **e.payload,
        "app_seq": e.app_seq,
        "release_id": e.release_id,
        "seq": e.release_seq,
        "type": e.type,
        "at": e.created_at.isoformat(),
    }


def sse_frame(e: Event) -> bytes:
    return f"id: {e.app_seq}\nevent: {e.type}\ndata: {json.dumps(event_dict(e))}\n\n".encode()


def make_router(engine: Engine) -> APIRouter:
    router = APIRouter()
    views = AppViews(engine)

    @router.get("/v1/apps", response_model=list[AppSummary])
    async def list_apps() -> list[dict[str, Any]]:
        """One summary per app: current release, previous successful release, instance counts."""
        return views.apps()

    @router.get("/v1/apps/{app_name}/status", response_model=AppStatus)
    async def app_status(app_name: AppName) -> dict[str, Any]:
        """The app's current release with targets, its previous successful release and its instances."""
        await engine.proxy.refresh()  # the instances' counters, from HAProxy
        return views.status(app_name)

    @router.get("/v1/apps/{app_name}/releases", response_model=list[HistoryEntry])
    async def history(
        app_name: AppName,
        limit: Annotated[int, Query(ge=1, le=500)] = 20,
        before: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None,
    ) -> list[dict[str, Any]]:
        """Releases of the app, newest first, marked current / previous_successful; ``before`` is a
        release number, for paging."""
        return views.history(app_name, limit, before)

    @router.post("/v1/apps/{app_name}/plan", response_model=PlanView)
    async def plan(app_name: AppName, body: PlanRequest) -> dict[str, Any]:
        """Dry run: what applying this snapshot would do. Writes nothing, starts nothing."""
        return views.plan(app_name, await views.with_image_ids(app_name, body.snapshot), body.services)

    @router.get("/v1/apps/{app_name}/explain", response_model=Explain)
    async def app_explain(app_name: AppName) -> dict[str, Any]:
        """Why the app's current release waits or failed, and what to run next."""
        return await explain(engine, app_name)

    @router.get("/v1/apps/{app_name}/rollback/preview", response_model=RollbackPreview)
    async def rollback_preview(app_name: AppName, release_id: str | None = None) -> dict[str, Any]:
        """Which release a rollback would restore and its plan; changes nothing."""
        return views.rollback_preview(app_name, release_id)

    @router.get(
        "/v1/apps/{app_name}/events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
    )
    async def app_events(
        app_name: AppName,
        since: Annotated[int | None, Query(ge=0, le=MAX_SEQ)] = None,
        follow: bool = True,
        last_event_id: Annotated[
            str | None,
            Header(pattern=r"^[0-9]{1,19}$", description="the last event number a reconnecting client saw"),
        ] = None,
    ) -> StreamingResponse:
        """The app's events as Server-Sent Events; ``id`` is the app_seq. Starts after ``since`` (or the
        ``Last-Event-ID`` header of a reconnecting client); ``follow=false`` ends after the backlog."""
        if not follow and not engine.knows_app(app_name):
            # a follower may start before the app's first apply; a backlog read of an unknown app is a typo
            raise NotFound(
                f"no events for app {app_name!r}: the engine does not know it",
                hint="mooring apps lists the apps; -f waits for the app's first event",
            )
        start = since or 0
        if last_event_id:
            try:
                start = int(last_event_id)
                if not 0 <= start <= MAX_SEQ:
                    raise ValueError(last_event_id)
            except ValueError:
                raise UsageError(f"Last-Event-ID {last_event_id!r} is not an event number") from None
        return StreamingResponse(
            _stream(engine, app_name, start, follow),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )

    return router


async def _stream(engine: Engine, app: str, start: int, follow: bool) -> AsyncIterator[bytes]:
    seq = start
    try:
        while True:
            wake = engine.event_hub.signal(app)  # before the read: a commit after it still wakes us
            page = engine.events_since(app, seq, limit=PAGE)
            for e in page:
                yield sse_frame(e)
                seq = e.app_seq
            if len(page) == PAGE:
                continue
            if not follow:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), KEEPALIVE)
                continue
            yield b": keepalive\n\n"
    except asyncio.CancelledError:
        return
