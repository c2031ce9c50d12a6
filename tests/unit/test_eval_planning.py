"""Planning formulas (ARCHITECTURE.md section 4) on hand-computed numbers."""

from __future__ import annotations

import pytest

from openlfr.eval import planning as P
from openlfr.eval.intervals import clopper_pearson


def test_formulas_exact():
    assert P.expected_false_alerts(100_000, 0.001, 1e-4) == pytest.approx(9.99)
    assert P.expected_true_alerts(100_000, 0.001, 0.9) == pytest.approx(90.0)
    assert P.expected_precision(0.001, 0.9, 1e-4) == pytest.approx(0.0009 / 0.0009999)


def test_precision_undefined_without_alerts():
    assert P.expected_precision(0.0, 0.9, 0.0) is None
    assert P.expected_precision(0.0, 0.9, 1e-3) == 0.0  # nobody watchlisted: every alert wrong
    assert P.expected_precision(1.0, 0.9, 1e-3) == 1.0


def test_fpir_from_fmr_caps_at_one():
    assert P.fpir_from_fmr(1e-6, 1000) == pytest.approx(1e-3)
    assert P.fpir_from_fmr(0.01, 1000) == 1.0
    with pytest.raises(ValueError):
        P.fpir_from_fmr(2.0, 10)


def test_plan_with_intervals():
    fmr = P.Rate.measured(3, 3_000_000)  # FMR 1e-6, CP interval
    fpir = fmr.scaled(1000)
    tpir = P.Rate.measured(90, 100)
    pl = P.plan(50_000, 0.0002, fpir, tpir, 1000, threshold=0.95)
    d = pl.to_dict()
    lo, hi = clopper_pearson(3, 3_000_000)
    assert d["fpir"]["value"] == pytest.approx(1e-3)
    assert d["fpir"]["ci"] == pytest.approx([lo * 1000, hi * 1000])
    fa = 50_000 * (1 - 0.0002) * 1e-3
    assert d["expected_false_alerts"]["value"] == pytest.approx(fa)
    assert d["expected_false_alerts"]["ci"] == pytest.approx([50_000 * 0.9998 * lo * 1000, 50_000 * 0.9998 * hi * 1000])
    ta = 50_000 * 0.0002 * 0.9
    assert d["expected_true_alerts"]["value"] == pytest.approx(ta)
    assert d["expected_precision"]["value"] == pytest.approx(ta / (ta + fa))
    p_lo, p_hi = d["expected_precision"]["ci"]
    assert p_lo < d["expected_precision"]["value"] < p_hi
    assert d["false_alerts_per_face_seen"] == pytest.approx(fa / 50_000)
    assert d["share_of_alerts_wrong"] == pytest.approx(fa / (fa + ta))


def test_plan_rejects_bad_prevalence():
    with pytest.raises(ValueError):
        P.plan(10, 1.5, P.Rate.exact(0.1), P.Rate.exact(0.9), 10)


def test_zero_faces():
    d = P.plan(0, 0.01, P.Rate.exact(0.1), P.Rate.exact(0.9), 10).to_dict()
    assert d["expected_false_alerts"]["value"] == 0.0
    assert d["false_alerts_per_face_seen"] is None and d["share_of_alerts_wrong"] is None
