"""The audit log (P6) on SQLite and PostgreSQL: edits, deletions, reorderings, truncation of the newest
events and a rebuilt chain, made with raw SQL on the real database, are all detected; the signed
export verifies and any change to it is detected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from openlfr.services import audit_admin, watchlists
from openlfr.storage import audit
from openlfr.storage.audit_anchor import anchor_path


@pytest.fixture
def logged(gov_ctx: Any) -> Any:
    for i in range(8):
        watchlists.create(gov_ctx, f"list-{i}", f"user{i % 3}", description=f"n{i}")
    res = audit_admin.verify(gov_ctx)
    assert res.ok and res.events == 8 and res.anchor["status"] == "ok" and res.anchor["signature"] == "valid"
    return gov_ctx


def _sql(ctx: Any, *stmts: str) -> None:
    with ctx.db.engine.begin() as conn:
        for st in stmts:
            conn.execute(text(st))


def _broken(ctx: Any) -> audit_admin.FullVerify:
    res = audit_admin.verify(ctx)
    assert not res.ok
    return res


def test_edit_is_detected(logged: Any) -> None:
    _sql(logged, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    res = _broken(logged)
    assert res.first_bad_seq == 3 and "edited" in (res.problem or "")


def test_edit_of_details_is_detected(logged: Any) -> None:
    dialect = logged.db.engine.dialect.name
    newval = '\'{"name": "other"}\'' + ("::json" if dialect == "postgresql" else "")
    _sql(logged, f"UPDATE audit_events SET details = {newval} WHERE seq = 5")
    assert _broken(logged).first_bad_seq == 5


def test_deletion_is_detected(logged: Any) -> None:
    _sql(logged, "DELETE FROM audit_events WHERE seq = 4")
    res = _broken(logged)
    assert res.first_bad_seq == 5 and "gap" in (res.problem or "")


def test_reordering_is_detected(logged: Any) -> None:
    _sql(
        logged,
        "UPDATE audit_events SET seq = -1 WHERE seq = 2",
        "UPDATE audit_events SET seq = 2 WHERE seq = 3",
        "UPDATE audit_events SET seq = 3 WHERE seq = -1",
    )
    assert _broken(logged).first_bad_seq == 2


def test_truncating_the_newest_events_is_detected_by_the_anchor(logged: Any) -> None:
    _sql(logged, "DELETE FROM audit_events WHERE seq >= 7")
    chain_only = audit_admin.verify(logged, use_anchor=False)
    assert chain_only.ok  # a shortened chain is still a chain...
    res = _broken(logged)  # ...but the anchor knows the log reached seq 8
    assert res.chain_ok and res.first_bad_seq == 7 and "removed" in (res.problem or "")


def test_rebuilt_chain_is_detected_by_the_anchor(logged: Any) -> None:
    """Someone with write access edits an event and recomputes every hash after it (no key needed)."""
    _sql(logged, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    with logged.db.session() as s:
        prev = audit.GENESIS
        for ev in audit.iter_events(s):
            h = audit.event_hash(prev, ev.seq, ev.at, ev.actor, ev.action, ev.object_type, ev.object_id, ev.details)
            ev.prev_hash, ev.hash = prev, h
            prev = h
    assert audit_admin.verify(logged, use_anchor=False).ok
    res = _broken(logged)
    assert res.first_bad_seq == 8 and "anchored hash" in (res.problem or "")


def test_anchor_tampering_or_removal_is_reported(logged: Any) -> None:
    path = anchor_path(logged.settings)
    d = json.loads(path.read_text())
    d["seq"] = 5
    path.write_text(json.dumps(d))
    assert "signature" in (_broken(logged).problem or "")
    path.unlink()
    assert "missing" in (_broken(logged).problem or "")
    assert audit_admin.verify(logged, use_anchor=False).ok


def test_appends_keep_the_anchor_at_the_head(logged: Any) -> None:
    watchlists.create(logged, "one-more", "user9")
    anchor = json.loads(anchor_path(logged.settings).read_text())
    assert anchor["seq"] == 9
    assert audit_admin.verify(logged).ok


def test_signed_export(logged: Any, tmp_path: Path) -> None:
    out = tmp_path / "audit.jsonl"
    res = audit_admin.export(logged, out, "auditor1")
    assert res.events == 9 and res.last_seq == 9  # includes the export's own event
    lines = out.read_bytes().splitlines(keepends=True)
    assert json.loads(lines[-2])["action"] == "audit.export"
    sig = json.loads(lines[-1])
    assert sig["type"] == "signature" and sig["algorithm"] == "HMAC-SHA256"
    ok = audit_admin.verify_export(logged, out)
    assert ok.ok and ok.hmac_ok and ok.chain_ok
    assert audit_admin.verify_export(None, out).hmac_ok is None  # the checksum and chain need no key

    edited = tmp_path / "edited.jsonl"
    edited.write_bytes(b"".join(lines).replace(b'"actor":"user1"', b'"actor":"userX"', 1))
    bad = audit_admin.verify_export(logged, edited)
    assert not bad.ok and not bad.sha256_ok and not bad.chain_ok

    dropped = tmp_path / "dropped.jsonl"
    dropped.write_bytes(b"".join(lines[:3] + lines[4:]))
    assert not audit_admin.verify_export(logged, dropped).ok

    # recomputing the checksum without the key does not help
    import hashlib

    forged_body = b"".join(lines[:-2])
    forged_sig = dict(sig, sha256=hashlib.sha256(forged_body).hexdigest(), events=len(lines) - 2)
    forged = tmp_path / "forged.jsonl"
    forged.write_bytes(forged_body + (json.dumps(forged_sig) + "\n").encode())
    fr = audit_admin.verify_export(logged, forged)
    assert fr.sha256_ok and fr.hmac_ok is False and not fr.ok


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_cli_verify_names_the_first_broken_event(logged: Any, cli: Any, tmp_path: Path) -> None:
    ok = cli("audit", "verify")
    assert ok.returncode == 0, ok.stderr
    import sqlite3

    con = sqlite3.connect(Path(logged.settings.data_dir) / "openlfr.db")
    con.execute("UPDATE audit_events SET object_id = 'x' WHERE seq = 6")
    con.commit()
    con.close()
    bad = cli("audit", "verify")
    assert bad.returncode == 1 and "seq 6" in bad.stderr
    js = cli("audit", "verify", "--json")
    assert js.returncode == 1
    assert json.loads(js.stdout)["first_bad_seq"] == 6
    exp = cli("audit", "export", "--out", str(tmp_path / "a.jsonl"), "--json")
    assert exp.returncode == 0, exp.stderr
    chk = cli("audit", "verify-export", str(tmp_path / "a.jsonl"))
    assert chk.returncode == 1 and "chain" in chk.stdout  # the export carries the broken chain faithfully
