"""Hand-computed tables for the verification and identification metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from openlfr.eval import metrics as M

# ---------------------------------------------------------------- verification


@pytest.mark.parametrize(
    ("gen", "imp", "auc"),
    [
        ([0.9, 0.8, 0.6], [0.7, 0.5, 0.4], 8 / 9),
        ([0.5, 0.5], [0.5, 0.3], 0.75),  # ties count one half
        ([0.5, 0.5], [0.5, 0.5], 0.5),  # all tied
        ([0.9, 0.8], [0.2, 0.1], 1.0),  # zero errors
        ([0.1], [0.9], 0.0),
    ],
)
def test_auc_table(gen, imp, auc):
    s = gen + imp
    lab = [1] * len(gen) + [0] * len(imp)
    assert M.roc_auc(s, lab) == pytest.approx(auc, abs=1e-12)


def test_roc_points_exact():
    roc = M.roc_curve([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1, 1, 0, 1, 0, 0])
    assert math.isinf(roc.thresholds[0])
    np.testing.assert_allclose(roc.thresholds[1:], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    np.testing.assert_allclose(roc.fmr, [0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(roc.tmr, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1])


def test_roc_ties_collapse_to_one_point():
    roc = M.roc_curve([0.5, 0.5, 0.5, 0.2], [1, 0, 1, 0])
    np.testing.assert_allclose(roc.fmr, [0, 0.5, 1])
    np.testing.assert_allclose(roc.tmr, [0, 1, 1])


@pytest.mark.parametrize(
    ("gen", "imp", "eer"),
    [
        ([0.9, 0.8, 0.6], [0.7, 0.5, 0.4], 1 / 3),  # crossing exactly at a point
        ([0.9, 0.5, 0.5, 0.1], [0.5, 0.2], 0.375),  # crossing inside a tied (diagonal) segment
        ([0.9, 0.8, 0.2], [0.85, 0.1], 0.5),  # crossing inside a vertical segment
        ([0.9, 0.8], [0.2, 0.1], 0.0),  # zero errors
        ([0.1, 0.2], [0.8, 0.9], 1.0),  # everything wrong
    ],
)
def test_eer_table(gen, imp, eer):
    s = gen + imp
    lab = [1] * len(gen) + [0] * len(imp)
    assert M.equal_error_rate(s, lab) == pytest.approx(eer, abs=1e-12)


def test_tar_at_far_midpoint_threshold():
    gen, imp = [0.95, 0.8, 0.6, 0.4], [0.9, 0.7, 0.5, 0.3]
    r = M.tar_at_far(gen + imp, [1] * 4 + [0] * 4, 0.25)
    # one impostor (0.9) may pass; the cut is above 0.7, halfway to the next score 0.8
    assert r.threshold == pytest.approx(0.75)
    assert r.value == pytest.approx(0.5)
    assert r.achieved == pytest.approx(0.25)
    assert r.reason is None


def test_tar_at_far_ties_push_threshold_above_both():
    r = M.tar_at_far([0.8, 0.9, 0.8, 0.8, 0.1, 0.1], [1, 1, 0, 0, 0, 0], 0.25)
    assert r.threshold == pytest.approx(0.85)
    assert r.value == pytest.approx(0.5)
    assert r.achieved == 0.0


def test_tar_at_far_zero_errors():
    r = M.tar_at_far([0.9, 0.8, 0.1, 0.2, 0.3, 0.4], [1, 1, 0, 0, 0, 0], 0.25)
    assert r.threshold == pytest.approx(0.35)
    assert r.value == 1.0


def test_tar_at_far_unresolvable_is_none_with_reason():
    r = M.tar_at_far([0.9, 0.1, 0.2, 0.3, 0.4], [1, 0, 0, 0, 0], 0.1)
    assert r.value is None and r.threshold is None
    assert "need at least 10" in r.reason


def test_tar_at_far_all_genuine():
    r = M.tar_at_far([0.9, 0.8], [1, 1], 0.001)
    assert r.value is None and r.reason


def test_rate_target_boundary_is_exact():
    assert M.allowed_false(3000, 1e-3) == 3
    assert M.resolvable(1000, 1e-3)
    assert not M.resolvable(999, 1e-3)


@pytest.mark.parametrize(
    ("scores", "labels", "thr"),
    [
        ([0.1, 0.4, 0.6, 0.9], [0, 0, 1, 1], 0.5),
        ([0.1, 0.3, 0.5, 0.7], [0, 1, 0, 1], 0.6),  # two best candidates: the upper middle one
        ([0.5, 0.6], [1, 0], 1.6),  # maximisers -0.5 and 1.6
    ],
)
def test_best_threshold(scores, labels, thr):
    assert M.best_threshold(scores, labels) == pytest.approx(thr)


def test_kfold_accuracy_hand_table():
    scores = [0.9, 0.2, 0.5, 0.6]
    labels = [1, 0, 1, 0]
    folds = [0, 0, 1, 1]
    r = M.kfold_accuracy(scores, labels, folds)
    assert r.fold_thresholds == pytest.approx((1.6, 0.55))
    assert r.fold_accuracies == pytest.approx((0.5, 0.0))
    assert r.mean == pytest.approx(0.25)
    assert r.std == pytest.approx(math.sqrt(2 * 0.25**2))


def test_kfold_perfect_separation():
    rng = np.random.default_rng(0)
    folds = np.repeat(np.arange(10), 20)
    labels = np.tile([1, 0], 100)
    scores = np.where(labels == 1, 0.8, 0.3) + rng.uniform(-0.05, 0.05, 200)
    r = M.kfold_accuracy(scores, labels, folds)
    assert r.mean == 1.0 and r.std == 0.0


def test_nan_scores_refused():
    with pytest.raises(ValueError):
        M.roc_auc([0.1, float("nan")], [1, 0])


# ---------------------------------------------------------------- identification

SCORES = np.array(
    [
        [0.9, 0.5, 0.4],  # mate 0, rank 1
        [0.7, 0.6, 0.2],  # mate 1, beaten by 0.7
        [0.3, 0.3, 0.3],  # mate 2, tied at the top: not rank 1
        [0.8, 0.1, 0.2],  # non-mated, best 0.8
        [0.2, 0.5, 0.6],  # non-mated, best 0.6
    ]
)
MATE = [0, 1, 2, -1, -1]


def test_search_outcomes_table():
    o = M.search_outcomes(SCORES, MATE)
    np.testing.assert_allclose(o.mated_score, [0.9, 0.6, 0.3])
    assert o.mated_rank1.tolist() == [True, False, False]
    np.testing.assert_allclose(o.nonmated_max, [0.8, 0.6])
    assert o.watchlist_size == 3 and o.mated == 3 and o.nonmated == 2
    assert M.rank1_rate(o) == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("t", "fpir", "fnir"),
    [
        (0.95, 0.0, 1.0),
        (0.9, 0.0, 2 / 3),  # score == threshold is accepted
        (0.7, 0.5, 2 / 3),
        (0.6, 1.0, 2 / 3),  # the mate at 0.6 is not rank 1: still a miss
        (0.0, 1.0, 2 / 3),
    ],
)
def test_fpir_fnir_table(t, fpir, fnir):
    o = M.search_outcomes(SCORES, MATE)
    assert M.fpir(o, t) == pytest.approx(fpir)
    assert M.fnir(o, t) == pytest.approx(fnir)


def test_fnir_at_fpir_and_unresolvable():
    o = M.search_outcomes(SCORES, MATE)
    r = M.fnir_at_fpir(o, 0.5)
    assert r.threshold == pytest.approx(0.7)  # halfway between 0.6 and the next score 0.8
    assert r.value == pytest.approx(2 / 3)
    assert r.achieved == pytest.approx(0.5)
    r = M.fnir_at_fpir(o, 0.1)
    assert r.value is None and r.threshold is None
    assert r.reason == "2 non-mated searches cannot resolve 0.1 (need at least 10)"


def test_resolvable_target_always_allows_one_false_positive():
    # n * target >= 1 means k = floor(n * target) >= 1: a rate of 0 is never the claim
    o = M.search_outcomes(SCORES, MATE)
    assert M.fnir_at_fpir(o, 0.5 - 1e-6).reason is not None
    for n in (1, 7, 1000, 2844):
        assert M.allowed_false(n, 1.0 / n) == 1


def test_failed_probe_is_a_miss_and_never_a_false_positive():
    scores = np.array([[-np.inf, -np.inf], [-np.inf, -np.inf], [0.9, 0.2]])
    o = M.search_outcomes(scores, [0, -1, 1])
    assert o.mated_rank1.tolist() == [False, False]
    assert M.fnir(o, 0.0) == 1.0
    assert M.fpir(o, 0.0) == 0.0


def test_no_nonmated_searches():
    o = M.search_outcomes(SCORES[:3], MATE[:3])
    assert M.fpir(o, 0.5) is None
    r = M.fnir_at_fpir(o, 0.01)
    assert r.value is None and "0 non-mated" in r.reason


def test_no_mated_searches():
    o = M.search_outcomes(SCORES[3:], MATE[3:])
    assert M.fnir(o, 0.5) is None and M.rank1_rate(o) is None
    assert M.fnir_at_fpir(o, 0.5).reason == "no mated searches"


def test_det_curve_table():
    d = M.det_curve(M.search_outcomes(SCORES, MATE))
    np.testing.assert_allclose(d.thresholds, [0.9, 0.8, 0.6, 0.3])
    np.testing.assert_allclose(d.fpir, [0, 0.5, 1, 1])
    np.testing.assert_allclose(d.fnir, [2 / 3] * 4)


def test_det_curve_monotone_on_random_data():
    rng = np.random.default_rng(1)
    sc = rng.uniform(size=(200, 30))
    mate = np.where(rng.uniform(size=200) < 0.5, rng.integers(0, 30, 200), -1)
    sc[mate >= 0, mate[mate >= 0]] += 0.3
    d = M.det_curve(M.search_outcomes(sc, mate))
    assert np.all(np.diff(d.fpir) >= 0) and np.all(np.diff(d.fnir) <= 0)


def test_rate_with_interval_zero_events():
    r = M.rate_with_interval(0, 10)
    assert r["rate"] == 0.0 and r["ci"][0] == 0.0
    assert r["ci"][1] == pytest.approx(1 - 0.025 ** (1 / 10))
    assert M.rate_with_interval(0, 0)["rate"] is None
