"""`openlfr search` detects at the same width as `openlfr run` (640 px by default, ``--analysis-width``
to change it; 0: the full frame), through the real CLI on a real 1280x720 video of LFW people."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


def test_search_of_a_720p_clip_analyses_at_640_and_finds_the_same_people(  # type: ignore[no-untyped-def]
    cli, lfw_dev: Path, data_dir: Path, tmp_path: Path
) -> None:
    video, truth = tmp_path / "walk.mp4", tmp_path / "truth.json"
    p = cli(
        "synth",
        "walkthrough",
        "--images",
        str(lfw_dev),
        "--out",
        str(video),
        "--truth",
        str(truth),
        "--people",
        "4",
        "--watchlisted",
        "3",
        "--size",
        "1280x720",
        "--fps",
        "6",
        "--seed",
        "3",
        "--json",
    )
    assert p.returncode == 0, p.stderr
    made = json.loads(p.stdout)
    cli("init", check=True)
    cli("watchlist", "create", "walk", check=True)
    cli("watchlist", "import", "walk", made["watchlist_dir"], check=True)
    listed = {q["person_id"] for q in json.loads(truth.read_text())["passes"] if q["watchlisted"]}
    assert len(listed) == 3

    def search(*extra: str) -> dict:  # type: ignore[type-arg]
        r = cli("search", str(video), "--watchlist", "walk", "--json", *extra)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)  # type: ignore[no-any-return]

    default, full = search(), search("--analysis-width", "0")
    assert default["analysis_width"] == 640 and full["analysis_width"] == 1280
    assert default["frames"] == default["frames_analysed"] == full["frames"] == made["frames"]
    found = {a["person_id"] for a in default["appearances"]}
    assert found == {a["person_id"] for a in full["appearances"]}
    assert len(found & listed) >= 2 and found <= listed  # most watchlisted people found, nobody else
    assert default["faces_detected"] >= 0.9 * full["faces_detected"] > 0
    narrow = search("--analysis-width", "960")
    assert narrow["analysis_width"] == 960
    r = cli("search", str(video), "--watchlist", "walk", "--json", "--analysis-width", "10")
    assert r.returncode == 2 and "error[bad_analysis_width]" in r.stderr
