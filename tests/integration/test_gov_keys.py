"""Key rotation (P7) on SQLite and PostgreSQL: every encrypted value is re-encrypted with the new key,
the old key is retired, an interrupted rotation can be finished, and the audit anchor follows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from tests.integration.conftest import FACES, make_alert, seed_watchlist

from openlfr.errors import ConfigError
from openlfr.services import alerts as asvc
from openlfr.services import audit_admin, keys
from openlfr.services import deployments as dsvc
from openlfr.storage.crypto import Cipher

PROBE = (FACES / "Al_Gore" / "Al_Gore_0002.jpg").read_bytes()


def _n_private(ctx: Any) -> int:
    from sqlalchemy import func

    from openlfr.storage.models import AuditDetail

    with ctx.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(AuditDetail)) or 0)


def _all_sealed(ctx: Any) -> list[tuple[bytes, bytes]]:
    """(ciphertext, associated data) of every encrypted value."""
    from openlfr.storage.sealed import SEALED

    out: list[tuple[bytes, bytes]] = []
    with ctx.db.session() as s:
        for spec in SEALED:
            parts = [getattr(spec.model, p) for p in spec.parts]
            out += [
                (bytes(r[0]), spec.aad(tuple(r[1:])))
                for r in s.execute(select(getattr(spec.model, spec.column), *parts).order_by(spec.model.id))
            ]
    return out


def _all_tokens(ctx: Any) -> list[bytes]:
    return [t for t, _ in _all_sealed(ctx)]


@pytest.fixture
def populated(gov_ctx: Any, enrolled_people: list[Any]) -> Any:
    ctx = gov_ctx
    seed_watchlist(ctx, "standing", enrolled_people)
    now = datetime.now(UTC)
    d = dsvc.create(
        ctx,
        location="Kings Rd, Chelsea, by the town hall",
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
    dsvc.authorise(
        ctx,
        d.id,
        "sup",
        "supervisor",
        "Supt K",
        justification="test fixture: alerts here are synthetic, stored at a fixed threshold 0.9",
    )
    plan = dsvc.mark_live(ctx, d.id, "op")
    asvc.StoreAlertSink(ctx, plan.deployment_id).submit(make_alert(plan, ctx, "Al_Gore", PROBE))
    return ctx


def test_rotate_reencrypts_everything_and_retires_the_old_key(populated: Any) -> None:
    ctx = populated
    old_key = ctx.settings.resolved_key_file.read_text().strip()
    sealed_before = _all_sealed(ctx)
    before = [t for t, _ in sealed_before]
    plain = [ctx.cipher.decrypt(t, aad) for t, aad in sealed_before]
    # standing and copied photos+vectors, probe+reference, camera URL, private audit details
    assert len(before) == 10 + 10 + 2 + 1 + _n_private(ctx)

    res = keys.rotate(ctx, "admin")
    assert sum(res.reencrypted.values()) == len(before)
    new_key = ctx.settings.resolved_key_file.read_text().strip()
    assert "," not in new_key and new_key != old_key
    assert (ctx.settings.resolved_key_file.stat().st_mode & 0o777) == 0o600
    sealed_after = _all_sealed(ctx)
    after = [t for t, _ in sealed_after]
    assert not set(after) & set(before)
    new_only, old_only = Cipher([new_key.encode()]), Cipher([old_key.encode()])
    assert [new_only.decrypt(t, aad) for t, aad in sealed_after] == plain
    with pytest.raises(ConfigError) as e:
        old_only.decrypt(*sealed_after[0])
    assert e.value.code == "wrong_key"
    # the services keep working with the rotated key
    a = asvc.list_alerts(ctx).data[0]
    assert asvc.alert_image(ctx, a.id, "probe", "op", "operator")[0] == PROBE
    assert (
        a.deployment_id is not None and dsvc.live_plan(ctx, a.deployment_id).cameras[0].url == "rtsp://u:pw@10.1.1.1/s"
    )
    v = audit_admin.verify(ctx)
    assert v.ok and v.anchor["signature"] == "valid"


def test_interrupted_rotation_can_be_finished(populated: Any) -> None:
    ctx = populated
    path = ctx.settings.resolved_key_file
    old = path.read_text().strip()
    new = Fernet.generate_key().decode()
    # as if `keys rotate` died after writing NEW,OLD and re-encrypting only part of the data
    path.write_text(f"{new},{old}\n")
    ctx.__dict__.pop("cipher", None)
    half = Cipher([new.encode(), old.encode()])
    from openlfr.storage.models import ReferenceImage
    from openlfr.storage.sealed import aad_for

    with ctx.db.session() as s:
        for img in s.scalars(select(ReferenceImage)):
            img.image_enc = half.rotate(img.image_enc, aad_for(img))
    res = keys.reencrypt(ctx, "admin")
    assert len(res.retired_key_ids) == 1
    assert path.read_text().strip() == new
    only_new = Cipher([new.encode()])
    assert all(only_new.decrypt(t, aad) for t, aad in _all_sealed(ctx))


def test_rotation_refuses_a_key_from_the_environment(populated: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from openlfr.services.context import AppContext
    from openlfr.settings import load_settings

    key = populated.settings.resolved_key_file.read_text().strip()
    st = load_settings(data_dir=populated.settings.data_dir, database_url=populated.settings.database_url, key=key)
    with pytest.raises(ConfigError) as e:
        keys.rotate(AppContext(st), "admin")
    assert e.value.code == "key_in_environment"
