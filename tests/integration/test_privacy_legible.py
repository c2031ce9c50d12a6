"""Issue 19, item 1: a legible redacted scene in which no face is recognisable.

The mosaic cell is sized from the faces in view (``engine.privacy.cell_size``: the largest face's
longer side / 3), so a preview shows people, clothing and movement. That must leave no face
recognisable, judged by the system's own means: the real default embedder (frfeature-512 with the
default frdetect detector and arcface aligner) run on every face region of real redacted frames,
read at the landmarks of the *clear* face (the best an attacker who knew where each face was could
do), must not match that same face in clear at the threshold the shipped calibration gives for
FPIR 1e-2 at a watchlist of ONE reference (N = 1: the lowest threshold any list can have, so the
strictest test: a list holding only that person). That is the test on the crowd scene; on the stage clip
the raw score is uninformative (see its test) and identification within the frame is judged instead. The
checks can fail: with cells a tenth of the size (the largest face 30 cells across) both do.

Frames: the stage clip (``short_hamilton_clip.mp4``: the performer, then the audience, up to 7
faces) and the crowd scene of test_privacy_redaction (16 LFW faces of 28-300 px on a 1280x720
canvas, encoded to H.264 and decoded), both as the preview renders them (``annotate``, JPEG) and,
for the crowd, as an alert's context frame (the listed person kept in clear; only bystanders judged).
Face regions: every face the pipeline's detector or YuNet (score 0.3, stronger) finds in the clear frame.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from tests.conftest import LFW_DEV, MODELS, VIDEOS
from tests.integration.test_privacy_redaction import CROWD, LISTED, _crowd_video, _frames, _overlap, _yunet

from openlfr.engine import privacy
from openlfr.engine.imageio import encode_jpeg
from openlfr.engine.pipeline import FaceEngine
from openlfr.engine.protocols import cosine_to_score
from openlfr.services.operating_point import load_calibration
from openlfr.types import FaceBatch

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

FPIR = 1e-2
LIST_SIZE = 1
"""The threshold at a list of one reference: the lowest the calibration gives for FPIR 1e-2 (0.628 for
frfeature-512), so a redacted face that does not reach it matches its own face on no list at all."""


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return FaceEngine.from_config()


@pytest.fixture(scope="module")
def threshold(engine: FaceEngine) -> float:
    assert engine.embedder.model_id.startswith("frfeature-512")  # the default embedder
    t = load_calibration(engine.embedder).threshold_for_fpir(FPIR, LIST_SIZE)
    assert 0.5 < t < 0.7, t
    return t


def _decode(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))


def _faces(engine: FaceEngine, image: np.ndarray) -> FaceBatch:
    """Every face region of a clear frame: the pipeline's faces, and YuNet's that the pipeline missed."""
    found = engine.detector.detect(image)
    extra = [y for y in _yunet(image) if not any(_overlap(y, p) > 0.5 for p in found.xyxy)]
    boxes = np.concatenate([found.xyxy, np.array(extra, np.float32).reshape(-1, 4)])
    return FaceBatch(xyxy=boxes, det_score=np.ones(len(boxes), np.float32), image_size=found.image_size)


def _scores(engine: FaceEngine, clear: np.ndarray, redacted: np.ndarray, faces: FaceBatch) -> np.ndarray:
    """Per face: the score between the clear face and the redacted one, both read at the clear face's landmarks."""
    if not len(faces):
        return np.zeros(0, np.float32)
    chips, lms = engine.aligner.align(clear, faces)
    ok = ~np.isnan(lms).any(axis=(1, 2))
    a = engine.embedder.embed(chips[ok])
    b = engine.embedder.embed(engine.aligner.warp(redacted, lms[ok]))  # type: ignore[attr-defined]
    return cosine_to_score((a * b).sum(axis=1))


def _preview(engine: FaceEngine, frame: np.ndarray) -> np.ndarray:
    """The preview as the console receives it: redacted with the pipeline's faces, outlined, JPEG."""
    return _decode(encode_jpeg(privacy.annotate(frame, engine.detector.detect(frame).xyxy)))


@pytest.fixture(scope="module")
def stage() -> list[np.ndarray]:
    if not (VIDEOS / "short_hamilton_clip.mp4").is_file():
        pytest.skip(f"shared videos not found at {VIDEOS}")
    frames = _frames(VIDEOS / "short_hamilton_clip.mp4")
    return [frames[t] for t in sorted(frames)[::6]]  # 46 frames, performer and audience


@pytest.fixture(scope="module")
def crowd(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    if not (LFW_DEV / "pairs.txt").is_file() or not MODELS.is_dir():
        pytest.skip("shared data or models not found")
    video = tmp_path_factory.mktemp("crowd") / "crowd.mp4"
    _crowd_video(video, seconds=0.5)
    return next(iter(_frames(video).values()))


def _stage_identity(engine: FaceEngine, frames: list[np.ndarray]) -> tuple[int, float, float, list[float]]:
    """Within each stage frame of 2+ faces (different people): how often a redacted face scores highest against
    its own clear face (rank 1) and the chance rate of that (sum of 1/k), the mean gap between its own score
    and its scores against the frame's other people, and the mosaic cells used."""
    rank1, chance, gaps, cells = 0, 0.0, [], []
    for frame in frames:
        faces = _faces(engine, frame)
        cells.append(privacy.cell_size(frame.shape, engine.detector.detect(frame).xyxy))
        chips, lms = engine.aligner.align(frame, faces)
        ok = ~np.isnan(lms).any(axis=(1, 2))
        if ok.sum() < 2:
            continue
        a = engine.embedder.embed(chips[ok])
        b = engine.embedder.embed(engine.aligner.warp(_preview(engine, frame), lms[ok]))  # type: ignore[attr-defined]
        s = cosine_to_score(b @ a.T)  # redacted x clear
        for i in range(len(s)):
            rank1 += int(np.argmax(s[i]) == i)
            chance += 1 / len(s)
            gaps.append(float(s[i, i] - np.delete(s[i], i).mean()))
    return rank1, chance, float(np.mean(gaps)), cells


def _crowd_scores(engine: FaceEngine, frame: np.ndarray) -> np.ndarray:
    faces = _faces(engine, frame)
    preview = _scores(engine, frame, _preview(engine, frame), faces)
    # the alert's context frame: the listed person in clear, the rest judged
    x, y, s = next((x, y, s) for n, x, y, s in CROWD if n == LISTED)
    detected = engine.detector.detect(frame).xyxy
    row = int(np.argmax([_overlap(b, np.array([x, y, x + s, y + s], np.float32)) for b in detected]))
    alert = _decode(encode_jpeg(privacy.redact(frame, detected, keep=[row])))
    others = np.array([_overlap(b, detected[row]) < 0.5 for b in faces.xyxy])
    bystanders = FaceBatch(xyxy=faces.xyxy[others], det_score=faces.det_score[others], image_size=faces.image_size)
    return np.concatenate([preview, _scores(engine, frame, alert, bystanders)])


def test_crowd_preview_and_alert_frame_no_face_matches_its_own(
    engine: FaceEngine, threshold: float, crowd: np.ndarray
) -> None:
    """Every face of the crowd (LFW faces: the calibration's own kind of picture), redacted as a preview and as
    an alert's context frame, scores below the FPIR 1e-2 threshold at N = 1 against its own clear face."""
    scores = _crowd_scores(engine, crowd)
    assert len(scores) >= 28, len(scores)  # 14+ faces, in the preview and the alert frame
    print(f"crowd: {len(scores)} face regions, max score {scores.max():.3f}, threshold {threshold:.3f}")
    assert scores.max() < threshold, f"a redacted face matches its own face: {scores.max():.3f} >= {threshold:.3f}"


def test_stage_clip_preview_is_legible_and_no_face_identifiable(
    engine: FaceEngine, threshold: float, stage: list[np.ndarray]
) -> None:
    """The stage clip. Its faces are small and stage-lit: against them even a uniform grey chip scores about
    the N = 1 threshold (measured: mean 0.67), so a raw score above the threshold says nothing about identity
    there. Judged instead by identification among the people of the same frame: a redacted face picks its own
    clear face out of the frame's faces hardly more often than chance, and scores its own face on average
    hardly higher than the others (with cells too small, both fail: the last test)."""
    chips = []
    for frame in stage[::4]:
        faces = _faces(engine, frame)
        c, lms = engine.aligner.align(frame, faces)
        chips.append(c[~np.isnan(lms).any(axis=(1, 2))])
    clear = engine.embedder.embed(np.concatenate(chips))
    grey = engine.embedder.embed(np.full((1, *clear_shape(engine)), 128, np.uint8))
    blank = cosine_to_score(clear @ grey[0])
    assert blank.mean() > threshold - 0.05, blank.mean()  # the raw threshold is uninformative on this clip

    rank1, chance, gap, cells = _stage_identity(engine, stage)
    print(f"stage: rank 1 {rank1} (chance {chance:.1f}), mean gap {gap:.3f}; cells {[round(c) for c in cells]}")
    assert chance >= 20  # enough faces in company were judged
    assert rank1 <= 1.6 * chance and gap < 0.05, (rank1, chance, gap)
    # legible: where a face is detected the cell is a third of it, not a fixed 1/16 of the frame
    assert any(c < 640 / 16 * 0.6 for c in cells), [round(c) for c in cells]


def clear_shape(engine: FaceEngine) -> tuple[int, int, int]:
    s = engine.embedder.chip_spec.size
    return (s, s, 3)


def test_the_measures_catch_cells_too_small(
    engine: FaceEngine, threshold: float, stage: list[np.ndarray], crowd: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sanity: the same measures with a cell a tenth of the shipped one (the largest face 30 cells across,
    floors lowered) find faces matching their own on the crowd and identification far above chance on the
    stage clip, so the two tests above can fail."""
    monkeypatch.setattr(privacy, "FACE_CELLS", 30.0)
    monkeypatch.setattr(privacy, "MIN_CELL_PX", 1.0)
    monkeypatch.setattr(privacy, "MAX_CELLS", 10_000)
    crowd_scores = _crowd_scores(engine, crowd)
    rank1, chance, gap, _ = _stage_identity(engine, stage)
    print(
        f"too small: crowd {(crowd_scores >= threshold).sum()} of {len(crowd_scores)} match; "
        f"stage rank 1 {rank1} (chance {chance:.1f}), gap {gap:.3f}"
    )
    assert (crowd_scores >= threshold).sum() >= 3
    assert rank1 > 1.6 * chance and gap >= 0.05
