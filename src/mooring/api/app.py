"""Routes of the engine API (served on the unix socket, or TCP with ``serve --listen``).

Every error is JSON ``{"code", "message", "hint"}`` with a stable ``code``; the OpenAPI schema is
served at ``/openapi.json``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mooring import __version__
from mooring.api.schemas import DownRequest, EngineInfo, InstanceView, RollbackRequest, UpRequest
from mooring.errors import MooringError

if TYPE_CHECKING:
    from mooring.engine.core import Engine

STATUS_BY_CODE = {
    "not_found": 404,
    "invalid_manifest": 422,
    "usage_error": 400,
    "lease_conflict": 409,
    "conflict": 409,
    "unauthorized": 401,
    "forbidden": 403,
}


def error_body(code: str, message: str, hint: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "hint": hint}


def create_app(engine: Engine) -> FastAPI:
    app = FastAPI(title="mooring engine", version=__version__, docs_url=None, redoc_url=None)

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
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            error_body("internal_error", f"{type(exc).__name__}: {exc}", "see the engine log"),
            status_code=500,
        )

    @app.get("/v1/engine", response_model=EngineInfo)
    async def engine_info() -> dict[str, Any]:
        """Who answers: version, pid, home, since when."""
        return engine.info()

    @app.get("/v1/apps")
    async def list_apps() -> list[dict[str, Any]]:
        """Apps known to the engine, with their instance counts."""
        return engine.list_apps()

    releases = engine.releases

    @app.post("/v1/apps/{app_name}/releases", status_code=201)
    async def create_release(app_name: str, body: UpRequest) -> dict[str, Any]:
        """Apply a snapshot as a new release; answers once it is recorded (the executor runs on)."""
        release = await releases.apply(app_name, body.snapshot, body.secrets, body.services, body.wait_lock)
        return releases.view(release)

    @app.get("/v1/apps/{app_name}/releases")
    async def history(app_name: str, limit: int = 20, before: int | None = None) -> list[dict[str, Any]]:
        """Releases of the app, newest first; ``before`` is a release number, for paging."""
        rows = engine.store.list_releases(app_name, limit=max(1, min(limit, 500)), before_number=before)
        return [releases.view(r, with_targets=False) for r in rows]

    @app.get("/v1/releases/{release_id}")
    async def release(release_id: str) -> dict[str, Any]:
        """One release with its targets."""
        return releases.view(engine.store.get_release(release_id))

    @app.get("/v1/releases/{release_id}/wait")
    async def wait(release_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """Answer when the release's executor stops (ended, paused, cancelled) or after ``timeout`` seconds."""
        return releases.view(await releases.wait(release_id, max(0.0, min(timeout, 300.0))))

    @app.get("/v1/releases/{release_id}/events")
    async def release_events(release_id: str) -> list[dict[str, Any]]:
        """The release's timeline, in sequence."""
        return [
            {
                "seq": e.release_seq,
                "app_seq": e.app_seq,
                "type": e.type,
                "at": e.created_at.isoformat(),
                **e.payload,
            }
            for e in engine.store.release_events(release_id)
        ]

    @app.post("/v1/apps/{app_name}/rollout/{action}")
    async def rollout(app_name: str, action: str) -> dict[str, Any]:
        """Pause, resume or cancel the app's open release."""
        return releases.view(await releases.control(app_name, action))

    @app.post("/v1/apps/{app_name}/rollback", status_code=201)
    async def rollback(app_name: str, body: RollbackRequest | None = None) -> dict[str, Any]:
        """Re-apply the previous successful release (or ``release_id``) as a new release."""
        body = body or RollbackRequest()
        return releases.view(await releases.rollback(app_name, body.release_id, body.wait_lock))

    @app.post("/v1/apps/{app_name}/down")
    async def down(app_name: str, body: DownRequest | None = None) -> dict[str, Any]:
        """Stop the app's instances in reverse dependency order."""
        body = body or DownRequest()
        return await engine.down(app_name, body.services, body.wait_lock)

    @app.get("/v1/instances", response_model=list[InstanceView])
    async def instances(app: str | None = None) -> list[dict[str, Any]]:
        """Every instance with its state, health, restarts and resource facts."""
        return engine.instances(app)

    @app.get("/v1/apps/{app_name}/proxy")
    async def proxy(app_name: str) -> dict[str, Any]:
        """The app's published ports: listeners, balance, counters per service and per instance."""
        return {"app": app_name, "services": engine.proxy.view(app_name)}

    @app.get("/v1/apps/{app_name}/logs")
    async def logs(
        app_name: str,
        target: str | None = None,
        tail: int | None = None,
        since: float | None = None,
        follow: bool = False,
    ) -> StreamingResponse:
        """Log lines of a service or instance (replicas interleaved with a prefix); ``follow`` streams."""
        lines = engine.logs(app_name, target, tail=tail, since=since, follow=follow)

        async def body() -> AsyncIterator[bytes]:
            try:
                async for line in lines:
                    yield (line + "\n").encode()
            except asyncio.CancelledError:
                return

        return StreamingResponse(body(), media_type="text/plain")

    return app
