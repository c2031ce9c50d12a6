"""The fast dlib descriptor (``dlib-resnet-onnx``): parity with dlib itself, the conversion cache,
and clear errors for a missing or broken model file. Real model, real lfw-dev faces."""

from __future__ import annotations

import functools
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from openlfr.engine import registry
from openlfr.engine.backends.dlib_backend import DlibAligner, DlibHogDetector, DlibResNetEmbedder, model_path
from openlfr.engine.backends.dlib_onnx import DAT_NAME, DlibResNetOnnxEmbedder
from openlfr.engine.imageio import load_image
from openlfr.engine.protocols import l2_normalise
from openlfr.errors import InputError, ModelError

pytestmark = pytest.mark.shared_data

TOL = 1e-4  # issue 8: max absolute difference per component


@functools.lru_cache(maxsize=4)
def lfw_chips(root: str, n: int) -> np.ndarray:
    """``n`` aligned chips from lfw-dev: images spread over the sorted list, HOG (no upsampling),
    the face nearest the centre, dlib's 5-point chip (150 px, padding 0.25)."""
    files = sorted(Path(root).glob("*/*.jpg"))
    det, aligner = DlibHogDetector(upsample=0), DlibAligner()
    step = max(1, len(files) // (n + n // 4 + 1))
    chips = []
    for f in files[::step]:
        img = load_image(f)
        faces = det.detect(img)
        if len(faces) == 0:
            continue
        centre = np.array(img.shape[1::-1], np.float32) / 2
        mid = (faces.xyxy[:, :2] + faces.xyxy[:, 2:]) / 2
        k = int(np.argmin(np.linalg.norm(mid - centre, axis=1)))
        c, _ = aligner.align(img, faces.select(np.array([k])))
        chips.append(c[0])
        if len(chips) == n:
            break
    assert len(chips) == n, f"only {len(chips)} faces found"
    return np.stack(chips)


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> DlibResNetOnnxEmbedder:
    return DlibResNetOnnxEmbedder(cache_dir=tmp_path_factory.mktemp("dlib-onnx-cache"))


@pytest.fixture(scope="module")
def ref() -> DlibResNetEmbedder:
    return DlibResNetEmbedder()


def _check_parity(
    fast: DlibResNetOnnxEmbedder, ref: DlibResNetEmbedder, chips: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Max abs difference of the raw descriptors; also returns both normalised embeddings."""
    want = ref.embed_raw(chips)  # dlib's compute_face_descriptor (run once: ~90 ms per face)
    got = fast.embed_raw(chips)
    assert got.shape == want.shape == (len(chips), 128)
    assert got.dtype == np.float32
    diff = float(np.abs(got - want).max())
    assert diff <= TOL, f"max abs difference {diff:.3g} > {TOL}"
    unit_fast, unit_ref = fast.embed(chips), l2_normalise(want)  # DlibResNetEmbedder.embed does this
    np.testing.assert_allclose(np.linalg.norm(unit_fast, axis=1), 1.0, atol=1e-5)
    assert np.abs(unit_fast - unit_ref).max() <= TOL
    return diff, unit_fast, unit_ref


def test_parity_with_dlib_60_faces(lfw_dev: Path, fast: DlibResNetOnnxEmbedder, ref: DlibResNetEmbedder) -> None:
    chips = lfw_chips(str(lfw_dev), 60)
    diff, _, _ = _check_parity(fast, ref, chips)
    print(f"60 lfw-dev faces: max abs difference {diff:.3g}")
    # Batching does not change the result: one at a time equals the batched run.
    one = np.concatenate([fast.embed_raw(chips[i : i + 1]) for i in range(5)])
    np.testing.assert_allclose(one, fast.embed_raw(chips[:5]), atol=1e-6)


@pytest.mark.slow
def test_parity_with_dlib_500_faces(lfw_dev: Path, fast: DlibResNetOnnxEmbedder, ref: DlibResNetEmbedder) -> None:
    chips = lfw_chips(str(lfw_dev), 500)
    diff, a, b = _check_parity(fast, ref, chips)
    # What a watchlist sees: the score (1 + cos) / 2 of every pair of these faces.
    score_diff = float(np.abs((a @ a.T) - (b @ b.T)).max() / 2)
    print(
        f"500 lfw-dev faces: max abs difference {diff:.3g}; "
        f"max score difference over {len(chips) * (len(chips) - 1) // 2} pairs {score_diff:.3g}"
    )
    assert score_diff <= 1e-5


def test_registry_ids_and_family(tmp_path: Path, ref: DlibResNetEmbedder) -> None:
    e = registry.create("embedder", "dlib-resnet-onnx", cache_dir=tmp_path)
    assert isinstance(e, DlibResNetOnnxEmbedder)
    assert e.family == ref.family == ref.model_id
    assert e.model_id == f"{ref.model_id}/onnx"
    assert e.dim == ref.dim == 128
    assert e.chip_spec == ref.chip_spec
    assert e.embed(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)
    with pytest.raises(InputError):
        e.embed(np.zeros((2, 112, 112, 3), np.uint8))


def _cache_files(d: Path) -> tuple[Path, Path]:
    onnx = sorted(d.glob("*.onnx"))
    meta = sorted(d.glob("*.json"))
    assert len(onnx) == 1 and len(meta) == 1, (onnx, meta)
    assert not list(d.glob("*.tmp")), "temporary files left behind"
    return onnx[0], meta[0]


def test_cache_is_reused(tmp_path: Path) -> None:
    first = DlibResNetOnnxEmbedder(cache_dir=tmp_path)
    assert first.cache.converted
    onnx, meta = _cache_files(tmp_path)
    old = (onnx.stat().st_mtime_ns, meta.stat().st_mtime_ns)
    os.utime(onnx, ns=(old[0] - 10**9, old[0] - 10**9))  # so a rewrite would show even on coarse clocks
    stamp = onnx.stat().st_mtime_ns
    second = DlibResNetOnnxEmbedder(cache_dir=tmp_path)
    assert not second.cache.converted
    assert onnx.stat().st_mtime_ns == stamp and meta.stat().st_mtime_ns == old[1]
    assert json.loads(meta.read_text())["source_sha256"] == first.cache.source_sha256


@pytest.mark.parametrize("damage", ["flip_onnx_byte", "truncate_onnx", "bad_sidecar", "old_converter"])
def test_corrupt_cache_is_rebuilt(tmp_path: Path, lfw_dev: Path, damage: str) -> None:
    good = DlibResNetOnnxEmbedder(cache_dir=tmp_path)
    chips = lfw_chips(str(lfw_dev), 60)[:3]
    want = good.embed_raw(chips)
    onnx, meta = _cache_files(tmp_path)
    if damage == "flip_onnx_byte":
        data = bytearray(onnx.read_bytes())
        data[len(data) // 2] ^= 0x55  # inside the weights: still a loadable model, wrong numbers
        onnx.write_bytes(bytes(data))
    elif damage == "truncate_onnx":
        onnx.write_bytes(onnx.read_bytes()[:1000])
    elif damage == "bad_sidecar":
        meta.write_text("{not json")
    else:
        m = json.loads(meta.read_text())
        m["converter_version"] = -1
        meta.write_text(json.dumps(m))
    again = DlibResNetOnnxEmbedder(cache_dir=tmp_path)
    assert again.cache.converted
    _cache_files(tmp_path)
    np.testing.assert_array_equal(again.embed_raw(chips), want)


def test_missing_dat_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as err:
        DlibResNetOnnxEmbedder(cache_dir=tmp_path, dat_path=tmp_path / "nope.dat")
    assert err.value.code == "model_missing"
    assert "nope.dat" in err.value.message
    assert not list(tmp_path.glob("*.onnx"))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "other_network"])
def test_corrupt_dat_is_a_model_error(tmp_path: Path, damage: str) -> None:
    src = model_path(DAT_NAME)
    bad = tmp_path / "bad.dat"
    if damage == "truncated":
        bad.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    elif damage == "garbage":
        bad.write_bytes(b"\x01\x01\x0dloss_metric_2" + bytes(range(256)) * 4)
    else:  # a real dlib network file, but the face detector, not the descriptor
        shutil.copy(model_path("mmod_human_face_detector.dat"), bad)
    cache = tmp_path / "cache"
    with pytest.raises(ModelError) as err:
        DlibResNetOnnxEmbedder(cache_dir=cache, dat_path=bad)
    assert err.value.code in {"model_corrupt", "model_unsupported"}
    assert "bad.dat" in err.value.message
    assert not cache.exists() or not list(cache.glob("*.onnx"))
