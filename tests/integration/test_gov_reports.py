"""Transparency reports on SQLite and PostgreSQL: the figures equal what was recorded, both rates carry
Clopper-Pearson intervals, CSV/HTML carry the same numbers, charts are embedded, no identities leak."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.integration.conftest import FACES, make_alert, seed_watchlist

from openlfr.eval.intervals import clopper_pearson
from openlfr.services import alerts as asvc
from openlfr.services import deployments as dsvc
from openlfr.services import reports, transparency

NOW = datetime.now(UTC)
PROBE = (FACES / "Al_Gore" / "Al_Gore_0002.jpg").read_bytes()


def _run(ctx: Any, name: str, faces: dict[str, int], verdicts: list[tuple[str, str | None, str | None]]) -> int:
    d = dsvc.create(
        ctx,
        name=name,
        location=f"{name} High St, outside No. 1",
        purpose="wanted",
        latitude=51.5,
        longitude=-0.12,
        planned_start=NOW - timedelta(minutes=30),
        planned_end=NOW + timedelta(hours=1),
        actor="c",
        source_watchlist="standing",
        all_entries_reason="op",
        cameras=[dsvc.CameraSpec(c, f"{c}.mp4") for c in faces],
        threshold=0.9,
        legal_basis="Common law policing powers; force LFR policy v1",
    )
    dsvc.authorise(
        ctx,
        d.id,
        "sup",
        "supervisor",
        "Supt Q",
        justification="test fixture: alerts here are synthetic, stored at a fixed threshold 0.9",
    )
    plan = dsvc.mark_live(ctx, d.id, "op")
    sink = asvc.StoreAlertSink(ctx, plan.deployment_id)
    for cam, n in faces.items():
        sink.count(cam, {"faces_seen": n, "quality_rejected": n // 10, "live_seconds": 600})
    for i, (person, verdict, outcome) in enumerate(verdicts):
        aid = sink.store(
            make_alert(
                plan,
                ctx,
                person,
                PROBE,
                camera=list(faces)[i % len(faces)],
                score=0.91 + i / 100,
                occurred_at=NOW - timedelta(minutes=20 - i),
            )
        )
        if verdict:
            asvc.adjudicate(ctx, aid, "op", "operator", verdict, outcome=outcome)
    dsvc.mark_ended(ctx, plan.deployment_id, "op")
    return plan.deployment_id


@pytest.fixture
def two(gov_ctx: Any, enrolled_people: list[Any]) -> tuple[Any, int, int]:
    seed_watchlist(gov_ctx, "standing", enrolled_people)
    a = _run(
        gov_ctx,
        "Alpha",
        {"north": 1200, "south": 800},
        [
            ("Al_Gore", "true", "arrest"),
            ("Adrien_Brody", "false", "not_engaged"),
            ("Al_Gore", "true", "no_action"),
            ("Abdullah_Gul", None, None),
        ],
    )
    b = _run(gov_ctx, "Bravo", {"east": 3000}, [("Al_Gore", "true", "other_disposal")])
    return gov_ctx, a, b


def test_deployment_report_figures(two: tuple[Any, int, int]) -> None:
    ctx, a, _b = two
    rep = reports.deployment_report(ctx, a, actor="auditor").to_dict()
    r = rep["deployments"][0]
    assert (r["faces_seen"], r["alerts"], r["true_alerts"], r["false_alerts"], r["unadjudicated"]) == (2000, 4, 2, 1, 1)
    assert r["outcomes"] == {"arrest": 1, "other_disposal": 0, "no_action": 1, "not_engaged": 1}
    assert r["quality_rejected"] == 200 and r["watchlist_size"] == 5 and r["threshold"] == 0.9
    assert r["location"] == "Alpha High St, outside No. 1" and r["latitude"] == 51.5
    assert r["camera_live_minutes"] == {"north": 10.0, "south": 10.0} and r["statistics_frozen"] is True
    assert r["false_alerts_per_face"] == pytest.approx(1 / 2000)
    assert r["false_alerts_per_face_ci"] == pytest.approx(list(clopper_pearson(1, 2000)))
    assert r["share_of_alerts_wrong"] == pytest.approx(1 / 3)  # of adjudicated alerts
    assert r["share_of_alerts_wrong_ci"] == pytest.approx(list(clopper_pearson(1, 3)))
    assert any("not yet adjudicated" in n for n in rep["notes"])
    assert len(rep["alerts"]) == 4 and {x["verdict"] for x in rep["alerts"]} == {"true", "false", None}
    text = json.dumps(rep)
    assert "Al_Gore" not in text and "Adrien_Brody" not in text  # reports hold no identities


def test_period_report_csv_and_html(two: tuple[Any, int, int]) -> None:
    ctx, a, b = two
    rep = reports.period_report(ctx, NOW - timedelta(days=1), NOW + timedelta(days=1))
    t = rep.totals
    assert [r["id"] for r in rep.deployments] == [a, b]
    assert (t["deployments"], t["faces_seen"], t["alerts"], t["true_alerts"], t["false_alerts"]) == (2, 5000, 5, 3, 1)
    assert t["share_of_alerts_wrong"] == pytest.approx(1 / 4)
    assert t["false_alerts_per_face_ci"] == pytest.approx(list(clopper_pearson(1, 5000)))
    assert reports.period_report(ctx, NOW + timedelta(days=1), NOW + timedelta(days=2)).totals["deployments"] == 0

    rows = list(csv.DictReader(io.StringIO(reports.to_csv(rep))))
    assert [r["id"] for r in rows] == [str(a), str(b), "TOTAL"]
    assert rows[0]["faces_seen"] == "2000" and rows[0]["false_alerts"] == "1" and rows[0]["arrest"] == "1"
    assert rows[2]["faces_seen"] == "5000" and float(rows[2]["share_of_alerts_wrong"]) == pytest.approx(0.25)
    assert float(rows[0]["false_alerts_per_face_ci_high"]) == pytest.approx(clopper_pearson(1, 2000)[1])  # type: ignore[index]

    page = reports.to_html(rep)
    assert page.startswith("<!doctype html>") and "@media print" in page
    pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(pngs) >= 3
    assert all(base64.b64decode(p)[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    data = json.loads(re.search(r"<script type=application/json id=report-data>(.*?)</script>", page, re.S).group(1))  # type: ignore[union-attr]
    assert data["totals"]["faces_seen"] == 5000
    assert "Al_Gore" not in page
    single = reports.to_html(reports.deployment_report(ctx, a))
    assert len(re.findall(r"data:image/png;base64,", single)) >= 2


def test_public_feed_lists_ended_deployments_newest_first(two: tuple[Any, int, int]) -> None:
    """The public feed holds every ended deployment, the last ended first, and nothing still being planned."""
    ctx, a, b = two
    dsvc.create(
        ctx,
        name="Charlie",
        location="Charlie High St, outside No. 1",
        purpose="wanted",
        planned_start=NOW + timedelta(minutes=30),
        planned_end=NOW + timedelta(hours=2),
        actor="c",
        source_watchlist="standing",
        all_entries_reason="op",
        cameras=[dsvc.CameraSpec("west", "west.mp4")],
        legal_basis="Common law policing powers; force LFR policy v1",
    )
    feed = transparency.public_feed(ctx)
    assert [r["id"] for r in feed.deployments] == [b, a]
    assert all(set(r) == set(transparency.FIELDS) for r in feed.deployments)
    assert (feed.totals["deployments"], feed.totals["faces_seen"], feed.totals["alerts"]) == (2, 5000, 5)
    assert [r["id"] for r in csv.DictReader(io.StringIO(transparency.to_csv(feed)))] == [str(b), str(a)]
