"""Watchlist entries: list, enrol photos (several at once), remove, view a reference photo."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi import Path as FastPath
from fastapi.responses import Response

from openlfr.api.deps import Id, Managers, Staff, StaffViewer, State, private_image
from openlfr.api.schemas import EnrolResult, EntryPublic, Page
from openlfr.api.schemas_ops import EntryRemoved
from openlfr.api.uploads import check_image_upload
from openlfr.errors import InputError
from openlfr.services import enrol_checks, watchlists
from openlfr.services.media import sniff_image

router = APIRouter(prefix="/api/watchlists/{name}/entries", tags=["entries"])


@router.get("", response_model=Page[EntryPublic])
def list_entries(
    name: str,
    st: State,
    p: Staff,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    rows = watchlists.show(st.ctx, name).entries
    return {"data": rows[offset : offset + limit], "count": len(rows)}


@router.post(
    "", response_model=EnrolResult, summary="Enrol photos of one person (each accepted or rejected, with the reason)"
)
def add_photos(
    name: str,
    st: State,
    p: Managers,
    person_id: Annotated[str, Form(min_length=1, max_length=200)],
    files: Annotated[list[UploadFile], File(description="One or more photos of this person")],
    display_name: Annotated[str, Form(max_length=300)] = "",
    category: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> dict[str, Any]:
    watchlists.check_editable(st.ctx, name, "add people or photos")
    if len(files) > st.api.max_files_per_request:
        raise InputError(f"at most {st.api.max_files_per_request} files per upload", code="too_many_files")
    limit = st.ctx.settings.max_upload_bytes
    good: list[tuple[str, bytes]] = []
    refused: list[dict[str, str]] = []
    for f in files:
        label = (f.filename or "upload")[:200]
        data = f.file.read(limit + 1)
        why = check_image_upload(label, data, f.content_type, limit)
        if why is None:
            good.append((label, data))
        else:
            refused.append({"source": label, "person_id": person_id, "reason": why})
    result: dict[str, Any] = {
        "accepted_images": 0,
        "people": 0,
        "rejected_images": 0,
        "rejected_by_reason": {},
        "rejected": [],
    }
    if good:
        with st.engine_lock:
            res = watchlists.add_person(
                st.ctx,
                name,
                person_id,
                good,
                p.username,
                display_name=display_name,
                category=category,
                reason=reason,
                source_note="console upload",
            )
            result = asdict(res.summary())
            if res.accepted:  # several photos of one person: do they look like one person?
                result["consistency"] = enrol_checks.consistency(st.ctx, name, person_id.strip(), by_person_id=True)
    else:
        watchlists.show(st.ctx, name)  # 404 for an unknown list even when every file was refused
    for r in refused:
        result["rejected"].append(r)
        key = r["reason"].split(":", 1)[0]
        result["rejected_by_reason"][key] = result["rejected_by_reason"].get(key, 0) + 1
    result["rejected_images"] = len(result["rejected"])
    good.clear()
    return result


ENTRY_REF = "The person id (always, even when all digits), or `entry:<id>` for an entry's numeric id."


@router.delete("/{entry}", response_model=EntryRemoved, summary="Remove a person with their photos and embeddings")
def remove_entry(
    name: str, entry: Annotated[str, FastPath(description=ENTRY_REF, max_length=210)], st: State, p: Managers
) -> watchlists.EntryRemoved:
    return watchlists.remove_entry(st.ctx, name, entry, p.username)


@router.get(
    "/{entry}/images/{index}",
    response_class=Response,
    response_model=None,
    summary="A reference photo (audited; never for auditors)",
    responses={200: {"content": {"image/jpeg": {}}}},
)
def entry_photo(
    name: str,
    entry: Annotated[str, FastPath(description=ENTRY_REF, max_length=210)],
    index: Id,
    st: State,
    v: StaffViewer,
) -> Response:
    p = v.principal
    data, media = watchlists.entry_image(st.ctx, name, entry, index, p.username, p.role, audited=v.covered)
    return private_image(data, sniff_image(data) or media)
