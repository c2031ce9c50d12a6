"""Preview frames for the console: a latest-frame store fed from the run's bus
(:class:`~openlfr.runtime.events.PreviewFrame`), and a small MJPEG-over-HTTP server on top of it.

Frames reaching here are already privacy-safe: the whole frame is a mosaic except an alerted
person's face and body region (``engine.privacy.annotate``/``redact``, P3). Nothing is written to disk.

    GET /                 -> JSON list of cameras
    GET /<camera>.jpg     -> the latest frame
    GET /<camera>.mjpg    -> multipart/x-mixed-replace stream (what <img src=...> shows live)

Every request needs the server's random token (``?token=...`` or ``Authorization: Bearer ...``),
printed only to the user who started the run: loopback is shared by every local user and process.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

from openlfr.runtime.events import EventBus, PreviewFrame

log = logging.getLogger(__name__)

BOUNDARY = "openlfrframe"


class PreviewHub:
    """Holds the latest JPEG per camera (``update``, or :meth:`subscribe` to a run's bus)."""

    def __init__(self) -> None:
        self._frames: dict[str, tuple[bytes, float, int]] = {}
        self._cond = threading.Condition()

    def update(self, camera: str, jpeg: bytes, t: float) -> None:
        with self._cond:
            seq = self._frames.get(camera, (b"", 0.0, 0))[2] + 1
            self._frames[camera] = (jpeg, t, seq)
            self._cond.notify_all()

    __call__ = update

    def subscribe(self, bus: EventBus, prefix: str = "") -> None:
        """Take every :class:`PreviewFrame` published on ``bus``, under ``prefix + camera``."""
        bus.subscribe(PreviewFrame, lambda ev: self.update(prefix + ev.camera, ev.jpeg, ev.t))

    def forget(self, *cameras: str) -> None:
        """Drop these cameras' frames (their run ended)."""
        with self._cond:
            for c in cameras:
                self._frames.pop(c, None)

    def cameras(self) -> list[str]:
        with self._cond:
            return sorted(self._frames)

    def latest(self, camera: str) -> tuple[bytes, float, int] | None:
        with self._cond:
            return self._frames.get(camera)

    def wait_next(self, camera: str, after_seq: int, timeout: float = 5.0) -> tuple[bytes, float, int] | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                cur = self._frames.get(camera)
                if cur is not None and cur[2] > after_seq:
                    return cur
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)


class _Handler(BaseHTTPRequestHandler):
    hub: PreviewHub
    stop: threading.Event
    token: str

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("preview: " + format, *args)

    def _authorised(self) -> bool:
        given = parse_qs(self.path.partition("?")[2]).get("token", [""])[0]
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())

    def do_GET(self) -> None:
        if not self._authorised():
            self._send(401, "text/plain", b"preview token required (?token=...)\n")
            return
        path = unquote(self.path.split("?", 1)[0]).lstrip("/")
        if path == "":
            body = json.dumps({"cameras": self.hub.cameras()}).encode()
            self._send(200, "application/json", body)
            return
        name, _, ext = path.rpartition(".")
        if ext == "jpg":
            cur = self.hub.latest(name)
            if cur is None:
                self._send(404, "text/plain", b"no such camera\n")
                return
            self._send(200, "image/jpeg", cur[0])
            return
        if ext != "mjpg":
            self._send(404, "text/plain", b"not found\n")
            return
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        seq = 0
        try:
            while not self.stop.is_set():
                cur = self.hub.wait_next(name, seq, timeout=1.0)
                if cur is None:
                    continue
                jpeg, _, seq = cur
                self.wfile.write(
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                    + jpeg
                    + b"\r\n"
                )
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return

    def _send(self, code: int, ctype: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class MjpegServer:
    """Serve a ``PreviewHub`` over HTTP (loopback by default) in a background thread."""

    def __init__(self, hub: PreviewHub, host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> None:
        self.hub = hub
        self.token = token or secrets.token_urlsafe(24)
        self._stop = threading.Event()
        handler = type("PreviewHandler", (_Handler,), {"hub": hub, "stop": self._stop, "token": self.token})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="mjpeg-preview", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        return f"http://{host}:{self.port}/"

    def link(self, path: str = "") -> str:
        """``url + path`` with the token (what to open in a browser)."""
        return f"{self.url}{path}?token={self.token}"

    def start(self) -> MjpegServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
