"""Issue 2 acceptance: enrol the first photo of the first 200 lfw-dev identities with two or more
photos (name order), check their second photos, and find the right person at rank 1 for >= 95%."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from tests.conftest import run_cli

from openlfr.services.check import CheckedFace

log = logging.getLogger(__name__)


def _centre_face(faces: list[CheckedFace], size: tuple[int, int]) -> CheckedFace | None:
    if not faces:
        return None
    cx, cy = size[0] / 2, size[1] / 2
    return min(faces, key=lambda f: ((f.box[0] + f.box[2]) / 2 - cx) ** 2 + ((f.box[1] + f.box[3]) / 2 - cy) ** 2)


@pytest.mark.slow
@pytest.mark.shared_data
def test_rank1_on_200_lfw_identities(lfw_dev: Path, data_dir: Path, tmp_path: Path) -> None:
    people = [d for d in sorted(lfw_dev.iterdir()) if d.is_dir() and len(list(d.glob("*.jpg"))) >= 2][:200]
    assert len(people) == 200
    gallery = tmp_path / "gallery"
    for d in people:
        (gallery / d.name).mkdir(parents=True)
        first = sorted(d.glob("*.jpg"))[0]
        (gallery / d.name / first.name).symlink_to(first)
    run_cli("init", check=True)
    run_cli("watchlist", "create", "lfw200", check=True)
    summary = json.loads(run_cli("watchlist", "import", "lfw200", str(gallery), "--json", check=True).stdout)
    log.info("import summary: %s", summary["rejected_by_reason"])
    assert summary["people"] >= 190

    from openlfr.services.check import check_image
    from openlfr.services.context import AppContext

    ctx = AppContext()
    hits = 0
    for d in people:
        probe = sorted(d.glob("*.jpg"))[1]
        out = check_image(ctx, probe, "lfw200", "test", threshold=0.0, top_k=1)
        face = _centre_face(out.faces, (250, 250))
        if face and face.candidates and face.candidates[0].person_id == d.name:
            hits += 1
    ctx.close()
    rate = hits / len(people)
    log.info("rank-1 identification rate on 200 lfw-dev identities: %.3f", rate)
    assert rate >= 0.95, f"rank-1 rate {rate:.3f} below 0.95"
