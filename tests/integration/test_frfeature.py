"""fr_feature (vendored ONNX from npm faceplugin-face-recognition-js) and the fused-arcface default embedder,
on real faces: checksums, reference outputs, preprocessing against an independent run, separation."""

from __future__ import annotations

import json
import shutil
from itertools import combinations
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from openlfr.engine import registry
from openlfr.engine.backends import faceplugin
from openlfr.engine.backends.align_arcface import ArcFaceAligner
from openlfr.engine.backends.frfeature import FrFeatureEmbedder, FusedArcFaceEmbedder
from openlfr.engine.backends.mobilefacenet import MobileFaceNetEmbedder
from openlfr.engine.imageio import load_image
from openlfr.errors import ModelError

DATA = Path(__file__).resolve().parents[1] / "data"
REF = json.loads((DATA / "frfeature_reference.json").read_text())["photos"]


def _chip(name: str) -> np.ndarray:
    img = load_image(DATA / "faces" / name)
    lm = np.asarray(REF[name]["landmarks"], np.float32)
    return ArcFaceAligner(112).warp(img, lm[None])


def test_vendored_files_verify_and_a_changed_file_is_refused(tmp_path: Path) -> None:
    for name in faceplugin.SHA256:
        assert faceplugin.verified_file(name).is_file()
    copy = tmp_path / "w"
    shutil.copytree(faceplugin.WEIGHTS_DIR, copy)
    f = copy / "fr_feature.onnx"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(ModelError) as ei:
        FrFeatureEmbedder(weights_dir=copy)
    assert ei.value.code == "model_modified"
    (copy / "fr_feature.onnx").unlink()
    with pytest.raises(ModelError) as ei:
        FrFeatureEmbedder(weights_dir=copy)
    assert ei.value.code == "model_missing"


def test_reference_outputs_and_independent_preprocessing() -> None:
    emb = FrFeatureEmbedder()
    assert emb.dim == 512 and emb.family == "frfeature-512@87aacdfe5751"
    # an independent run of the raw file, with the package's own preprocessing ((x - 127) / 128, RGB, NCHW)
    sess = ort.InferenceSession(str(faceplugin.verified_file("fr_feature.onnx")), providers=["CPUExecutionProvider"])
    for name, ref in REF.items():
        chip = _chip(name)
        got = emb.embed(chip)[0]
        x = ((chip.astype(np.float32) - 127.0) / 128.0).transpose(0, 3, 1, 2)
        raw = sess.run(None, {"input": np.ascontiguousarray(x)})[0][0]
        indep = raw / np.linalg.norm(raw)
        assert np.abs(got - indep).max() < 1e-5
        assert abs(float(np.linalg.norm(got)) - 1.0) < 1e-5
        # the stored reference (first 16 values, when the backend was added)
        assert np.allclose(got[:16], ref["embedding_head"], atol=2e-3), (name, got[:16])


def test_same_person_scores_above_different_people() -> None:
    emb = FrFeatureEmbedder()
    v = {n: emb.embed(_chip(n))[0] for n in REF}
    gore = float(v["Al_Gore/Al_Gore_0001.jpg"] @ v["Al_Gore/Al_Gore_0002.jpg"])
    other = max(
        float(v["Al_Gore/Al_Gore_0001.jpg"] @ v["Adrien_Brody/Adrien_Brody_0001.jpg"]),
        float(v["Al_Gore/Al_Gore_0002.jpg"] @ v["Adrien_Brody/Adrien_Brody_0001.jpg"]),
    )
    assert gore > 0.5 > other + 0.2, (gore, other)


def test_fused_arcface_is_the_weighted_mean_of_the_two_cosines() -> None:
    fused = FusedArcFaceEmbedder(mfn_weight=0.3)
    fr, mfn = FrFeatureEmbedder(), MobileFaceNetEmbedder()
    chips = np.concatenate([_chip(n) for n in REF])
    f = fused.embed(chips)
    a, b = fr.embed(chips), mfn.embed(chips)
    assert f.shape == (3, 704)
    for i, j in combinations(range(3), 2):
        want = 0.7 * float(a[i] @ a[j]) + 0.3 * float(b[i] @ b[j])
        assert abs(float(f[i] @ f[j]) - want) < 1e-5
    assert fused.family == ("fused-arcface:frfeature-512@87aacdfe5751+mobilefacenet-192@d8ba40c0127f@w0.3")
    # registry names, and options are checked
    assert registry.create("embedder", "frfeature-512").dim == 512
    with pytest.raises(Exception, match="mfn_weight"):
        registry.create("embedder", "fused-arcface", mfn_weight=1.5)
