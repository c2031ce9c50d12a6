"""Editing watchlists from the console: an entry's name, category and reason; a list's description;
and whether an entry's photos look like one person."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as FastPath
from pydantic import Field

from openlfr.api.deps import Managers, Staff, State, numeric_ref
from openlfr.api.schemas import Consistency, Strict
from openlfr.api.schemas_ops import EntryEdited, EntryPhotos, PhotoRemoved, WatchlistEdited
from openlfr.errors import InputError
from openlfr.services import enrol_checks

router = APIRouter(prefix="/api/watchlists/{name}", tags=["entries"])


class EntryUpdate(Strict):
    display_name: str | None = Field(None, min_length=1, max_length=300)
    category: str | None = Field(None, max_length=200)
    reason: str | None = Field(None, max_length=2000)


class WatchlistUpdate(Strict):
    description: str = Field(..., max_length=2000)


@router.patch("", response_model=WatchlistEdited, summary="Edit a standing watchlist's description (audited)")
def update_watchlist(name: str, body: WatchlistUpdate, st: State, p: Managers) -> enrol_checks.WatchlistEdited:
    return enrol_checks.update_watchlist(st.ctx, name, p.username, body.description)


@router.patch(
    "/entries/{entry}", response_model=EntryEdited, summary="Edit an entry's name, category or reason (audited)"
)
def update_entry(name: str, entry: str, body: EntryUpdate, st: State, p: Managers) -> enrol_checks.EntryEdited:
    changes = {k: v for k, v in body.model_dump().items() if v is not None}
    if not changes:
        raise InputError("nothing to change: send display_name, category or reason", code="nothing_to_change")
    return enrol_checks.update_entry(st.ctx, name, numeric_ref(entry), p.username, changes)


@router.get(
    "/entries/{entry}/consistency",
    response_model=Consistency,
    summary="Do an entry's photos score as one person against each other?",
)
def entry_consistency(name: str, entry: str, st: State, p: Staff) -> enrol_checks.Consistency:
    with st.engine_lock:
        return enrol_checks.consistency(st.ctx, name, numeric_ref(entry))


@router.get(
    "/entries/{entry}/photos",
    response_model=EntryPhotos,
    summary="An entry's photos (metadata; each photo is served by images/{index}) and whether they score as one person",
)
def entry_photos(name: str, entry: str, st: State, p: Staff) -> enrol_checks.EntryPhotos:
    with st.engine_lock:
        return enrol_checks.entry_photos(st.ctx, name, numeric_ref(entry))


@router.delete(
    "/entries/{entry}/images/{index}",
    response_model=PhotoRemoved,
    summary="Remove one photo of a person (audited; not the last one)",
)
def remove_photo(
    name: str,
    entry: str,
    index: Annotated[int, FastPath(ge=0, le=100_000)],
    st: State,
    p: Managers,
    image_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
) -> enrol_checks.PhotoRemoved:
    return enrol_checks.remove_photo(st.ctx, name, numeric_ref(entry), index, image_id, p.username)
