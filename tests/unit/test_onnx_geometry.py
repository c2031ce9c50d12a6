"""Pure-numpy parts of the ONNX backend: similarity alignment, NMS, box adaptation, spec tables."""

from __future__ import annotations

import numpy as np
import pytest

from openlfr.engine.backends.align_arcface import ARCFACE_TEMPLATE, ArcFaceAligner, similarity_transform
from openlfr.engine.backends.onnx_common import nms
from openlfr.engine.models import CATALOGUE, DETECTOR_SPECS, EMBEDDER_SPECS, KNOWN_FILES, spec_for
from openlfr.errors import ConfigError, InputError
from openlfr.types import FaceBatch


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


@pytest.mark.parametrize(
    ("angle", "scale", "tx", "ty"),
    [(0.0, 1.0, 0.0, 0.0), (0.3, 2.5, 40.0, -7.0), (-1.2, 0.4, 300.0, 120.0), (3.0, 1.7, -5.0, 5.0)],
)
def test_similarity_transform_recovers_exact_similarity(angle: float, scale: float, tx: float, ty: float) -> None:
    c, s = np.cos(angle), np.sin(angle)
    truth = np.array([[scale * c, -scale * s, tx], [scale * s, scale * c, ty]])
    src = ARCFACE_TEMPLATE.astype(np.float64)
    dst = _apply(truth, src)
    m = similarity_transform(src, dst)
    assert np.allclose(m, truth, atol=1e-6)


def test_similarity_transform_is_least_squares_and_never_reflects() -> None:
    rng = np.random.default_rng(1)
    src = ARCFACE_TEMPLATE * 2.0 + 50
    noisy = src + rng.normal(0, 1.5, src.shape)
    m = similarity_transform(noisy, ARCFACE_TEMPLATE)
    assert np.linalg.det(m[:, :2]) > 0
    base = ((_apply(m, noisy) - ARCFACE_TEMPLATE) ** 2).sum()
    for eps in (1e-3, -1e-3):
        for i in range(2):
            for j in range(3):
                pert = m.copy()
                pert[i, j] += eps
                if j < 2:  # keep it a similarity: perturb the matching entry too
                    pert[1 - i, 1 - j] += eps if i == j else -eps
                assert ((_apply(pert, noisy) - ARCFACE_TEMPLATE) ** 2).sum() >= base - 1e-9
    # mirrored landmarks must not be fitted by a reflection
    mirrored = noisy.copy()
    mirrored[:, 0] *= -1
    assert np.linalg.det(similarity_transform(mirrored, ARCFACE_TEMPLATE)[:, :2]) > 0


def test_aligner_warps_landmarks_onto_template() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    angle, scale = 0.25, 1.8
    c, s = np.cos(angle), np.sin(angle)
    lm = ARCFACE_TEMPLATE @ (scale * np.array([[c, s], [-s, c]])) + [120, 60]
    # paint a bright dot at the left-eye landmark; it must land on the template's left eye
    x, y = np.round(lm[0]).astype(int)
    img[y - 4 : y + 5, x - 4 : x + 5] = 255
    faces = FaceBatch(
        xyxy=np.array([[100, 40, 330, 300]], np.float32),
        det_score=np.array([0.9], np.float32),
        landmarks=lm[None].astype(np.float32),
    )
    al = ArcFaceAligner(size=112, fallback="none")
    chips, out_lm = al.align(img, faces)
    assert chips.shape == (1, 112, 112, 3) and chips.dtype == np.uint8
    assert np.allclose(out_lm[0], lm, atol=1e-4)
    tx, ty = np.round(ARCFACE_TEMPLATE[0]).astype(int)
    assert chips[0, ty - 1 : ty + 2, tx - 1 : tx + 2].min() > 200


def test_aligner_without_landmarks_and_no_fallback_gives_black_chip() -> None:
    img = np.full((100, 100, 3), 128, np.uint8)
    faces = FaceBatch(xyxy=np.array([[10, 10, 90, 90]], np.float32), det_score=np.array([0.5], np.float32))
    chips, lm = ArcFaceAligner(fallback="none").align(img, faces)
    assert chips.shape == (1, 112, 112, 3) and chips.max() == 0 and np.isnan(lm).all()
    empty, lm0 = ArcFaceAligner().align(img, FaceBatch.empty((100, 100)))
    assert empty.shape == (0, 112, 112, 3) and lm0.shape == (0, 5, 2)


@pytest.mark.parametrize("kw", [{"size": 8}, {"fallback": "magic"}])
def test_aligner_bad_options(kw: dict) -> None:
    with pytest.raises(ConfigError):
        ArcFaceAligner(**kw)


def test_nms_keeps_best_and_suppresses_overlaps() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.5]], np.float32)
    scores = np.array([0.8, 0.9, 0.7, 0.1], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.99).tolist() == [1, 0, 2, 3]
    assert nms(boxes, scores, 0.5, top_k=1).tolist() == [1]
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).shape == (0,)


def test_spec_tables_and_catalogue_are_consistent() -> None:
    assert EMBEDDER_SPECS["mobilefacenet-128"].dim == 128
    assert EMBEDDER_SPECS["mobilefacenet-128"].colour == "RGB"
    assert EMBEDDER_SPECS["mobilefacenet-128"].std == 128.0
    assert EMBEDDER_SPECS["arcface-r50"].dim == 512
    for e in CATALOGUE.values():
        table = EMBEDDER_SPECS if e.kind == "embedder" else DETECTOR_SPECS
        assert e.spec in table, e.name
        for sha in (e.sha256, e.member_sha256):
            assert sha is None or (len(sha) == 64 and int(sha, 16) >= 0)
        if e.commercial is False:
            assert "non-commercial" in e.licence.lower()
    assert CATALOGUE["yunet-2023mar"].sha256 == ("8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4")
    assert KNOWN_FILES[CATALOGUE["scrfd-500m"].sha256 or ""].commercial is False
    with pytest.raises(InputError):
        spec_for("embedder", "nope")
    with pytest.raises(InputError):
        spec_for("tracker", "yunet")
