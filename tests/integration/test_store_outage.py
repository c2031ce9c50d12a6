"""Issue 18, item 3: the real PostgreSQL server the tests start is stopped for 10 s in the middle of an
``openlfr run --deployment`` and started again. The run goes on analysing (alerts and counters go to
the encrypted local spool), flushes the spool when the server is back, and every alert it printed
is stored exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_run_restart import _alerts, _deployment, _ok

pytestmark = pytest.mark.slow


def test_postgres_stopped_for_10s_mid_run_loses_nothing(cli: Any, data_dir: Path, tmp_path: Path, pg_server: Any,
                                                        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENLFR_DATABASE_URL", pg_url)
    dep = _deployment(cli, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "openlfr", "run", "--deployment", dep, "--json", "--realtime"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    lines: list[str] = []
    outage: dict[str, float] = {}

    def outage_of_10s() -> None:
        outage["stop"] = time.monotonic()
        pg_server.stop()
        time.sleep(10)
        pg_server.start()
        outage["back"] = time.monotonic()

    th = threading.Thread(target=outage_of_10s)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if _alerts(line) and not th.is_alive() and "stop" not in outage:
                th.start()  # right after the first stored alert
        proc.wait(timeout=300)
    finally:
        if th.is_alive() or "stop" in outage:
            th.join(60)
        if "back" not in outage:
            pg_server.start()
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, err[-3000:]
    assert "back" in outage
    printed = _alerts("".join(lines))
    summary = json.loads(lines[-1])
    assert summary["event"] == "summary" and summary["cameras"]["cam1"]["state"] == "ended", summary
    store = summary["store"]
    print("outage run:", store, "alerts printed:", len(printed))
    assert store["spooled"] >= 2 and store["left_in_spool"] == 0, store  # alerts/counters went through the spool
    assert len(printed) >= 4

    stored = json.loads(_ok(cli("alert", "list", "--deployment", dep, "--json")).stdout)["data"]
    uids = [a["alert_uid"] for a in stored]
    assert len(uids) == len(set(uids)) == len(printed)
    assert set(uids) == {a["alert_id"] for a in printed}
    assert not any((data_dir / "spool").rglob("*.spool"))
    _ok(cli("audit", "verify"))
