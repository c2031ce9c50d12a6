"""Transparency reports: one deployment, or every deployment of a period.

Columns follow what the Metropolitan Police publish (location, date, duration, purpose, watchlist
size, threshold, faces seen, total/true/false alerts, engagement outcomes) plus, per
ARCHITECTURE.md §4, both error rates with 95% Clopper-Pearson intervals:

- ``false_alerts_per_face`` = false alerts / faces seen (the police's "false alert rate");
- ``share_of_alerts_wrong`` = false alerts / adjudicated alerts (1 - precision; the critics' figure).
  Unadjudicated alerts are counted and shown, never guessed.

Plus quality-gate rejections and the time cameras were live. Reports hold no face images and no
identities (no person ids): they are for publication. Output: JSON, CSV, or printable HTML with
matplotlib charts embedded as PNG.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from openlfr.errors import InputError
from openlfr.eval.intervals import clopper_pearson
from openlfr.services.context import AppContext
from openlfr.services.csv_safe import write_csv
from openlfr.services.deployments import as_utc, get_deployment
from openlfr.services.numbers import fmt_rate, fmt_threshold, operating_point_text
from openlfr.services.stats import deployment_stats
from openlfr.storage import audit
from openlfr.storage.models_gov import OUTCOMES, Deployment
from openlfr.storage.repos.deployments import DeploymentRepo
from openlfr.storage.repos.reports import ReportQueries

RATE_CSV_COLUMNS = (
    "false_alerts_per_face",
    "false_alerts_per_face_ci_low",
    "false_alerts_per_face_ci_high",
    "share_of_alerts_wrong",
    "share_of_alerts_wrong_ci_low",
    "share_of_alerts_wrong_ci_high",
)
"""The two rates and their 95% intervals as CSV columns (reports and the public feed)."""

CSV_COLUMNS = (
    "id",
    "name",
    "state",
    "location",
    "latitude",
    "longitude",
    "date",
    "planned_start",
    "planned_end",
    "started_at",
    "ended_at",
    "duration_minutes",
    "purpose",
    "legal_basis",
    "authorising_officer",
    "watchlist_size",
    "threshold",
    "cameras",
    "camera_live_minutes",
    "faces_seen",
    "quality_rejected",
    "alerts",
    "true_alerts",
    "false_alerts",
    "unadjudicated",
    "arrest",
    "other_disposal",
    "no_action",
    "not_engaged",
    *RATE_CSV_COLUMNS,
    "target_fpir",
    "threshold_chosen_by",
    "expected_false_alerts_per_10000",
    "expected_tpir",
    "calibration",
    "justification",
)


def threshold_how(r: dict[str, Any]) -> str:
    """How a deployment's threshold was chosen, in words (reports)."""
    op = r.get("operating_point") or {}
    src = r.get("threshold_chosen_by")
    if src == "target_fpir":
        cal = op.get("calibration") or {}
        return (
            f"from target FPIR {fmt_rate(r['target_fpir'])} per face seen at {r['watchlist_size']:,} people, using "
            f"the calibration {cal.get('file') or cal.get('family') or '?'}"
        )
    if src == "override":
        return "explicit threshold (override of the target FPIR)"
    if src == "model_default":
        return "the model's fixed default"
    return "fixed at authorisation" if r.get("threshold") is None else "not recorded"


def parse_when(text: str, end: bool = False) -> datetime:
    """An ISO date (a whole day; with ``end`` the day after, exclusive) or date-time (UTC if naive)."""
    text = text.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            dt = datetime.combine(d, time(0), tzinfo=UTC)
            return dt + timedelta(days=1) if end else dt
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{text!r} is not an ISO date (YYYY-MM-DD) or date-time", code="bad_date") from None
    except OverflowError:  # 9999-12-31 as an end: the day after does not exist
        raise InputError(f"{text!r} is out of the supported range of dates", code="bad_date") from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


@dataclass(frozen=True)
class ErrorRates:
    """Both error rates with their 95% Clopper-Pearson intervals; a rate is None with a reason when undefined."""

    false_alerts_per_face: float | None
    false_alerts_per_face_ci: list[float] | None
    faces_per_false_alert: int | None
    share_of_alerts_wrong: float | None
    share_of_alerts_wrong_ci: list[float] | None
    false_alerts_per_face_reason: str | None = None
    share_of_alerts_wrong_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of a report row: each rate, its interval, and its reason only when it is undefined."""
        out: dict[str, Any] = {
            "false_alerts_per_face": self.false_alerts_per_face,
            "false_alerts_per_face_ci": self.false_alerts_per_face_ci,
            "faces_per_false_alert": self.faces_per_false_alert,
        }
        if self.false_alerts_per_face_reason is not None:
            out["false_alerts_per_face_reason"] = self.false_alerts_per_face_reason
        out["share_of_alerts_wrong"] = self.share_of_alerts_wrong
        out["share_of_alerts_wrong_ci"] = self.share_of_alerts_wrong_ci
        if self.share_of_alerts_wrong_reason is not None:
            out["share_of_alerts_wrong_reason"] = self.share_of_alerts_wrong_reason
        return out


def rates(faces_seen: int, true_alerts: int, false_alerts: int) -> ErrorRates:
    """Both error rates with 95% Clopper-Pearson intervals (None with a reason when undefined)."""
    fpf: float | None = None
    fpf_ci: list[float] | None = None
    per_false: int | None = None
    fpf_why: str | None = None
    if faces_seen > 0 and false_alerts <= faces_seen:
        ci = clopper_pearson(false_alerts, faces_seen)
        fpf, fpf_ci = false_alerts / faces_seen, (list(ci) if ci else None)
        per_false = round(faces_seen / false_alerts) if false_alerts else None
    else:
        fpf_why = (
            "no faces seen recorded" if faces_seen <= 0 else "more false alerts than faces seen (counters incomplete)"
        )
    adjudicated = true_alerts + false_alerts
    share: float | None = None
    share_ci: list[float] | None = None
    share_why: str | None = None
    if adjudicated > 0:
        ci = clopper_pearson(false_alerts, adjudicated)
        share, share_ci = false_alerts / adjudicated, (list(ci) if ci else None)
    else:
        share_why = "no adjudicated alerts"
    return ErrorRates(fpf, fpf_ci, per_false, share, share_ci, fpf_why, share_why)


def _iso(dt: datetime | None) -> str | None:
    d = as_utc(dt)
    return None if d is None else d.isoformat()


def _time_fields(dep: Deployment, st: dict[str, Any]) -> dict[str, Any]:
    """The deployment's date, planned and actual times, and how long it ran: camera time (how long the cameras
    were live), not only the wall clock between start and end."""
    started, ended = as_utc(dep.started_at), as_utc(dep.ended_at)
    live_s = st.get("deployment_live_seconds")
    duration = None if started is None or live_s is None else round(float(live_s) / 60, 1)
    wall = None if started is None else round(((ended or datetime.now(UTC)) - started).total_seconds() / 60, 1)
    return {
        "date": (started or as_utc(dep.planned_start)).date().isoformat(),  # type: ignore[union-attr]
        "planned_start": _iso(dep.planned_start),
        "planned_end": _iso(dep.planned_end),
        "started_at": _iso(dep.started_at),
        "ended_at": _iso(dep.ended_at),
        "duration_minutes": duration,
        "wall_clock_minutes": wall,
    }


def _operating_point_fields(dep: Deployment) -> dict[str, Any]:
    """The operating point the deployment was authorised with and what it was expected to give."""
    op = dep.operating_point or {}
    return {
        "watchlist_size": dep.watchlist_size,
        "threshold": dep.threshold,
        "target_fpir": dep.target_fpir,
        "threshold_chosen_by": dep.threshold_source,
        "expected_false_alerts_per_10000": op.get("expected_false_alerts_per_10000"),
        "expected_tpir": op.get("expected_tpir"),
        "calibration": (op.get("calibration") or {}).get("file"),
        "operating_point": dep.operating_point,
        "justification": dep.justification or None,
    }


def _count_fields(st: dict[str, Any]) -> dict[str, Any]:
    """The deployment's counts: faces, frames, alerts and their adjudication and outcomes, per camera."""
    return {
        "faces_seen": st["faces_seen"],
        "quality_rejected": st["quality_rejected"],
        "frames_analysed": st.get("frames_analysed", 0),
        "alerts": st["alerts"],
        "true_alerts": st["true_alerts"],
        "false_alerts": st["false_alerts"],
        "unadjudicated": st["unadjudicated"],
        "outcomes": dict(st["outcomes"]),
        "outcomes_true_alerts": dict(st.get("outcomes_true_alerts", {})),
        "outcomes_false_alerts": dict(st.get("outcomes_false_alerts", {})),
        "per_camera": st.get("per_camera", {}),
    }


def _timeline(s: Any, dep: Deployment) -> list[dict[str, Any]]:
    """The deployment's alerts in time order: when, which camera, score, verdict and outcome."""
    return [
        {
            "occurred_at": _iso(at),
            "camera": cam,
            "score": round(float(score), 4),
            "verdict": verdict,
            "outcome": outcome,
        }
        for at, cam, score, verdict, outcome in ReportQueries(s).alert_timeline(dep.id)
    ]


def _row(s: Any, dep: Deployment) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    frozen = dep.state == "ended" and dep.stats is not None
    st = dep.stats if frozen else deployment_stats(s, dep).to_dict()
    assert st is not None
    cam_live = {k: (None if v is None else round(v / 60, 1)) for k, v in st.get("camera_live_seconds", {}).items()}
    row: dict[str, Any] = {
        **dep.heading(),
        **_time_fields(dep, st),
        "purpose": dep.purpose,
        "legal_basis": dep.legal_basis,
        "authorising_officer": dep.authorising_officer,
        **_operating_point_fields(dep),
        "cameras": [c.name for c in dep.cameras],
        "camera_live_minutes": cam_live,
        **_count_fields(st),
        "statistics_frozen": frozen,
        "operating_point_text": operating_point_text(
            {
                "threshold": dep.threshold,
                "threshold_source": dep.threshold_source,
                "target_fpir": dep.target_fpir,
                "watchlist_size": dep.watchlist_size,
            }
        ),
        **rates(st["faces_seen"], st["true_alerts"], st["false_alerts"]).to_dict(),
    }
    return row, _timeline(s, dep)


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    live = [r for r in rows if r["started_at"] is not None]
    t: dict[str, Any] = {"deployments": len(live), "not_started": len(rows) - len(live)}
    for k in ("faces_seen", "quality_rejected", "alerts", "true_alerts", "false_alerts", "unadjudicated"):
        t[k] = sum(int(r[k] or 0) for r in live)
    t["outcomes"] = {o: sum(int(r["outcomes"].get(o, 0)) for r in live) for o in OUTCOMES}
    t["duration_minutes"] = round(sum(r["duration_minutes"] or 0 for r in live), 1)
    t.update(rates(t["faces_seen"], t["true_alerts"], t["false_alerts"]).to_dict())
    return t


@dataclass(frozen=True)
class Report:
    kind: str
    title: str
    generated_at: str
    period_from: str | None
    period_to: str | None
    deployments: list[dict[str, Any]]
    totals: dict[str, Any]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "generated_at": self.generated_at,
            "period": {"from": self.period_from, "to": self.period_to},
            "deployments": self.deployments,
            "totals": self.totals,
            "alerts": self.alerts,
            "notes": self.notes,
            "definitions": {
                "faces_seen": "people tracked past the cameras (one track = one face seen)",
                "false_alerts_per_face": "false alerts / faces seen",
                "share_of_alerts_wrong": "false alerts / adjudicated alerts (1 - precision)",
                "ci": "95% Clopper-Pearson interval",
            },
        }


def _notes(rows: list[dict[str, Any]]) -> list[str]:
    notes = []
    pending = sum(r["unadjudicated"] for r in rows)
    if pending:
        notes.append(f"{pending} alert(s) not yet adjudicated: excluded from share_of_alerts_wrong")
    running = [r["id"] for r in rows if r["state"] == "live"]
    if running:
        notes.append(f"deployment(s) {', '.join(map(str, running))} still live: figures are provisional")
    return notes


def deployment_report(ctx: AppContext, ref: int | str, actor: str | None = None) -> Report:
    with ctx.db.session() as s:
        dep = get_deployment(s, ref)
        row, timeline = _row(s, dep)
        if actor:
            audit.record(s, actor, "report.generate", "deployment", dep.id, {"kind": "deployment"})
    return Report(
        kind="deployment",
        title=f"Deployment {dep.id}: {dep.name}",
        generated_at=datetime.now(UTC).isoformat(),
        period_from=row["started_at"],
        period_to=row["ended_at"],
        deployments=[row],
        totals=_totals([row]),
        alerts=timeline,
        notes=_notes([row]),
    )


def period_report(ctx: AppContext, start: datetime, end: datetime, actor: str | None = None) -> Report:
    """Deployments whose actual (or, if never started, planned) start is in ``[start, end)``."""
    start, end = as_utc(start), as_utc(end)  # type: ignore[assignment]
    if end <= start:
        raise InputError("the period's end must be after its start", code="bad_period")
    with ctx.db.session() as s:
        rows = []
        for dep in DeploymentRepo(s).past_draft():
            when = as_utc(dep.started_at) or as_utc(dep.planned_start)
            assert when is not None
            if start <= when < end:
                rows.append(_row(s, dep)[0])
        if actor:
            audit.record(
                s,
                actor,
                "report.generate",
                "period",
                f"{start.isoformat()}/{end.isoformat()}",
                {"kind": "period", "deployments": [r["id"] for r in rows]},
            )
    return Report(
        kind="period",
        title=f"Deployments {start.date().isoformat()} to {(end - timedelta(microseconds=1)).date().isoformat()}",
        generated_at=datetime.now(UTC).isoformat(),
        period_from=start.isoformat(),
        period_to=end.isoformat(),
        deployments=rows,
        totals=_totals(rows),
        notes=_notes(rows),
    )


# ---------------------------------------------------------------- CSV


def _csv_values(r: dict[str, Any]) -> list[Any]:
    fa_ci = r.get("false_alerts_per_face_ci") or [None, None]
    sw_ci = r.get("share_of_alerts_wrong_ci") or [None, None]
    out = {
        **r,
        "cameras": ";".join(r.get("cameras", [])),
        "camera_live_minutes": ";".join(
            f"{k}={'' if v is None else v}" for k, v in r.get("camera_live_minutes", {}).items()
        ),
        **{o: r["outcomes"].get(o, 0) for o in OUTCOMES},
        "false_alerts_per_face_ci_low": fa_ci[0],
        "false_alerts_per_face_ci_high": fa_ci[1],
        "share_of_alerts_wrong_ci_low": sw_ci[0],
        "share_of_alerts_wrong_ci_high": sw_ci[1],
    }
    return ["" if out.get(c) is None else out.get(c) for c in CSV_COLUMNS]


def to_csv(rep: Report) -> str:
    """The report as CSV; text cells a spreadsheet would run as formulas are escaped (``csv_safe``)."""
    rows = [_csv_values(r) for r in rep.deployments]
    if rep.kind == "period":
        t = rep.totals
        total = {c: "" for c in CSV_COLUMNS}
        total.update(
            {"id": "TOTAL", "name": f"{t['deployments']} deployments", "duration_minutes": t["duration_minutes"]}
        )
        for k in ("faces_seen", "quality_rejected", "alerts", "true_alerts", "false_alerts", "unadjudicated"):
            total[k] = t[k]
        total.update({o: t["outcomes"][o] for o in OUTCOMES})
        for k in ("false_alerts_per_face", "share_of_alerts_wrong"):
            total[k] = "" if t[k] is None else t[k]
            ci = t.get(f"{k}_ci") or ["", ""]
            total[f"{k}_ci_low"], total[f"{k}_ci_high"] = ci[0], ci[1]
        rows.append([total[c] for c in CSV_COLUMNS])
    return write_csv(CSV_COLUMNS, rows)


# ---------------------------------------------------------------- HTML


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _camera_chart(plt: Any, r: dict[str, Any], cams: list[str]) -> str:
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 2.8))
    faces = [r["per_camera"].get(c, {}).get("faces_seen", 0) for c in cams]
    alerts = [r["per_camera"].get(c, {}).get("alerts", 0) for c in cams]
    x = range(len(cams))
    ax.bar([i - 0.2 for i in x], faces, 0.4, label="faces seen", color="#4c72b0")
    ax2 = ax.twinx()
    ax2.bar([i + 0.2 for i in x], alerts, 0.4, label="alerts", color="#dd8452")
    ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xticks(list(x), cams)
    ax.set_ylabel("faces seen")
    ax2.set_ylabel("alerts")
    ax.set_title("Per camera")
    fig.legend(loc="upper right", fontsize=8)
    return _png(fig)


def _alerts_over_time_chart(plt: Any, rep: Report, threshold: float | None) -> str:
    fig, ax = plt.subplots(figsize=(7, 2.8))
    colours = {"true": "#55a868", "false": "#c44e52", None: "#8c8c8c"}
    labels = {"true": "true alert", "false": "false alert", None: "not adjudicated"}
    for verdict in ("true", "false", None):
        pts = [a for a in rep.alerts if a["verdict"] == verdict]
        if pts:
            when: Any = [datetime.fromisoformat(a["occurred_at"]) for a in pts]
            ax.scatter(when, [a["score"] for a in pts], color=colours[verdict], label=labels[verdict], s=18)
    if threshold is not None:
        ax.axhline(threshold, color="black", lw=0.8, ls="--", label="threshold")
    ax.set_ylabel("score")
    ax.set_title("Alerts over time")
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    return _png(fig)


def _per_deployment_charts(plt: Any, rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    from matplotlib.ticker import MaxNLocator

    names = [f"{r['id']}" for r in rows]
    fig, ax = plt.subplots(figsize=(7.5, 3))
    t = [r["true_alerts"] for r in rows]
    f = [r["false_alerts"] for r in rows]
    u = [r["unadjudicated"] for r in rows]
    ax.bar(names, t, color="#55a868", label="true")
    ax.bar(names, f, bottom=t, color="#c44e52", label="false")
    ax.bar(names, u, bottom=[a + b for a, b in zip(t, f, strict=True)], color="#8c8c8c", label="not adjudicated")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("deployment id")
    ax.set_ylabel("alerts")
    ax.set_title("Alerts per deployment")
    ax.legend(fontsize=8)
    out = [("Alerts per deployment", _png(fig))]
    fig, ax = plt.subplots(figsize=(7.5, 3))
    ax.bar(names, [r["faces_seen"] for r in rows], color="#4c72b0")
    ax.set_xlabel("deployment id")
    ax.set_ylabel("faces seen")
    ax.set_title("Faces seen per deployment")
    out.append(("Faces seen per deployment", _png(fig)))
    return out


def _false_alert_ci_chart(plt: Any, ci_rows: list[dict[str, Any]]) -> str:
    fig, ax = plt.subplots(figsize=(7.5, 2.8))
    xs = [str(r["id"]) for r in ci_rows]
    ys = [float(r["false_alerts_per_face"]) for r in ci_rows]
    lo = [y - r["false_alerts_per_face_ci"][0] for y, r in zip(ys, ci_rows, strict=True)]
    hi = [r["false_alerts_per_face_ci"][1] - y for y, r in zip(ys, ci_rows, strict=True)]
    ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", color="#4c72b0", capsize=3)
    ax.set_xlabel("deployment id")
    ax.set_ylabel("false alerts per face")
    ax.set_title("False alerts per face seen, with 95% Clopper-Pearson intervals")
    return _png(fig)


def _charts(rep: Report) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts: list[tuple[str, str]] = []
    rows = rep.deployments
    if rep.kind == "deployment" and rows:
        r = rows[0]
        cams = list(r["per_camera"]) or r["cameras"]
        if cams:
            charts.append(("Faces seen and alerts per camera", _camera_chart(plt, r, cams)))
        if rep.alerts:
            charts.append(("Alerts over time, by verdict", _alerts_over_time_chart(plt, rep, r["threshold"])))
    elif rows:
        charts.extend(_per_deployment_charts(plt, rows))
    ci_rows = [r for r in rows if r["false_alerts_per_face_ci"]]
    if ci_rows:
        charts.append(("False alerts per face seen (95% CI)", _false_alert_ci_chart(plt, ci_rows)))
    return charts


def _fmt_rate(x: float | None, ci: list[float] | None) -> str:
    if x is None:
        return "n/a"
    txt = f"{100 * x:.4g}%"
    if ci:
        txt += f" <span class=ci>(95% CI {100 * ci[0]:.3g}% to {100 * ci[1]:.3g}%)</span>"
    return txt


def _e(v: Any) -> str:
    return "&ndash;" if v is None or v == "" else html.escape(str(v))


_CSS = """
body{font-family:Georgia,'DejaVu Serif',serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#111}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;border-bottom:1px solid #999;margin-top:1.8rem}
table{border-collapse:collapse;width:100%;font-size:.85rem;margin:.6rem 0}
th,td{border:1px solid #bbb;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#eee} td.n{text-align:right;font-variant-numeric:tabular-nums}
.ci{color:#444;font-size:.8em} .meta{color:#444;font-size:.9rem} figure{margin:1rem 0;page-break-inside:avoid}
figure img{max-width:100%} figcaption{font-size:.85rem;color:#333}
.key{display:grid;grid-template-columns:16rem 1fr;gap:.15rem 1rem;font-size:.92rem}
@media print{body{margin:0;max-width:none;font-size:10pt} h2{page-break-after:avoid}
 table,figure,.key{page-break-inside:avoid} a{color:#000;text-decoration:none}}
"""


def _summary_html(rep: Report) -> list[str]:
    t = rep.totals
    parts = ["<h2>Summary</h2><div class=key>"]
    summary = [
        ("Deployments", t["deployments"]),
        ("Faces seen", f"{t['faces_seen']:,}"),
        ("Quality-gate rejections", f"{t['quality_rejected']:,}"),
        ("Alerts", t["alerts"]),
        ("True alerts", t["true_alerts"]),
        ("False alerts", t["false_alerts"]),
        ("Not yet adjudicated", t["unadjudicated"]),
        ("Outcomes", ", ".join(f"{o.replace('_', ' ')} {n}" for o, n in t["outcomes"].items())),
        ("Time live (minutes)", t["duration_minutes"]),
    ]
    for k, v in summary:
        parts.append(f"<div>{_e(k)}</div><div>{_e(v)}</div>")
    one_in = f" (1 in {t['faces_per_false_alert']:,})" if t.get("faces_per_false_alert") else ""
    parts.append(
        "<div>False alerts per face seen</div><div>"
        f"{_fmt_rate(t['false_alerts_per_face'], t['false_alerts_per_face_ci'])}{one_in}</div>"
    )
    parts.append(
        f"<div>Share of alerts that were wrong</div><div>"
        f"{_fmt_rate(t['share_of_alerts_wrong'], t['share_of_alerts_wrong_ci'])}</div></div>"
    )
    return parts


def _deployment_fields(r: dict[str, Any]) -> list[tuple[str, Any]]:
    coords = "" if r["latitude"] is None else f" ({r['latitude']:.6f}, {r['longitude']:.6f})"
    return [
        ("Location", f"{r['location']}{coords}"),
        ("Date", r["date"]),
        ("State", r["state"]),
        ("Planned window", f"{r['planned_start']} to {r['planned_end']}"),
        ("Live", f"{r['started_at'] or 'not started'} to {r['ended_at'] or '-'}"),
        ("Duration (minutes)", r["duration_minutes"]),
        ("Purpose", r["purpose"]),
        ("Legal basis", r["legal_basis"]),
        ("Authorising officer", r["authorising_officer"]),
        ("Watchlist size", r["watchlist_size"]),
        ("Threshold", r["operating_point_text"] or fmt_threshold(None)),
        ("Target FPIR per face seen", fmt_rate(r.get("target_fpir"))),
        ("Threshold chosen", threshold_how(r)),
        (
            "Expected false alerts per 10,000 faces (at authorisation)",
            "unknown"
            if r.get("expected_false_alerts_per_10000") is None
            else format(r["expected_false_alerts_per_10000"], ".3g"),
        ),
        (
            "Expected TPIR (at authorisation)",
            "unknown" if r.get("expected_tpir") is None else format(r["expected_tpir"], ".2f"),
        ),
        ("Justification (outside the safe band)", r.get("justification") or "none needed"),
        (
            "Cameras (minutes live)",
            ", ".join(
                f"{c} ({'n/a' if r['camera_live_minutes'].get(c) is None else r['camera_live_minutes'][c]})"
                for c in r["cameras"]
            ),
        ),
        ("Faces seen", f"{r['faces_seen']:,}"),
        ("Quality-gate rejections", f"{r['quality_rejected']:,}"),
        (
            "Alerts (true / false / not adjudicated)",
            f"{r['alerts']} ({r['true_alerts']} / {r['false_alerts']} / {r['unadjudicated']})",
        ),
        ("Outcomes", ", ".join(f"{o.replace('_', ' ')} {n}" for o, n in r["outcomes"].items())),
    ]


def _deployment_html(r: dict[str, Any]) -> list[str]:
    parts = [f"<h3>{_e(r['id'])}. {_e(r['name'])}</h3><div class=key>"]
    for k, v in _deployment_fields(r):
        parts.append(f"<div>{_e(k)}</div><div>{_e(v)}</div>")
    parts.append(
        "<div>False alerts per face seen</div><div>"
        f"{_fmt_rate(r['false_alerts_per_face'], r['false_alerts_per_face_ci'])}</div>"
    )
    parts.append(
        f"<div>Share of alerts that were wrong</div><div>"
        f"{_fmt_rate(r['share_of_alerts_wrong'], r['share_of_alerts_wrong_ci'])}</div></div>"
    )
    return parts


def _table_html(rows: list[dict[str, Any]]) -> list[str]:
    parts = [
        "<h2>Table</h2><table><tr><th>id</th><th>date</th><th>location</th><th>minutes</th>"
        "<th>watchlist</th><th>threshold</th><th>faces seen</th><th>alerts</th><th>true</th>"
        "<th>false</th><th>arrests</th><th>false per face</th><th>share wrong</th></tr>"
    ]
    for r in rows:
        parts.append(
            "<tr>"
            + "".join(f"<td>{_e(v)}</td>" for v in (r["id"], r["date"], r["location"]))
            + "".join(
                f"<td class=n>{_e(v)}</td>"
                for v in (
                    r["duration_minutes"],
                    r["watchlist_size"],
                    fmt_threshold(r["threshold"]),
                    r["faces_seen"],
                    r["alerts"],
                    r["true_alerts"],
                    r["false_alerts"],
                    r["outcomes"]["arrest"],
                )
            )
            + f"<td class=n>{_fmt_rate(r['false_alerts_per_face'], None)}</td>"
            f"<td class=n>{_fmt_rate(r['share_of_alerts_wrong'], None)}</td></tr>"
        )
    parts.append("</table>")
    return parts


def to_html(rep: Report) -> str:
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{_e(rep.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(rep.title)}</h1>",
        f"<p class=meta>OpenLFR transparency report, generated {_e(rep.generated_at[:19])} UTC. "
        "No face images or identities are included.</p>",
    ]
    if rep.kind == "period":
        parts.append(f"<p class=meta>Period: {_e(rep.period_from)} to {_e(rep.period_to)} (end exclusive).</p>")
    parts.extend(_summary_html(rep))
    for n in rep.notes:
        parts.append(f"<p class=meta>Note: {_e(n)}</p>")
    parts.append("<h2>Deployments</h2>")
    for r in rep.deployments:
        parts.extend(_deployment_html(r))
    if rep.kind == "period" and rep.deployments:
        parts.extend(_table_html(rep.deployments))
    charts = _charts(rep)
    if charts:
        parts.append("<h2>Charts</h2>")
        for caption, png in charts:
            parts.append(
                f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{png}">'
                f"<figcaption>{_e(caption)}</figcaption></figure>"
            )
    parts.append(
        "<h2>Definitions</h2><p class=meta>Faces seen: people tracked past the cameras (one track is one "
        "face seen). False alerts per face seen = false alerts / faces seen. Share of alerts that were "
        "wrong = false alerts / adjudicated alerts. Intervals are exact 95% Clopper-Pearson binomial "
        "intervals.</p>"
    )
    data = json.dumps(rep.to_dict(), default=str).replace("</", "<\\/")
    parts.append(f"<script type=application/json id=report-data>{data}</script>")
    parts.append("</body></html>")
    return "\n".join(parts)
