"""`openlfr watchlist reembed`: a list enrolled with an older model is re-embedded from its stored (encrypted)
photos with the current model, audited, integrity re-sealed; refused while a deployment of the list is live;
`watchlist list` and `models list` say when a list's vectors are from another model."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from openlfr.engine.imageio import load_image
from openlfr.engine.pipeline import EngineConfig
from openlfr.errors import ConflictError
from openlfr.services import deployments as dsvc
from openlfr.services import watchlists
from openlfr.services.context import AppContext
from openlfr.storage.models import AuditEvent, ReferenceEmbedding

FACES = Path(__file__).resolve().parents[1] / "data" / "faces"
OLD = EngineConfig(detector="dlib-hog", detector_options={"upsample": 1, "min_face_px": 40}, embedder="fused")


def _old_list(ctx: Any, name: str = "standing") -> None:
    old = AppContext(ctx.settings, engine_config=OLD)
    watchlists.create(old, name, "tester")
    for person in ("Al_Gore", "Adrien_Brody"):
        res = watchlists.add_person(old, name, person, sorted((FACES / person).iterdir())[:2], "tester")
        assert res.accepted == 2, res.summary()
    old.close()


def test_reembed_replaces_old_vectors_and_is_audited(gov_ctx: Any) -> None:
    ctx = gov_ctx
    _old_list(ctx)
    [row] = watchlists.list_all(ctx)
    assert (row.embedder or "").startswith("fused:") and row.embedder_current is False
    with pytest.raises(ConflictError) as e:
        watchlists.load_index(ctx, "standing")
    assert e.value.code == "model_mismatch"

    out = watchlists.reembed(ctx, "standing", "sup")
    family = ctx.engine.embedder.family
    assert out.images == 4 and out.embedded == 4 and out.without_face == 0
    assert (out.from_model or "").startswith("fused:") and out.to_model == family
    assert watchlists.show(ctx, "standing").embedder_current is True
    with ctx.db.session() as s:
        embs = list(s.scalars(select(ReferenceEmbedding)))
        assert len(embs) == 4 and {e.model_family for e in embs} == {family}
        assert {e.dim for e in embs} == {ctx.engine.embedder.dim}
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "watchlist.reembed")).one()
        assert ev.actor == "sup" and ev.details["embedded"] == 4 and "Al_Gore" not in json.dumps(ev.details)
    # the re-embedded list loads (integrity re-sealed) and finds its people with the new model
    index, _ = watchlists.load_index(ctx, "standing")
    probe = load_image(sorted((FACES / "Al_Gore").iterdir())[2])  # a photo not enrolled
    a = ctx.engine.analyse(probe)
    assert a.faces.embedding is not None
    [best] = index.search(a.faces.embedding[:1], top_k=1, threshold=0.0)[0]
    assert index.entries[[e.entry_id for e in index.entries].index(best.entry_id)].person_id == "Al_Gore"
    # running it again is harmless (same model: same vectors, nothing lost)
    again = watchlists.reembed(ctx, "standing", "sup")
    assert again.embedded == 4 and again.from_model == family


def test_reembed_refused_while_a_deployment_of_the_list_is_live(gov_ctx: Any) -> None:
    ctx = gov_ctx
    _old_list(ctx)
    watchlists.reembed(ctx, "standing", "sup")  # a deployment copies vectors of the current model
    now = datetime.now(UTC)
    d = dsvc.create(
        ctx,
        location="Upper St",
        purpose="wanted for serious offences",
        planned_start=now,
        planned_end=now + timedelta(hours=2),
        actor="creator",
        source_watchlist="standing",
        entries=[dsvc.EntrySelection("Al_Gore", "warrant W1")],
        cameras=[dsvc.CameraSpec("cam1", "rtsp://127.0.0.1:8554/live")],
        legal_basis="PACE s.1 policy LFR-2.3(a)",
    )
    dsvc.authorise(ctx, d.id, "sup", "supervisor", "Supt A Smith", "briefed")
    dsvc.mark_live(ctx, d.id, "op")
    wl_name = next(w.name for w in watchlists.list_all(ctx) if w.id == d.watchlist_id)
    with pytest.raises(ConflictError) as e:
        watchlists.reembed(ctx, wl_name, "sup")
    assert e.value.code == "deployment_live"
    # the standing list it came from is not in use by the live run: it can be re-embedded
    assert watchlists.reembed(ctx, "standing", "sup").embedded == 4


def test_cli_reembed_all_and_stale_warning(cli, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from openlfr.settings import load_settings

    assert cli("init").returncode == 0
    ctx = AppContext(load_settings())
    _old_list(ctx, "old")
    ctx.close()
    p = cli("watchlist", "list")
    assert "old" in p.stdout and "reembed" in p.stdout
    p = cli("models", "list", "--json")
    assert json.loads(p.stdout)["stale_watchlists"] == ["old"]
    p = cli("watchlist", "reembed", "--all", "--json")
    assert p.returncode == 0, p.stderr
    [r] = json.loads(p.stdout)["data"]
    assert r["watchlist"] == "old" and r["embedded"] == 4
    assert json.loads(cli("models", "list", "--json").stdout)["stale_watchlists"] == []
    p = cli("watchlist", "reembed", "old", "--all")
    assert p.returncode != 0 and "not both" in p.stderr


def test_api_reembed_and_stale_flag(data_dir: Path) -> None:
    """Through the HTTP API: the list shows embedder_current False, a supervisor re-embeds it, an operator may not."""
    from tests.integration.apihelp import make_env

    env = make_env(data_dir)
    _old_list(env.ctx)
    c = env.client
    [row] = c.get("/api/watchlists", headers=env.h("operator")).json()["data"]
    assert row["embedder_current"] is False and row["embedder"].startswith("fused:")
    assert c.post("/api/watchlists/standing/reembed", headers=env.h("operator")).status_code == 403
    r = c.post("/api/watchlists/standing/reembed", headers=env.h("supervisor"))
    assert r.status_code == 200, r.text
    assert r.json()["embedded"] == 4 and r.json()["without_face"] == 0
    assert c.get("/api/watchlists/standing", headers=env.h("operator")).json()["embedder_current"] is True
