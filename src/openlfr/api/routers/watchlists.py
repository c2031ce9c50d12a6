"""Watchlists: list, create, show, delete; one-photo checks against a list (OIFR)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile

from openlfr.api.deps import Managers, Staff, State
from openlfr.api.schemas import CheckResult, Page, ReembedResult, WatchlistCreate, WatchlistDetail, WatchlistPublic
from openlfr.api.schemas_ops import WatchlistDeleted
from openlfr.api.uploads import require_image
from openlfr.services import check, watchlists

router = APIRouter(prefix="/api/watchlists", tags=["watchlists"])


@router.get("", response_model=Page[WatchlistPublic])
def list_watchlists(
    st: State,
    p: Staff,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    bespoke: Annotated[bool, Query(description="Include deployments' own lists")] = False,
) -> dict[str, Any]:
    rows = [w for w in watchlists.list_all(st.ctx) if bespoke or w.deployment_id is None]
    return {"data": rows[offset : offset + limit], "count": len(rows)}


@router.post("", response_model=WatchlistPublic, status_code=201)
def create_watchlist(body: WatchlistCreate, st: State, p: Managers) -> dict[str, Any]:
    made = watchlists.create(st.ctx, body.name, p.username, description=body.description)
    return {"id": made.id, "name": made.name, "description": body.description, "entries": 0, "images": 0}


@router.get("/{name}", response_model=WatchlistDetail)
def show_watchlist(name: str, st: State, p: Staff) -> watchlists.WatchlistView:
    return watchlists.show(st.ctx, name)


@router.post(
    "/{name}/reembed",
    response_model=ReembedResult,
    summary="Re-embed the list's stored photos with the current model (after a model change)",
)
def reembed_watchlist(name: str, st: State, p: Managers) -> watchlists.ReembedResult:
    return watchlists.reembed(st.ctx, name, p.username)


@router.delete("/{name}", response_model=WatchlistDeleted, summary="Delete a watchlist with every photo and embedding")
def delete_watchlist(name: str, st: State, p: Managers) -> dict[str, Any]:
    return {"deleted": watchlists.delete_watchlist(st.ctx, name, p.username), "name": name}


@router.post("/{name}/check", response_model=CheckResult, summary="Check one photo against the watchlist")
def check_photo(
    name: str,
    st: State,
    p: Staff,
    image: Annotated[UploadFile, File(description="JPEG/PNG/WebP/BMP")],
    threshold: Annotated[float | None, Form(ge=0, le=1)] = None,
    top_k: Annotated[int, Form(ge=1, le=100)] = 5,
) -> check.CheckResult:
    data = image.file.read(st.ctx.settings.max_upload_bytes + 1)
    label = (image.filename or "upload")[:200]
    require_image(label, data, image.content_type, st.ctx.settings.max_upload_bytes)
    with st.engine_lock:
        out = check.check_image(st.ctx, (label, data), name, p.username, threshold=threshold, top_k=top_k)
    del data
    return out
