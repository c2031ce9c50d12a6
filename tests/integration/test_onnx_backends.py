"""The ONNX backend on real models and real images: YuNet (parity with cv2.FaceDetectorYN), SCRFD,
the arcface aligner, the onnx-arcface embedder, wrong-file errors and mixed pipelines."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from openlfr.engine import registry
from openlfr.engine.backends.onnx_backend import OnnxArcFaceEmbedder, ScrfdDetector, YuNetDetector
from openlfr.engine.imageio import load_image
from openlfr.engine.pipeline import EngineConfig, FaceEngine
from openlfr.errors import ConfigError, InputError, ModelError
from openlfr.types import FaceBatch

pytestmark = pytest.mark.shared_data

YUNET = "face_detection_yunet_2023mar.onnx"
SCRFD = "scrfd_500m_bnkps.onnx"
MFN = "mobilefacenet_paddle_128d.onnx"
FACES = Path(__file__).resolve().parents[1] / "data" / "faces"


@functools.lru_cache(maxsize=8)
def _yunet(models: Path) -> YuNetDetector:
    return YuNetDetector(path=models / YUNET)


@functools.lru_cache(maxsize=8)
def _scrfd(models: Path) -> ScrfdDetector:
    return ScrfdDetector(path=models / SCRFD)


@functools.lru_cache(maxsize=8)
def _mfn(models: Path) -> OnnxArcFaceEmbedder:
    return OnnxArcFaceEmbedder(path=models / MFN, spec="mobilefacenet-128")


@functools.lru_cache(maxsize=2)
def _frames(videos: Path, step: int = 25) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(videos / "short_hamilton_clip.mp4"))
    out, i = [], 0
    while True:
        ok, f = cap.read()
        if not ok:
            break
        if i % step == 0:
            out.append(f)
        i += 1
    cap.release()
    assert out, "no frames decoded"
    return out


def _faces_images() -> list[Path]:
    files = sorted(FACES.glob("*/*.jpg"))
    assert files, f"no test faces under {FACES}"
    return files


# ----------------------------------------------------------------------------------- detectors


def test_yunet_onnxruntime_matches_cv2_facedetectoryn(shared_models: Path, videos: Path) -> None:
    det = _yunet(shared_models)
    bgr_images = [*_frames(videos)]
    bgr_images.append(cv2.resize(bgr_images[4], (1280, 720)))
    bgr_images += [cv2.imread(str(p)) for p in _faces_images()[:5]]
    total = 0
    for bgr in bgr_images:
        h, w = bgr.shape[:2]
        ref = cv2.FaceDetectorYN.create(str(shared_models / YUNET), "", (w, h), 0.6, 0.3, 5000)
        _, r = ref.detect(bgr)
        r = np.zeros((0, 15), np.float32) if r is None else r
        got = det.detect(np.ascontiguousarray(bgr[:, :, ::-1]))
        assert len(got) == len(r)
        if len(r) == 0:
            continue
        total += len(r)
        r = r[np.argsort(-r[:, 14], kind="stable")]
        o = np.argsort(-got.det_score, kind="stable")
        boxes = np.c_[r[:, 0], r[:, 1], r[:, 0] + r[:, 2], r[:, 1] + r[:, 3]]
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)  # ours are clipped to the image
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
        np.testing.assert_allclose(got.xyxy[o], boxes, atol=0.05)
        np.testing.assert_allclose(got.landmarks[o], r[:, 4:14].reshape(-1, 5, 2), atol=0.05)
        np.testing.assert_allclose(got.det_score[o], r[:, 14], atol=1e-4)
    assert total >= 20, f"only {total} faces compared"


@pytest.mark.parametrize("which", ["yunet", "scrfd"])
def test_detector_outputs_on_real_images(shared_models: Path, videos: Path, which: str) -> None:
    det = _yunet(shared_models) if which == "yunet" else _scrfd(shared_models)
    assert det.model_id.startswith(f"{which}@")
    images = [np.ascontiguousarray(f[:, :, ::-1]) for f in _frames(videos)[:6]]
    images += [load_image(p) for p in _faces_images()[::3]]
    n_faces = 0
    for img in images:
        fb = det.detect(img)
        h, w = img.shape[:2]
        assert isinstance(fb, FaceBatch) and fb.image_size == (w, h)
        assert fb.xyxy.dtype == np.float32 and fb.landmarks is not None and fb.landmarks.shape == (len(fb), 5, 2)
        assert ((fb.det_score >= 0) & (fb.det_score <= 1)).all()
        assert (fb.xyxy[:, [0, 2]] >= 0).all() and (fb.xyxy[:, [0, 2]] <= w).all()
        assert (fb.xyxy[:, [1, 3]] >= 0).all() and (fb.xyxy[:, [1, 3]] <= h).all()
        assert (fb.xyxy[:, 2] > fb.xyxy[:, 0]).all() and (fb.xyxy[:, 3] > fb.xyxy[:, 1]).all()
        lm = fb.landmarks
        frontal = fb.det_score > 0.8
        # canonical order on confident faces: eyes then nose then mouth, each pair image-left first
        assert (lm[frontal, 0, 0] < lm[frontal, 1, 0]).all() and (lm[frontal, 3, 0] < lm[frontal, 4, 0]).all()
        eye_y = lm[frontal, 0:2, 1].mean(1)
        assert (eye_y < lm[frontal, 2, 1]).all() and (lm[frontal, 2, 1] < lm[frontal, 3:5, 1].mean(1)).all()
        n_faces += len(fb)
    assert n_faces >= 10
    # every test face photo has its subject found near the centre
    for p in _faces_images():
        img = load_image(p)
        fb = det.detect(img)
        c = (fb.xyxy[:, :2] + fb.xyxy[:, 2:]) / 2
        assert len(fb) >= 1 and (np.abs(c - 125) < 30).all(axis=1).any(), p.name


@pytest.mark.parametrize("which", ["yunet", "scrfd"])
def test_detector_options_filter(shared_models: Path, which: str) -> None:
    cls = YuNetDetector if which == "yunet" else ScrfdDetector
    path = shared_models / (YUNET if which == "yunet" else SCRFD)
    img = load_image(_faces_images()[0])
    assert len(cls(path=path).detect(img)) >= 1
    assert len(cls(path=path, min_face_px=240).detect(img)) == 0
    assert len(cls(path=path, score_threshold=1.0).detect(img)) == 0
    blank = cls(path=path).detect(np.zeros((200, 300, 3), np.uint8))
    assert len(blank) == 0 and blank.image_size == (300, 200)
    with pytest.raises(InputError):
        cls(path=path).detect(np.zeros((20, 20), np.uint8))  # type: ignore[arg-type]
    if which == "yunet":  # downscaled input, boxes still in the original image's pixels
        full, small = cls(path=path).detect(img), cls(path=path, max_side=160).detect(img)
        a, b = full.xyxy[np.argmax(full.det_score)], small.xyxy[np.argmax(small.det_score)]
        assert np.abs(a - b).max() < 0.1 * (a[2] - a[0])


def test_yunet_and_scrfd_agree_on_faces(shared_models: Path) -> None:
    for p in _faces_images()[::2]:
        img = load_image(p)
        a, b = _yunet(shared_models).detect(img), _scrfd(shared_models).detect(img)
        ia, ib = int(np.argmax(a.det_score)), int(np.argmax(b.det_score))
        la, lb = a.landmarks[ia], b.landmarks[ib]
        iod = np.linalg.norm(la[1] - la[0])
        assert np.abs(la - lb).max() < 0.25 * iod, p.name


# ----------------------------------------------------------------------------------- embedder


def test_embedder_shapes_norms_and_batching(shared_models: Path) -> None:
    emb = _mfn(shared_models)
    assert emb.dim == 128 and emb.chip_spec.size == 112 and emb.chip_spec.alignment == "arcface"
    assert emb.model_id == "onnx-arcface:mobilefacenet-128@6ced4e0c36ab" and emb.family == emb.model_id
    det, al = _yunet(shared_models), registry.create("aligner", "arcface", size=112)
    chips = []
    for p in _faces_images():
        img = load_image(p)
        fb = det.detect(img)
        c, _ = al.align(img, fb.select([int(np.argmax(fb.det_score))]))
        chips.append(c[0])
    chips_arr = np.stack(chips)
    e = emb.embed(chips_arr)
    assert e.shape == (len(chips), 128) and e.dtype == np.float32 and np.isfinite(e).all()
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([emb.embed(chips_arr[i : i + 1]) for i in range(len(chips))])
    np.testing.assert_allclose(e, one_by_one, atol=1e-4)
    small = OnnxArcFaceEmbedder(path=shared_models / MFN, spec="mobilefacenet-128", batch_size=4, threads=1)
    np.testing.assert_allclose(small.embed(chips_arr), e, atol=1e-4)
    assert emb.embed(np.zeros((0, 112, 112, 3), np.uint8)).shape == (0, 128)
    with pytest.raises(InputError):
        emb.embed(np.zeros((2, 150, 150, 3), np.uint8))
    # 5 people x 3 photos: each photo's nearest other photo is of the same person
    names = [p.parent.name for p in _faces_images()]
    sims = e @ e.T
    np.fill_diagonal(sims, -1)
    nearest = sims.argmax(1)
    assert all(names[i] == names[j] for i, j in enumerate(nearest))


def test_spec_inferred_for_known_file_and_required_otherwise(shared_models: Path, tmp_path: Path) -> None:
    emb = registry.create("embedder", "onnx-arcface", path=str(shared_models / MFN))
    assert emb.spec.name == "mobilefacenet-128"  # known by sha256
    # an unknown file (same graph, different bytes) needs spec=
    import onnx

    m = onnx.load(str(shared_models / MFN))
    m.doc_string = "modified copy"
    other = tmp_path / "other.onnx"
    onnx.save(m, str(other))
    with pytest.raises(ModelError) as ei:
        registry.create("embedder", "onnx-arcface", path=str(other))
    assert ei.value.code == "spec_required"
    e2 = registry.create("embedder", "onnx-arcface", path=str(other), spec="mobilefacenet-128")
    assert e2.family != emb.family  # a different file is a different family


# ----------------------------------------------------------------------------------- wrong files


def test_wrong_model_files_fail_at_construction(shared_models: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    for bad in (text, empty):
        for kind, typ, kw in (
            ("embedder", "onnx-arcface", {"spec": "mobilefacenet-128"}),
            ("detector", "yunet", {}),
            ("detector", "scrfd", {}),
        ):
            with pytest.raises(ModelError) as ei:
                registry.create(kind, typ, path=str(bad), **kw)
            assert ei.value.code in {"bad_model_file"}, (bad.name, typ, ei.value)
    # a detector given as an embedder: the input is 640x640, not 112x112
    with pytest.raises(ModelError, match="does not fit spec") as ei:
        registry.create("embedder", "onnx-arcface", path=str(shared_models / YUNET), spec="mobilefacenet-128")
    assert ei.value.code == "bad_model_shape"
    with pytest.raises(ModelError) as ei:
        registry.create("embedder", "onnx-arcface", path=str(shared_models / SCRFD), spec="arcface-r50")
    assert ei.value.code == "bad_model_shape"
    # right kind, wrong spec: MobileFaceNet gives 128-d, arcface-r50 declares 512-d
    with pytest.raises(ModelError, match=r"output shape \(1, 128\)") as ei:
        registry.create("embedder", "onnx-arcface", path=str(shared_models / MFN), spec="arcface-r50")
    assert ei.value.code == "bad_model_shape"
    # embedders and the other detector given as a detector
    for typ, f in (("yunet", MFN), ("scrfd", MFN), ("yunet", SCRFD), ("scrfd", YUNET)):
        with pytest.raises(ModelError) as ei:
            registry.create("detector", typ, path=str(shared_models / f))
        assert ei.value.code in {"bad_model_shape", "wrong_model_kind"}, (typ, f, ei.value)
    # missing file, bad options
    with pytest.raises(ModelError):
        registry.create("detector", "yunet", path=str(tmp_path / "absent.onnx"))
    with pytest.raises(ConfigError, match="unknown option"):
        registry.create("detector", "yunet", path=str(shared_models / YUNET), upsample=1)
    with pytest.raises(ConfigError):
        registry.create("detector", "yunet", path=str(shared_models / YUNET), threads=0)
    with pytest.raises(ConfigError):
        registry.create("embedder", "onnx-arcface", path=str(shared_models / MFN), spec="no-such-spec")


def test_model_names_resolve_through_the_store(shared_models: Path, data_dir: Path, tmp_path: Path) -> None:
    from openlfr.engine.models import ModelStore

    root = data_dir / "models"
    with pytest.raises(ModelError, match="models fetch yunet-2023mar"):
        registry.create("detector", "yunet", models_dir=root)  # default name, nothing installed
    st = ModelStore(root)
    st.add(shared_models / YUNET, "detector", "yunet")
    st.add(shared_models / MFN, "embedder", "mobilefacenet-128", name="mfn")
    det = registry.create("detector", "yunet", models_dir=root)
    assert det.resolved.path == root / "yunet-2023mar.onnx"
    emb = registry.create("embedder", "onnx-arcface", model="mfn", models_dir=root)
    assert emb.spec.name == "mobilefacenet-128" and emb.family.endswith("@6ced4e0c36ab")
    assert registry.create("embedder", "onnx-arcface", path="mfn", models_dir=root).family == emb.family
    with pytest.raises(ModelError) as ei:
        registry.create("embedder", "onnx-arcface", model="yunet-2023mar", models_dir=root)
    assert ei.value.code == "wrong_model_kind"
    with pytest.raises(ModelError):
        registry.create("detector", "scrfd", model="yunet-2023mar", models_dir=root)
    # the engine picks no folder itself: without models_dir a name is an explicit error ...
    with pytest.raises(ModelError, match="no model store was given"):
        registry.create("detector", "yunet")
    # ... and the engine config carries the folder the services fill from the settings
    from openlfr.engine.pipeline import EngineConfig, FaceEngine
    from openlfr.services.context import engine_config_from_settings
    from openlfr.settings import load_settings

    cfg = engine_config_from_settings(load_settings(detector="yunet"))
    assert cfg.models_dir == root
    assert FaceEngine.from_config(cfg).detector.resolved.path == root / "yunet-2023mar.onnx"
    with pytest.raises(ModelError, match="no model store was given"):
        FaceEngine.from_config(EngineConfig(detector="yunet"))
    shutil.rmtree(data_dir / "models")


# ----------------------------------------------------------------------------------- pipelines


@pytest.mark.parametrize(
    ("detector", "embedder"),
    [("yunet", "onnx-arcface"), ("scrfd", "onnx-arcface"), ("dlib-hog", "onnx-arcface"), ("yunet", "dlib-resnet")],
)
def test_mixed_pipelines(shared_models: Path, detector: str, embedder: str) -> None:
    det_opts = {
        "dlib-hog": {"upsample": 1, "min_face_px": 40},
        "yunet": {"path": str(shared_models / YUNET), "min_face_px": 40},
        "scrfd": {"path": str(shared_models / SCRFD), "min_face_px": 40},
    }[detector]
    emb_opts = {"path": str(shared_models / MFN), "spec": "mobilefacenet-128"} if embedder == "onnx-arcface" else {}
    engine = FaceEngine.from_config(
        EngineConfig(detector=detector, detector_options=det_opts, embedder=embedder, embedder_options=emb_opts)
    )
    files = _faces_images()
    vecs, names = [], []
    for p in files:
        a = engine.analyse(load_image(p))
        assert len(a.faces) >= 1
        assert a.faces.landmarks is not None and not np.isnan(a.faces.landmarks).any()
        assert a.faces.quality is not None and a.faces.embedding is not None
        size = engine.embedder.chip_spec.size
        assert a.chips.shape == (len(a.faces), size, size, 3)
        c = (a.faces.xyxy[:, :2] + a.faces.xyxy[:, 2:]) / 2
        k = int(np.argmin(np.abs(c - 125).sum(1)))
        vecs.append(a.faces.embedding[k])
        names.append(p.parent.name)
    e = np.stack(vecs)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)
    sims = e @ e.T
    np.fill_diagonal(sims, -1)
    correct = sum(names[i] == names[j] for i, j in enumerate(sims.argmax(1)))
    assert correct >= len(files) - 1, f"{detector}+{embedder}: nearest neighbour right for {correct}/{len(files)}"
