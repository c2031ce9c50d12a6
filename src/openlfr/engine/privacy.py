"""Redaction of every image that leaves the engine (privacy invariant P3).

Redaction is by *inversion*: a frame is mosaicked as a whole and only the alerted person is put
back in clear, so a face the detector missed can never be in clear. What is in clear:

- the alerted face's box enlarged by ``FACE_MARGIN`` (20%, as the probe crop) of its width/height on every side
  (hair, jaw, ears);
- their body region: a band ``BODY_WIDTH`` (3) face widths wide centred on the face, from the
  bottom of the face box down ``BODY_DEPTH`` (6) face heights (about an adult's torso and legs
  at the face's scale), cut at the frame's edges.

Everything else is a mosaic of square cells sized from the faces in view (:func:`cell_size`): the
largest detected face's longer side spans ``FACE_CELLS`` (3) cells, so every detected face is at
most about 3 x 3 cells (no face descriptor survives that: tests/integration/test_privacy_legible.py
runs the default embedder on each redacted face against its own clear face) while people, their
clothing and their movement stay visible at the scale of a face third. The cell is never smaller
than ``MIN_CELL_PX`` (8 px) nor ``1/MAX_CELLS`` (1/80) of the frame's longer side; with no face
detected it is ``1/DEFAULT_CELLS`` (1/16) of the longer side (40 px on a 640 px frame: the frame
may hold a face the detector missed at any size). Any *other* detected face (enlarged by the same
margin) that falls inside the clear region is mosaicked too. A frame with no alerted person (an
ordinary preview) is mosaicked entirely. Residual risk: a bystander whom the detector missed and who
stands inside the alerted person's clear region (right behind or beside them, at a similar
scale) stays in clear.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import cv2
import numpy as np

from openlfr.engine.track import iou_matrix
from openlfr.types import FloatArray, Image

DEFAULT_BLOCKS = 6
DEFAULT_MARGIN = 0.25
DEFAULT_CELLS = 16
"""Mosaic cells across the frame's longer side when no face is detected."""
FACE_CELLS = 3.0
"""Mosaic cells across the largest detected face's longer side (the cell is sized from the faces in view)."""
MIN_CELL_PX = 8.0
"""The smallest mosaic cell, in pixels."""
MAX_CELLS = 80
"""The most mosaic cells across the frame's longer side (the smallest cell on a large frame)."""
FACE_MARGIN = 0.2
"""Clear margin around the alerted face, as a fraction of its box on each side."""
BODY_WIDTH = 3.0
"""Width of the clear body band, in face widths (centred on the face)."""
BODY_DEPTH = 6.0
"""Depth of the clear body band below the face box, in face heights."""


def _region(box: Sequence[float] | FloatArray, w: int, h: int, margin: float) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    return (
        max(0, int(np.floor(x1 - mx))),
        max(0, int(np.floor(y1 - my))),
        min(w, int(np.ceil(x2 + mx))),
        min(h, int(np.ceil(y2 + my))),
    )


def pixelate(
    image: Image,
    boxes: FloatArray | Iterable[Sequence[float]],
    blocks: int = DEFAULT_BLOCKS,
    margin: float = DEFAULT_MARGIN,
    inplace: bool = False,
) -> Image:
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


def _clear_region(
    box: Sequence[float] | FloatArray, w: int, h: int, face_margin: float, body_width: float, body_depth: float
) -> list[tuple[int, int, int, int]]:
    """The rectangles shown in clear for one alerted face: the face with margin, the body band."""
    x1, y1, x2, y2 = (float(v) for v in box)
    fw, fh = max(1.0, x2 - x1), max(1.0, y2 - y1)
    cx = (x1 + x2) / 2.0
    face = _region(box, w, h, face_margin)
    bx1 = max(0, int(np.floor(cx - body_width * fw / 2.0)))
    bx2 = min(w, int(np.ceil(cx + body_width * fw / 2.0)))
    by1 = max(0, int(np.floor(y2)))
    by2 = min(h, int(np.ceil(y2 + body_depth * fh)))
    return [r for r in (face, (bx1, by1, bx2, by2)) if r[2] > r[0] and r[3] > r[1]]


def cell_size(shape: Sequence[int], boxes: FloatArray | Iterable[Sequence[float]], cells: int | None = None) -> float:
    """The mosaic cell, in pixels, for an image of ``shape`` (h, w, ...) holding faces ``boxes``: the
    largest face's longer side / ``FACE_CELLS``, at least ``MIN_CELL_PX`` and 1/``MAX_CELLS`` of the
    image's longer side; 1/``DEFAULT_CELLS`` of the longer side when there is no face. With
    ``cells`` given: 1/``cells`` of the longer side whatever the faces (a fixed fraction)."""
    longer = float(max(shape[0], shape[1]))
    if cells is not None:
        return max(1.0, longer / max(1, cells))
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    sides = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) if len(b) else np.zeros(0, np.float32)
    sides = sides[np.isfinite(sides) & (sides > 0)]
    if not len(sides):
        return max(1.0, longer / DEFAULT_CELLS)
    return max(float(sides.max()) / FACE_CELLS, MIN_CELL_PX, longer / MAX_CELLS)


def mosaic(image: Image, cells: int = DEFAULT_CELLS, cell: float | None = None) -> Image:
    """The whole image as a mosaic of square cells (a copy): ``cell`` pixels wide, or else ``cells``
    across its longer side."""
    h, w = image.shape[:2]
    if h == 0 or w == 0:
        return image.copy()
    size = max(1.0, float(cell)) if cell is not None else max(1.0, max(h, w) / max(1, cells))
    gw, gh = max(1, round(w / size)), max(1, round(h / size))
    small = cv2.resize(image, (gw, gh), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST))


def redact(
    image: Image,
    boxes: FloatArray | Iterable[Sequence[float]],
    keep: Iterable[int] = (),
    cells: int | None = None,
    face_margin: float = FACE_MARGIN,
    body_width: float = BODY_WIDTH,
    body_depth: float = BODY_DEPTH,
) -> Image:
    """Redaction by inversion (see the module docstring): ``image`` mosaicked except the clear
    region of each face row in ``keep`` (the alerted person(s) under review); any other face row
    of ``boxes`` inside a clear region is mosaicked again. With ``keep`` empty the whole image is
    mosaicked. The mosaic's cell comes from the faces in ``boxes`` (:func:`cell_size`; ``cells``
    fixes it to a fraction of the frame instead). Returns a new array; ``image`` is not modified."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    h, w = image.shape[:2]
    masked = mosaic(image, cell=cell_size(image.shape, b, cells))
    keep_rows = sorted({int(k) for k in keep if 0 <= int(k) < len(b)})
    if not keep_rows:
        return masked
    out = masked.copy()
    for i in keep_rows:
        for x1, y1, x2, y2 in _clear_region(b[i], w, h, face_margin, body_width, body_depth):
            out[y1:y2, x1:x2] = image[y1:y2, x1:x2]
    for i in range(len(b)):
        if i not in keep_rows:
            x1, y1, x2, y2 = _region(b[i], w, h, face_margin)
            out[y1:y2, x1:x2] = masked[y1:y2, x1:x2]
    for i in keep_rows:  # an alerted face overlapping another box keeps its own box in clear
        x1, y1, x2, y2 = _region(b[i], w, h, 0.0)
        out[y1:y2, x1:x2] = image[y1:y2, x1:x2]
    return out


def neighbours(
    image: Image, box: Sequence[float] | FloatArray, detect: Callable[[Image], FloatArray], overlap: float = 0.3
) -> FloatArray:
    """Faces near an alerted one, found by a second look: ``detect`` (boxes of an RGB image) run on each
    region that an alert shows in clear (the face with margin, the body band; each widened by one face
    width, so that a face cut by the region's edge is seen whole), at the region's own scale,
    where a neighbour is larger relative to the detector's input than in the whole frame. Boxes in frame
    coordinates, without the alerted face itself (IoU >= ``overlap``). Run once per alert, so that a face
    the frame's detection missed (a flicker, a partial face at the crop's edge) is mosaicked too."""
    h, w = image.shape[:2]
    found: list[FloatArray] = []
    me = np.asarray(box, np.float32).reshape(1, 4)
    pad = float(me[0, 2] - me[0, 0])  # one face width around each region, so a face cut by its edge is whole
    for rx1, ry1, rx2, ry2 in _clear_region(box, w, h, FACE_MARGIN, BODY_WIDTH, BODY_DEPTH):
        x1, y1 = max(0, int(rx1 - pad)), max(0, int(ry1 - pad))
        x2, y2 = min(w, int(rx2 + pad)), min(h, int(ry2 + pad))
        if x2 - x1 < 8 or y2 - y1 < 8:
            continue
        b = np.asarray(detect(np.ascontiguousarray(image[y1:y2, x1:x2])), np.float32).reshape(-1, 4)
        if len(b):
            found.append(b + np.array([x1, y1, x1, y1], np.float32))
    if not found:
        return np.zeros((0, 4), np.float32)
    b = np.concatenate(found)
    out: FloatArray = b[iou_matrix(b, me)[:, 0] < overlap]
    return out


def alert_crop(image: Image, boxes: FloatArray, row: int, margin: float = 0.2, cells: int | None = None) -> Image:
    """The probe crop an alert carries: face ``row`` with ``margin``, cut from the redacted frame
    (a neighbour's face inside the margin is mosaicked)."""
    return crop(redact(image, boxes, keep=[row], cells=cells), boxes[row], margin=margin)


def crop(image: Image, box: Sequence[float] | FloatArray, margin: float = 0.2) -> Image:
    """The face crop an alert carries (box enlarged by ``margin``)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = _region(box, w, h, margin)
    return np.ascontiguousarray(image[y1:y2, x1:x2])


def annotate(image: Image, boxes: FloatArray, alerted: dict[int, str] | None = None, cells: int | None = None) -> Image:
    """A preview frame: redacted (:func:`redact`; entirely mosaicked when nobody alerted), detected
    faces outlined, alerted faces in clear with a red box and their label (``alerted`` maps
    row -> label)."""
    alerted = alerted or {}
    out = redact(image, boxes, keep=alerted.keys(), cells=cells)
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    for i, box in enumerate(b):
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        if i in alerted:
            cv2.rectangle(out, (x1, y1), (x2, y2), (230, 30, 30), 2)
            cv2.putText(
                out,
                alerted[i][:40],
                (x1, max(12, y1 - 6)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5,
                (230, 30, 30),
                1,
                cv2.LINE_AA,
            )
        else:
            cv2.rectangle(out, (x1, y1), (x2, y2), (160, 160, 160), 1)
    return out
