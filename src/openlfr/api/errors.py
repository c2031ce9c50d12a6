"""One error renderer: every failure is ``{"error": {"code", "message"}}`` with a stable code."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from openlfr.errors import OpenLFRError
from openlfr.redact import mask_url

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
}


class LoginRedirect(Exception):
    """A console page asked for by someone not logged in: send them to the login page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith(
        ("/api/", "/metrics", "/health", "/openapi")
    ) and "text/html" in request.headers.get("accept", "")


async def _openlfr(request: Request, exc: OpenLFRError) -> Response:
    status = int(getattr(exc, "http_status", 500))
    message = mask_url(exc.message)  # a stream URL in a message never shows its secrets
    if status >= 500:
        log.error("%s %s failed: %s: %s", request.method, request.url.path, exc.code, message)
    headers = {"WWW-Authenticate": 'Bearer realm="openlfr"'} if status == 401 else None
    if status in (401, 403) and _wants_html(request):
        from openlfr.api.pages import error_page

        return error_page(request, status, exc.code, message)
    return JSONResponse(error_body(exc.code, message), status_code=status, headers=headers)


async def _login(request: Request, exc: LoginRedirect) -> Response:
    from urllib.parse import quote

    return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)


async def _validation(request: Request, exc: RequestValidationError) -> Response:
    parts = []
    for e in exc.errors()[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{loc or 'request'}: {e.get('msg', 'invalid')}")
    return JSONResponse(error_body("validation_error", "; ".join(parts) or "invalid request"), status_code=422)


async def _http(request: Request, exc: StarletteHTTPException) -> Response:
    cause = exc.__cause__
    if isinstance(cause, OpenLFRError):  # e.g. the body cap hit while FastAPI parsed a form
        return JSONResponse(
            error_body(cause.code, mask_url(cause.message)),
            status_code=int(cause.http_status),
            headers={"Connection": "close"},
        )
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    if exc.status_code == 404 and _wants_html(request):  # an unknown console address: a page, not JSON
        from openlfr.api.pages import error_page

        return error_page(request, 404, "not_found", "There is no page at this address.")
    message = str(exc.detail) if exc.detail else code.replace("_", " ")
    return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _bad_value(request: Request, exc: DataError) -> Response:
    # the database refused a value (PostgreSQL: NUL in text, integer out of range, ...): a path
    # id that cannot exist is "not found", anything else a bad request value; never a 500
    log.info("%s %s: database refused a value: %s", request.method, request.url.path, type(exc.orig).__name__)
    if request.path_params:
        return JSONResponse(error_body("not_found", "no such object"), status_code=404)
    return JSONResponse(
        error_body("bad_value", "a value in the request cannot be stored or looked up"), status_code=422
    )


async def _overflow(request: Request, exc: OverflowError) -> Response:
    # date arithmetic past year 9999 (a window, a report period, a retention date): bad input, not a 500
    log.info("%s %s: value out of range: %s", request.method, request.url.path, exc)
    return JSONResponse(error_body("out_of_range", "a date or number in the request is out of range"), status_code=422)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(error_body("internal_error", "internal error; see the server log"), status_code=500)


_HANDLERS: tuple[tuple[type[Exception], Callable[..., Any]], ...] = (
    (OpenLFRError, _openlfr),
    (LoginRedirect, _login),
    (RequestValidationError, _validation),
    (StarletteHTTPException, _http),
    (DataError, _bad_value),
    (OverflowError, _overflow),
    (Exception, _unexpected),
)


def install(app: FastAPI) -> None:
    """Register the handlers: every error is JSON ``{"error": {"code", "message"}}`` (an HTML page for a
    browser's 401/403/404), never a stack trace."""
    for exc, handler in _HANDLERS:
        app.exception_handler(exc)(handler)
