"""Pixelation of faces in previews and alert frames (P3)."""

from __future__ import annotations

import numpy as np

from openlfr.engine.privacy import annotate, crop, pixelate, pixelate_except


def _noise(h: int = 200, w: int = 300, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_pixelate_destroys_detail_inside_and_keeps_outside() -> None:
    img = _noise()
    box = np.array([[100, 50, 160, 130]], np.float32)
    out = pixelate(img, box, blocks=6, margin=0.0)
    region = out[50:130, 100:160].reshape(-1, 3)
    assert len(np.unique(region, axis=0)) <= 36  # at most blocks x blocks colours
    assert np.array_equal(out[:, :90], img[:, :90])
    assert np.array_equal(out[140:], img[140:])
    assert not np.array_equal(out, img) and np.array_equal(img, _noise())  # input untouched


def test_pixelate_margin_covers_more_than_the_box() -> None:
    img = _noise()
    out = pixelate(img, np.array([[100, 50, 160, 130]]), margin=0.25)
    assert not np.array_equal(out[40:50, 100:160], img[40:50, 100:160])


def test_pixelate_except_keeps_only_the_alerted_face() -> None:
    img = _noise()
    boxes = np.array([[10, 10, 70, 90], [150, 20, 220, 110]], np.float32)
    out = pixelate_except(img, boxes, keep=[1])
    assert np.array_equal(out[20:110, 150:220], img[20:110, 150:220])
    assert len(np.unique(out[10:90, 10:70].reshape(-1, 3), axis=0)) <= 36


def test_annotate_and_crop_shapes() -> None:
    img = _noise()
    boxes = np.array([[10, 10, 70, 90], [150, 20, 220, 110]], np.float32)
    prev = annotate(img, boxes, alerted={0: "Someone 0.98"})
    assert prev.shape == img.shape and prev.dtype == np.uint8
    assert len(np.unique(prev[30:100, 160:210].reshape(-1, 3), axis=0)) <= 36
    c = crop(img, boxes[0], margin=0.0)
    assert c.shape == (80, 60, 3)
    assert pixelate(img, np.zeros((0, 4))).shape == img.shape
