"""Routes of the engine API (served on the unix socket, or TCP with ``serve --listen``).

Every error is JSON ``{"code", "message", "hint"}`` with a stable ``code``; the OpenAPI schema is
served at ``/openapi.json``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mooring import __version__
from mooring.api.node_routes import make_node_router
from mooring.api.ops_routes import event_dict, make_router
from mooring.api.rows_json import RowsJson
from mooring.api.schemas import (
    MAX_SEQ,
    AppName,
    DownRequest,
    EngineInfo,
    InstanceView,
    MaintenanceRequest,
    RollbackRequest,
    UpRequest,
)
from mooring.api.views import ErrorBody, EventView, NothingToDoView, ReleaseView
from mooring.engine.lineage import NothingToDo
from mooring.errors import MooringError

if TYPE_CHECKING:
    from mooring.engine.core import Engine

STATUS_BY_CODE = {
    "not_found": 404,
    "invalid_manifest": 422,
    "usage_error": 400,
    "lease_conflict": 409,
    "route_conflict": 409,
    "conflict": 409,
    "unauthorized": 401,
    "forbidden": 403,
}

ERROR_RESPONSES = {
    400: "usage error",
    401: "missing or wrong token (remote)",
    403: "the token's scope does not allow this (remote)",
    404: "not found",
    409: "conflict or lease conflict",
    422: "invalid request or manifest",
    500: "internal error",
}


INSTANCE_ROWS = RowsJson(InstanceView)


def error_body(code: str, message: str, hint: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "hint": hint}


def create_app(engine: Engine) -> FastAPI:
    app = FastAPI(
        title="mooring engine",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        responses={
            status: {"model": ErrorBody, "description": what} for status, what in ERROR_RESPONSES.items()
        },
    )

    @app.exception_handler(MooringError)
    async def _mooring_error(_: Request, exc: MooringError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.hint), status_code=STATUS_BY_CODE.get(exc.code, 500)
        )

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse(error_body("bad_request", f"{where}: {first.get('msg')}"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        # keep the exception's headers: a 405 must say which methods are allowed (RFC 9110 15.5.6)
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RecursionError)
    async def _too_deep(_: Request, exc: RecursionError) -> JSONResponse:
        # JSON nested deeper than Python's parser recurses (a body or a snapshot): the client's fault
        return JSONResponse(
            error_body(
                "usage_error",
                "the request's JSON is nested too deeply to parse",
                "a mooring snapshot nests a few levels; send the one `mooring up` builds",
            ),
            status_code=400,
        )

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            error_body("internal_error", f"{type(exc).__name__}: {exc}", "see the engine log"),
            status_code=500,
        )

    from mooring.api.tokens import token_routes  # /v1/tokens: admin scope over TCP (api/auth.py)

    app.include_router(token_routes(engine.tokens))

    @app.get("/v1/engine", response_model=EngineInfo)
    async def engine_info() -> dict[str, Any]:
        """Who answers: version, pid, home, since when."""
        return engine.info()

    app.include_router(make_router(engine))
    app.include_router(make_node_router(engine))

    from mooring.api.observe_routes import make_observe_router  # /metrics, webhooks' log, dashboard

    app.include_router(make_observe_router(engine))

    from mooring.api.run_routes import make_run_router  # worker and cron runs on demand

    app.include_router(make_run_router(engine))

    from mooring.api.secret_routes import make_secret_router  # secrets, rotate-key, audit log

    app.include_router(make_secret_router(engine))

    releases = engine.releases

    def recorded(result: Any) -> Any:
        """201 with the new release, or 200 with ``nothing_to_do`` when no release was recorded."""
        if isinstance(result, NothingToDo):
            view = releases.view(result.current, with_targets=False)
            return JSONResponse({"nothing_to_do": True, "message": result.message, "release": view})
        return releases.view(result)

    @app.post("/v1/apps/{app_name}/releases", status_code=201, response_model=ReleaseView | NothingToDoView)
    async def create_release(app_name: AppName, body: UpRequest) -> Any:
        """Apply a snapshot as a new release; answers once it is recorded (the executor runs on).
        An apply that changes nothing records nothing and answers 200 ``nothing_to_do``."""
        return recorded(
            await releases.apply(
                app_name, body.snapshot, body.secrets, body.services, body.wait_lock, force=body.force
            )
        )

    @app.get("/v1/releases/{release_id}", response_model=ReleaseView)
    async def release(release_id: str) -> dict[str, Any]:
        """One release with its targets."""
        return releases.view(engine.release(release_id))

    @app.get("/v1/releases/{release_id}/wait", response_model=ReleaseView)
    async def wait(
        release_id: str, timeout: Annotated[float, Query(ge=0, allow_inf_nan=False)] = 30.0
    ) -> dict[str, Any]:
        """Answer when the release's executor stops (ended, paused, cancelled) or after ``timeout`` seconds."""
        return releases.view(await releases.wait(release_id, max(0.0, min(timeout, 300.0))))

    @app.get("/v1/releases/{release_id}/events", response_model=list[EventView])
    async def release_events(release_id: str) -> list[dict[str, Any]]:
        """The release's timeline, in sequence."""
        return [event_dict(e) for e in engine.release_events(release_id)]

    @app.post("/v1/apps/{app_name}/rollout/{action}", response_model=ReleaseView)
    async def rollout(app_name: AppName, action: str) -> dict[str, Any]:
        """Pause, resume or cancel the app's open release."""
        return releases.view(await releases.control(app_name, action))

    @app.post("/v1/apps/{app_name}/rollback", status_code=201, response_model=ReleaseView | NothingToDoView)
    async def rollback(app_name: AppName, body: RollbackRequest | None = None) -> Any:
        """Re-apply the prev-ok release (or ``release_id``) as a new release."""
        body = body or RollbackRequest()
        return recorded(await releases.rollback(app_name, body.release_id, body.wait_lock))

    @app.post("/v1/apps/{app_name}/restart", status_code=201, response_model=ReleaseView | NothingToDoView)
    async def restart(app_name: AppName, body: DownRequest | None = None) -> Any:
        """Replace the running instances of ``services`` (all when null) as a release, trigger ``restart``."""
        body = body or DownRequest()
        return recorded(await releases.restart(app_name, body.services, body.wait_lock))

    @app.post("/v1/apps/{app_name}/maintenance")
    async def maintenance_set(app_name: AppName, body: MaintenanceRequest) -> dict[str, Any]:
        """Maintenance mode on or off: the app's HTTP routes answer 503 with a page and Retry-After."""
        return await engine.maintenance.set(app_name, body.on, body.message)

    @app.get("/v1/apps/{app_name}/maintenance")
    async def maintenance_get(app_name: AppName) -> dict[str, Any]:
        """Whether the app is in maintenance mode, and its page's message."""
        return engine.maintenance.state(app_name)

    @app.post("/v1/apps/{app_name}/down")
    async def down(app_name: AppName, body: DownRequest | None = None) -> dict[str, Any]:
        """Stop the app's instances in reverse dependency order."""
        body = body or DownRequest()
        return await engine.down(app_name, body.services, body.wait_lock)

    @app.get("/v1/instances", response_model=list[InstanceView])
    async def instances(app: str | None = None) -> Response:
        """Every instance with its state, health, restarts and resource facts."""
        await engine.proxy.refresh()  # the counters, from HAProxy
        # the bytes FastAPI would write for response_model, without validating 500 rows again
        return INSTANCE_ROWS.response(engine.instances(app))

    @app.get("/v1/apps/{app_name}/proxy")
    async def proxy(app_name: str) -> dict[str, Any]:
        """The app's published ports: listeners, balance, counters per service and per instance."""
        await engine.proxy.refresh()
        return {
            "app": app_name,
            "services": engine.proxy.view(app_name),
            "maintenance": engine.maintenance.state(app_name),
        }

    @app.get("/v1/edge")
    async def edge() -> dict[str, Any]:
        """The host's HAProxy: pid, restarts by the engine, config path, listeners."""
        return engine.proxy.info()

    @app.get("/v1/apps/{app_name}/logs")
    async def logs(
        app_name: AppName,
        target: str | None = None,
        tail: Annotated[int | None, Query(ge=0, le=MAX_SEQ)] = None,
        since: Annotated[float | None, Query(allow_inf_nan=False, ge=0, le=1e11)] = None,
        follow: bool = False,
        release: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    ) -> StreamingResponse:
        """Log lines of a service or instance (replicas interleaved with a prefix); ``follow`` streams.

        Ended instances too (replaced, failed, rolled back, past runs), within their retention:
        by id, by name when none of that name runs, or all of a ``release``.
        """
        # unknown app or target: a 404 now, not a broken stream later
        engine._log_sources(app_name, target, release)
        lines = engine.logs(app_name, target, tail=tail, since=since, follow=follow, release=release)

        async def body() -> AsyncIterator[bytes]:
            try:
                async for line in lines:
                    yield (line + "\n").encode()
            except asyncio.CancelledError:
                return

        return StreamingResponse(body(), media_type="text/plain")

    return app
