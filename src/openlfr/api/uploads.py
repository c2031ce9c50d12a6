"""Upload limits: a request body cap enforced while streaming, and image type sniffing.

``BodyLimit`` refuses a request whose ``Content-Length`` is over the cap before reading any of
it, and stops a body sent without a length (chunked) as soon as it passes the cap, so a 200 MB
upload never sits in memory. Multipart parts are kept in memory (never spooled to a temporary
file: watchlist photos must not touch the disk in clear), which the cap bounds.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.formparsers import MultiPartParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openlfr.errors import InputError, OpenLFRError
from openlfr.services.media import sniff_image

IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/bmp", "image/x-ms-bmp"}


class RequestTooLarge(OpenLFRError):
    code = "request_too_large"
    http_status = 413


def keep_uploads_in_memory(max_bytes: int) -> None:
    """Multipart files stay in memory up to the request cap (no temporary files)."""
    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, max_bytes + 1)


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = None
        for k, v in scope.get("headers", ()):
            if k == b"content-length":
                try:
                    length = int(v)
                except ValueError:
                    length = -1
        if length is not None and (length < 0 or length > self.max_bytes):
            body = json.dumps(
                {
                    "error": {
                        "code": "request_too_large",
                        "message": f"request body of {length} bytes is over the limit of {self.max_bytes} bytes",
                    }
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        seen = 0
        limit = self.max_bytes

        async def limited() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise RequestTooLarge(f"request body passed the limit of {limit} bytes; refused")
            return msg

        await self.app(scope, limited, send)


def check_image_upload(name: str, data: bytes, declared: str | None, max_bytes: int) -> str | None:
    """A rejection reason, or None when the upload may go to the engine."""
    if not data:
        return "unreadable: empty file"
    if len(data) > max_bytes:
        return f"too large: {len(data)} bytes (limit {max_bytes})"
    kind = sniff_image(data)
    if kind is None:
        return f"unreadable: not a JPEG, PNG, WebP or BMP image (sent as {declared or 'unknown type'})"
    return None


def require_image(name: str, data: bytes, declared: str | None, max_bytes: int) -> None:
    why = check_image_upload(name, data, declared, max_bytes)
    if why is not None:
        err = InputError(f"{name}: {why}", code="bad_image" if not why.startswith("too large") else "image_too_large")
        if why.startswith("too large"):
            err.http_status = 413
        elif "not a JPEG" in why:
            err.http_status = 415
        raise err


def field_names(form: Any) -> list[str]:
    return list(form.keys())
