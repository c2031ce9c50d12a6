"""`openlfr eval ...` end to end on a small slice of lfw-dev: JSON shapes and sane values.

Runs the real CLI in subprocesses with a data dir shared by this module (so the embedding cache
built by the first command serves the later ones). The embedder is ``dlib-resnet-onnx`` (dlib's
network and weights on onnxruntime, same vectors as ``dlib-resnet``) to keep the runtime short.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.conftest import LFW_DEV, run_cli

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

FAST = ("--embedder", "dlib-resnet-onnx")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if not (LFW_DEV / "pairs.txt").is_file():
        pytest.skip(f"shared data not found at {LFW_DEV}")
    d = tmp_path_factory.mktemp("evaldata")
    return {"OPENLFR_DATA_DIR": str(d)}


@pytest.fixture(scope="module")
def slice_dir(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    """40 identities with >= 2 images (at most 3 each) and 150 with one, as symlinks."""
    out = tmp_path_factory.mktemp("lfw-slice")
    multi, single = 0, 0
    for d in sorted(p for p in LFW_DEV.iterdir() if p.is_dir()):
        imgs = sorted(d.glob("*.jpg"))
        if len(imgs) >= 2 and multi < 40:
            multi += 1
        elif len(imgs) == 1 and single < 150:
            single += 1
        else:
            continue
        (out / d.name).mkdir()
        for img in imgs[:3]:
            os.symlink(img, out / d.name / img.name)
        if multi >= 40 and single >= 150:
            break
    return out


def ok(proc) -> dict:
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, f"--json must print exactly one line, got {len(lines)}"
    return json.loads(lines[0])


def test_verify_two_folds_then_warm(env: dict[str, str], tmp_path: Path) -> None:
    plot = tmp_path / "roc.png"
    args = (
        "eval",
        "verify",
        "--pairs",
        str(LFW_DEV / "pairs.txt"),
        "--images",
        str(LFW_DEV),
        "--folds",
        "2",
        *FAST,
        "--json",
    )
    out = ok(run_cli(*args, "--plot", str(plot), env=env))
    required = {"protocol", "pairs", "accuracy", "accuracy_std", "auc", "eer", "tar_at_far", "failures_to_acquire"}
    assert required <= set(out)
    assert out["protocol"] == "lfw-view2" and out["pairs"] == 528 and out["folds"] == 2
    assert 0.95 <= out["accuracy"] <= 1.0 and 0.0 <= out["accuracy_std"] < 0.05
    assert 0.98 <= out["auc"] <= 1.0 and 0.0 <= out["eer"] < 0.05
    # 264 impostor pairs cannot resolve FAR 1e-3: null with a reason
    assert out["tar_at_far"] == {"0.001": None} and "need at least 1000" in out["reason"]["tar_at_far.0.001"]
    assert out["failures_to_acquire"] == 0
    assert out["embedding_stats"]["computed"] > 500
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    warm = ok(run_cli(*args, env=env))
    assert warm["embedding_stats"]["computed"] == 0
    assert warm["accuracy"] == out["accuracy"] and warm["auc"] == out["auc"]


def test_identify_slice(env: dict[str, str], slice_dir: Path, tmp_path: Path) -> None:
    plot = tmp_path / "det.png"
    out = ok(run_cli("eval", "identify", "--images", str(slice_dir), *FAST, "--json", "--plot", str(plot), env=env))
    required = {
        "watchlist_size",
        "mated_searches",
        "nonmated_searches",
        "rank1",
        "fnir_at_fpir",
        "threshold_at_fpir",
        "reason",
    }
    assert required <= set(out)
    assert out["watchlist_size"] == 40 and out["nonmated_searches"] == 150
    assert 40 <= out["mated_searches"] <= 80
    assert 0.8 <= out["rank1"] <= 1.0
    assert set(out["fnir_at_fpir"]) == {"0.01", "0.001", "0.0001"}
    assert 0.0 <= out["fnir_at_fpir"]["0.01"] <= 1.0 and 0.5 < out["threshold_at_fpir"]["0.01"] < 1.0
    assert out["fnir_at_fpir"]["0.001"] is None and out["fnir_at_fpir"]["0.0001"] is None
    assert "150 non-mated searches" in out["reason"]["0.001"]
    from openlfr.services.operating_point import DEFAULT_THRESHOLDS

    assert out["at_threshold"]["threshold"] == DEFAULT_THRESHOLDS[out["models"]["family"]]
    assert plot.is_file()
    sampled = ok(
        run_cli(
            "eval",
            "identify",
            "--images",
            str(slice_dir),
            *FAST,
            "--json",
            "--watchlist-size",
            "10",
            "--seed",
            "3",
            env=env,
        )
    )
    assert sampled["watchlist_size"] == 10
    assert sampled["nonmated_searches"] > 150  # identities left off the list search too
    assert sampled["embedding_stats"]["computed"] == 0


def test_threshold_calibrate_plan(env: dict[str, str], slice_dir: Path) -> None:
    thr = ok(
        run_cli(
            "eval",
            "threshold",
            "--images",
            str(slice_dir),
            *FAST,
            "--watchlist-size",
            "50",
            "--fpir",
            "0.01",
            "--draws",
            "5",
            "--json",
            env=env,
        )
    )
    assert thr["watchlist_size"] == 50 and thr["draws"] == 5
    assert 0.9 < thr["threshold"] <= 1.0 and thr["fpir_at_threshold"]["rate"] <= 0.01
    cal = ok(run_cli("eval", "calibrate", "--images", str(slice_dir), *FAST, "--json", env=env))
    path = Path(cal["path"])
    assert path == Path(env["OPENLFR_DATA_DIR"]) / "calibration" / f"{cal['family']}.json"
    assert cal["comparisons"]["impostor"] > 10_000 and cal["comparisons"]["genuine"] > 40
    # this slice's ~12,000 impostor pairs resolve no FMR below 10 / 12,000 (MIN_TAIL_PAIRS): the summary's
    # targets (FPIR 1e-2 at 100 people and smaller) are all refused; FPIR 0.1 at 100 people (FMR 1e-3) is not
    assert cal["threshold_for_fpir"]["100"]["0.01"] is None
    from openlfr.eval.calibration import Calibration

    t100 = Calibration.from_dict(json.loads(path.read_text())).threshold_for_fpir(0.1, 100)
    assert 0.9 < t100 < 1.0
    plan = ok(
        run_cli(
            "eval",
            "plan",
            "--faces",
            "100000",
            "--watchlist-size",
            "100",
            "--fpir",
            "0.1",
            "--prevalence",
            "0.001",
            *FAST,
            "--json",
            env=env,
        )
    )
    assert plan["threshold"] == pytest.approx(t100)
    fp, tp = plan["fpir"]["value"], plan["tpir"]["value"]
    assert fp <= 0.1 and 0.0 <= tp <= 1.0
    assert plan["expected_false_alerts"]["value"] == pytest.approx(100000 * 0.999 * fp)
    assert plan["expected_true_alerts"]["value"] == pytest.approx(100000 * 0.001 * tp)
    lo, hi = plan["expected_false_alerts"]["ci"]
    assert lo <= plan["expected_false_alerts"]["value"] <= hi
    explicit = ok(
        run_cli(
            "eval",
            "plan",
            "--faces",
            "1000",
            "--watchlist-size",
            "100",
            "--threshold",
            "0.99",
            "--prevalence",
            "0.01",
            "--tpir",
            "0.5",
            *FAST,
            "--json",
            env=env,
        )
    )
    assert explicit["tpir"]["value"] == 0.5 and explicit["threshold"] == 0.99


def test_fairness_slice(env: dict[str, str], slice_dir: Path, tmp_path: Path) -> None:
    names = sorted(p.name for p in slice_dir.iterdir())
    labels = tmp_path / "groups.csv"
    labels.write_text(
        "image_or_identity,group\n"
        + "".join(f"{n},{'first-half' if i < len(names) // 2 else 'second-half'}\n" for i, n in enumerate(names))
    )
    out = ok(
        run_cli(
            "eval",
            "fairness",
            "--images",
            str(slice_dir),
            "--labels",
            str(labels),
            *FAST,
            "--threshold",
            "0.97",
            "--json",
            env=env,
        )
    )
    assert set(out["groups"]) == {"first-half", "second-half"}
    for g in out["groups"].values():
        for m in ("fpir", "fnir", "fta"):
            r = g[m]
            assert r["n"] >= 0 and (r["value"] is None or 0.0 <= r["value"] <= 1.0)
            if r["n"]:
                assert r["ci"][0] <= r["value"] <= r["ci"][1]
    assert set(out["ratio"]) == {"fpir", "fnir", "fta"}
    assert out["sweep"] and {"threshold", "fpir", "fnir", "fpir_p_value"} <= set(out["sweep"][0])
    assert "fpir_significant_at_or_below" in out["significance"]


def test_cache_info_and_clear(env: dict[str, str]) -> None:
    info = ok(run_cli("eval", "cache-info", "--json", env=env))
    assert info["entries"] and all(e["images"] > 0 for e in info["entries"])
    cleared = ok(run_cli("eval", "cache-clear", "--json", env=env))
    assert cleared["files_removed"] >= 2 and cleared["bytes_removed"] > 0
    assert not Path(cleared["path"]).exists()
    assert ok(run_cli("eval", "cache-info", "--json", env=env))["entries"] == []


def test_errors_are_one_line(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "pairs.txt"
    bad.write_text("1\t1\nNobody\t1\t2\nNobody\t1\tNoone\t1\n")
    proc = run_cli("eval", "verify", "--pairs", str(bad), "--images", str(LFW_DEV), "--json", env=env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().startswith("error[bad_pairs]:") and len(proc.stderr.strip().splitlines()) == 1
    proc = run_cli("eval", "plan", "--faces", "10", "--watchlist-size", "10", "--prevalence", "0.1", env=env)
    assert proc.returncode == 2 and "error[bad_option]" in proc.stderr
