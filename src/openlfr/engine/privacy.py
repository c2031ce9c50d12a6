"""Pixelation for previews and alert frames (privacy invariant P3).

Every face in a frame that leaves the engine (a preview frame, the context frame of an alert) is
pixelated, except the one alerted face under review. Pixelation averages each face region,
enlarged by ``margin`` on every side to cover hair and jaw, into ``blocks`` x ``blocks`` cells:
at the default 6 cells across a face no descriptor can recover the identity (a face descriptor
needs tens of pixels between the eyes) and a person can still see that a face was there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from openlfr.types import FloatArray, Image

DEFAULT_BLOCKS = 6
DEFAULT_MARGIN = 0.25


def _region(box: Sequence[float] | FloatArray, w: int, h: int, margin: float) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    return (max(0, int(np.floor(x1 - mx))), max(0, int(np.floor(y1 - my))),
            min(w, int(np.ceil(x2 + mx))), min(h, int(np.ceil(y2 + my))))


def pixelate(image: Image, boxes: FloatArray | Iterable[Sequence[float]], blocks: int = DEFAULT_BLOCKS,
             margin: float = DEFAULT_MARGIN, inplace: bool = False) -> Image:
    """Return ``image`` with each box region replaced by a coarse mosaic (a copy unless ``inplace``)."""
    out = image if inplace else image.copy()
    h, w = out.shape[:2]
    for box in np.asarray(boxes, dtype=np.float32).reshape(-1, 4):
        x1, y1, x2, y2 = _region(box, w, h, margin)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        roi = out[y1:y2, x1:x2]
        bw = max(1, min(blocks, x2 - x1))
        bh = max(1, min(blocks, y2 - y1))
        small = cv2.resize(roi, (bw, bh), interpolation=cv2.INTER_AREA)
        out[y1:y2, x1:x2] = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
    return out


def pixelate_except(image: Image, boxes: FloatArray, keep: Iterable[int] = (), blocks: int = DEFAULT_BLOCKS,
                    margin: float = DEFAULT_MARGIN) -> Image:
    """Pixelate every face except the rows in ``keep`` (the alerted face(s) under review).

    A kept face that overlaps a pixelated one keeps its own box in clear (it is restored after
    the others are pixelated)."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    keep_set = {int(k) for k in keep}
    others = [i for i in range(len(b)) if i not in keep_set]
    out = pixelate(image, b[others], blocks=blocks, margin=margin)
    h, w = image.shape[:2]
    for i in keep_set:
        if 0 <= i < len(b):
            x1, y1, x2, y2 = _region(b[i], w, h, 0.0)
            out[y1:y2, x1:x2] = image[y1:y2, x1:x2]
    return out


def crop(image: Image, box: Sequence[float] | FloatArray, margin: float = 0.2) -> Image:
    """The face crop an alert carries (box enlarged by ``margin``)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = _region(box, w, h, margin)
    return np.ascontiguousarray(image[y1:y2, x1:x2])


def annotate(image: Image, boxes: FloatArray, alerted: dict[int, str] | None = None,
             blocks: int = DEFAULT_BLOCKS) -> Image:
    """A preview frame: every face pixelated and outlined, except alerted faces, shown in clear
    with a red box and their label (``alerted`` maps row -> label)."""
    alerted = alerted or {}
    out = pixelate_except(image, boxes, keep=alerted.keys(), blocks=blocks)
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    for i, box in enumerate(b):
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        if i in alerted:
            cv2.rectangle(out, (x1, y1), (x2, y2), (230, 30, 30), 2)
            cv2.putText(out, alerted[i][:40], (x1, max(12, y1 - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (230, 30, 30), 1, cv2.LINE_AA)
        else:
            cv2.rectangle(out, (x1, y1), (x2, y2), (160, 160, 160), 1)
    return out
