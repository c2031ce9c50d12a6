"""Every CSV export escapes cells a spreadsheet would run as formulas (= + - @ tab CR at the start)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.integration.conftest import seed_watchlist

from openlfr.services import deployments as dsvc
from openlfr.services import reports
from openlfr.services.csv_safe import safe_cell, write_csv

NOW = datetime.now(UTC)
EVIL = {
    "name": '=HYPERLINK("x";"click")',
    "location": "@SUM(1+1)*cmd",
    "purpose": "+cmd|' /C calc'!A0",
    "legal_basis": "-2+3 common law policing powers",
    "notes": "\t=1+1",
}
DANGER = ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize("v", ["=1+1", "+1", "-1+1", "@A1", "\t=1", "\r=1"])
def test_safe_cell_escapes(v: str) -> None:
    assert safe_cell(v) == "'" + v


@pytest.mark.parametrize("v", ["plain", "", " =1", "a=1", 12, -3.5, None])
def test_safe_cell_leaves_the_rest(v: Any) -> None:
    assert safe_cell(v) == v


def test_write_csv_round_trip() -> None:
    text = write_csv(["a", "=b"], [["=1+1", -2, "x\r\ny"]])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["a", "'=b"], ["'=1+1", "-2", "x\r\ny"]]


def test_report_csv_escapes_user_text(gov_ctx: Any, enrolled_people: list[Any]) -> None:
    seed_watchlist(gov_ctx, "standing", enrolled_people)
    d = dsvc.create(
        gov_ctx,
        name=EVIL["name"],
        location=EVIL["location"],
        purpose=EVIL["purpose"],
        planned_start=NOW - timedelta(minutes=30),
        planned_end=NOW + timedelta(hours=1),
        actor="c",
        source_watchlist="standing",
        all_entries_reason="-1 op",
        cameras=[dsvc.CameraSpec("north", "north.mp4")],
        threshold=0.9,
        legal_basis=EVIL["legal_basis"],
    )
    dsvc.authorise(
        gov_ctx,
        d.id,
        "sup",
        "supervisor",
        "=Supt Q",
        justification="=test of formula escaping; 0.9 is an override outside the safe band on purpose",
    )
    plan = dsvc.mark_live(gov_ctx, d.id, "op")
    dsvc.mark_ended(gov_ctx, plan.deployment_id, "op")
    for rep in (
        reports.deployment_report(gov_ctx, d.id),
        reports.period_report(gov_ctx, NOW - timedelta(days=1), NOW + timedelta(days=1)),
    ):
        text = reports.to_csv(rep)
        rows = list(csv.reader(io.StringIO(text)))
        cells = [c for row in rows for c in row]
        assert "'" + EVIL["name"] in cells and "'" + EVIL["location"] in cells and "'" + EVIL["purpose"] in cells
        assert "'=Supt Q" in cells
        bad = [c for c in cells if c.startswith(DANGER) and not _number(c)]
        assert not bad, bad


def _number(c: str) -> bool:
    try:
        float(c)
        return True
    except ValueError:
        return False
