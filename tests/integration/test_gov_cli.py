"""The published-records report through the real command, as the issue's acceptance asks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.conftest import SHARED

MET = SHARED / "data" / "met-deployments" / "met_lfr_deployments.csv"


@pytest.mark.shared_data
def test_report_published_json(cli: Any) -> None:
    if not MET.is_file():
        pytest.skip(f"published records not found at {MET}")
    out = cli("report", "published", str(MET), "--json")
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)  # exactly one JSON object on stdout
    y = rep["years"]["2024"]
    assert (y["deployments"], y["faces_seen"], y["alerts"], y["false_alerts"]) == (180, 902_748, 1_286, 27)
    for key, kind in (
        ("deployments", int),
        ("faces_seen", int),
        ("alerts", int),
        ("true_alerts", int),
        ("false_alerts", int),
        ("arrests", int),
        ("false_alerts_per_face", float),
        ("share_of_alerts_wrong", float),
    ):
        assert isinstance(y[key], kind), key
    for key in ("false_alerts_per_face_ci", "share_of_alerts_wrong_ci"):
        lo, hi = y[key]
        assert 0 <= lo < hi <= 1
    assert rep["years"]["2020"]["arrests"] is None
    text = cli("report", "published", str(MET))
    assert text.returncode == 0 and "902,748" in text.stdout and "1 in 33,435" in text.stdout
    bad = cli("report", "published", str(MET.parent / "README.md"), "--json")
    assert bad.returncode == 2 and bad.stderr.startswith("error[bad_columns]")
