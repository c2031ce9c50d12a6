"""`openlfr watchlist import` of the same folder twice adds nothing the second time (same photos, by
content), and one bad folder or file is reported while the import goes on with the rest."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from tests.conftest import TEST_DATA

FACES = TEST_DATA / "faces"


def _counts(data_dir: Path) -> tuple[int, int, int]:
    con = sqlite3.connect(data_dir / "openlfr.db")
    try:
        return tuple(
            con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[return-value]
            for t in ("watchlist_entries", "reference_images", "reference_embeddings")
        )
    finally:
        con.close()


def _import(cli: Any, folder: Path) -> dict[str, Any]:
    r = cli("watchlist", "import", "demo", str(folder), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    return dict(json.loads(r.stdout))


def test_reimport_is_idempotent_and_skips_bad_parts(data_dir: Path, cli: Any, tmp_path: Path) -> None:
    folder = tmp_path / "people"
    for person in ("Al_Gore", "Adrien_Brody", "Abdullah_Gul"):
        shutil.copytree(FACES / person, folder / person)
    # a bad folder (its name is no valid person id) sorted before the good ones, and a bad file
    bad_dir = folder / "Aa\x1b[2Jbad"
    bad_dir.mkdir()
    shutil.copy(next((FACES / "Aaron_Peirsol").glob("*.jpg")), bad_dir / "x.jpg")
    (folder / "Adrien_Brody" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert cli("init").returncode == 0
    assert cli("watchlist", "create", "demo").returncode == 0

    first = _import(cli, folder)
    assert first["people"] == 3 and first["accepted_images"] >= 3, first
    reasons = {r["source"]: r["reason"] for r in first["rejected"]}
    assert any("bad_person_id" in why for src, why in reasons.items() if "bad" in src), reasons
    assert any(src.endswith("broken.jpg") for src in reasons), reasons
    counts = _counts(data_dir)
    assert counts[1] == first["accepted_images"] == counts[2]

    second = _import(cli, folder)
    assert second["accepted_images"] == 0, second
    assert second["rejected_by_reason"].get("duplicate") == first["accepted_images"], second
    assert _counts(data_dir) == counts  # nothing duplicated

    # a new photo of a known person is still added on a third import; the rest stay single
    extra = next(p for p in sorted((FACES / "Alejandro_Toledo").glob("*.jpg")))
    shutil.copy(extra, folder / "Al_Gore" / "new.jpg")
    third = _import(cli, folder)
    assert third["rejected_by_reason"].get("duplicate") == first["accepted_images"], third
    assert _counts(data_dir)[0] == counts[0]
    assert _counts(data_dir)[1] == counts[1] + third["accepted_images"]
