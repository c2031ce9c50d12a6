"""The public transparency feed: every *ended* deployment, for anyone, without a login.

What a member of the public may read about each deployment that has ended: where (location and
coordinates), when (start, end, duration), why (purpose, legal basis), the watchlist size and
threshold, faces seen, alerts (true, false, not adjudicated), engagement outcomes and both error
rates with 95% Clopper-Pearson intervals (``services.reports.rates``). Nothing else: no face image,
no identity, no person id, no watchlist or officer name, no camera addresses. Deployments that are
still being planned or are live are not listed (their figures are provisional).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openlfr.services import reports
from openlfr.services.context import AppContext
from openlfr.storage.models_gov import OUTCOMES
from openlfr.storage.repos.deployments import DeploymentRepo

_DESCRIPTION = (
    "id",
    "location",
    "latitude",
    "longitude",
    "started_at",
    "ended_at",
    "duration_minutes",
    "purpose",
    "legal_basis",
    "watchlist_size",
    "threshold",
)
_COUNTS = ("faces_seen", "alerts", "true_alerts", "false_alerts", "unadjudicated")
_RATES = ("false_alerts_per_face", "false_alerts_per_face_ci", "share_of_alerts_wrong", "share_of_alerts_wrong_ci")

FIELDS = (*_DESCRIPTION, *_COUNTS, "outcomes", *_RATES, "operating_point_text")
"""The only keys a public row carries."""

CSV_COLUMNS = (*_DESCRIPTION, *_COUNTS, *OUTCOMES, *reports.RATE_CSV_COLUMNS)

DEFINITIONS = {
    "faces_seen": "people tracked past the cameras (one track = one face seen)",
    "false_alerts_per_face": "false alerts / faces seen (the police's 'false alert rate')",
    "share_of_alerts_wrong": "false alerts / adjudicated alerts (1 - precision); unadjudicated alerts excluded",
    "ci": "95% Clopper-Pearson interval [low, high]",
}


@dataclass(frozen=True)
class PublicFeed:
    generated_at: str
    deployments: list[dict[str, Any]]
    """One row per ended deployment, newest first: the keys in ``FIELDS`` and nothing else."""
    totals: dict[str, Any]
    """Sums over the rows and the rates over the sums, with their intervals."""
    notes: list[str]
    definitions: dict[str, str]


def _public_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row.get(k) for k in FIELDS}
    out["outcomes"] = {o: int(row["outcomes"].get(o, 0)) for o in OUTCOMES}
    return out


def public_feed(ctx: AppContext) -> PublicFeed:
    """Every ended deployment's public row, newest first, with totals, notes and definitions."""
    with ctx.db.session() as s:
        rows = [reports._row(s, dep)[0] for dep in DeploymentRepo(s).ended_newest_first()]
    totals = reports._totals(rows)
    public_totals = {k: totals[k] for k in ("deployments", *_COUNTS, "outcomes", "duration_minutes", *_RATES)}
    notes = []
    if totals["unadjudicated"]:
        notes.append(f"{totals['unadjudicated']} alert(s) not adjudicated: excluded from share_of_alerts_wrong")
    if totals["not_started"]:
        notes.append(f"{totals['not_started']} ended deployment(s) never went live (no figures)")
    return PublicFeed(
        generated_at=datetime.now(UTC).isoformat(),
        deployments=[_public_row(r) for r in rows],
        totals=public_totals,
        notes=notes,
        definitions=DEFINITIONS,
    )


def to_csv(feed: PublicFeed) -> str:
    """One row per ended deployment; CI bounds in their own columns; text cells formula-escaped."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in feed.deployments:
        fa = r.get("false_alerts_per_face_ci") or [None, None]
        sw = r.get("share_of_alerts_wrong_ci") or [None, None]
        vals = {
            **r,
            **r["outcomes"],
            "false_alerts_per_face_ci_low": fa[0],
            "false_alerts_per_face_ci_high": fa[1],
            "share_of_alerts_wrong_ci_low": sw[0],
            "share_of_alerts_wrong_ci_high": sw[1],
        }
        w.writerow([_cell(vals.get(c)) for c in CSV_COLUMNS])
    return buf.getvalue()


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v  # a spreadsheet must not run a location or purpose as a formula
    return v
