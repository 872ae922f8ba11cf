"""What watching needs: ``/metrics`` for Prometheus, the webhook delivery log, and the web dashboard's
static files. ``/metrics`` and the log are GET, so the remote read scope covers them (api/auth.py)."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from mooring.engine.metrics import CONTENT_TYPE
from mooring.errors import NotFound

if TYPE_CHECKING:
    from mooring.engine.core import Engine

UI_PREFIX = "/ui"
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def make_observe_router(engine: Engine) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
    async def metrics() -> Response:
        """Prometheus metrics in the text exposition format (names: docs/metrics.md)."""
        await engine.proxy.refresh()  # the edge's counters, from HAProxy
        return Response(engine.metrics.exposition(), media_type=CONTENT_TYPE)

    @router.get("/v1/session")
    async def session(request: Request) -> dict[str, Any]:
        """Who is asking: the bearer token's name and scope over TCP; the trusted unix socket is admin."""
        token = getattr(request.state, "token", None)
        if token is None:
            return {"via": "unix", "name": None, "scope": "admin"}
        return {"via": "tcp", "name": token["name"], "scope": token["scope"]}

    @router.get("/v1/notify/deliveries")
    async def deliveries(limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> dict[str, Any]:
        """The configured webhooks (no secrets) and the newest deliveries with their attempts."""
        return engine.notifier.view(limit)

    @router.get(UI_PREFIX, include_in_schema=False)
    async def ui_root() -> RedirectResponse:
        return RedirectResponse(UI_PREFIX + "/")

    @router.get(UI_PREFIX + "/", include_in_schema=False)
    async def ui_index() -> Response:
        return _static("index.html")

    @router.get(UI_PREFIX + "/{name}", include_in_schema=False)
    async def ui_asset(name: str) -> Response:
        return _static(name)

    return router


def _static(name: str) -> Response:
    """A file shipped in mooring/api/static: the dashboard's shell; it holds no data, the API does."""
    suffix = name[name.rfind(".") :] if "." in name else ""
    kind = STATIC_TYPES.get(suffix)
    item = resources.files("mooring.api").joinpath("static", name)
    if kind is None or "/" in name or name.startswith(".") or not item.is_file():
        raise NotFound(f"no dashboard file {name!r}", hint=f"open {UI_PREFIX}/")
    return Response(
        item.read_bytes(),
        media_type=kind,
        headers={
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            # only the engine's own files and API: an injected script could not load or send anywhere
            "Content-Security-Policy": CSP,
        },
    )
