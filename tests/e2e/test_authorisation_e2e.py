"""The authorisation page in Debian's Chromium against a real ``openlfr serve``: before a draft is
authorised it shows the operating point for the list's actual size (threshold, expected false
alerts per 10,000 faces, expected TPIR, the safe band); an operating point outside the band
(threshold 0.5: every stranger matches someone) is refused without a written justification;
changing the target FPIR updates the figures; with a justification it is authorised and the page
shows the stored operating point and the justification."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import TEST_DATA
from tests.e2e.conftest import Server, login

pytestmark = [pytest.mark.e2e]

FACES = TEST_DATA / "faces"
WHY = "Supt: three named suspects, officers verify every alert in person before any engagement."


def _cli(server: Server, *args: str) -> dict[str, Any]:
    env = {**os.environ, "OPENLFR_DATA_DIR": str(server.data_dir)}
    for k in ("OPENLFR_KEY", "OPENLFR_DATABASE_URL"):
        env.pop(k, None)
    p = subprocess.run(
        [sys.executable, "-m", "openlfr", *args, "--json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 0, p.stderr
    return dict(json.loads(p.stdout.strip().splitlines()[-1]))


def _figure(page: Any, label: str) -> str:
    dts = page.locator("#op-figures dt").all_inner_texts()
    return str(page.locator("#op-figures dd").nth(dts.index(label)).inner_text())


def test_authorisation_page_shows_the_figures_and_refuses_an_unsafe_point(
    server: Server, browser: Any, shots: Path, allow_browser_errors: Any
) -> None:
    allow_browser_errors("status of 422")  # the unsafe point submitted without a justification is refused (422)
    _cli(server, "watchlist", "create", "wanted")
    people = sorted(p for p in FACES.iterdir() if p.is_dir())[:3]
    for p in people:
        _cli(server, "watchlist", "add", "wanted", "--person", p.name, "--image", str(p / f"{p.name}_0001.jpg"))
    now = datetime.now(UTC)
    dep = _cli(
        server,
        "deployment",
        "create",
        "--location",
        "High St, Sutton, outside the station",
        "--purpose",
        "Locate three people wanted on warrant",
        "--start",
        (now - timedelta(minutes=1)).isoformat(),
        "--end",
        (now + timedelta(hours=3)).isoformat(),
        "--source-watchlist",
        "wanted",
        "--all-entries",
        "wanted on warrant",
        "--camera",
        "cam1=/nonexistent/clip.mp4",
        "--threshold",
        "0.5",
        "--legal-basis",
        "Common law policing powers; DPA 2018 s.35; force LFR policy v2",
    )
    ctx, page = login(browser, server, "supervisor")
    try:
        page.goto(f"{server.url}/deployments/{dep['id']}")
        page.wait_for_selector("#op-verdict.unsafe")
        assert _figure(page, "Watchlist size") == "3 people"
        assert _figure(page, "Threshold").startswith("0.5000 (explicit threshold (override))")
        assert _figure(page, "Expected false alerts per 10,000 faces").startswith("10,000")
        assert "%" in _figure(page, "Expected TPIR")
        assert "Outside the safe band" in page.inner_text("#op-verdict")

        # refused without a justification; the deployment stays a draft
        page.fill("#authorise-form input[name=officer]", "Supt A. Example")
        page.click("#authorise-form button[type=submit]")
        page.wait_for_selector("#dep-error:not([hidden])")
        assert page.get_attribute("#dep-error", "data-code") == "justification_required"
        assert "justification" in page.inner_text("#dep-error") and "(justification_required)" not in page.inner_text(
            "#dep-error"
        )  # a sentence for people; the code stays in the JSON
        assert page.inner_text("#dep-state") == "draft"
        page.screenshot(path=str(shots / "authorisation-refused.png"), full_page=True)

        # the supervisor tries the target FPIR instead: the figures follow the list's size
        from openlfr.services.operating_point import resolve

        fam = _cli(server, "watchlist", "show", "wanted").get("embedder")
        want = resolve(str(fam), 3, target_fpir=1e-4)
        page.fill("#authorise-form input[name=target_fpir]", "0.0001")
        page.wait_for_selector("#op-verdict.safe")
        assert _figure(page, "Threshold") == f"{want.threshold:.4f} (from target FPIR 0.01% at 3 people)"
        fa = _figure(page, "Expected false alerts per 10,000 faces")
        assert fa.startswith(f"{float(f'{want.false_alerts_per_10000:.3g}'):g}"), (fa, want.false_alerts_per_10000)
        assert "Inside the safe band" in page.inner_text("#op-verdict")
        page.screenshot(path=str(shots / "authorisation-target.png"), full_page=True)

        # back to the override, now with a written justification: authorised, and it is stored
        page.fill("#authorise-form input[name=target_fpir]", "")
        page.wait_for_selector("#op-verdict.unsafe")
        page.fill("#authorise-form textarea[name=justification]", WHY)
        page.click("#authorise-form button[type=submit]")
        page.wait_for_selector("#dep-state.authorised")
        details = page.inner_text("#details")
        assert "0.5000 (explicit threshold (override))" in details and WHY in details
        assert page.is_hidden("#op-card")
        shown = _cli(server, "deployment", "show", str(dep["id"]))
        assert shown["justification"] == WHY and shown["threshold"] == 0.5
        assert shown["operating_point"]["expected_false_alerts_per_10000"] == 10_000
    finally:
        ctx.close()
