"""Frame sources: video files (mp4/mkv/avi/webm/gif), RTSP, HTTP (MJPEG streams and served files),
webcams. Each yields timestamped RGB frames.

Decoding uses **PyAV** (FFmpeg's libraries) for files and network streams, and OpenCV for webcams
given by device index. Measured here on the Hamilton clip (640x360 H.264) and a 1280x720 H.264
file: PyAV 1.0 / 5.7 ms per frame, OpenCV 0.35 / 6.1 ms per frame (decode + RGB conversion), so
speed does not decide at the resolutions that matter. PyAV was chosen because it gives what
the live path needs and OpenCV hides: the stream's own presentation timestamps (``frame.time``),
separate open and read time-outs (a stalled camera raises instead of blocking forever, which
is what makes reconnect-with-backoff work), FFmpeg demuxer options per source (RTSP over TCP),
and FFmpeg's error text as exceptions. OpenCV stays for V4L2 device indices, which it opens
without extra options.

Credentials in stream URLs (``rtsp://user:pass@host/...``) are masked in every message and log
line (:func:`openlfr.redact.mask_url`); the clear URL is only handed to FFmpeg.

``engine`` code is synchronous: ``read()`` returns the next frame or ``None`` at the end of a
finite source. Reconnecting, back-off and queues live in ``openlfr.runtime``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import numpy as np

from openlfr.errors import SourceError
from openlfr.redact import MASK as MASK
from openlfr.redact import SecretMaskingFilter as SecretMaskingFilter
from openlfr.redact import install_log_masking as install_log_masking
from openlfr.redact import mask_url as mask_url
from openlfr.types import VIDEO_SUFFIXES as VIDEO_SUFFIXES
from openlfr.types import Image

log = logging.getLogger(__name__)

NETWORK_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt"})


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    ``t`` is seconds on the source's own clock: media time for files (continuous across
    ``loop``), seconds since the source was first opened for live streams (continuous across
    reconnects). ``wall`` is the Unix time at capture. ``index`` counts frames read.
    """

    image: Image = field(repr=False)
    t: float
    wall: float
    index: int

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])


class FrameSource(Protocol):
    name: str
    """Display name, credentials masked."""
    live: bool
    """True for cameras and streams (reconnect on drop); False for finite files."""

    def open(self) -> None: ...

    def read(self) -> Frame | None:
        """Next frame, or None at the end of a finite source. Raises ``SourceError`` on failure."""
        ...

    def close(self) -> None: ...


def _is_webcam(spec: str) -> int | None:
    s = spec.strip()
    if s.isdigit():
        return int(s)
    for prefix in ("webcam:", "/dev/video"):
        if s.startswith(prefix) and s[len(prefix) :].isdigit():
            return int(s[len(prefix) :])
    return None


class AvSource:
    """A file or network stream decoded by PyAV.

    ``realtime`` paces a file at its native rate (as a camera would deliver it); ``loop`` restarts
    a file at its end, keeping ``t`` increasing. Network sources are live unless they report a
    finite duration (an HTTP-served file).
    """

    def __init__(
        self,
        url: str,
        *,
        live: bool | None = None,
        loop: bool = False,
        realtime: bool = False,
        open_timeout: float = 10.0,
        read_timeout: float = 5.0,
        options: dict[str, str] | None = None,
    ) -> None:
        self.url = url
        self.name = mask_url(url)
        scheme = urlsplit(url).scheme.lower() if "://" in url else ""
        self.network = scheme in NETWORK_SCHEMES
        self._live_hint = live
        self.live = bool(live) if live is not None else scheme in {"rtsp", "rtsps", "rtmp", "udp", "tcp", "srt"}
        self.loop = loop
        self.realtime = realtime
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.options = dict(options or {})
        if scheme in {"rtsp", "rtsps"}:
            self.options.setdefault("rtsp_transport", "tcp")
        self._container: Any = None
        self._frames: Any = None
        self._index = 0
        self._t0_wall: float | None = None  # first open (live clock origin)
        self._pts0: float | None = None  # first pts of the current pass
        self._offset = 0.0  # media-time offset across loops
        self._last_t = 0.0
        self._frame_dt = 1 / 25
        self._pace_origin: tuple[float, float] | None = None
        self._expected = 0  # frames the container's index promises (0: unknown)
        self._pass_frames = 0  # frames decoded in this pass
        self.fps: float | None = None
        """The stream's frame rate once opened, when it states one."""

    def open(self) -> None:
        import av

        self.close()
        if not self.network and not Path(self.url).is_file():
            raise SourceError(f"{self.name}: no such file", code="source_not_found")
        t0 = time.monotonic()
        try:
            container = av.open(self.url, options=self.options, timeout=(self.open_timeout, self.read_timeout))
        except Exception as exc:  # av.error.* (FFmpeg), OSError, ...
            if self.network and time.monotonic() - t0 >= 0.9 * min(self.open_timeout, self.read_timeout):
                # FFmpeg reports a peer that accepted and never answered as "Immediate exit requested"
                # (HTTP) or "Invalid data" (RTSP): say what happened
                raise SourceError(
                    f"cannot open {self.name}: no answer within {time.monotonic() - t0:.0f}s "
                    "(the peer accepted the connection but sent nothing usable)",
                    code="source_timeout",
                ) from exc
            raise SourceError(f"cannot open {self.name}: {mask_url(str(exc))}", code="source_open_failed") from exc
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.name}: no video stream", code="source_no_video")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        if rate:
            self._frame_dt = float(1 / rate)
            self.fps = float(rate)
        if self._live_hint is None and self.network:
            fmt = getattr(container.format, "name", "") or ""
            finite = container.duration is not None and container.duration > 0 and "mjpeg" not in fmt
            self.live = self.live or not finite
        self._container = container
        self._frames = container.decode(stream)
        self._expected = int(stream.frames or 0) if not self.live else 0
        self._pass_frames = 0
        self._pts0 = None
        if self._t0_wall is None:
            self._t0_wall = time.monotonic()
        self._pace_origin = None

    def _next_raw(self) -> Any:
        try:
            return next(self._frames)
        except StopIteration:
            return None
        except Exception as exc:
            raise SourceError(f"{self.name}: read failed: {mask_url(str(exc))}", code="source_read_failed") from exc

    def read(self) -> Frame | None:
        if self._frames is None:
            self.open()
        raw = self._next_raw()
        if raw is None:
            if self.live:
                raise SourceError(f"{self.name}: stream ended", code="source_eof")
            self._check_complete()
            if not self.loop or self._index == 0:
                return None
            self._offset = self._last_t + self._frame_dt
            self.open()
            raw = self._next_raw()
            if raw is None:
                return None
        self._pass_frames += 1
        image = raw.to_ndarray(format="rgb24")
        wall = time.time()
        if self.live:
            t = time.monotonic() - (self._t0_wall or 0.0)
        else:
            pts = raw.time
            if pts is None:
                pts = (
                    self._index * self._frame_dt if self._pts0 is None else self._last_t - self._offset + self._frame_dt
                )
            if self._pts0 is None:
                self._pts0 = float(pts)
            t = self._offset + float(pts) - self._pts0
            t = max(t, self._last_t if self._index else 0.0)
            if self.realtime:
                self._pace(t)
        self._last_t = t
        self._index += 1
        return Frame(image=np.ascontiguousarray(image), t=t, wall=wall, index=self._index - 1)

    def _check_complete(self) -> None:
        """A file whose index promises more frames than its data holds (cut short while being copied
        or written) is an error, not a normal end of file."""
        expected, got = self._expected, self._pass_frames
        if expected > 0 and got < expected * 0.95 - 1:
            raise SourceError(
                f"{self.name}: truncated: the file ended after {got} of its {expected} frames", code="source_truncated"
            )

    def _pace(self, t: float) -> None:
        now = time.monotonic()
        if self._pace_origin is None:
            self._pace_origin = (now, t)
            return
        due = self._pace_origin[0] + (t - self._pace_origin[1])
        if due > now:
            time.sleep(due - now)

    def close(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: S110 - closing a broken stream must not raise
                pass
        self._container = None
        self._frames = None


class WebcamSource:
    """A local camera by V4L2 device index, through OpenCV."""

    live = True

    def __init__(self, index: int, width: int | None = None, height: int | None = None) -> None:
        self.index = index
        self.name = f"webcam:{index}"
        self.width = width
        self.height = height
        self._cap: Any = None
        self._t0: float | None = None
        self._n = 0
        self.fps: float | None = None
        """The device's frame rate once opened, when it reports one."""

    def open(self) -> None:
        import cv2

        self.close()
        cap = cv2.VideoCapture(self.index, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open {self.name} (no such device or busy)", code="source_open_failed")
        if self.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        self._cap = cap
        self.fps = float(cap.get(cv2.CAP_PROP_FPS)) or None
        if self._t0 is None:
            self._t0 = time.monotonic()

    def read(self) -> Frame | None:
        import cv2

        if self._cap is None:
            self.open()
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            raise SourceError(f"{self.name}: read failed", code="source_read_failed")
        self._n += 1
        return Frame(
            image=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
            t=time.monotonic() - (self._t0 or 0.0),
            wall=time.time(),
            index=self._n - 1,
        )

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
        self._cap = None


def open_source(
    spec: str, *, loop: bool = False, realtime: bool = False, open_timeout: float = 10.0, read_timeout: float = 5.0
) -> FrameSource:
    """A source from a user's spec: a path, a URL (rtsp/http/...), a device index or ``webcam:N``.

    Nothing is opened yet (call ``open()`` or just ``read()``)."""
    idx = _is_webcam(spec)
    if idx is not None:
        return WebcamSource(idx)
    if "://" in spec:
        scheme = urlsplit(spec).scheme.lower()
        if scheme == "file":
            return open_source(urlsplit(spec).path, loop=loop, realtime=realtime)
        if scheme not in NETWORK_SCHEMES:
            raise SourceError(f"unsupported source scheme {scheme!r} in {mask_url(spec)}", code="source_unsupported")
        return AvSource(spec, loop=loop, realtime=realtime, open_timeout=open_timeout, read_timeout=read_timeout)
    p = Path(spec)
    if not p.exists():
        raise SourceError(f"{spec}: no such file", code="source_not_found")
    if p.is_dir():
        raise SourceError(
            f"{spec}: is a folder; live sources are video files, streams or cameras", code="source_is_folder"
        )
    return AvSource(str(p), live=False, loop=loop, realtime=realtime)


def probe(spec: str) -> dict[str, Any]:
    """Frame count (if known), fps and size of a file, for progress bars."""
    import av

    try:
        with av.open(spec) as c:
            s = c.streams.video[0]
            rate = s.average_rate or s.guessed_rate
            return {
                "frames": int(s.frames) if s.frames else None,
                "fps": float(rate) if rate else None,
                "width": s.codec_context.width,
                "height": s.codec_context.height,
                "duration_s": float(c.duration / 1_000_000) if c.duration else None,
            }
    except Exception as exc:
        raise SourceError(f"cannot open {mask_url(spec)}: {mask_url(str(exc))}", code="source_open_failed") from exc
