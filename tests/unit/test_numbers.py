"""The server's number style (services.numbers) is the console's (app.js fmtThreshold/fmtRate)."""

from __future__ import annotations

from openlfr.services.numbers import fmt_rate, fmt_threshold, operating_point_text


def test_rates_and_thresholds_in_one_style() -> None:
    assert [fmt_rate(x) for x in (1e-4, 0.0909, 0.09091, 1e-5, 0.5, 1.0, 0.12345, 0.0, None)] == [
        "0.01%",
        "9.09%",
        "9.09%",
        "0.001%",
        "50%",
        "100%",
        "12.3%",
        "0%",
        "–",
    ]
    assert fmt_threshold(0.7145) == "0.7145" and fmt_threshold(0.9) == "0.9000" and fmt_threshold(None) == "–"


def test_operating_point_text() -> None:
    d = {"threshold": 0.71449, "threshold_source": "target_fpir", "target_fpir": 1e-4, "watchlist_size": 1200}
    assert operating_point_text(d) == "0.7145 (from target FPIR 0.01% at 1,200 people)"
    row = {"threshold": 0.6, "threshold_chosen_by": "override", "target_fpir": None, "watchlist_size": 5}
    assert operating_point_text(row) == "0.6000 (explicit threshold (override))"
    assert operating_point_text({**d, "threshold_source": "model_default"}) == "0.7145 (model's fixed default)"
    assert operating_point_text({**d, "threshold": None}) is None  # a draft
