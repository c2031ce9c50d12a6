"""A force's published deployment records, aggregated per year like OpenLFR's own reports.

Reads the column layout of ``met-deployments/met_lfr_deployments.csv`` (the Metropolitan Police's
LFR deployment grids, one row per deployment). Nothing is dropped silently: every row counts as a
deployment of its year, and each irregularity the reader meets is listed in the output:

- a row without results (e.g. a deployment stopped by a fault) counts as a deployment and adds no
  figures (``deployments_with_figures`` says how many had them);
- the 2020-22 grid gives true/false alerts in its own columns and arrests only combined with other
  disposals: those years report ``arrests: null`` and ``arrests_or_disposals_combined``;
- a printed total that differs from the sum of the true/false columns: ``alerts`` keeps the printed
  total (the published figure); ``true_alerts``/``false_alerts`` are the column sums; both listed;
- a grid whose "Other Disposal" and "No Action" columns are identical on every row: read as one
  combined figure (``other_disposal_or_no_action``), never added together;
- outcomes that exceed the confirmed true alerts; a printed false-alert rate that does not match
  false alerts / faces seen; a date corrected from the printed one; any row note from the file.

Rates follow ARCHITECTURE.md §4: false alerts per face seen and the share of alerts that were
wrong, each with a 95% Clopper-Pearson interval.
"""

from __future__ import annotations

import csv
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from openlfr.errors import InputError
from openlfr.eval.intervals import clopper_pearson

REQUIRED = ("source_document", "location", "date", "total_alerts", "faces_seen")
"""Columns without which the file cannot be read."""

_COMMON_NOTE_MIN_ROWS = 5
"""A note fragment on at least this many rows of a year is reported once for the year."""


@dataclass(frozen=True)
class Irregularity:
    kind: str
    detail: str
    date: str | None = None
    location: str | None = None
    line: int | None = None


def _irregular_row(p: Irregularity) -> dict[str, Any]:
    """An irregularity as a year summary lists it."""
    return {"kind": p.kind, "date": p.date, "location": p.location, "line": p.line, "detail": p.detail}


@dataclass(frozen=True)
class PublishedReport:
    """A force's published deployment records aggregated per calendar year and over all years."""

    source: str
    rows: int
    first_date: str
    last_date: str
    years: dict[str, dict[str, Any]]
    """Per year: deployments, faces seen, alerts (true, false), arrests, both error rates with their intervals,
    notes and irregularities."""
    all: dict[str, Any]
    """The same over every year (without the irregularities)."""
    definitions: dict[str, str]


@dataclass
class Row:
    line: int
    source: str
    location: str
    day: date
    date_as_printed: str
    duration_minutes: int | None
    purpose: str
    watchlist_size: int | None
    threshold: float | None
    total_alerts: int | None
    true_confirmed: int | None
    true_unconfirmed: int | None
    false_confirmed: int | None
    false_unconfirmed: int | None
    true_2020_22: int | None
    false_2020_22: int | None
    arrests_or_disposals_2020_22: int | None
    arrests: int | None
    other_disposals: int | None
    no_action: int | None
    faces_seen: int | None
    rate_printed: str
    notes: str
    combined_other: bool = False
    """True when this grid's "Other Disposal" and "No Action" hold one combined figure."""
    problems: list[Irregularity] = field(default_factory=list)

    @property
    def has_split(self) -> bool:
        return any(
            v is not None
            for v in (self.true_confirmed, self.true_unconfirmed, self.false_confirmed, self.false_unconfirmed)
        )

    @property
    def true_alerts(self) -> int | None:
        if self.has_split:
            return (self.true_confirmed or 0) + (self.true_unconfirmed or 0)
        return self.true_2020_22

    @property
    def false_alerts(self) -> int | None:
        if self.has_split:
            return (self.false_confirmed or 0) + (self.false_unconfirmed or 0)
        return self.false_2020_22

    @property
    def has_figures(self) -> bool:
        return self.total_alerts is not None or self.faces_seen is not None

    def irregular(self, kind: str, detail: str) -> None:
        self.problems.append(Irregularity(kind, detail, self.day.isoformat(), self.location, self.line))


def _int(row: Row | None, raw: str, column: str, problems: list[str]) -> int | None:
    text = (raw or "").strip().replace(",", "")
    if text == "" or text.upper() in ("N/A", "NA", "-"):
        return None
    try:
        return int(text)
    except ValueError:
        try:
            f = float(text)
        except ValueError:
            problems.append(f"{column}: {raw!r} is not a number; treated as missing")
            return None
        if f.is_integer():
            return int(f)
        problems.append(f"{column}: {raw!r} is not a whole number; treated as missing")
        return None


def _float(raw: str, column: str, problems: list[str]) -> float | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        problems.append(f"{column}: {raw!r} is not a number; treated as missing")
        return None


def read_rows(path: Path) -> list[Row]:
    """Parse the file; a row without a readable date is an error naming its line."""
    if not path.is_file():
        raise InputError(f"{path}: no such file", code="not_found")
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(
                f"{path}: missing column(s) {', '.join(missing)}; expected the layout of met_lfr_deployments.csv",
                code="bad_columns",
            )
        rows: list[Row] = []
        for rec in reader:
            line = reader.line_num
            try:
                day = date.fromisoformat((rec.get("date") or "").strip())
            except ValueError:
                raise InputError(
                    f"{path}, line {line}: date {rec.get('date')!r} is not an ISO date (YYYY-MM-DD)", code="bad_date"
                ) from None
            probs: list[str] = []

            def num(col: str, probs: list[str] = probs, rec: dict[str, str] = rec) -> int | None:
                return _int(None, rec.get(col, ""), col, probs)

            r = Row(
                line=line,
                source=(rec.get("source_document") or "").strip(),
                location=(rec.get("location") or "").strip(),
                day=day,
                date_as_printed=(rec.get("date_as_printed") or "").strip(),
                duration_minutes=num("duration_minutes"),
                purpose=(rec.get("purpose") or "").strip(),
                watchlist_size=num("watchlist_size"),
                threshold=_float(rec.get("threshold", ""), "threshold", probs),
                total_alerts=num("total_alerts"),
                true_confirmed=num("true_alerts_confirmed"),
                true_unconfirmed=num("true_alerts_unconfirmed"),
                false_confirmed=num("false_alerts_confirmed"),
                false_unconfirmed=num("false_alerts_unconfirmed"),
                true_2020_22=num("true_alerts_2020_22"),
                false_2020_22=num("false_alerts_2020_22"),
                arrests_or_disposals_2020_22=num("arrests_or_disposals_2020_22"),
                arrests=num("arrests"),
                other_disposals=num("other_disposals"),
                no_action=num("no_action"),
                faces_seen=num("faces_seen"),
                rate_printed=(rec.get("false_alert_rate_published") or "").strip(),
                notes=(rec.get("notes") or "").strip(),
            )
            for p in probs:
                r.irregular("unreadable_value", p)
            rows.append(r)
    return rows


def _printed_year(printed: str) -> int | None:
    m = re.fullmatch(r"\s*\d{1,2}/\d{1,2}/(\d{2}|\d{4})\s*", printed)
    if not m:
        return None
    y = int(m.group(1))
    return y + 2000 if y < 100 else y


def _rate_consistent(printed: str, false_alerts: int, faces: int) -> bool | None:
    m = re.fullmatch(r"\s*(\d+(?:\.(\d+))?)\s*%\s*", printed)
    if not m or faces <= 0:
        return None
    value = float(m.group(1))
    decimals = len(m.group(2) or "")
    computed = 100.0 * false_alerts / faces
    # The grids round inconsistently (up, down, to varying places): accept anything within one unit
    # of the last printed decimal place.
    return abs(computed - value) < 10.0 ** (-decimals) + 1e-12


def _check_row(r: Row) -> None:
    """Mark the row's own irregularities: no figures, a corrected date, totals or rates that disagree."""
    if not r.has_figures:
        r.irregular(
            "no_figures", "no results printed (e.g. stopped by a fault): counted as a deployment, adds no figures"
        )
        return
    py = _printed_year(r.date_as_printed)
    if py is not None and py != r.day.year:
        r.irregular(
            "date_corrected", f"printed {r.date_as_printed!r}; the file's corrected date {r.day.isoformat()} is used"
        )
    t, fa = r.true_alerts, r.false_alerts
    if r.total_alerts is not None and t is not None and fa is not None and t + fa != r.total_alerts:
        r.irregular(
            "alerts_total_mismatch",
            f"printed total {r.total_alerts} but true {t} + false {fa} = {t + fa}; 'alerts' keeps the printed total",
        )
    if r.total_alerts is not None and t is None and fa is None:
        r.irregular("no_true_false_split", "total alerts printed without true/false figures")
    if r.faces_seen is not None and fa is not None and r.rate_printed:
        ok = _rate_consistent(r.rate_printed, fa, r.faces_seen)
        if ok is False:
            r.irregular(
                "published_rate_mismatch",
                f"printed false-alert rate {r.rate_printed} but {fa} / {r.faces_seen:,} faces = "
                f"{100.0 * fa / r.faces_seen:.4f}%; rates here are computed from the counts",
            )
        elif ok is None:
            r.irregular("unreadable_value", f"false_alert_rate_published {r.rate_printed!r} unreadable")


def _check_source(source: str, rs: list[Row]) -> Irregularity | None:
    """Checks across one source's rows: outcomes that exceed the confirmed true alerts, and 'Other Disposal' and
    'No Action' columns identical throughout (then read as one combined figure); returns the file-level note."""
    both = [r for r in rs if r.other_disposals is not None and r.no_action is not None]
    combined = bool(both) and len(both) >= 3 and all(r.other_disposals == r.no_action for r in both)
    for r in rs:
        outcomes = [r.arrests, r.other_disposals, r.no_action]
        if combined or r.true_confirmed is None or any(v is None for v in outcomes):
            continue
        total = sum(v for v in outcomes if v is not None)
        if total > r.true_confirmed:
            r.irregular(
                "outcomes_exceed_true_alerts",
                f"arrests {r.arrests} + other {r.other_disposals} + no action {r.no_action} = "
                f"{total} > {r.true_confirmed} confirmed true alerts",
            )
    if not combined:
        return None
    for r in rs:
        r.no_action = None  # read other_disposals as one combined "other disposal or no action"
        r.combined_other = True
    return Irregularity(
        "other_and_no_action_identical",
        f"{source!r}: 'Other Disposal' and 'No Action' are identical on all {len(both)} rows; "
        "read as one combined 'other disposal or no action' figure (not added together; "
        "no_action is null)",
    )


def _check_rows(rows: list[Row]) -> list[Irregularity]:
    """Row-level checks plus checks that need the whole file; returns file-level notes."""
    by_source: dict[str, list[Row]] = {}
    for r in rows:
        by_source.setdefault(r.source, []).append(r)
        _check_row(r)
    notes = (_check_source(source, rs) for source, rs in by_source.items())
    return [n for n in notes if n is not None]


def _ci(k: int, n: int) -> list[float] | None:
    ci = clopper_pearson(k, n)
    return None if ci is None else [ci[0], ci[1]]


def _arrests(with_fig: list[Row], notes: list[str]) -> int | None:
    """Arrests summed over the rows that give them (``None`` when none does), noting rows without."""
    arrest_rows = [r for r in with_fig if r.arrests is not None]
    arrests: int | None = sum(r.arrests or 0 for r in arrest_rows) if arrest_rows else None
    if with_fig and len(arrest_rows) < len(with_fig):
        missing = len(with_fig) - len(arrest_rows)
        if arrest_rows:
            notes.append(f"arrests missing on {missing} of {len(with_fig)} rows with figures; the sum covers the rest")
        else:
            notes.append(
                "this grid gives no separate arrest figure (arrests is null); see arrests_or_disposals_combined"
            )
    return arrests


def _outcomes(with_fig: list[Row]) -> dict[str, Any]:
    """Outcome columns summed where the rows give them (``None`` where no row does)."""
    split_rows = [r for r in with_fig if r.has_split]
    combined_rows = [r for r in with_fig if r.combined_other]
    other_rows = [r for r in with_fig if r.other_disposals is not None and not r.combined_other]
    no_action_rows = [r for r in with_fig if r.no_action is not None]
    comb_2020 = [r for r in with_fig if r.arrests_or_disposals_2020_22 is not None]
    return {
        "true_alerts_confirmed": sum(r.true_confirmed or 0 for r in split_rows) if split_rows else None,
        "true_alerts_unconfirmed": sum(r.true_unconfirmed or 0 for r in split_rows) if split_rows else None,
        "other_disposals": sum(r.other_disposals or 0 for r in other_rows) if other_rows else None,
        "no_action": sum(r.no_action or 0 for r in no_action_rows) if no_action_rows else None,
        "other_disposal_or_no_action": sum(r.other_disposals or 0 for r in combined_rows) if combined_rows else None,
        "arrests_or_disposals_combined": sum(r.arrests_or_disposals_2020_22 or 0 for r in comb_2020)
        if comb_2020
        else None,
    }


def _row_notes(year_rows: list[Row]) -> tuple[list[str], list[dict[str, Any]]]:
    """Row notes from the file: a part shared by many rows once for the year (as notes), the rest per row (as
    irregularities, with each row's own problems)."""
    fragments: Counter[str] = Counter()
    for r in year_rows:
        for frag in {p.strip() for p in r.notes.split("; ") if p.strip()}:
            fragments[frag] += 1
    many = min(_COMMON_NOTE_MIN_ROWS, max(2, len(year_rows)))
    common: Counter[str] = Counter()
    irregular: list[dict[str, Any]] = []
    for r in year_rows:
        irregular.extend(_irregular_row(p) for p in r.problems)
        parts = [p.strip() for p in r.notes.split("; ") if p.strip()]
        shared = "; ".join(p for p in parts if fragments[p] >= many)
        own = "; ".join(p for p in parts if fragments[p] < many)
        if shared:
            common[shared] += 1
        if own:
            irregular.append(_irregular_row(Irregularity("source_note", own, r.day.isoformat(), r.location, r.line)))
    return [f"file note on {n} rows: {text}" for text, n in common.items()], irregular


def _year_summary(year_rows: list[Row], file_notes: list[Irregularity]) -> dict[str, Any]:
    with_fig = [r for r in year_rows if r.has_figures]
    faces = sum(r.faces_seen or 0 for r in with_fig)
    alerts = sum(r.total_alerts or 0 for r in with_fig)
    true = sum(r.true_alerts or 0 for r in with_fig)
    false = sum(r.false_alerts or 0 for r in with_fig)
    notes: list[str] = ["faces_seen are the force's own estimates, not counts"]
    arrests = _arrests(with_fig, notes)
    durations = [r.duration_minutes for r in year_rows if r.duration_minutes is not None]
    sizes = sorted(r.watchlist_size for r in year_rows if r.watchlist_size is not None)
    thresholds = Counter(r.threshold for r in year_rows if r.threshold is not None)
    outcomes = _outcomes(with_fig)
    out: dict[str, Any] = {
        "deployments": len(year_rows),
        "deployments_with_figures": len(with_fig),
        "faces_seen": faces,
        "alerts": alerts,
        "true_alerts": true,
        "false_alerts": false,
        "arrests": arrests,
        "false_alerts_per_face": (false / faces) if faces else None,
        "false_alerts_per_face_ci": _ci(false, faces) if faces else None,
        "share_of_alerts_wrong": (false / alerts) if alerts else None,
        "share_of_alerts_wrong_ci": _ci(min(false, alerts), alerts) if alerts else None,
        "faces_per_false_alert": round(faces / false) if false else None,
        "true_alerts_confirmed": outcomes.pop("true_alerts_confirmed"),
        "true_alerts_unconfirmed": outcomes.pop("true_alerts_unconfirmed"),
        "alerts_from_true_false_columns": true + false,
        **outcomes,
        "duration_hours": round(sum(durations) / 60.0, 2) if durations else None,
        "deployments_without_duration": len(year_rows) - len(durations),
        "watchlist_size": {"min": sizes[0], "median": statistics.median(sizes), "max": sizes[-1]} if sizes else None,
        "thresholds": {str(k): v for k, v in sorted(thresholds.items())},
        "purposes": dict(Counter(r.purpose for r in year_rows if r.purpose).most_common()),
    }
    if not faces:
        out["false_alerts_per_face_reason"] = "no faces seen reported"
    if not alerts:
        out["share_of_alerts_wrong_reason"] = "no alerts"
    if alerts != true + false:
        notes.append(
            f"alerts (printed totals) = {alerts}, but the true/false columns sum to {true + false}; "
            "share_of_alerts_wrong uses the printed total"
        )
    sources = {r.source for r in year_rows}
    notes.extend(n.detail for n in file_notes if any(repr(s) in n.detail for s in sources))
    common, irregular = _row_notes(year_rows)
    out["notes"] = notes + common
    out["irregularities"] = irregular
    return out


def published_report(path: Path) -> PublishedReport:
    """The records in ``path`` (the layout of met_lfr_deployments.csv) per year and in all."""
    rows = read_rows(path)
    if not rows:
        raise InputError(f"{path}: no rows", code="empty_file")
    file_notes = _check_rows(rows)
    years: dict[str, list[Row]] = {}
    for r in sorted(rows, key=lambda r: (r.day, r.line)):
        years.setdefault(str(r.day.year), []).append(r)
    out_years = {y: _year_summary(rs, file_notes) for y, rs in sorted(years.items())}
    total = _year_summary(rows, file_notes)
    total.pop("irregularities")
    return PublishedReport(
        source=str(path),
        rows=len(rows),
        first_date=min(r.day for r in rows).isoformat(),
        last_date=max(r.day for r in rows).isoformat(),
        years=out_years,
        all=total,
        definitions={
            "false_alerts_per_face": "false alerts / faces seen (the force's 'false alert rate')",
            "share_of_alerts_wrong": "false alerts / alerts (1 - precision)",
            "ci": "95% Clopper-Pearson interval",
            "year": "calendar year of the row's date (the file's corrected date where it differs from print)",
        },
    )
