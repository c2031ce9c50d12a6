"""Decode an uploaded video held in memory (never written to disk): a retrospective search of an
upload must not leave a file holding the faces of people who do not match (P1)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from openlfr.engine.sources import Frame
from openlfr.errors import InputError


def memory_video(data: bytes, name: str = "upload") -> tuple[Iterator[Frame], int | None]:
    """``(frames, frame_count or None)`` of a video held in ``data``; the decoder reads from memory.

    An unreadable or video-less file raises ``InputError`` (``bad_video``) before any frame is read.
    """
    import av

    try:
        container: Any = av.open(io.BytesIO(data), mode="r")
    except Exception as exc:  # av.error.* (FFmpeg)
        raise InputError(f"{name}: not a readable video ({type(exc).__name__})", code="bad_video") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{name}: no video stream", code="bad_video")
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate
    dt = float(1 / rate) if rate else 1 / 25
    total = int(stream.frames) if stream.frames else None

    def gen() -> Iterator[Frame]:
        i, t0 = 0, None
        try:
            for raw in container.decode(stream):
                pts = raw.time
                t = i * dt if pts is None else float(pts)
                if t0 is None:
                    t0 = t
                yield Frame(
                    image=np.ascontiguousarray(raw.to_ndarray(format="rgb24")),
                    t=max(0.0, t - t0),
                    wall=time.time(),
                    index=i,
                )
                i += 1
        except Exception as exc:
            raise InputError(
                f"{name}: decoding failed after {i} frame(s) ({type(exc).__name__})", code="bad_video"
            ) from None
        finally:
            container.close()

    return gen(), total
