"""The foundation end to end through the real ``openlfr`` command: init, watchlists, checks,
bad input, encryption at rest, and that a check stores nothing about the probe."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat
from pathlib import Path

import pytest
from tests.conftest import TEST_DATA

FACES = TEST_DATA / "faces"


def _ok(proc):  # type: ignore[no-untyped-def]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _db_rows(db: Path) -> dict[str, list[tuple]]:
    con = sqlite3.connect(db)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
    finally:
        con.close()


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def enrolled(data_dir: Path, cli) -> Path:  # type: ignore[no-untyped-def]
    _ok(cli("init"))
    _ok(cli("watchlist", "create", "demo"))
    for person in sorted(p.name for p in FACES.iterdir()):
        _ok(
            cli(
                "watchlist",
                "add",
                "demo",
                "--person",
                person,
                "--name",
                person.replace("_", " "),
                "--image",
                str(FACES / person / f"{person}_0001.jpg"),
            )
        )
    return data_dir


def test_init_creates_private_key_and_db(data_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    out = _ok(cli("init", "--json"))
    info = json.loads(out.stdout)
    key = Path(info["key"])
    assert key.is_file() and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (data_dir / "openlfr.db").is_file()
    assert info["key_created"] is True
    # running init again keeps the key
    again = json.loads(_ok(cli("init", "--json")).stdout)
    assert again["key_created"] is False


def test_help_lists_commands(cli) -> None:  # type: ignore[no-untyped-def]
    out = _ok(cli("--help")).stdout
    for cmd in ("init", "watchlist", "check"):
        assert cmd in out


def test_check_finds_the_right_person_json_shape(enrolled: Path, cli) -> None:  # type: ignore[no-untyped-def]
    probe = FACES / "Al_Gore" / "Al_Gore_0002.jpg"
    out = json.loads(
        _ok(cli("check", str(probe), "--watchlist", "demo", "--threshold", "0", "--top-k", "2", "--json")).stdout
    )
    assert set(out) == {
        "image",
        "watchlist",
        "watchlist_size",
        "threshold",
        "threshold_source",
        "target_fpir",
        "operating_point",
        "faces",
        "analysed_size",
    }
    assert out["watchlist"] == "demo" and out["watchlist_size"] == 5 and out["threshold"] == 0.0
    assert out["threshold_source"] == "override" and out["target_fpir"] is None
    assert out["operating_point"]["expected_false_alerts_per_10000"] == 10_000
    assert len(out["faces"]) == 1
    face = out["faces"][0]
    assert set(face) == {"box", "quality", "passed_quality", "candidates", "near_misses"}
    assert len(face["box"]) == 4 and face["box"][0] < face["box"][2]
    assert {"inter_eye_px", "sharpness", "frontal", "det_score"} <= set(face["quality"])
    cands = face["candidates"]
    assert [c["rank"] for c in cands] == [1, 2]
    assert cands[0]["person_id"] == "Al_Gore" and cands[0]["name"] == "Al Gore"
    assert 0 <= cands[1]["score"] <= cands[0]["score"] <= 1


def test_default_threshold_is_the_measured_one_and_refuses_a_stranger(data_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Without --threshold the default target FPIR (1e-4) is turned into a threshold by the shipped
    calibration of the default embedder (fused dlib + MobileFaceNet-192) at the list's size: people on
    the list still rank first at threshold 0, and a stranger gets no candidate at the default."""
    from openlfr.engine import registry
    from openlfr.engine.protocols import family_of
    from openlfr.services.operating_point import DEFAULT_THRESHOLDS
    from openlfr.settings import Settings

    _ok(cli("init"))
    _ok(cli("watchlist", "create", "four"))
    people = ["Aaron_Peirsol", "Abdullah_Gul", "Adrien_Brody", "Alejandro_Toledo"]
    for person in people:
        _ok(cli("watchlist", "add", "four", "--person", person, "--image", str(FACES / person / f"{person}_0001.jpg")))
    for person in people:
        out = json.loads(
            _ok(
                cli(
                    "check",
                    str(FACES / person / f"{person}_0002.jpg"),
                    "-w",
                    "four",
                    "--threshold",
                    "0",
                    "--top-k",
                    "1",
                    "--json",
                )
            ).stdout
        )
        best = max(out["faces"], key=lambda f: f["box"][2] - f["box"][0])
        assert [c["person_id"] for c in best["candidates"]] == [person]
    stranger = json.loads(_ok(cli("check", str(FACES / "Al_Gore" / "Al_Gore_0002.jpg"), "-w", "four", "--json")).stdout)
    from openlfr.services.operating_point import load_calibration

    fam = family_of(registry.create("embedder", Settings().embedder))
    assert stranger["threshold_source"] == "target_fpir" and stranger["target_fpir"] == 1e-4
    assert stranger["threshold"] == load_calibration(fam).threshold_for_fpir(1e-4, 4) != DEFAULT_THRESHOLDS[fam]
    assert stranger["faces"] and all(f["candidates"] == [] for f in stranger["faces"])


def test_check_stores_nothing_about_the_probe(enrolled: Path, cli) -> None:  # type: ignore[no-untyped-def]
    db = enrolled / "openlfr.db"
    _ok(cli("check", str(FACES / "Al_Gore" / "Al_Gore_0003.jpg"), "-w", "demo", "--json"))  # warm-up
    before_rows = _db_rows(db)
    before_files = set(_tree(enrolled))
    probe = FACES / "Adrien_Brody" / "Adrien_Brody_0003.jpg"
    _ok(cli("check", str(probe), "-w", "demo", "--threshold", "0", "--json"))
    after_rows = _db_rows(db)
    for table, rows in before_rows.items():
        if table == "audit_events":
            assert len(after_rows[table]) == len(rows) + 1
            event = next(r for r in after_rows[table] if r not in rows)
            assert "check" in event
            assert str(probe) not in json.dumps(event, default=str)
        elif table == "audit_details":  # the event's private part (matched person ids), encrypted
            assert len(after_rows[table]) == len(rows) + 1 and set(rows) <= set(after_rows[table])
        else:
            assert after_rows[table] == rows, f"table {table} changed during a check"
    assert set(_tree(enrolled)) <= before_files | {"openlfr.db-wal", "openlfr.db-shm"}
    raw = probe.read_bytes()
    for p in enrolled.rglob("*"):
        if p.is_file():
            assert raw[200:264] not in p.read_bytes(), f"probe bytes found in {p}"


def test_reference_images_are_encrypted_at_rest(enrolled: Path) -> None:
    con = sqlite3.connect(enrolled / "openlfr.db")
    blobs = [r[0] for r in con.execute("SELECT image_enc FROM reference_images")]
    vecs = [r[0] for r in con.execute("SELECT vector_enc FROM reference_embeddings")]
    con.close()
    assert len(blobs) == 5 and len(vecs) == 5
    raw = (FACES / "Al_Gore" / "Al_Gore_0001.jpg").read_bytes()
    assert all(not b.startswith(b"\xff\xd8") for b in blobs)  # no JPEG in the clear
    disk = b"".join(p.read_bytes() for p in enrolled.glob("openlfr.db*"))
    assert raw[300:364] not in disk


def test_wrong_key_is_a_clear_error(enrolled: Path, cli) -> None:  # type: ignore[no-untyped-def]
    from cryptography.fernet import Fernet

    out = cli(
        "check",
        str(FACES / "Al_Gore" / "Al_Gore_0002.jpg"),
        "-w",
        "demo",
        env={"OPENLFR_KEY": Fernet.generate_key().decode()},
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("error[wrong_key]:")


def test_delete_leaves_nothing_behind(enrolled: Path, cli) -> None:  # type: ignore[no-untyped-def]
    db = enrolled / "openlfr.db"
    con = sqlite3.connect(db)
    ciphertexts = [r[0] for r in con.execute("SELECT image_enc FROM reference_images")] + [
        r[0] for r in con.execute("SELECT vector_enc FROM reference_embeddings")
    ]
    con.close()
    out = json.loads(_ok(cli("watchlist", "delete", "demo", "--json")).stdout)
    assert out == {"deleted": "demo", "entries": 5, "images": 5, "embeddings": 5}
    rows = _db_rows(db)
    for t in ("watchlists", "watchlist_entries", "reference_images", "reference_embeddings"):
        assert rows[t] == [], t
    disk = b"".join(p.read_bytes() for p in enrolled.glob("openlfr.db*"))
    for c in ciphertexts:
        assert c[10:74] not in disk, "deleted biometric ciphertext still on disk"
    listed = json.loads(_ok(cli("watchlist", "list", "--json")).stdout)
    assert listed == {"data": [], "count": 0}


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_image"),
        (b"hello, not an image" * 10, "not_an_image"),
        ((FACES / "Al_Gore" / "Al_Gore_0001.jpg").read_bytes()[:3000], "corrupt_image"),
    ],
)
def test_bad_probe_is_one_line_error(
    enrolled: Path,
    cli,
    tmp_path: Path,
    content: bytes,  # type: ignore[no-untyped-def]
    code: str,
) -> None:
    p = tmp_path / "probe.jpg"
    p.write_bytes(content)
    out = cli("check", str(p), "-w", "demo", "--json")
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error[{code}]:"), out.stderr


def test_unknown_watchlist_and_uninitialised(data_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    out = cli("watchlist", "list")
    assert out.returncode == 2 and out.stderr.startswith("error[not_initialised]:")
    _ok(cli("init"))
    out = cli("check", str(FACES / "Al_Gore" / "Al_Gore_0001.jpg"), "-w", "nope")
    assert out.returncode == 2 and out.stderr.startswith("error[watchlist_not_found]:")
    out = cli("watchlist", "create", "x")
    out = cli("watchlist", "create", "x")
    assert out.returncode == 2 and out.stderr.startswith("error[watchlist_exists]:")


def test_add_rejects_bad_photos_and_keeps_the_rest(enrolled: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0garbage")
    out = cli(
        "watchlist",
        "add",
        "demo",
        "--person",
        "Al_Gore",
        "--image",
        str(bad),
        "--image",
        str(FACES / "Al_Gore" / "Al_Gore_0002.jpg"),
        "--json",
    )
    res = json.loads(_ok(out).stdout)
    assert res["accepted_images"] == 1 and res["rejected_images"] == 1
    assert res["rejected"][0]["reason"].startswith("unreadable:")
    show = json.loads(_ok(cli("watchlist", "show", "demo", "--json")).stdout)
    gore = next(e for e in show["entries"] if e["person_id"] == "Al_Gore")
    assert gore["images"] == 2
    # a person none of whose photos is usable leaves no entry
    res = json.loads(cli("watchlist", "add", "demo", "--person", "Nobody", "--image", str(bad), "--json").stdout)
    assert res["accepted_images"] == 0
    show = json.loads(_ok(cli("watchlist", "show", "demo", "--json")).stdout)
    assert "Nobody" not in {e["person_id"] for e in show["entries"]}


def test_import_folder_summary(data_dir: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "people"
    for person in ("Al_Gore", "Adrien_Brody"):
        (folder / person).mkdir(parents=True)
        (folder / person / "a.jpg").write_bytes((FACES / person / f"{person}_0001.jpg").read_bytes())
    (folder / "Al_Gore" / "notes.txt").write_text("not a photo")
    (folder / "Adrien_Brody" / "b.jpg").write_bytes(b"")
    _ok(cli("init"))
    _ok(cli("watchlist", "create", "imp"))
    res = json.loads(_ok(cli("watchlist", "import", "imp", str(folder), "--json")).stdout)
    assert res["accepted_images"] == 2 and res["people"] == 2 and res["rejected_images"] == 2
    assert res["rejected_by_reason"] == {"unreadable": 2}
