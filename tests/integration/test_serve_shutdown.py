"""``openlfr serve`` stopped by SIGINT or SIGTERM while a deployment's cameras run (worker processes,
the default): it shuts down gracefully, says so, exits with status 0, and leaves no multiprocessing
resource behind (issue 19: "8 leaked semaphore objects" at shutdown).

Cause of the leak: uvicorn raises the caught signal again once it has shut down; SIGTERM's default
action then killed the process before interpreter shutdown, so multiprocessing's exit handlers never
released the live runner's queue and stop event (named semaphores) and the resource tracker reported
them. ``serve`` now returns normally after a graceful stop.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from tests.conftest import VIDEOS
from tests.e2e.conftest import frames_of
from tests.integration.serve_harness import Api, draft_deployment, serve_env, start_serve

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

CLIP = VIDEOS / "intel_asl_thanks.mkv"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_cleanly_with_cameras_running(tmp_path: Path, sig: signal.Signals) -> None:
    if not CLIP.is_file():
        pytest.skip(f"test clip not found: {CLIP}")
    env = serve_env(tmp_path / "data", VIDEOS)
    env["OPENLFR_API_LIVE_LOOP_FILES"] = "1"  # the camera runs until the server stops
    srv = start_serve(tmp_path, env)
    try:
        op, sup = Api(srv.url, "operator"), Api(srv.url, "supervisor")
        assert sup.post("/api/watchlists", json={"name": "wanted"}).status_code == 201
        f1, f2 = frames_of(CLIP, (0, 40))
        r = sup.post(
            "/api/watchlists/wanted/entries",
            data={"person_id": "p1", "name": "P One"},
            files=[("files", ("a.jpg", f1, "image/jpeg")), ("files", ("b.jpg", f2, "image/jpeg"))],
        )
        assert r.status_code == 200, r.text
        dep = draft_deployment(op, "wanted", [{"name": "door", "url": str(CLIP)}])
        assert sup.post(f"/api/deployments/{dep}/authorise", json={"officer": "Supt A"}).status_code == 200
        assert sup.post(f"/api/deployments/{dep}/start").status_code == 200
        deadline = time.monotonic() + 120
        while True:  # the camera's worker process is up and analysing
            cams = op.get("/api/cameras").json()["data"]
            if cams and cams[0]["state"] == "live" and cams[0]["counters"].get("frames_analysed", 0) > 0:
                break
            assert time.monotonic() < deadline, cams
            time.sleep(0.5)
    finally:
        code, out, err = srv.stop(sig)
    assert "leaked semaphore" not in err and "leaked shared_memory" not in err, err[-2000:]
    assert code == 0, (code, err[-2000:])
    assert f"OpenLFR stopped ({sig.name})." in out, out
