"""`openlfr run` and `openlfr search` on the real clips, through the real CLI (subprocesses)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import pytest
from PIL import Image

from openlfr.engine.pipeline import FaceEngine

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
FACES = REPO / "tests" / "data" / "faces"
HAMILTON = "short_hamilton_clip.mp4"


def _frame(clip: Path, index: int):  # type: ignore[no-untyped-def]
    with av.open(str(clip)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == index:
                return f.to_ndarray(format="rgb24")
    raise AssertionError("frame not found")


def _face_crop(image, pad: float = 0.6):  # type: ignore[no-untyped-def]
    a = FaceEngine.from_config().analyse(image, embed="none")
    assert len(a.faces) >= 1
    x1, y1, x2, y2 = a.faces.xyxy[int(a.faces.areas.argmax())]
    w = x2 - x1
    return image[max(0, int(y1 - pad * w)) : int(y2 + pad * w), max(0, int(x1 - pad * w)) : int(x2 + pad * w)]


@pytest.fixture(scope="module")
def crops(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    shared = Path(os.environ.get("OPENLFR_SHARED_DIR", REPO.parent / "shared")) / "data" / "videos"
    if not shared.is_dir():
        pytest.skip(f"shared videos not found at {shared}")
    d = tmp_path_factory.mktemp("crops")
    out = {}
    for idx in (120, 200):
        p = d / f"actor_{idx}.jpg"
        Image.fromarray(_face_crop(_frame(shared / HAMILTON, idx))).save(p)
        out[str(idx)] = p
    return out


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, crops: dict[str, Path]) -> Path:
    """A data dir with watchlist ``wl`` (5 LFW people + the actor), built once per module."""
    from tests.conftest import run_cli

    d = tmp_path_factory.mktemp("prepared") / "data"
    env = {"OPENLFR_DATA_DIR": str(d)}
    run_cli("init", env=env, check=True)
    run_cli("watchlist", "create", "wl", env=env, check=True)
    run_cli("watchlist", "import", "wl", str(FACES), env=env, check=True)
    run_cli(
        "watchlist",
        "add",
        "wl",
        "--person",
        "actor",
        "--name",
        "Stage Actor",
        "--image",
        str(crops["120"]),
        env=env,
        check=True,
    )
    return d


@pytest.fixture
def watchlist(prepared: Path, data_dir: Path) -> str:
    shutil.copytree(prepared, data_dir)
    return "wl"


def _lines(stdout: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(ln) for ln in stdout.splitlines() if ln.strip()]


def test_run_file_prints_alert_lines_and_summary(cli, watchlist: str, videos: Path) -> None:  # type: ignore[no-untyped-def]
    p = cli("run", "--watchlist", watchlist, "--source", str(videos / HAMILTON), "--json", "--analysis-fps", "5")
    assert p.returncode == 0, p.stderr
    lines = _lines(p.stdout)
    alerts = [x for x in lines if x["event"] == "alert"]
    summary = lines[-1]
    assert summary["event"] == "summary" and summary["stopped_by"] == "end_of_sources"
    assert summary["threshold_source"] == "target_fpir" and summary["target_fpir"] == 1e-4
    assert summary["operating_point"]["threshold"] == summary["threshold"]
    cam = summary["cameras"]["cam1"]
    assert cam["state"] == "ended"
    c = cam["counters"]
    assert 42 <= c["frames_analysed"] <= 50  # 275 frames at 29.97 fps sampled to 5 fps
    assert c["faces_seen"] >= 1 and c["faces_detected"] >= c["faces_seen"]
    assert c.get("alerts", 0) == len(alerts) == summary["alerts"]
    assert any(a["person_id"] == "actor" and a["name"] == "Stage Actor" for a in alerts)
    for a in alerts:
        assert a["score"] >= a["threshold"] == summary["threshold"]
        assert set(a) >= {"alert_id", "camera", "person_id", "score", "track_id", "occurred_at", "box"}
    assert len({(a["track_id"], a["person_id"]) for a in alerts}) == len(alerts)  # one per entry per track


def test_search_video_json_and_report(cli, watchlist: str, videos: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report = tmp_path / "report.html"
    p = cli("search", str(videos / HAMILTON), "--watchlist", watchlist, "--json", "--fps", "5", "--out", str(report))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert set(out) == {
        "source",
        "frames",
        "frames_analysed",
        "analysis_width",
        "faces_detected",
        "faces_seen",
        "appearances",
        "threshold",
        "threshold_source",
        "target_fpir",
        "operating_point",
        "cancelled",
    }
    assert out["analysis_width"] == 640 and out["frames_analysed"] < out["frames"]  # --fps 5 of 30
    assert out["faces_detected"] >= out["faces_seen"]
    # no --threshold: the default target FPIR at this list's size, from the shipped calibration
    from openlfr.services.operating_point import resolve

    op = out["operating_point"]
    assert out["threshold_source"] == "target_fpir" and out["target_fpir"] == 1e-4
    assert op["threshold"] == out["threshold"] == resolve(op["family"], op["watchlist_size"]).threshold
    assert out["frames"] == 275 and out["faces_seen"] >= 1
    assert out["appearances"], out
    for a in out["appearances"]:
        assert set(a) == {"person_id", "name", "entry_id", "score", "first_seen_s", "last_seen_s", "track_id"}
        assert 0 <= a["first_seen_s"] <= a["last_seen_s"] <= 9.2
    actor = [a for a in out["appearances"] if a["person_id"] == "actor"]
    assert actor and actor[0]["name"] == "Stage Actor"
    html = report.read_text()
    assert "actor" in html and "data:image/jpeg;base64" in html


def test_search_image_folder(cli, watchlist: str, crops: dict[str, Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes((FACES / "Al_Gore" / "Al_Gore_0002.jpg").read_bytes())
    (folder / "b.jpg").write_bytes(crops["200"].read_bytes())
    (folder / "notes.txt").write_text("not an image")
    p = cli("search", str(folder), "--watchlist", watchlist, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["frames"] == 2 and out["faces_seen"] == 2
    got = {(a["person_id"], a["first_seen_s"]) for a in out["appearances"]}
    assert ("actor", 1.0) in got and ("Al_Gore", 0.0) in got


@pytest.mark.parametrize(
    "clip",
    [
        "intel_asl_thanks.mkv",
        "intel_face-demographics-walking.gif",
        "intel_face-demographics-walking-and-pause.gif",
        "intel_head-pose-face-detection-female.gif",
        "intel_head-pose-face-detection-male.gif",
        "intel_head-pose-face-detection-female-and-male.gif",
    ],
)
def test_search_every_real_clip(cli, watchlist: str, videos: Path, clip: str) -> None:  # type: ignore[no-untyped-def]
    p = cli("search", str(videos / clip), "--watchlist", watchlist, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["frames"] > 20 and isinstance(out["faces_seen"], int)
    assert all(a["person_id"] != "actor" for a in out["appearances"])  # the actor is not in these clips


def test_run_several_sources_in_processes(cli, watchlist: str, videos: Path) -> None:  # type: ignore[no-untyped-def]
    p = cli(
        "run",
        "--watchlist",
        watchlist,
        "--json",
        "--mode",
        "process",
        "--source",
        str(videos / "intel_head-pose-face-detection-female.gif"),
        "--source",
        str(videos / "intel_head-pose-face-detection-male.gif"),
        "--source",
        str(videos / "intel_asl_thanks.mkv"),
    )
    assert p.returncode == 0, p.stderr
    summary = _lines(p.stdout)[-1]
    cams = summary["cameras"]
    assert [cams[c]["counters"]["frames_analysed"] for c in ("cam1", "cam2", "cam3")] == [23, 62, 51]
    assert all(cams[c]["state"] == "ended" for c in cams)
    assert cams["cam3"]["counters"]["faces_seen"] >= 1


def test_sigterm_stops_cleanly_and_flushes_counters(watchlist: str, videos: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "openlfr",
            "run",
            "--watchlist",
            watchlist,
            "--json",
            "--loop",
            "--realtime",
            "--analysis-fps",
            "5",
            "--source",
            str(videos / "intel_asl_thanks.mkv"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    err: list[str] = []
    live = threading.Event()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err.append(line)
            if "live" in line:
                live.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        assert live.wait(60), "".join(err)
        time.sleep(3.0)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "".join(err)
    summary = _lines(out)[-1]
    assert summary["event"] == "summary" and summary["stopped_by"] == "sigterm"
    c = summary["cameras"]["cam1"]["counters"]
    assert summary["cameras"]["cam1"]["state"] == "stopped"
    assert c["frames_analysed"] >= 5 and c.get("live_seconds", 0) >= 2


def test_run_argument_errors(cli, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    p = cli("run", "--source", "x.mp4")
    assert p.returncode == 2 and "error[bad_arguments]" in p.stderr
    cli("init", check=True)
    cli("watchlist", "create", "empty", check=True)
    p = cli("run", "--watchlist", "empty", "--source", "x.mp4")
    assert p.returncode == 2 and "error[" in p.stderr


def test_run_deployment_stores_alerts_and_counters(cli, watchlist: str, videos: Path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    start = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    end = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S")
    p = cli(
        "deployment",
        "create",
        "--location",
        "Stage door, test",
        "--purpose",
        "test",
        "--start",
        start,
        "--end",
        end,
        "--source-watchlist",
        watchlist,
        "--entry",
        "actor=wanted (test)",
        "--camera",
        f"stage={videos / HAMILTON}",
        "--threshold",
        "0.75",
        "--json",
        "--legal-basis",
        "Common law policing powers; force LFR policy v1",
    )
    assert p.returncode == 0, p.stderr
    dep = json.loads(p.stdout)["id"]
    pw = {"OPENLFR_PASSWORD": "live-cli-long-password"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "openlfr",
            "user",
            "create",
            "--username",
            "sup-live",
            "--role",
            "supervisor",
            "--password-stdin",
        ],
        input=pw["OPENLFR_PASSWORD"] + "\n",
        text=True,
        check=True,
        capture_output=True,
        env=dict(os.environ),
    )
    cli(
        "deployment",
        "authorise",
        str(dep),
        "--officer",
        "Insp. Test",
        "--username",
        "sup-live",
        "--justification",
        "test: one actor on a stage clip; 0.75 is the score this clip was checked at",
        env=pw,
        check=True,
    )
    p = cli("run", "--deployment", str(dep), "--json", "--analysis-fps", "10", "--end")
    assert p.returncode == 0, p.stderr
    lines = _lines(p.stdout)
    alerts = [x for x in lines if x["event"] == "alert"]
    summary = lines[-1]
    assert summary["deployment_id"] == dep and summary["deployment_state"] == "ended"
    assert summary["threshold"] == 0.75 and summary["threshold_source"] == "override"
    assert alerts and all(a["person_id"] == "actor" and a["deployment_id"] == dep for a in alerts)
    stored = json.loads(cli("alert", "list", "--json", check=True).stdout)["data"]
    assert {a["alert_uid"] for a in stored} == {a["alert_id"] for a in alerts}
    shown = json.loads(cli("deployment", "show", str(dep), "--json", check=True).stdout)
    assert shown["state"] == "ended" and shown["watchlist_deleted_at"] is not None
