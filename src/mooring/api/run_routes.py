"""One-shot runs on demand: ``POST /v1/apps/{app}/workers/{name}/run`` starts a worker (or a cron) of the
app's live release; ``/runs/{instance_id}/output`` streams its output until it ends and ``/wait`` says how."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from mooring.api.schemas import AppName
from mooring.api.views import RunView
from mooring.errors import NotFound

if TYPE_CHECKING:
    from mooring.engine.core import Engine


def make_run_router(engine: Engine) -> APIRouter:
    router = APIRouter()
    oneshots = engine.oneshots

    @router.post("/v1/apps/{app_name}/workers/{name}/run", status_code=201, response_model=RunView)
    async def run(app_name: AppName, name: str) -> dict[str, Any]:
        """Run a worker or cron of the app's live release once now; answers once it started."""
        release = engine.live_release(app_name)
        if release is None:
            raise NotFound(f"app {app_name!r} has no release", hint="apply it first with: mooring up")
        return (await oneshots.start(app_name, name, release.id, "manual")).view()

    @router.get("/v1/apps/{app_name}/runs/{instance_id}/wait", response_model=RunView)
    async def wait(
        app_name: AppName,
        instance_id: str,
        timeout: Annotated[float, Query(ge=0, allow_inf_nan=False)] = 30.0,
    ) -> dict[str, Any]:
        """The run once it ended (``outcome`` set), or as it is after ``timeout`` seconds (at most 300)."""
        return await oneshots.wait(app_name, instance_id, min(timeout, 300.0))

    @router.get("/v1/apps/{app_name}/runs/{instance_id}/output")
    async def output(app_name: AppName, instance_id: str) -> StreamingResponse:
        """The run's log lines without timestamps (``stdout TEXT``, ``stderr TEXT``, ``mooring TEXT``) until it ended."""
        await oneshots.wait(app_name, instance_id, 0)  # unknown run: a 404 now
        run = oneshots.runs[instance_id]

        async def body() -> AsyncIterator[bytes]:
            sent = 0
            while True:
                ended = run.task is None or run.task.done()
                lines = await oneshots.output_lines(instance_id)
                for line in lines[sent:]:
                    yield (line + "\n").encode()
                sent = max(sent, len(lines))
                if ended:
                    return
                assert run.task is not None
                # woken by the run's end; meanwhile new output shows within a fifth of a second
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(run.task), 0.2)

        return StreamingResponse(body(), media_type="text/plain")

    return router
