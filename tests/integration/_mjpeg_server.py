"""A minimal loopback HTTP MJPEG camera for tests: ``multipart/x-mixed-replace`` JPEG frames of a
looping clip, the way IP cameras serve ``/video.mjpg``.

The clip is decoded and JPEG-encoded once; each client gets its own sender thread. ``stop()``
closes the listening socket and every client connection (a camera crash, as a client sees it);
``start()`` again on the same port restarts it. Loopback only.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import av

BOUNDARY = b"openlfrframe"


class MjpegServer:
    def __init__(self, clip: Path, *, fps: float = 15.0, max_frames: int = 150, port: int = 0) -> None:
        self.fps = fps
        self.jpegs: list[bytes] = []
        with av.open(str(clip)) as c:
            for frame in c.decode(video=0):
                img = frame.to_image()
                import io

                buf = io.BytesIO()
                img.save(buf, format="JPEG", quality=85)
                self.jpegs.append(buf.getvalue())
                if len(self.jpegs) >= max_frames:
                    break
        self.port = port
        self.sessions = 0
        self._sock: socket.socket | None = None
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()
        self._running = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/video.mjpg"

    def start(self) -> MjpegServer:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        self.port = s.getsockname()[1]
        s.listen(8)
        self._sock = s
        self._running.set()
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._running.clear()
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        with self._lock:
            for c in self._clients:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self._clients.clear()

    def _accept(self, s: socket.socket) -> None:
        while self._running.is_set():
            try:
                conn, _ = s.accept()
            except OSError:
                return
            with self._lock:
                self._clients.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            req = b""
            while b"\r\n\r\n" not in req:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                req += chunk
            self.sessions += 1
            conn.sendall(
                b"HTTP/1.0 200 OK\r\nCache-Control: no-cache\r\nConnection: close\r\n"
                b"Content-Type: multipart/x-mixed-replace; boundary=" + BOUNDARY + b"\r\n\r\n"
            )
            i = 0
            gap = 1.0 / self.fps
            while self._running.is_set():
                jpg = self.jpegs[i % len(self.jpegs)]
                conn.sendall(
                    b"--"
                    + BOUNDARY
                    + b"\r\nContent-Type: image/jpeg\r\nContent-Length: "
                    + str(len(jpg)).encode()
                    + b"\r\n\r\n"
                    + jpg
                    + b"\r\n"
                )
                i += 1
                time.sleep(gap)
        except OSError:
            return
        finally:
            conn.close()
