"""Calibration per model: `eval calibrate` on a small lfw-dev slice, then `check --fpir` picks the
threshold that calibration implies, for the default dlib pipeline and for YuNet + MobileFaceNet.

Real models, real CLI in subprocesses. The calibration is keyed by the embedder's ``family``, so
each backend reads its own; the two thresholds must differ (the models' score scales do).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.conftest import LFW_DEV, MODELS, run_cli

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

YUNET = "face_detection_yunet_2023mar.onnx"
MFN = "mobilefacenet_paddle_128d.onnx"
BACKENDS = {
    "dlib": ({"OPENLFR_EMBEDDER": "dlib-resnet-onnx"}, ("--embedder", "dlib-resnet-onnx"), "dlib-resnet-v1@"),
    "default": ({}, (), "frfeature-512@"),
    "mfn": (
        {
            "OPENLFR_DETECTOR": "yunet",
            "OPENLFR_EMBEDDER": "onnx-arcface",
            "OPENLFR_DETECTOR_MODEL": str(MODELS / YUNET),
            "OPENLFR_EMBEDDER_MODEL": str(MODELS / MFN),
        },
        (
            "--detector",
            "yunet",
            "--detector-model",
            str(MODELS / YUNET),
            "--embedder",
            "onnx-arcface",
            "--embedder-model",
            str(MODELS / MFN),
        ),
        "onnx-arcface:mobilefacenet-128@",
    ),
}


def ok(proc) -> dict:  # type: ignore[no-untyped-def]
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


@pytest.fixture(scope="module")
def slice_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 identities with >= 2 images (at most 3 each) and 90 with one, as symlinks."""
    if not (LFW_DEV / "pairs.txt").is_file() or not (MODELS / MFN).is_file():
        pytest.skip("shared data or models not found")
    out = tmp_path_factory.mktemp("lfw-slice")
    multi = single = 0
    for d in sorted(p for p in LFW_DEV.iterdir() if p.is_dir()):
        imgs = sorted(d.glob("*.jpg"))
        if len(imgs) >= 2 and multi < 30:
            multi += 1
        elif len(imgs) == 1 and single < 90:
            single += 1
        else:
            continue
        (out / d.name).mkdir()
        for img in imgs[:3]:
            os.symlink(img, out / d.name / img.name)
        if multi >= 30 and single >= 90:
            break
    return out


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_check_fpir_uses_the_models_calibration(backend: str, slice_dir: Path, tmp_path: Path) -> None:
    from openlfr.eval.calibration import GRID_STEP, Calibration

    extra_env, engine_flags, family_prefix = BACKENDS[backend]
    env = {"OPENLFR_DATA_DIR": str(tmp_path / "data"), **extra_env}
    ok(run_cli("init", "--json", env=env))
    cal = ok(
        run_cli("eval", "calibrate", "--images", str(slice_dir), *engine_flags, "--workers", "1", "--json", env=env)
    )
    assert cal["family"].startswith(family_prefix)
    path = Path(cal["path"])
    assert path.is_file() and path.parent == tmp_path / "data" / "calibration"
    calib = Calibration.from_dict(json.loads(path.read_text()))
    assert calib.impostor_n == cal["comparisons"]["impostor"] > 10_000

    # a 10-person watchlist, one photo each, from the slice's multi-photo identities
    people = sorted(d for d in slice_dir.iterdir() if len(list(d.iterdir())) >= 2)[:10]
    ok(run_cli("watchlist", "create", "wl", "--json", env=env))
    for d in people:
        ok(
            run_cli(
                "watchlist", "add", "wl", "--person", d.name, "--image", str(sorted(d.iterdir())[0]), "--json", env=env
            )
        )
    probe = sorted(people[0].iterdir())[1]
    fpir = 0.01  # 1e-3 per comparison: >= 10 of the slice's impostor pairs above it (MIN_TAIL_PAIRS)
    out = ok(run_cli("check", str(probe), "-w", "wl", "--fpir", str(fpir), "--json", env=env))
    n = out["watchlist_size"]
    assert n == 10
    expected = calib.threshold_for_fpir(fpir, n)
    assert out["threshold"] == pytest.approx(expected, abs=1e-9)
    # it is the smallest grid threshold meeting FPIR ~= N * FMR <= target
    assert calib.fpir(expected, n)[0] <= fpir
    assert calib.fpir(expected - GRID_STEP, n)[0] > fpir
    # without --fpir the default target (1e-4) is asked of the same calibration; this small one
    # cannot resolve 1e-4 / 10 per comparison, and says so instead of extrapolating
    plain = run_cli("check", str(probe), "-w", "wl", "--json", env=env)
    assert plain.returncode != 0 and "calibration_too_small" in plain.stderr, plain.stderr
