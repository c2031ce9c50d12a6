"""The governance story end to end, through the real ``openlfr`` command as an operator would use it:

create, authorise and start a deployment; run a real clip through it (``openlfr run --deployment``);
adjudicate the alerts; end it; the watchlist is gone, the report's figures equal what happened, the
audit chain verifies; after a simulated 31 days the sweeper leaves only statistics.

The watchlist holds five LFW people plus one performer of the clip, enrolled from a face crop of
one frame (as a force would enrol a custody photo); the clip's other frames then raise the alerts.
"""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.integration.conftest import FACES

CLIP = "short_hamilton_clip.mp4"


def subprocess_input(cli: Any, args: tuple[str, ...], stdin: str) -> Any:
    """Run ``openlfr ARGS`` with ``stdin`` on its standard input (for --password-stdin)."""
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "openlfr", *args],
        input=stdin + "\n",
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
    )


def _ok(proc: Any) -> Any:
    assert proc.returncode == 0, f"{proc.args}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _performer_crop(video: Path, out: Path) -> None:
    """A face crop (with margin) of the performer in frame 120, found by the real engine."""
    import av
    from PIL import Image

    from openlfr.engine.pipeline import FaceEngine
    from openlfr.services.context import engine_config_from_settings
    from openlfr.settings import load_settings

    engine = FaceEngine.from_config(engine_config_from_settings(load_settings()))
    with av.open(str(video)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i == 120:
                img = frame.to_ndarray(format="rgb24")
                break
    faces = engine.analyse(img, embed="none").faces
    assert len(faces) == 1
    x1, y1, x2, y2 = (float(v) for v in faces.xyxy[0])
    m = 0.6 * (x2 - x1)
    h, w = img.shape[:2]
    box = (int(max(0, x1 - m)), int(max(0, y1 - m)), int(min(w, x2 + m)), int(min(h, y2 + m)))
    buf = io.BytesIO()
    Image.fromarray(img).crop(box).save(buf, format="JPEG", quality=92)
    out.write_bytes(buf.getvalue())


@pytest.mark.slow
@pytest.mark.shared_data
def test_deployment_end_to_end(data_dir: Path, cli: Any, videos: Path, tmp_path: Path) -> None:
    clip = videos / CLIP
    if not clip.is_file():
        pytest.skip(f"{clip} not found")
    _ok(cli("init"))
    _ok(cli("watchlist", "create", "wanted"))
    crop = tmp_path / "performer.jpg"
    _performer_crop(clip, crop)
    _ok(
        cli(
            "watchlist",
            "add",
            "wanted",
            "--person",
            "performer",
            "--name",
            "Performer One",
            "--image",
            str(crop),
            "--reason",
            "test subject",
        )
    )
    for p in sorted(FACES.iterdir()):
        _ok(cli("watchlist", "add", "wanted", "--person", p.name, "--image", str(p / f"{p.name}_0001.jpg")))

    now = datetime.now(UTC)
    start, end = (now - timedelta(minutes=5)).isoformat(), (now + timedelta(hours=2)).isoformat()
    made = json.loads(
        _ok(
            cli(
                "deployment",
                "create",
                "--location",
                "Richard Rodgers Theatre, 226 W 46th St, stage door",
                "--lat",
                "40.7590",
                "--lon",
                "-73.9866",
                "--purpose",
                "test: people wanted on warrant",
                "--legal-basis",
                "test policy 1",
                "--start",
                start,
                "--end",
                end,
                "--source-watchlist",
                "wanted",
                "--entry",
                "performer=warrant 2024/001",
                "--entry",
                "Al_Gore=bail conditions",
                "--entry",
                "Adrien_Brody=court order",
                "--camera",
                f"stage={clip}",
                "--json",
            )
        ).stdout
    )
    dep = str(made["id"])
    assert made["state"] == "draft" and made["watchlist_size"] == 3
    # Role-restricted commands act as real users (password from OPENLFR_PASSWORD), never a stated role.
    pw = {"OPENLFR_PASSWORD": "e2e-long-password"}
    for user, role in (("op1", "operator"), ("sup1", "supervisor")):
        _ok(
            subprocess_input(
                cli, ("user", "create", "--username", user, "--role", role, "--password-stdin"), pw["OPENLFR_PASSWORD"]
            )
        )
    refused = cli("deployment", "authorise", dep, "--officer", "Insp X", "--username", "op1", env=pw)
    assert refused.returncode == 2 and "forbidden" in refused.stderr
    auth = json.loads(
        _ok(cli("deployment", "authorise", dep, "--officer", "Supt Y", "--username", "sup1", "--json", env=pw)).stdout
    )
    assert auth["authorised_by"] == "sup1"
    assert auth["state"] == "authorised" and auth["threshold"] is not None
    _ok(cli("deployment", "start", dep))

    run = _ok(cli("run", "--deployment", dep, "--json", "--analysis-fps", "10", timeout=900))
    events = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    alert_events = [e for e in events if e.get("event") == "alert"]
    summary = next(e for e in events if e.get("event") == "summary")
    assert alert_events, f"no alert from the clip: {summary}"
    print(f"e2e: {len(alert_events)} alert(s), summary {summary}")
    assert any(e["person_id"] == "performer" for e in alert_events)
    faces_seen = sum(int(c["counters"].get("faces_seen", 0)) for c in summary["cameras"].values())
    assert faces_seen >= 1

    listed = json.loads(_ok(cli("alert", "list", "--deployment", dep, "--unadjudicated", "--json")).stdout)
    assert listed["count"] == len(alert_events)
    tally = {"true": 0, "false": 0, "arrest": 0}
    for i, a in enumerate(sorted(listed["data"], key=lambda a: a["id"])):
        if i == 0:  # the operator looks at the probe before deciding (audited)
            img = tmp_path / f"probe{a['id']}.jpg"
            _ok(cli("alert", "image", str(a["id"]), "--out", str(img), "--kind", "probe", "-u", "op1", env=pw))
            assert img.read_bytes()[:3] == b"\xff\xd8\xff"
        if a["person_id"] == "performer" and i == 0:
            verdict, outcome = "true", "arrest"
        elif a["person_id"] == "performer":
            verdict, outcome = "true", "no_action"
        else:
            verdict, outcome = "false", "not_engaged"
        _ok(
            cli(
                "alert",
                "adjudicate",
                str(a["id"]),
                "--verdict",
                verdict,
                "--outcome",
                outcome,
                "--note",
                "e2e",
                "-u",
                "op1",
                env=pw,
            )
        )
        tally[verdict] += 1
        tally["arrest"] += outcome == "arrest"
    assert json.loads(_ok(cli("alert", "list", "--unadjudicated", "--json")).stdout)["count"] == 0

    # the run's file camera ended, so the deployment ended itself (its watchlist deleted then); stopping it
    # again changes nothing
    shown = json.loads(_ok(cli("deployment", "show", dep, "--json")).stdout)
    assert shown["state"] == "ended" and "all cameras ended" in json.dumps(shown), shown
    stopped = json.loads(_ok(cli("deployment", "stop", dep, "--reason", "operation over", "--json")).stdout)
    assert stopped["state"] == "ended"
    gone = cli("watchlist", "show", f"deployment-{dep}")
    assert gone.returncode == 2 and "watchlist_not_found" in gone.stderr
    db = data_dir / "openlfr.db"
    con = sqlite3.connect(db)
    try:
        wl_id = made["watchlist_id"]
        assert con.execute("SELECT count(*) FROM watchlist_entries WHERE watchlist_id = ?", (wl_id,)).fetchone()[0] == 0
        assert (
            con.execute(
                "SELECT count(*) FROM reference_images ri JOIN watchlist_entries e ON e.id = ri.entry_id "
                "WHERE e.watchlist_id = ?",
                (wl_id,),
            ).fetchone()[0]
            == 0
        )
    finally:
        con.close()

    rep = json.loads(_ok(cli("report", "deployment", dep, "--format", "json")).stdout)
    r = rep["deployments"][0]
    assert r["faces_seen"] == faces_seen
    assert (r["alerts"], r["true_alerts"], r["false_alerts"], r["unadjudicated"]) == (
        len(alert_events),
        tally["true"],
        tally["false"],
        0,
    )
    assert r["outcomes"]["arrest"] == tally["arrest"] and r["watchlist_size"] == 3
    assert r["false_alerts_per_face"] == pytest.approx(tally["false"] / faces_seen)
    assert r["location"].startswith("Richard Rodgers Theatre") and r["state"] == "ended"
    html_out = tmp_path / "report.html"
    _ok(cli("report", "deployment", dep, "--format", "html", "--out", str(html_out)))
    assert "data:image/png;base64," in html_out.read_text()
    _ok(cli("audit", "verify"))

    later = (now + timedelta(days=31, hours=3)).isoformat()
    swept = json.loads(_ok(cli("retention", "sweep", "--now", later, "--json")).stdout)
    assert swept["false_alerts_removed"] + swept["expired_alerts_removed"] == len(alert_events)
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT count(*) FROM alert_images").fetchone()[0] == 0
        assert (
            con.execute(
                "SELECT count(*) FROM alerts WHERE person_id IS NOT NULL OR note IS NOT NULL OR purged_at IS NULL"
            ).fetchone()[0]
            == 0
        )
        assert con.execute("SELECT count(*) FROM alerts").fetchone()[0] == len(alert_events)  # statistics
        # nothing of the deployment's watchlist, and no biometric row outside the standing list
        assert con.execute("SELECT count(*) FROM watchlists WHERE deployment_id IS NOT NULL").fetchone()[0] == 0
        counters = dict(
            con.execute(
                "SELECT name, value FROM counters WHERE scope LIKE ?", (f"deployment:{dep}:camera:%",)
            ).fetchall()
        )
        assert counters["faces_seen"] == faces_seen
    finally:
        con.close()
    after = json.loads(_ok(cli("report", "deployment", dep, "--format", "json")).stdout)["deployments"][0]
    assert {k: after[k] for k in ("faces_seen", "alerts", "true_alerts", "false_alerts", "outcomes")} == {
        k: r[k] for k in ("faces_seen", "alerts", "true_alerts", "false_alerts", "outcomes")
    }
    _ok(cli("audit", "verify"))
    export = tmp_path / "audit.jsonl"
    _ok(cli("audit", "export", "--out", str(export)))
    actions = [json.loads(line).get("action") for line in export.read_text().splitlines()[:-1]]
    for needed in (
        "deployment.create",
        "deployment.authorise",
        "deployment.start",
        "alert.create",
        "alert.view_image",
        "alert.adjudicate",
        "deployment.end",
        "alert.purge",
        "retention.sweep",
        "audit.export",
    ):
        assert needed in actions, needed
    _ok(cli("audit", "verify-export", str(export)))
