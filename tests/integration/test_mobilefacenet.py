"""MobileFaceNet-192 (vendored .tflite on LiteRT) and the fused default embedder, on real faces."""

from __future__ import annotations

import shutil
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from openlfr.engine import registry
from openlfr.engine.backends import mobilefacenet as mfn
from openlfr.engine.imageio import load_image
from openlfr.engine.pipeline import EngineConfig, FaceEngine
from openlfr.errors import ModelError

HOG = {"upsample": 1, "min_face_px": 40}
PEOPLE = [
    "Colin_Powell",
    "Donald_Rumsfeld",
    "Gerhard_Schroeder",
    "Junichiro_Koizumi",
    "Jean_Chretien",
    "Serena_Williams",
    "Vladimir_Putin",
    "Jennifer_Capriati",
]


def _faces(lfw: Path, engine: FaceEngine, per_person: int = 3) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Embeddings, labels and chips of the centre-most face of a few photos of each person."""
    from openlfr.eval.compute import choose_face

    vecs, labels, chips = [], [], []
    for person in PEOPLE:
        folder = lfw / person
        if not folder.is_dir():
            continue
        for f in sorted(folder.iterdir())[:per_person]:
            img = load_image(f)
            faces = engine.detector.detect(img)
            k = choose_face(faces)
            if k is None:
                continue
            a = engine.analyse(img, faces=faces.select([k]))
            assert a.faces.embedding is not None
            vecs.append(a.faces.embedding[0])
            labels.append(person)
            chips.append(a.chips[0])
    if len(set(labels)) < 5:
        pytest.skip("too few of the test identities in lfw-dev")
    return np.stack(vecs), labels, np.stack(chips)


def _separation(vecs: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    same, diff = [], []
    for i, j in combinations(range(len(labels)), 2):
        (same if labels[i] == labels[j] else diff).append(float(vecs[i] @ vecs[j]))
    return np.array(same), np.array(diff)


def test_vendored_files_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the shipped files verify
    for name in mfn.VENDORED_SHA256:
        assert mfn.vendored_file(name).is_file()
    # a copy with one byte changed is refused with a clear error, and never loaded
    copy = tmp_path / "weights"
    shutil.copytree(mfn.WEIGHTS_DIR, copy)
    blob = bytearray((copy / mfn.MODEL_FILE).read_bytes())
    blob[len(blob) // 2] ^= 0x01
    (copy / mfn.MODEL_FILE).write_bytes(bytes(blob))
    monkeypatch.setattr(mfn, "WEIGHTS_DIR", copy)
    with pytest.raises(ModelError) as exc:
        mfn.MobileFaceNetNet()
    assert exc.value.code == "model_modified" and "modified" in exc.value.message
    with pytest.raises(ModelError) as exc:
        registry.create("embedder", "fused")
    assert exc.value.code == "model_modified"
    (copy / mfn.MODEL_FILE).unlink()
    with pytest.raises(ModelError) as exc:
        mfn.MobileFaceNetNet()
    assert exc.value.code == "model_missing"


@pytest.mark.shared_data
def test_mobilefacenet_separates_people(lfw_dev: Path) -> None:
    engine = FaceEngine.from_config(EngineConfig(embedder="mobilefacenet-192", aligner_options={"fallback": "dlib5"}))
    assert engine.embedder.dim == 192 and engine.aligner.spec.size == 112
    vecs, labels, chips = _faces(lfw_dev, engine)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    same, diff = _separation(vecs, labels)
    assert same.mean() > diff.mean() + 0.3
    assert (same > np.quantile(diff, 0.99)).mean() >= 0.9
    # batch vs one at a time: identical vectors (the network runs in pairs; odd ones are padded)
    emb = engine.embedder
    batch = emb.embed(chips)
    single = np.concatenate([emb.embed(chips[i : i + 1]) for i in range(len(chips))])
    assert np.array_equal(batch, single)
    # threads change speed, not vectors
    assert np.array_equal(mfn.MobileFaceNetEmbedder(threads=2).embed(chips[:3]), batch[:3])


@pytest.mark.shared_data
def test_fused_default_separates_people_and_matches_its_parts(lfw_dev: Path) -> None:
    """The fused embedder (the default until issue 17), on its own pipeline (HOG, dlib's wide chip)."""
    engine = FaceEngine.from_config(EngineConfig(detector="dlib-hog", detector_options=HOG, embedder="fused"))
    emb = engine.embedder
    assert isinstance(emb, mfn.FusedEmbedder)
    vecs, labels, chips = _faces(lfw_dev, engine)
    same, diff = _separation(vecs, labels)
    assert same.mean() > diff.mean() + 0.3
    assert (same > np.quantile(diff, 0.99)).mean() >= 0.9
    # cosine of fused vectors = weighted mean of the two models' cosines, on real vectors
    d, m = emb.parts(chips)
    w_d, w_m = emb.weights
    want = w_d * (d @ d.T) + w_m * (m @ m.T)
    assert np.allclose(vecs @ vecs.T, want, atol=2e-6)
    # the dlib part is dlib's own vector: the wide chip's centre is dlib's 150 px chip
    dlib_engine = FaceEngine.from_config(
        EngineConfig(detector="dlib-hog", detector_options=HOG, embedder="dlib-resnet-onnx")
    )
    dv, _, _ = _faces(lfw_dev, dlib_engine)
    assert dv.shape == d.shape
    assert float(np.min(np.sum(dv * d, axis=1))) > 0.999
    # batch vs single
    single = np.concatenate([emb.embed(chips[i : i + 1]) for i in range(len(chips))])
    assert np.array_equal(emb.embed(chips), single)
    # the quality gate sees the same chip as with dlib alone (the wide chip's centre)
    img = load_image(sorted((lfw_dev / PEOPLE[0]).iterdir())[0])
    q_fused = engine.analyse(img, embed="none").faces.quality
    q_dlib = dlib_engine.analyse(img, embed="none").faces.quality
    assert q_fused is not None and q_dlib is not None and q_fused.shape == q_dlib.shape
    assert np.allclose(q_fused, q_dlib, rtol=0.02, atol=0.5)


def test_fusion_math_on_tables() -> None:
    rng = np.random.default_rng(7)
    a1, b1 = rng.normal(size=(20, 128)), rng.normal(size=(20, 128))
    a2, b2 = rng.normal(size=(20, 192)), rng.normal(size=(20, 192))

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    for w in (0.5, 0.6, 0.7):
        fa = mfn.fuse([a1, a2], [1 - w, w])
        fb = mfn.fuse([b1, b2], [1 - w, w])
        assert fa.shape == (20, 320)
        assert np.allclose(np.linalg.norm(fa, axis=1), 1.0, atol=1e-6)
        want = (1 - w) * np.sum(unit(a1) * unit(b1), axis=1) + w * np.sum(unit(a2) * unit(b2), axis=1)
        assert np.allclose(np.sum(fa * fb, axis=1), want, atol=1e-6)
    # a weight outside (0, 1) is refused
    from openlfr.errors import ConfigError

    for bad in (0.0, 1.0, -0.1, "x", True):
        with pytest.raises(ConfigError):
            mfn.FusedEmbedder(mfn_weight=bad)  # type: ignore[arg-type]


def test_family_names_the_configuration() -> None:
    base = registry.create("embedder", "fused")
    assert base.family.startswith("fused:dlib-resnet-v1@55533b28a958+mobilefacenet-192@d8ba40c0127f@w")
    other = registry.create("embedder", "fused", mfn_weight=0.3)
    flipped = registry.create("embedder", "fused", flip=True)
    assert len({base.family, other.family, flipped.family}) == 3
    assert registry.create("embedder", "mobilefacenet-192").family == "mobilefacenet-192@d8ba40c0127f"
    with pytest.raises(Exception, match="unknown option"):
        registry.create("embedder", "fused", weight=0.5)
