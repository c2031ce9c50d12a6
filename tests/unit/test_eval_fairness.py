"""Fairness per group: rates, intervals, ratios, significance, on hand tables."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import fisher_exact

from openlfr.eval.fairness import GroupData, compare, fairness_report, permutation_p
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
    assert g["B"]["fnir"]["value"] == 0.5  # the 0.99 mate is not rank 1
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


def clustered(name, unit_events_fnir):
    """A group whose mated searches come from units; ``unit_events_fnir`` = [(unit, misses, searches)]."""
    units, miss = [], []
    for u, k, n in unit_events_fnir:
        units += [u] * n
        miss += [True] * k + [False] * (n - k)
    miss = np.array(miss, bool)
    o = outcomes(np.where(miss, 0.5, 0.99), ~miss, [])
    units = np.array(units)
    return GroupData(
        name,
        o,
        attempts=len(units),
        failures_to_acquire=0,
        mated_units=units,
        nonmated_units=np.zeros(0, np.int64),
        attempt_units=units,
        attempt_failed=np.zeros(len(units), bool),
    )


def test_permutation_equal_rates_is_not_significant():
    a = clustered("a", [(i, 1, 4) for i in range(10)])
    b = clustered("b", [(100 + i, 1, 4) for i in range(10)])
    assert permutation_p([a, b], "fnir", 0.9) == 1.0


def test_permutation_many_units_detects_a_real_difference():
    a = clustered("a", [(i, 3, 4) for i in range(20)])
    b = clustered("b", [(100 + i, 0, 4) for i in range(20)])
    p = permutation_p([a, b], "fnir", 0.9, n_perm=500)
    assert p == pytest.approx(1 / 501)
    rep = fairness_report([a, b], 0.9, sweep=[0.9], n_perm=500)
    assert rep.comparisons["fnir"].significant and rep.comparisons["fnir"].p_value_permutation == p


def test_one_heavy_identity_fools_fisher_not_the_permutation_test():
    # group a: one person with 60 searches all missed plus 5 people with no misses; group b: 6 people, none
    a = clustered("a", [(0, 60, 60)] + [(i, 0, 4) for i in range(1, 6)])
    b = clustered("b", [(100 + i, 0, 4) for i in range(6)])
    rep = fairness_report([a, b], 0.9, sweep=[0.9], n_perm=2000)
    c = rep.comparisons["fnir"]
    assert c.p_value < 1e-6  # Fisher: searches treated as independent
    assert c.p_value_permutation > 0.05  # 1 of 12 people: easily arises by chance
    assert not c.significant
    assert rep.test.startswith("identity-level permutation")
