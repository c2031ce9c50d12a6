"""threshold-for-size: a target FPIR per face seen becomes a threshold from the embedder's
calibration at the watchlist's actual size (FPIR ~= N * FMR), with the expected false alerts per
10,000 faces and TPIR read from the same counts. Uses the calibration shipped for the dlib
descriptor (counts only), read independently here as raw JSON to check the numbers."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openlfr.errors import InputError, NotFoundError
from openlfr.eval.calibration import PACKAGED_DIR, Calibration, grid, save_calibration
from openlfr.services.operating_point import guardrail, require_justification, resolve
from openlfr.settings import load_settings

DLIB = "dlib-resnet-v1@55533b28a958"


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return dict(json.loads((PACKAGED_DIR / f"{DLIB}.json").read_text()))


@pytest.fixture
def st(tmp_path: Path) -> Any:
    return load_settings(data_dir=tmp_path / "data", database_url=None)


def _expected(raw: dict[str, Any], fpir: float, n: int) -> tuple[float, int, int]:
    """(threshold, impostor comparisons >= it, mated hits >= it), straight from the file's counts."""
    imp = np.asarray(raw["impostor_ge"])
    total = raw["comparisons"]["impostor"]
    i = int(np.flatnonzero(imp <= fpir / n * total)[0])
    return float(raw["grid"][i]), int(imp[i]), int(raw["identify"]["mated_hits_ge"][i])


def test_threshold_rises_with_list_size_for_a_fixed_target(st: Any) -> None:
    sizes = (1, 5, 20, 100, 300, 400)  # 1e-4 at 1,000 rests on < 10 tail pairs: refused
    thr = [resolve(DLIB, n, target_fpir=1e-4, settings=st).threshold for n in sizes]
    assert all(a < b for a, b in itertools.pairwise(thr)), dict(zip(sizes, thr, strict=True))


@pytest.mark.parametrize("n", [20, 400])
def test_figures_agree_with_the_calibration_counts(raw: dict[str, Any], st: Any, n: int) -> None:
    op = resolve(DLIB, n, target_fpir=1e-4, settings=st)
    thr, k, hits = _expected(raw, 1e-4, n)
    total, mated = raw["comparisons"]["impostor"], raw["identify"]["mated"]
    assert op.threshold == thr and op.source == "target_fpir" and op.target_fpir == 1e-4
    assert op.impostor_ge == k and op.impostor_n == total
    assert op.fpir == pytest.approx(n * k / total) and op.fpir <= 1e-4
    assert op.false_alerts_per_10000 == pytest.approx(10_000 * n * k / total)
    assert op.tpir == pytest.approx(hits / mated) and op.mated_n == mated
    assert op.calibration is not None and op.calibration["file"] == f"{DLIB}.json" and op.calibration["shipped"]
    # one grid step lower would miss the target: it is the smallest such threshold
    step = raw["grid"][1]
    assert resolve(DLIB, n, threshold=thr - step, settings=st).fpir > 1e-4  # type: ignore[operator]


def test_small_list_vs_large_list_at_the_mets_target(st: Any) -> None:
    """At FPIR 1e-4 a 20-person list runs at a lower threshold than a 400-person list and finds
    far more of the people on it; both expect at most one false alert per 10,000 faces. A 1,000-person list
    at 1e-4 is refused: its threshold would rest on fewer than 10 impostor pairs of the calibration."""
    small = resolve(DLIB, 20, target_fpir=1e-4, settings=st)
    large = resolve(DLIB, 400, target_fpir=1e-4, settings=st)
    with pytest.raises(InputError) as e:
        resolve(DLIB, 1000, target_fpir=1e-4, settings=st)
    assert e.value.code == "calibration_too_small" and "at least 10 impostor pairs" in e.value.message
    assert small.threshold < large.threshold
    assert small.false_alerts_per_10000 is not None and small.false_alerts_per_10000 <= 1.0
    assert large.false_alerts_per_10000 is not None and large.false_alerts_per_10000 <= 1.0
    assert small.tpir is not None and large.tpir is not None and small.tpir > 5 * large.tpir
    assert "1,147-person gallery" in small.tpir_reason


def test_default_target_comes_from_settings(st: Any) -> None:
    assert resolve(DLIB, 20, settings=st).target_fpir == 1e-4
    looser = load_settings(data_dir=st.data_dir, database_url=None, default_target_fpir=1e-3)
    assert resolve(DLIB, 20, settings=looser).threshold < resolve(DLIB, 20, settings=st).threshold


def test_error_paths(st: Any) -> None:
    with pytest.raises(NotFoundError) as e:
        resolve("no-such-family@000", 20, target_fpir=1e-4, settings=st)
    assert e.value.code == "no_calibration" and "openlfr eval calibrate" in e.value.message
    with pytest.raises(InputError) as e2:  # 1e-4 / 100,000 per comparison: below the 42 M comparisons
        resolve(DLIB, 100_000, target_fpir=1e-4, settings=st)
    assert e2.value.code == "calibration_too_small" and "Not extrapolating" in e2.value.message
    with pytest.raises(InputError) as e3:
        resolve(DLIB, 0, target_fpir=1e-4, settings=st)
    assert e3.value.code == "empty_watchlist"
    for bad in (0.0, 1.0, -1e-4, float("nan")):
        with pytest.raises(InputError) as e4:
            resolve(DLIB, 20, target_fpir=bad, settings=st)
        assert e4.value.code == "bad_fpir"
    with pytest.raises(InputError) as e5:
        resolve(DLIB, 20, target_fpir=1e-4, threshold=0.9, settings=st)
    assert e5.value.code == "bad_threshold"


def test_override_is_kept_and_its_figures_shown(st: Any) -> None:
    op = resolve(DLIB, 20, threshold=0.5, settings=st)
    assert op.threshold == 0.5 and op.source == "override" and op.target_fpir is None
    assert op.false_alerts_per_10000 == 10_000  # every stranger matches someone
    g = guardrail(op, st)
    assert not g.safe and "above the safe band" in g.problems[0]
    with pytest.raises(InputError) as e:
        require_justification(g, "because")
    assert e.value.code == "justification_required"
    with pytest.raises(InputError):  # issue 18: one repeated letter is no justification
        require_justification(g, "x" * st.min_justification_chars)
    why = "Wanted for a stabbing on this street; a lower threshold is needed for the old custody photos"
    assert require_justification(g, f"  {why}  ") == why
    strict = resolve(DLIB, 20, threshold=0.999, settings=st)
    assert strict.impostor_ge == 0 and strict.notes and "below what it resolves" in strict.notes[0]
    assert not guardrail(strict, st).safe
    assert guardrail(resolve(DLIB, 20, settings=st), st).safe
    for target, safe in ((1e-3, True), (1e-5, True), (2e-3, False), (5e-6, False)):
        assert guardrail(resolve(DLIB, 20, target_fpir=target, settings=st), st).safe is safe, target


def test_any_family_with_a_calibration_file(st: Any) -> None:
    """A family other than dlib, calibrated into the data dir (no identification run): threshold
    from its counts; TPIR explicitly unknown, with the reason."""
    g = grid()
    # scores uniform on [0, 1): impostor_ge[i] = n * (1 - g[i])
    n = 1_000_000
    imp = np.round(n * (1.0 - g)).astype(np.int64)
    cal = Calibration("toy-family@123", "toy-family@123/x", g, n, imp, 10, np.zeros(len(g), np.int64))
    save_calibration(cal, st)
    op = resolve("toy-family@123", 10, target_fpir=1e-2, settings=st)
    assert op.threshold == pytest.approx(0.999, abs=1e-9)  # FMR <= 1e-3 -> 1 - t <= 1e-3
    assert op.fpir == pytest.approx(10 * imp[np.searchsorted(g, 0.999 - 1e-9)] / n) == pytest.approx(1e-2)
    assert op.tpir is None and "cannot estimate TPIR" in op.tpir_reason
    assert op.calibration is not None and not op.calibration["shipped"]
    no_cal = resolve("uncalibrated@1", 10, threshold=0.7, settings=st)
    assert no_cal.fpir is None and no_cal.tpir is None and "openlfr eval calibrate" in no_cal.notes[0]
    assert not guardrail(no_cal, st).safe
