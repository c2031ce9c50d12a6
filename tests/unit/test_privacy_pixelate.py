"""Redaction by inversion of previews, alert frames and probe crops (P3)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from openlfr.engine.imageio import load_image
from openlfr.engine.privacy import alert_crop, annotate, cell_size, crop, mosaic, pixelate, redact

FACES = Path(__file__).resolve().parents[1] / "data" / "faces"


def _noise(h: int = 200, w: int = 300, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _colours(a: np.ndarray) -> int:
    return len(np.unique(a.reshape(-1, 3), axis=0))


def test_pixelate_destroys_detail_inside_and_keeps_outside() -> None:
    img = _noise()
    box = np.array([[100, 50, 160, 130]], np.float32)
    out = pixelate(img, box, blocks=6, margin=0.0)
    assert _colours(out[50:130, 100:160]) <= 36  # at most blocks x blocks colours
    assert np.array_equal(out[:, :90], img[:, :90])
    assert not np.array_equal(out, img) and np.array_equal(img, _noise())  # input untouched


def test_mosaic_cells_scale_with_the_image_not_with_a_face() -> None:
    for h, w in ((200, 300), (720, 1280), (1500, 1000)):
        img = _noise(h, w)
        out = mosaic(img, cells=16)
        assert out.shape == img.shape
        assert _colours(out) <= 16 * 16  # 16 cells across the longer side, fewer down the shorter
        cell = max(h, w) / 16
        # along any row and column the output is runs of one colour, each about a cell long
        for line in (out[h // 2], out[:, w // 3]):
            change = np.flatnonzero(np.any(np.diff(line.astype(np.int16), axis=0) != 0, axis=1)) + 1
            runs = np.diff(np.concatenate([[0], change, [len(line)]]))
            assert len(runs) <= 16 and runs.min() >= 0.85 * cell, (h, w, runs)


def test_mosaic_cell_is_sized_from_the_faces_in_view() -> None:
    """The cell: the largest face's longer side / 3 (a face spans at most about 3 cells), floored at
    8 px and 1/80 of the frame; 1/16 of the frame with no face; a fixed fraction when ``cells`` is given."""
    boxes = np.array([[10, 10, 70, 90], [150, 20, 180, 50]], np.float32)  # the largest face: 80 px tall
    assert cell_size((200, 300), boxes) == 80 / 3
    assert cell_size((200, 300), np.zeros((0, 4))) == 300 / 16  # no face: as coarse as ever
    assert cell_size((200, 300), np.array([[0, 0, 9, 9]], np.float32)) == 8  # floor in pixels
    assert cell_size((1080, 1920), np.array([[0, 0, 30, 30]], np.float32)) == 1920 / 80  # floor on a large frame
    assert cell_size((200, 300), boxes, cells=16) == 300 / 16
    img = _noise(360, 640)
    face = np.array([[200, 100, 260, 172]], np.float32)  # 60 x 72: cells of 24 px
    out = redact(img, face)
    assert np.array_equal(out, mosaic(img, cell=24))
    # along a row the output is runs of one colour, each a cell long (640 / 24 -> 27 cells), far finer than
    # the 40 px cells of the no-face fallback
    line = out[180]
    change = np.flatnonzero(np.any(np.diff(line.astype(np.int16), axis=0) != 0, axis=1)) + 1
    runs = np.diff(np.concatenate([[0], change, [len(line)]]))
    assert len(runs) == 27 and runs.min() >= 20 and runs.max() <= 28, runs
    # the face itself spans at most 4 cells across (3 when aligned on the grid)
    assert len(np.unique(out[136, 200:260].reshape(-1, 3), axis=0)) <= 4


def test_redact_without_an_alert_leaves_nothing_in_clear() -> None:
    img = _noise()
    boxes = np.array([[10, 10, 70, 90], [150, 20, 220, 110]], np.float32)
    out = redact(img, boxes)
    assert np.array_equal(out, mosaic(img, cell=cell_size(img.shape, boxes)))
    assert np.array_equal(redact(img, np.zeros((0, 4))), mosaic(img))
    assert np.array_equal(img, _noise())  # input untouched
    # same as an alert row that does not exist
    assert np.array_equal(redact(img, boxes, keep=[5]), out)


def test_redact_keeps_only_the_alerted_face_and_body_in_clear() -> None:
    img = _noise(400, 600)
    face = np.array([280, 60, 320, 110], np.float32)  # 40 x 50
    neighbour_in_band = np.array([250, 200, 290, 250], np.float32)  # detected, inside the body band
    far = np.array([20, 20, 60, 70], np.float32)
    boxes = np.stack([far, face, neighbour_in_band])
    out = redact(img, boxes, keep=[1])
    # face with 20% margin in clear
    assert np.array_equal(out[50:120, 272:328], img[50:120, 272:328])
    # body band: 3 face widths (240..360) from the face's bottom down 6 face heights (110..400)
    assert np.array_equal(out[112:188, 242:358], img[112:188, 242:358])
    assert np.array_equal(out[260:400, 242:358], img[260:400, 242:358])
    # the detected neighbour inside the band is mosaicked (with its margin)
    assert not np.array_equal(out[200:250, 250:290], img[200:250, 250:290])
    assert _colours(out[200:250, 250:290]) <= 9
    # everything else is mosaic: beside the band, above the face, the far face
    m = mosaic(img, cell=cell_size(img.shape, boxes))
    assert np.array_equal(out[:, :230], m[:, :230]) and np.array_equal(out[:, 370:], m[:, 370:])
    assert np.array_equal(out[:40, :], m[:40, :])
    # band cut at the frame's edges: a face near the bottom corner
    out2 = redact(img, np.array([[560, 350, 600, 390]], np.float32), keep=[0])
    assert out2.shape == img.shape and np.array_equal(out2[392:, 560:], img[392:, 560:])


def test_alert_crop_mosaics_a_neighbour_inside_the_margin() -> None:
    img = _noise(300, 400)
    face = np.array([100, 100, 200, 200], np.float32)
    neighbour = np.array([205, 90, 265, 150], np.float32)  # its left part is inside the 20% margin
    boxes = np.stack([face, neighbour])
    c = alert_crop(img, boxes, 0)
    assert c.shape == (140, 140, 3)  # the box with 20% margin
    assert np.array_equal(c[20:120, 20:120], img[100:200, 100:200])  # the face in clear
    # columns 205..220 of the frame (crop 125..140), rows 80..150 (the neighbour with margin)
    assert not np.array_equal(c[0:70, 125:140], img[80:150, 205:220])
    assert np.array_equal(c[90:140, 125:140], img[170:220, 205:220])  # below the neighbour: clear margin
    assert np.array_equal(crop(img, face, margin=0.2), img[80:220, 80:220])


def test_annotate_redacts_and_outlines() -> None:
    img = _noise()
    boxes = np.array([[10, 10, 70, 90], [150, 20, 220, 110]], np.float32)
    prev = annotate(img, boxes, alerted={0: "Someone 0.98"})
    assert prev.shape == img.shape and prev.dtype == np.uint8
    assert np.array_equal(prev[30:80, 20:60], img[30:80, 20:60])  # the alerted face in clear
    m = mosaic(img, cell=cell_size(img.shape, boxes))  # 90 / 3 = 30 px cells
    assert np.array_equal(prev[30:100, 160:210], m[30:100, 160:210])  # the other one: mosaic
    plain = annotate(img, boxes)
    assert _colours(plain) <= 10 * 7 + 2  # all mosaic of 30 px cells (plus the outline colour)


def test_a_face_filling_the_frame_is_not_recognisable() -> None:
    """A face as large as the frame: after redaction the pipeline finds no face, and its descriptor
    (read at the original face's landmarks) is no match for the original at the default threshold."""
    from openlfr.engine.pipeline import FaceEngine
    from openlfr.services.operating_point import default_threshold

    engine = FaceEngine.from_config()
    face = load_image(FACES / "Al_Gore" / "Al_Gore_0001.jpg")
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[:, 280:1000] = cv2.resize(face, (720, 720), interpolation=cv2.INTER_CUBIC)
    small = cv2.resize(frame, (640, 360), interpolation=cv2.INTER_AREA)  # HOG's pyramid starts too big
    a = engine.analyse(small)
    assert len(a.faces) == 1 and a.faces.embedding is not None
    out = redact(small, a.faces.xyxy)
    assert len(engine.detector.detect(out)) == 0
    b = engine.analyse(out, faces=a.faces)  # the original face's box and landmarks
    assert b.faces.embedding is not None
    score = float((1 + a.faces.embedding[0] @ b.faces.embedding[0]) / 2)
    assert score < default_threshold(engine.embedder), score
