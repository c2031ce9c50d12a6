"""The MTCNN detector (vendored P-/R-/O-Net .tflite files on LiteRT) on real faces: lfw-dev photos,
a downscaled (small) and a rotated (tilted) face, hand-checked faces of a real clip; the networks'
tensor layout; batching; the sha256 check of the vendored files; blank images; the dlib aligner
and fast descriptor on MTCNN boxes."""

from __future__ import annotations

import itertools
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.integration.conftest import labelled_frames

from openlfr.engine import registry
from openlfr.engine.backends import mtcnn as mt
from openlfr.engine.imageio import load_image
from openlfr.engine.pipeline import EngineConfig, FaceEngine, pick_main_face
from openlfr.engine.track import iou_matrix
from openlfr.errors import ConfigError, InputError, ModelError

pytestmark = [pytest.mark.shared_data]

REPO = Path(__file__).resolve().parents[2]
TRUTH = REPO / "benchmarks" / "data" / "clip_faces.json"
CLIP = "short_hamilton_clip.mp4"


@pytest.fixture(scope="module")
def det() -> mt.MtcnnDetector:
    return registry.create("detector", "mtcnn", threads=1)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(iou_matrix(a, b)[0, 0])


def _lfw(lfw_dev: Path, n: int, step: int = 97) -> list[Path]:
    return sorted(lfw_dev.glob("*/*.jpg"))[::step][:n]


def _check_geometry(xyxy: np.ndarray, lm: np.ndarray) -> None:
    """Eyes above nose above mouth; left/right in order; every point inside the box."""
    (le, re_, nose, ml, mr) = lm
    assert le[0] < re_[0] and ml[0] < mr[0]
    assert max(le[1], re_[1]) < nose[1] < min(ml[1], mr[1])
    assert np.all((lm[:, 0] > xyxy[0]) & (lm[:, 0] < xyxy[2]) & (lm[:, 1] > xyxy[1]) & (lm[:, 1] < xyxy[3]))


def test_pinned_hashes_match_the_provenance_file() -> None:
    text = (mt.WEIGHTS_DIR / "PROVENANCE.md").read_text("utf-8")
    for name, sha in mt.FILES.values():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}`"))
        assert re.search(r"\b([0-9a-f]{64})\b", row).group(1) == sha  # type: ignore[union-attr]
        assert mt.file_sha256(mt.WEIGHTS_DIR / name) == sha


def test_altered_or_missing_file_is_refused(tmp_path: Path) -> None:
    for name, _ in mt.FILES.values():
        shutil.copyfile(mt.WEIGHTS_DIR / name, tmp_path / name)
    assert mt.MtcnnDetector(weights_dir=tmp_path, threads=1).model_id.startswith("mtcnn@")
    data = bytearray((tmp_path / "rnet.tflite").read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one weight
    (tmp_path / "rnet.tflite").write_bytes(bytes(data))
    with pytest.raises(ModelError) as e:
        mt.MtcnnDetector(weights_dir=tmp_path, threads=1)
    assert e.value.code == "checksum_mismatch" and "rnet.tflite" in e.value.message
    (tmp_path / "rnet.tflite").unlink()
    with pytest.raises(ModelError) as e:
        mt.MtcnnDetector(weights_dir=tmp_path, threads=1)
    assert e.value.code == "model_missing"


def test_tensor_layout_of_the_vendored_networks(det: mt.MtcnnDetector) -> None:
    """P-Net takes a transposed (1, W, H, 3) image of any size and answers on a (W', H') grid with
    W' = ceil(W / 2 - 5); R-Net and O-Net take batches of 24 / 48 px crops."""
    for w, h in ((50, 30), (384, 216)):
        it = det._pnet(w, h)
        assert tuple(it.get_input_details()[0]["shape"]) == (1, w, h, 3)
        shapes = {tuple(d["shape"]) for d in it.get_output_details()}
        gw, gh = int(np.ceil(w / 2 - 5)), int(np.ceil(h / 2 - 5))
        assert shapes == {(1, gw, gh, 2), (1, gw, gh, 4)}
    for net, side, outs in (("rnet", 24, {(8, 2), (8, 4)}), ("onet", 48, {(8, 2), (8, 4), (8, 10)})):
        it = det._fixed_net(net, 8)
        assert tuple(it.get_input_details()[0]["shape"]) == (8, side, side, 3)
        assert {tuple(d["shape"]) for d in it.get_output_details()} == outs


def test_pnet_loaded_with_small_declared_shapes_gives_the_same_outputs(det: mt.MtcnnDetector) -> None:
    """The in-memory copy of P-Net declares a 24 x 24 input (the file: 1280 x 960, which made LiteRT's
    XNNPACK delegate hold ~140 MB per interpreter); its outputs equal the file's at any input size."""
    from ai_edge_litert.interpreter import Interpreter

    patched = Interpreter(model_content=det._pnet_bytes)
    assert tuple(patched.get_input_details()[0]["shape"]) == (1, 24, 24, 3)
    orig = Interpreter(model_path=str(mt.WEIGHTS_DIR / "pnet.tflite"))
    assert tuple(orig.get_input_details()[0]["shape"]) == (1, 1280, 960, 3)
    rng = np.random.default_rng(3)
    for w, h in ((37, 29), (200, 120)):
        x = rng.standard_normal((1, w, h, 3)).astype(np.float32)
        outs = []
        for it in (orig, patched):
            ix = it.get_input_details()[0]["index"]
            it.resize_tensor_input(ix, (1, w, h, 3))
            it.allocate_tensors()
            it.set_tensor(ix, x)
            it.invoke()
            outs.append({d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()})
        assert outs[0].keys() == outs[1].keys()
        for k in outs[0]:
            np.testing.assert_array_equal(outs[0][k], outs[1][k])


def test_pyramid_scales() -> None:
    s = mt.pyramid_scales(1280, 720, 40)
    assert s[0] == pytest.approx(12 / 40)
    assert all(b / a == pytest.approx(mt.FACTOR) for a, b in itertools.pairwise(s))
    assert 12 / s[-1] <= 720 < 12 / s[-1] / mt.FACTOR  # up to faces as tall as the frame
    assert len(mt.pyramid_scales(1280, 720, 20)) == len(s) + 2
    assert mt.pyramid_scales(30, 30, 40) == []


def test_lfw_faces_boxes_and_landmarks(lfw_dev: Path, det: mt.MtcnnDetector) -> None:
    """On 30 lfw-dev photos (250 px, subject centred, face ~110 px) the subject is found with the 5
    points where they belong, and its dlib-style box is close to dlib HOG's."""
    hog = registry.create("detector", "dlib-hog", upsample=1, min_face_px=40)
    ious = []
    for f in _lfw(lfw_dev, 30):
        img = load_image(f)
        faces = det.detect(img)
        idx, why = pick_main_face(faces)
        assert idx is not None, (f.name, why)
        b, lm = faces.xyxy[idx], faces.landmarks[idx]  # type: ignore[index]
        assert b[0] < 125 < b[2] and b[1] < 125 < b[3], f.name
        assert 70 <= b[2] - b[0] <= 160 and faces.det_score[idx] > 0.9
        _check_geometry(b, lm)
        h = hog.detect(img)
        if len(h) == 1:
            ious.append(_iou(b, h.xyxy[0]))
    assert len(ious) >= 20 and np.median(ious) > 0.75, ious


def test_small_face_found_and_min_face_px_respected(lfw_dev: Path) -> None:
    """An lfw-dev face scaled down to ~42 px (box side; HOG's box: 44 px) on a grey 640x480 frame is
    found by ``min_face_px=20`` and ``40``; ``min_face_px=80`` looks for nothing that small."""
    img = load_image(sorted(lfw_dev.glob("*/*.jpg"))[500])
    small = cv2.resize(img, (100, 100), interpolation=cv2.INTER_AREA)  # the face: ~42 of the 100 px
    frame = np.full((480, 640, 3), 120, np.uint8)
    frame[300:400, 410:510] = small
    for mfp in (20, 40):
        faces = mt.MtcnnDetector(min_face_px=mfp, threads=1).detect(frame)
        assert len(faces) == 1, (mfp, faces.xyxy)
        b = faces.xyxy[0]
        assert 410 < (b[0] + b[2]) / 2 < 510 and 300 < (b[1] + b[3]) / 2 < 400
        assert 36 <= b[2] - b[0] <= 50
        _check_geometry(b, faces.landmarks[0])  # type: ignore[index]
    assert len(mt.MtcnnDetector(min_face_px=80, threads=1).detect(frame)) == 0


def test_tilted_face(lfw_dev: Path, det: mt.MtcnnDetector) -> None:
    """A face rotated by 25 degrees is found and its eye line follows the rotation."""
    img = load_image(sorted(lfw_dev.glob("*/*.jpg"))[1000])
    canvas = cv2.copyMakeBorder(img, 60, 60, 60, 60, cv2.BORDER_CONSTANT, value=(110, 110, 110))
    c = (canvas.shape[1] / 2, canvas.shape[0] / 2)
    angles = {}
    for deg in (0, 25):
        rot = cv2.warpAffine(
            canvas, cv2.getRotationMatrix2D(c, deg, 1.0), canvas.shape[1::-1], borderValue=(110, 110, 110)
        )
        faces = det.detect(np.ascontiguousarray(rot))
        idx, _ = pick_main_face(faces)
        assert idx is not None, deg
        lm = faces.landmarks[idx]  # type: ignore[index]
        d = lm[1] - lm[0]
        angles[deg] = np.degrees(np.arctan2(-d[1], d[0]))  # image y points down
    # positive angle = counter-clockwise in cv2: the right eye rises
    assert angles[25] - angles[0] == pytest.approx(25, abs=6), angles


def test_blank_and_flat_images_give_nothing(det: mt.MtcnnDetector) -> None:
    rng = np.random.default_rng(0)
    for img in (
        np.zeros((480, 640, 3), np.uint8),
        np.full((720, 1280, 3), 128, np.uint8),
        rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
    ):
        faces = det.detect(img)
        assert len(faces) == 0 and faces.xyxy.shape == (0, 4)
        assert faces.landmarks is not None and faces.landmarks.shape == (0, 5, 2)
    assert len(det.detect(np.zeros((10, 10, 3), np.uint8))) == 0  # smaller than one P-Net window


def test_known_faces_of_a_real_clip(videos: Path, det: mt.MtcnnDetector) -> None:
    """Hand-checked frontal faces of 40 px and more in the labelled Hamilton frames (stage and
    audience): MTCNN finds at least 80% with at most one false detection per 5 frames, and every
    detection's 5 points lie in its box."""
    truth, frames = labelled_frames(videos / CLIP, TRUTH, CLIP)
    found = total = false = 0
    for fr in truth:
        faces = det.detect(frames[fr["frame"]])
        want = [
            np.asarray(f["box"], np.float32)
            for f in fr["faces"]
            if not f["profile"] and min(f["box"][2] - f["box"][0], f["box"][3] - f["box"][1]) >= 40
        ]
        total += len(want)
        found += sum(any(_iou(w, b) >= 0.3 for b in faces.xyxy) for w in want)
        known = [np.asarray(f["box"], np.float32) for f in fr["faces"]] + [
            np.asarray(g, np.float32) for g in fr["ignore"]
        ]
        false += sum(not any(_iou(k, b) >= 0.3 for k in known) for b in faces.xyxy)
        lm = faces.landmarks
        assert lm is not None and np.isfinite(lm).all()
        side = (faces.xyxy[:, 2] - faces.xyxy[:, 0])[:, None]
        assert np.all((lm[:, :, 0] > faces.xyxy[:, [0]] - side / 8) & (lm[:, :, 0] < faces.xyxy[:, [2]] + side / 8))
    assert total >= 45
    assert found / total >= 0.8, (found, total)
    assert false <= len(truth) / 5, false


def test_batches_and_repeated_sizes_give_the_same_answer(lfw_dev: Path, det: mt.MtcnnDetector) -> None:
    """R-Net/O-Net run in padded batches: a batch of 70 crops (two batches, one padded) scores each
    crop as a batch of one does; frames of alternating sizes (cached P-Net interpreters) give the
    same faces as a fresh detector."""
    img = load_image(_lfw(lfw_dev, 1)[0])
    rng = np.random.default_rng(1)
    c = rng.uniform(60, 190, (70, 2))
    s = rng.uniform(30, 140, (70, 1))
    boxes = np.concatenate([c - s / 2, c + s / 2], 1).astype(np.float32)
    x = mt.crops(img, boxes, 24)
    together = det._run_batched("rnet", x)
    for k in (0, 33, 64, 69):
        alone = det._run_batched("rnet", x[k : k + 1])
        np.testing.assert_allclose(alone["prob1"][0], together["prob1"][k], atol=1e-5)
        np.testing.assert_allclose(alone["conv5-2"][0], together["conv5-2"][k], atol=1e-5)
    big = cv2.resize(img, (500, 500))
    first = det.detect(big).xyxy.copy()
    det.detect(img)
    again = det.detect(big).xyxy
    fresh = mt.MtcnnDetector(threads=1).detect(big).xyxy
    np.testing.assert_allclose(first, again, atol=1e-4)
    np.testing.assert_allclose(first, fresh, atol=1e-3)


def test_pyramid_crops_option(lfw_dev: Path, det: mt.MtcnnDetector) -> None:
    """``pyramid_crops=True`` cuts R-/O-Net crops from P-Net's pyramid: same faces, nearly the same
    boxes on lfw-dev photos, and its own model id."""
    fast = mt.MtcnnDetector(pyramid_crops=True, threads=1)
    assert fast.model_id == det.model_id + "/pyrcrops"
    for f in _lfw(lfw_dev, 10, step=311):
        img = load_image(f)
        a, b = det.detect(img), fast.detect(img)
        assert len(a) == len(b), f.name
        for box in a.xyxy:
            assert max(_iou(box, o) for o in b.xyxy) > 0.8, f.name


def test_bad_input_and_options(det: mt.MtcnnDetector) -> None:
    with pytest.raises(InputError):
        det.detect(np.zeros((100, 100), np.uint8))
    with pytest.raises(InputError):
        det.detect(np.zeros((100, 100, 3), np.float32))
    for kw in (
        {"min_face_px": 8},
        {"thresholds": (0.6, 0.7)},
        {"thresholds": (0.6, 0.7, 1.5)},
        {"box": "square"},
        {"threads": 0},
    ):
        with pytest.raises(ConfigError):
            mt.MtcnnDetector(**kw)  # type: ignore[arg-type]
    assert "/t0.5,0.6,0.7" in mt.MtcnnDetector(thresholds=(0.5, 0.6, 0.7), threads=1).model_id
    assert mt.MtcnnDetector(box="native", threads=1).model_id.endswith("/native")


def test_with_dlib_aligner_and_fast_descriptor(lfw_dev: Path) -> None:
    """MTCNN's HOG-style boxes feed dlib's 5-point predictor: the descriptors of the same photo agree
    closely with HOG's, and genuine pairs score above impostor pairs."""
    eng = FaceEngine.from_config(EngineConfig(detector="mtcnn", detector_options={"min_face_px": 40, "threads": 1}))
    hog = FaceEngine.from_config(EngineConfig(detector="dlib-hog", detector_options={"upsample": 1, "min_face_px": 40}))
    names = sorted(p.name for p in lfw_dev.iterdir() if len(list(p.glob("*.jpg"))) >= 2)[:6]
    embs, hog_embs = [], []
    for n in names:
        for f in sorted((lfw_dev / n).glob("*.jpg"))[:2]:
            img = load_image(f)
            a, b = eng.analyse(img), hog.analyse(img)
            i, _ = pick_main_face(a.faces)
            j, _ = pick_main_face(b.faces)
            assert i is not None and j is not None
            embs.append(a.faces.embedding[i])  # type: ignore[index]
            hog_embs.append(b.faces.embedding[j])  # type: ignore[index]
    e = np.stack(embs)
    same = [(e[2 * k] @ e[2 * k + 1] + 1) / 2 for k in range(len(names))]
    diff = [(e[2 * k] @ e[2 * k + 2] + 1) / 2 for k in range(len(names) - 1)]
    assert np.median(same) > np.median(diff) + 0.03
    agree = (np.sum(e * np.stack(hog_embs), axis=1) + 1) / 2
    assert np.median(agree) > 0.985, agree


def test_litert_banner_kept_off_stderr() -> None:
    """LiteRT's one-time 'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.' never reaches stderr
    (a CLI error must be one line); other stderr output still does."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from openlfr.engine.backends.mtcnn import MtcnnDetector\n"
        "d = MtcnnDetector(threads=1)\n"
        "d.detect(np.zeros((200, 300, 3), np.uint8))\n"
        "print('after', file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stderr == "after\n", out.stderr


def test_pixelation_covers_mtcnn_faces(videos: Path, det: mt.MtcnnDetector) -> None:
    """P3 with the MTCNN detector: on real frames (the ASL clip, the Hamilton audience), the
    pixelated region of every MTCNN face holds all 5 of its landmarks and is flat blocks: the median
    step between neighbouring pixels inside the box is 0 (the clear face: >= 1)."""
    from openlfr.engine.privacy import pixelate

    cases = [("intel_asl_thanks.mkv", 50), (CLIP, 232)]
    for clip, idx in cases:
        cap = cv2.VideoCapture(str(videos / clip))
        for _ in range(idx + 1):
            ok, bgr = cap.read()
            assert ok
        cap.release()
        img = np.ascontiguousarray(bgr[:, :, ::-1])
        faces = det.detect(img)
        assert len(faces) >= 1
        out = pixelate(img, faces.xyxy).astype(np.int16)
        for box, lm in zip(faces.xyxy, faces.landmarks, strict=True):  # type: ignore[arg-type]
            x1, y1, x2, y2 = (int(v) for v in box)
            assert np.all((lm[:, 0] >= x1) & (lm[:, 0] <= x2) & (lm[:, 1] >= y1) & (lm[:, 1] <= y2))
            step = lambda a: float(np.median(np.abs(np.diff(a, axis=1))))  # noqa: E731
            assert step(out[y1:y2, x1:x2]) == 0.0, (clip, box)
            assert step(img[y1:y2, x1:x2].astype(np.int16)) >= 1.0, (clip, box)
