"""Fairness per group: rates, intervals, ratios, significance, on hand tables."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import fisher_exact

from openlfr.eval.fairness import GroupData, compare, fairness_report
from openlfr.eval.intervals import clopper_pearson
from openlfr.eval.metrics import SearchOutcomes


def outcomes(mated, rank1, nonmated):
    return SearchOutcomes(np.asarray(mated, float), np.asarray(rank1, bool), np.asarray(nonmated, float))


A = GroupData("A", outcomes([0.97], [True], [0.95, 0.5]), attempts=3, failures_to_acquire=0)
B = GroupData("B", outcomes([0.92, 0.99], [True, False], [0.3, 0.2]), attempts=4, failures_to_acquire=1)
EMPTY = GroupData("C", outcomes([], [], []), attempts=0, failures_to_acquire=0)


def test_group_rates_and_intervals():
    r = fairness_report([A, B], threshold=0.9, sweep=[0.9])
    g = r.groups
    assert g["A"]["fpir"]["value"] == 0.5 and g["A"]["fpir"]["k"] == 1 and g["A"]["fpir"]["n"] == 2
    assert g["A"]["fpir"]["ci"] == pytest.approx(list(clopper_pearson(1, 2)))
    assert g["B"]["fpir"]["value"] == 0.0
    assert g["A"]["fnir"]["value"] == 0.0
    assert g["B"]["fnir"]["value"] == 0.5          # the 0.99 mate is not rank 1
    assert g["B"]["fta"]["value"] == 0.25 and g["A"]["fta"]["value"] == 0.0
    assert r.comparisons["fpir"].ratio is None
    assert r.comparisons["fpir"].reason == "the lowest rate is 0"
    assert r.comparisons["fpir"].max_group == "A" and r.comparisons["fpir"].min_group == "B"


def test_ratio_and_fisher_p_value():
    c = compare("fnir", {"a": (2, 10), "b": (1, 10)})
    assert c.ratio == pytest.approx(2.0)
    assert c.p_value == pytest.approx(fisher_exact([[2, 8], [1, 9]])[1])
    assert not c.significant


def test_significance_with_bonferroni_over_pairs():
    two = compare("fpir", {"a": (30, 100), "b": (10, 100)})
    p = fisher_exact([[30, 70], [10, 90]])[1]
    assert two.p_value == pytest.approx(p) and two.significant
    three = compare("fpir", {"a": (30, 100), "b": (10, 100), "c": (20, 100)})
    assert three.p_value == pytest.approx(min(1.0, 3 * p))


def test_all_zero_and_single_group():
    c = compare("fnir", {"a": (0, 10), "b": (0, 5)})
    assert c.ratio is None and c.reason == "every group's rate is 0" and c.p_value == 1.0
    c = compare("fnir", {"a": (1, 10), "b": (0, 0)})
    assert c.p_value is None and c.reason == "fewer than two groups with data"


def test_empty_group_is_reported_not_dropped():
    r = fairness_report([A, B, EMPTY], threshold=0.9, sweep=[0.9]).to_dict()
    assert r["groups"]["C"]["fpir"]["value"] is None and r["groups"]["C"]["fpir"]["ci"] is None
    assert r["reason"]["empty_groups"] == "C"


def test_sweep_finds_where_fpir_differences_become_significant():
    rng = np.random.default_rng(0)
    hi = GroupData("hi", outcomes([], [], rng.uniform(0.80, 1.00, 400)), 400, 0)
    lo = GroupData("lo", outcomes([], [], rng.uniform(0.70, 0.90, 400)), 400, 0)
    r = fairness_report([hi, lo], threshold=0.95, sweep=[0.95, 0.90, 0.85, 0.80])
    # above 0.9 group "lo" never matches and "hi" does: significant everywhere up to 0.95
    assert r.fpir_significant_at_or_below == 0.95
    assert r.fnir_significant_at_or_above is None
    assert "fnir_significant_at_or_above" in r.reasons
    assert [row["threshold"] for row in r.sweep] == [0.8, 0.85, 0.9, 0.95]
