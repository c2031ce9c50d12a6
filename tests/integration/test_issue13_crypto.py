"""Issue 13 (privacy and security hardening), on SQLite and PostgreSQL, with raw SQL as the attacker:

- item 2: an unsigned audit anchor fails verification when a key exists; no anchor is written unsigned;
- item 3: ``openlfr init`` refuses to create a new key over existing ciphertext, changing nothing;
- item 8: person ids, names, entry references and notes stay out of the hash chain; retention purges
  them and the chain still verifies;
- item 9: ciphertexts are bound to their rows (copies are refused); the watchlist integrity digest
  catches edits made behind the service's back;
- item 10: key rotation while another process keeps storing and reading alerts.

Most tests use only the service layer and SQL, so they also run (and fail) on the code before the fix.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import shutil
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from tests.integration.conftest import FACES, make_alert, seed_watchlist

from openlfr.errors import ConfigError, OpenLFRError
from openlfr.services import alerts as asvc
from openlfr.services import audit_admin, audit_log, keys, retention, watchlists
from openlfr.services import deployments as dsvc
from openlfr.storage.audit_anchor import anchor_path, write_anchor
from openlfr.storage.models import AuditEvent, ReferenceEmbedding, ReferenceImage, Watchlist, WatchlistEntry
from openlfr.storage.models_gov import Alert, AlertImage

PROBE = (FACES / "Al_Gore" / "Al_Gore_0002.jpg").read_bytes()
NOTE = "stopped near the kiosk, released after ID check"


def _sql(ctx: Any, *stmts: str) -> None:
    with ctx.db.engine.begin() as conn:
        for st in stmts:
            conn.execute(text(st))


WHY = "test: a fixed threshold for this test, not an operational choice of operating point"


def _live(ctx: Any, name: str = "Kings Rd, Chelsea, by the town hall") -> Any:
    now = datetime.now(UTC)
    d = dsvc.create(
        ctx,
        location=name,
        purpose="wanted",
        planned_start=now - timedelta(minutes=1),
        planned_end=now + timedelta(hours=1),
        actor="c",
        source_watchlist="standing",
        all_entries_reason="op K",
        cameras=[dsvc.CameraSpec("cam1", "rtsp://u:pw@10.1.1.1/s")],
        threshold=0.9,
        legal_basis="Common law policing powers; force LFR policy v1",
    )
    dsvc.authorise(ctx, d.id, "sup", "supervisor", "Supt K", justification=WHY)
    return dsvc.mark_live(ctx, d.id, "op")


@pytest.fixture
def populated(gov_ctx: Any, enrolled_people: list[Any]) -> tuple[Any, Any]:
    seed_watchlist(gov_ctx, "standing", enrolled_people)
    return gov_ctx, _live(gov_ctx)


def _code(exc: pytest.ExceptionInfo[OpenLFRError]) -> str:
    return exc.value.code


# ---------------------------------------------------------------- item 2: audit anchor


def test_unsigned_anchor_fails_verify_when_a_key_exists(populated: tuple[Any, Any]) -> None:
    ctx, _plan = populated
    assert audit_admin.verify(ctx).ok
    path = anchor_path(ctx.settings)
    body = json.loads(path.read_text())
    assert body["mac"]  # written signed
    body["mac"] = None
    body["key_id"] = None
    path.write_text(json.dumps(body))
    res = audit_admin.verify(ctx)
    assert not res.ok and "signature" in (res.problem or "")
    del body["mac"]
    path.write_text(json.dumps(body))
    assert not audit_admin.verify(ctx).ok


def test_anchor_is_never_written_unsigned(tmp_path: Path) -> None:
    from openlfr.settings import load_settings

    st = load_settings(data_dir=tmp_path / "nokey", database_url=None)  # no key file, no OPENLFR_KEY
    with pytest.raises(ConfigError) as e:
        write_anchor(st, 3, "a" * 64)
    assert e.value.code == "no_key"
    assert not anchor_path(st).exists()


# ---------------------------------------------------------------- item 3: init over existing ciphertext


def _snapshot(ctx: Any) -> tuple[Any, ...]:
    with ctx.db.engine.connect() as conn:
        counts = tuple(
            int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() or 0)
            for t in ("reference_images", "reference_embeddings", "audit_events", "alembic_version")
        )
    files = sorted(
        (str(p.relative_to(ctx.settings.data_dir)), p.stat().st_size)
        for p in ctx.settings.data_dir.rglob("*")
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    )
    db = ctx.settings.data_dir / "openlfr.db"
    digest = hashlib.sha256(db.read_bytes()).hexdigest() if db.exists() else None
    return counts, files, digest


def test_init_refuses_a_new_key_over_existing_ciphertext(gov_ctx: Any, enrolled_people: list[Any], cli: Any) -> None:
    ctx = gov_ctx
    seed_watchlist(ctx, "standing", enrolled_people[:2])
    ctx.db.checkpoint()
    ctx.db.dispose()
    key = ctx.settings.resolved_key_file
    moved = key.with_name("moved-away.key")
    shutil.move(key, moved)
    before = _snapshot(ctx)
    out = cli("init", "--json")
    assert out.returncode != 0
    assert out.stderr.startswith("error[key_missing]"), out.stderr
    assert not key.exists()
    assert _snapshot(ctx) == before
    # with the key back, init is a no-op that keeps the key
    shutil.move(moved, key)
    ok = cli("init", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["key_created"] is False


def test_init_on_an_empty_data_dir_still_creates_the_key(data_dir: Path, cli: Any) -> None:
    out = cli("init", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["key_created"] is True


# ---------------------------------------------------------------- item 8: personal data out of the chain


def _chain_text(ctx: Any) -> str:
    with ctx.db.session() as s:
        return "\n".join(
            json.dumps([e.actor, e.action, e.object_id, e.details], ensure_ascii=False)
            for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))
        )


def test_personal_details_stay_out_of_the_chain_and_are_purged(
    populated: tuple[Any, Any], enrolled_people: list[Any]
) -> None:
    ctx, plan = populated
    rec = make_alert(plan, ctx, "Al_Gore", PROBE)
    asvc.StoreAlertSink(ctx, plan.deployment_id).submit(rec)
    alert_id = asvc.list_alerts(ctx).data[0].id
    with ctx.db.session() as s:
        entry_id = s.scalar(select(Alert.entry_id).where(Alert.id == alert_id))
    asvc.adjudicate(ctx, alert_id, "op", "operator", "false", outcome="not_engaged", note=NOTE)
    watchlists.add_person(
        ctx,
        "standing",
        "Abdullah_Gul",
        [FACES / "Abdullah_Gul" / "Abdullah_Gul_0002.jpg"],
        "op",
        display_name="Abdullah Gul",
    )

    chain = _chain_text(ctx)
    for p in enrolled_people:
        assert p.person_id not in chain and p.name not in chain, p.person_id
    assert NOTE not in chain
    assert f'"entry_id": {entry_id}' not in chain and f'"entry_id":{entry_id}' not in chain

    # shown while they exist
    ev = [asdict(e) for e in audit_log.search(ctx, action="alert.").data]
    create = next(e for e in ev if e["action"] == "alert.create")
    adj = next(e for e in ev if e["action"] == "alert.adjudicate")
    assert create["details"]["private"]["status"] == "present"
    assert create["details"]["private"]["data"]["person_id"] == "Al_Gore"
    assert create["details"]["private"]["data"]["entry_id"] == entry_id
    assert adj["details"]["private"]["data"]["note"] == NOTE
    assert create["details"]["deployment_id"] == plan.deployment_id  # non-personal facts stay in the chain
    found = audit_log.search(ctx, text="al_gore")  # text search reaches the private details
    assert "alert.create" in {e.action for e in found.data} and found.count == len(found.data)

    # retention purges the alert: its private details go, the chain still verifies
    retention.sweep(ctx, now=datetime.now(UTC) + timedelta(hours=25))
    ev = [asdict(e) for e in audit_log.search(ctx, action="alert.").data]
    for e in ev:
        if e["action"] in ("alert.create", "alert.adjudicate") and e["object_id"] == str(alert_id):
            assert e["details"]["private"]["status"] == "purged" and e["details"]["private"]["data"] is None
    assert "Al_Gore" not in json.dumps(ev) and NOTE not in json.dumps(ev)
    assert "alert.create" not in {e.action for e in audit_log.search(ctx, text="al_gore").data}
    enrol = audit_log.search(ctx, action="watchlist.enrol").data[0]
    assert enrol.details["private"]["data"] == {"person_id": "Abdullah_Gul"}  # not an alert: kept
    res = audit_admin.verify(ctx)
    assert res.ok, res.problem


def test_swapped_private_details_are_detected(populated: tuple[Any, Any]) -> None:
    ctx, plan = populated
    sink = asvc.StoreAlertSink(ctx, plan.deployment_id)
    sink.submit(make_alert(plan, ctx, "Al_Gore", PROBE))
    sink.submit(make_alert(plan, ctx, "Adrien_Brody", PROBE))
    assert audit_admin.verify(ctx).ok
    with ctx.db.engine.begin() as conn:
        rows = conn.execute(text("SELECT id, data_enc FROM audit_details ORDER BY id")).all()
        a_id, b_enc = rows[-2][0], rows[-1][1]
        conn.execute(text("UPDATE audit_details SET data_enc = :v WHERE id = :i"), {"v": b_enc, "i": a_id})
    res = audit_admin.verify(ctx)
    assert not res.ok and "private audit detail" in (res.problem or "")


# ---------------------------------------------------------------- item 9b: ciphertexts bound to rows


def _embedding_rows(ctx: Any, watchlist: str) -> dict[str, int]:
    with ctx.db.session() as s:
        return {
            pid: int(eid)
            for pid, eid in s.execute(
                select(WatchlistEntry.person_id, ReferenceEmbedding.id)
                .join(Watchlist, Watchlist.id == WatchlistEntry.watchlist_id)
                .join(ReferenceImage, ReferenceImage.entry_id == WatchlistEntry.id)
                .join(ReferenceEmbedding, ReferenceEmbedding.image_id == ReferenceImage.id)
                .where(Watchlist.name == watchlist)
            )
        }


def test_embedding_pasted_into_another_entry_is_refused(gov_ctx: Any, enrolled_people: list[Any]) -> None:
    ctx = gov_ctx
    seed_watchlist(ctx, "standing", enrolled_people)
    watchlists.load_index(ctx, "standing")  # loads while intact
    rows = _embedding_rows(ctx, "standing")
    # one person's (encrypted) embedding pasted into another person's entry
    _sql(
        ctx,
        f"UPDATE reference_embeddings SET vector_enc = (SELECT vector_enc FROM reference_embeddings "
        f"WHERE id = {rows['Al_Gore']}) WHERE id = {rows['Adrien_Brody']}",
    )
    with pytest.raises(OpenLFRError) as e:
        watchlists.load_index(ctx, "standing")
    assert _code(e) in ("ciphertext_rejected", "watchlist_integrity")


def test_alert_image_and_camera_url_copied_between_rows_are_refused(populated: tuple[Any, Any]) -> None:
    ctx, plan = populated
    sink = asvc.StoreAlertSink(ctx, plan.deployment_id)
    sink.submit(make_alert(plan, ctx, "Al_Gore", PROBE))
    sink.submit(make_alert(plan, ctx, "Adrien_Brody", (FACES / "Adrien_Brody" / "Adrien_Brody_0002.jpg").read_bytes()))
    with ctx.db.session() as s:
        probes = {
            a: i for a, i in s.execute(select(AlertImage.alert_id, AlertImage.id).where(AlertImage.kind == "probe"))
        }
    first, second = sorted(probes)
    _sql(
        ctx,
        f"UPDATE alert_images SET data_enc = (SELECT data_enc FROM alert_images WHERE id = {probes[first]}) "
        f"WHERE id = {probes[second]}",
    )
    assert asvc.alert_image(ctx, first, "probe", "op", "operator")[0] == PROBE
    with pytest.raises(OpenLFRError) as e:
        asvc.alert_image(ctx, second, "probe", "op", "operator")
    assert _code(e) == "ciphertext_rejected"
    # a camera URL (may hold credentials) moved to another deployment's camera
    now = datetime.now(UTC)
    other = dsvc.create(
        ctx,
        location="Elsewhere St, by the station",
        purpose="wanted",
        planned_start=now - timedelta(minutes=1),
        planned_end=now + timedelta(hours=1),
        actor="c",
        source_watchlist="standing",
        all_entries_reason="op L",
        cameras=[dsvc.CameraSpec("camX", "rtsp://x:secret@10.9.9.9/s")],
        threshold=0.9,
        legal_basis="Common law policing powers; force LFR policy v1",
    )
    dsvc.authorise(ctx, other.id, "sup", "supervisor", "Supt L", justification=WHY)
    _sql(
        ctx,
        f"UPDATE deployment_cameras SET url_enc = (SELECT url_enc FROM deployment_cameras WHERE "
        f"deployment_id = {other.id}) WHERE deployment_id = {plan.deployment_id}",
    )
    with pytest.raises(OpenLFRError) as e:
        dsvc.live_plan(ctx, plan.deployment_id)
    assert _code(e) == "ciphertext_rejected"


def test_old_format_values_still_decrypt_and_reencrypt_binds_them(gov_ctx: Any, enrolled_people: list[Any]) -> None:
    from cryptography.fernet import Fernet

    from openlfr.storage.crypto import MAGIC
    from openlfr.storage.sealed import unseal

    ctx = gov_ctx
    seed_watchlist(ctx, "standing", enrolled_people[:2])
    fernet = Fernet(ctx.settings.resolved_key_file.read_text().strip().encode())
    with ctx.db.session() as s:  # as written before issue 13: Fernet tokens, no binding
        for img in s.scalars(select(ReferenceImage)):
            img.image_enc = fernet.encrypt(unseal(ctx.cipher, img))
        for emb in s.scalars(select(ReferenceEmbedding)):
            emb.vector_enc = fernet.encrypt(unseal(ctx.cipher, emb))
    idx, _ = watchlists.load_index(ctx, "standing")
    assert idx.size == 2
    keys.reencrypt(ctx, "admin")
    with ctx.db.session() as s:
        assert all(bytes(t).startswith(MAGIC) for t in s.scalars(select(ReferenceEmbedding.vector_enc)))
        assert all(bytes(t).startswith(MAGIC) for t in s.scalars(select(ReferenceImage.image_enc)))
    assert watchlists.load_index(ctx, "standing")[0].size == 2


# ---------------------------------------------------------------- item 9a: watchlist integrity digest


def _integrity_events(ctx: Any) -> int:
    with ctx.db.session() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "watchlist.integrity_failed")
            )
            or 0
        )


@pytest.mark.parametrize(
    "attack",
    [
        "UPDATE watchlist_entries SET display_name = 'Someone Else' WHERE person_id = 'Al_Gore'",
        "UPDATE watchlist_entries SET person_id = 'Innocent_Person' WHERE person_id = 'Al_Gore'",
        "UPDATE reference_images SET entry_id = (SELECT id FROM watchlist_entries WHERE person_id = 'Adrien_Brody') "
        "WHERE entry_id = (SELECT id FROM watchlist_entries WHERE person_id = 'Al_Gore')",
        "DELETE FROM watchlist_entries WHERE person_id = 'Aaron_Peirsol'",
    ],
)
def test_watchlist_edited_behind_the_service_is_refused_and_audited(
    gov_ctx: Any, enrolled_people: list[Any], attack: str
) -> None:
    ctx = gov_ctx
    seed_watchlist(ctx, "standing", enrolled_people)
    assert watchlists.load_index(ctx, "standing")[0].size == 5
    _sql(ctx, attack)
    with pytest.raises(OpenLFRError) as e:
        watchlists.load_index(ctx, "standing")
    assert _code(e) == "watchlist_integrity"
    assert _integrity_events(ctx) == 1


def test_legitimate_changes_keep_the_list_loadable(gov_ctx: Any, enrolled_people: list[Any]) -> None:
    ctx = gov_ctx
    seed_watchlist(ctx, "standing", enrolled_people)
    res = watchlists.add_person(ctx, "standing", "Al_Gore", [FACES / "Al_Gore" / "Al_Gore_0003.jpg"], "op")
    assert res.accepted == 1
    assert watchlists.load_index(ctx, "standing")[0].size == 5  # entries; Al Gore now has two photos
    watchlists.remove_entry(ctx, "standing", "Adrien_Brody", "op")
    assert watchlists.load_index(ctx, "standing")[0].size == 4
    retention.sweep(ctx)  # nothing expires: the list stays sealed
    assert watchlists.load_index(ctx, "standing")[0].size == 4
    assert _integrity_events(ctx) == 0


def test_removing_an_entry_does_not_reseal_a_tampered_list(gov_ctx: Any, enrolled_people: list[Any]) -> None:
    ctx = gov_ctx
    seed_watchlist(ctx, "standing", enrolled_people)
    _sql(ctx, "UPDATE watchlist_entries SET display_name = 'Someone Else' WHERE person_id = 'Al_Gore'")
    watchlists.remove_entry(ctx, "standing", "Adrien_Brody", "op")  # allowed (it only removes data)
    with pytest.raises(OpenLFRError) as e:
        watchlists.load_index(ctx, "standing")
    assert _code(e) == "watchlist_integrity"


def test_deployment_list_edited_after_authorisation_cannot_run(populated: tuple[Any, Any]) -> None:
    ctx, plan = populated
    _sql(ctx, f"UPDATE watchlist_entries SET category = 'other' WHERE watchlist_id = {plan.watchlist_id}")
    with pytest.raises(OpenLFRError) as e:
        dsvc.live_plan(ctx, plan.deployment_id)
    assert _code(e) == "watchlist_integrity"
    assert _integrity_events(ctx) == 1


def test_unsealed_list_is_refused_until_sealed(gov_ctx: Any, enrolled_people: list[Any]) -> None:
    ctx = gov_ctx
    seed_watchlist(ctx, "standing", enrolled_people[:2])
    _sql(ctx, "UPDATE watchlists SET integrity_digest = NULL")
    with pytest.raises(OpenLFRError) as e:
        watchlists.load_index(ctx, "standing")
    assert _code(e) == "watchlist_unsealed"
    res = keys.reencrypt(ctx, "admin")
    assert res.watchlists["sealed"] == ["standing"]
    assert watchlists.load_index(ctx, "standing")[0].size == 2


# ---------------------------------------------------------------- item 10: rotation while a deployment runs


def _writer(data_dir: str, db_url: str | None, deployment_id: int, ready: Any, stop: Any, out: Any) -> None:
    """Another process: keeps storing alerts and reading them back, with the key it loaded at start."""
    from openlfr.services import alerts
    from openlfr.services import deployments as dep
    from openlfr.services.context import AppContext
    from openlfr.settings import load_settings

    ctx = AppContext(load_settings(data_dir=Path(data_dir), database_url=db_url, actor="camera"))
    plan = dep.live_plan(ctx, deployment_id)
    sink = alerts.StoreAlertSink(ctx, deployment_id)
    stored: list[str] = []
    errors: list[str] = []
    while not stop.is_set():
        try:
            rec = make_alert(plan, ctx, "Al_Gore", PROBE)
            row = sink.store(rec)
            if alerts.alert_image(ctx, row, "probe", "op", "operator")[0] != PROBE:
                errors.append(f"alert {row}: probe read back differs")
            stored.append(rec.alert_id)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        if len(stored) == 1:
            ready.set()
        time.sleep(0.01)
    out.put((stored, errors[:5], len(errors)))
    ctx.close()


def test_rotation_while_another_process_stores_alerts(populated: tuple[Any, Any]) -> None:
    ctx, plan = populated
    mpc = mp.get_context("spawn")
    ready, stop, out = mpc.Event(), mpc.Event(), mpc.Queue()
    proc = mpc.Process(
        target=_writer,
        args=(str(ctx.settings.data_dir), ctx.settings.database_url, plan.deployment_id, ready, stop, out),
    )
    proc.start()
    try:
        assert ready.wait(120), "writer did not start"
        t0 = datetime.now(UTC)
        res = keys.rotate(ctx, "admin")
        t1 = datetime.now(UTC)
        time.sleep(1.5)  # the writer keeps going with the new key only in the file
        stop.set()
        stored, errors, n_errors = out.get(timeout=60)
    finally:
        stop.set()
        proc.join(60)
    assert n_errors == 0, errors
    key_text = ctx.settings.resolved_key_file.read_text().strip()
    assert "," not in key_text and res.retired_key_ids
    from openlfr.services.context import AppContext

    fresh = AppContext(ctx.settings)  # holds the new key only
    try:
        with fresh.db.session() as s:
            rows = s.execute(
                select(Alert.id, Alert.alert_uid, Alert.received_at).where(Alert.alert_uid.in_(stored))
            ).all()
        assert len(rows) == len(stored)
        during = [r for r in rows if t0 <= (r[2] if r[2].tzinfo else r[2].replace(tzinfo=UTC)) <= t1]
        assert during, "no alert was written during the rotation"
        for rid, _uid, _at in rows:
            assert asvc.alert_image(fresh, rid, "probe", "auditor-check", "operator")[0] == PROBE
        assert dsvc.live_plan(fresh, plan.deployment_id).cameras[0].url == "rtsp://u:pw@10.1.1.1/s"
        assert watchlists.load_index(fresh, plan.watchlist)[0].size == 5
        v = audit_admin.verify(fresh)
        assert v.ok and v.anchor["signature"] == "valid", v.problem
    finally:
        fresh.close()
