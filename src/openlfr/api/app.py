"""The FastAPI application: ``create_app(settings)``.

Every route requires a logged-in user or an API token except ``/health``, the public transparency
page and feed (``/transparency``, ``/api/public/*``), the login and first-run
setup endpoints and pages, and the static assets; each route names the roles it admits
(``api.deps``). Errors are rendered once (``api.errors``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import openlfr
from openlfr.api import errors
from openlfr.api.config import ApiSettings, load_api_settings
from openlfr.api.deps import Anyone
from openlfr.api.events import Broker
from openlfr.api.live import LiveManager, lower_request_priority
from openlfr.api.metrics import Metrics
from openlfr.api.pages import WEB
from openlfr.api.state import AppState, ClientLimiter
from openlfr.api.uploads import BodyLimit, keep_uploads_in_memory
from openlfr.errors import ConfigError
from openlfr.services.context import AppContext
from openlfr.settings import Settings, load_settings

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _relative_location(name: bytes, value: bytes) -> tuple[bytes, bytes]:
    """A redirect names a path on this server, never a host: an absolute ``Location`` (Starlette builds
    its trailing-slash redirects from the request's Host header) becomes its path and query, so
    ``Host: evil.example`` cannot send a user elsewhere."""
    if name.lower() != b"location":
        return name, value
    parts = urlsplit(value.decode("latin-1"))
    if not parts.scheme and not parts.netloc and not value.startswith((b"//", b"/\\")):
        return name, value
    path = "/" + parts.path.lstrip("/\\")
    return name, (path + (f"?{parts.query}" if parts.query else "")).encode("latin-1")


class SecurityHeaders:
    """Security headers on every response, and request counts/latency for the metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                status["code"] = msg["status"]
                headers = list(msg.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
                ]
                if b"content-security-policy" not in names:
                    extra.append((b"content-security-policy", CSP.encode()))
                if b"cache-control" not in names and not scope["path"].startswith("/static/"):
                    extra.append((b"cache-control", b"no-store"))
                msg["headers"] = [_relative_location(k, v) for k, v in headers] + [
                    (k, v) for k, v in extra if k not in names
                ]
            await send(msg)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or ("/static" if scope["path"].startswith("/static/") else "other")
            self.metrics.requests.labels(scope.get("method", ""), label, str(status["code"])).inc()
            if not label.endswith((".mjpg", "/events")):
                self.metrics.request_seconds.labels(label).observe(time.perf_counter() - t0)


class Sweeper:
    """Runs the retention sweeper (P5) every few minutes in the server."""

    def __init__(self, ctx: AppContext, minutes: float) -> None:
        self.ctx = ctx
        self.every_s = minutes * 60.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="retention-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        from openlfr.services import retention, users

        while not self._stop.is_set():
            try:
                res = retention.sweep(self.ctx)
                users.purge_expired_sessions(self.ctx)
                log.info("retention sweep: %s", dataclasses.asdict(res))
            except Exception:
                log.exception("retention sweep failed")
            self._stop.wait(self.every_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _lifespan(state: AppState, background: bool) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start (``background``: resume live deployments, run the retention sweeper) and stop the app's work."""
    ctx, api, live = state.ctx, state.api, state.live

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sweeper: Sweeper | None = None
        if background:
            # this is the event loop thread: request handling (and the worker threads it starts) yields the
            # CPU to the cameras; runners are started by the live manager's launcher at the server's priority
            niced = lower_request_priority(api.request_nice)
            if niced:
                log.info("request threads run at nice %d; camera processes at the server's priority", niced)
            resumed = live.resume()
            if resumed:
                log.warning("resumed live deployment(s): %s", ", ".join(map(str, resumed)))
            sweeper = Sweeper(ctx, api.retention_sweep_minutes)
            sweeper.start()
        try:
            yield
        finally:
            if background:
                log.warning(
                    "OpenLFR stopping: cameras stop, counters are flushed; live deployments resume at the next start"
                )
            live.shutdown()
            if sweeper is not None:
                sweeper.stop()
            ctx.close()

    return lifespan


def _routes(app: FastAPI) -> None:
    from openlfr.api.routers import (
        alerts,
        audit,
        auth,
        cameras,
        console,
        console_ops,
        deployments,
        enrol,
        entries,
        evaluation,
        health,
        image_views,
        reports,
        retro,
        transparency,
        users,
        watchlists,
    )
    from openlfr.api.routers import metrics as metrics_router

    for r in (
        health,
        auth,
        users,
        watchlists,
        entries,
        deployments,
        cameras,
        alerts,
        reports,
        audit,
        evaluation,
        metrics_router,
        console,
        console_ops,
        transparency,
        retro,
        enrol,
        image_views,
    ):
        app.include_router(r.router)
    app.mount("/static", StaticFiles(directory=str(WEB / "static")), name="static")
    _protect_openapi(app)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_schema(p: Anyone) -> JSONResponse:
        """The API schema, for logged-in users only (it maps every route an attacker could probe)."""
        return JSONResponse(app.openapi())


def create_app(
    settings: Settings | None = None,
    *,
    api_settings: ApiSettings | None = None,
    background: bool = False,
    setup_token: str | None = None,
) -> FastAPI:
    """The app. ``background``: resume live deployments and run the retention sweeper (``openlfr serve``)."""
    settings = settings or load_settings()
    api = api_settings or load_api_settings()
    ctx = AppContext(settings.model_copy(update={"actor": "openlfr-serve"}))
    metrics = Metrics()
    broker = Broker()
    live = LiveManager(
        ctx, broker, metrics, realtime=api.live_realtime, loop_files=api.live_loop_files, mode=api.live_mode
    )
    state = AppState(
        ctx=ctx,
        api=api,
        broker=broker,
        metrics=metrics,
        live=live,
        limiter=ClientLimiter(api.login_failures_per_client, api.login_window_s),
        setup_token=setup_token,
    )
    keep_uploads_in_memory(api.max_request_bytes)
    try:
        ctx.db  # noqa: B018 - open and migrate once, before request threads race to do it
    except ConfigError as exc:  # not initialised: /health reports it; `openlfr serve` initialises first
        log.warning("database not ready: %s", exc.message)
    app = FastAPI(
        title="OpenLFR",
        version=openlfr.__version__,
        lifespan=_lifespan(state, background),
        description="Accountable live facial recognition: the console's JSON API. Authenticate with "
        "a console session (cookie + X-CSRF-Token on writes) or `Authorization: Bearer "
        '<API token>`. Errors are `{"error": {"code", "message"}}`.',
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.openlfr = state
    errors.install(app)
    _routes(app)
    app.add_middleware(SecurityHeaders, metrics=metrics)
    app.add_middleware(BodyLimit, max_bytes=api.max_request_bytes)
    return app


def _protect_openapi(app: FastAPI) -> None:
    """Declare the error responses and security schemes once for the published schema."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {}).setdefault("schemas", {})["ErrorResponse"] = {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                }
            },
        }
        ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
        for path, ops in schema.get("paths", {}).items():
            for op in ops.values():
                if not isinstance(op, dict):
                    continue
                resp = op.setdefault("responses", {})
                if path != "/health":
                    resp.setdefault("401", {"description": "Not logged in", **ref})
                    resp.setdefault("403", {"description": "Role not allowed (or CSRF token missing)", **ref})
                resp.setdefault("404", {"description": "Not found", **ref})
                resp.setdefault("409", {"description": "Conflict", **ref})
                resp.setdefault("413", {"description": "Request too large", **ref})
                resp.setdefault("422", {"description": "Invalid input", **ref})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
