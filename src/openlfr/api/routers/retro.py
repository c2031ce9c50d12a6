"""Retrospective search from the console: upload a video or photos, or pick a recording from the
media folder; the search runs in the background (poll its progress); appearances come with the
matched face and its frame (every other face pixelated). Results are held in memory only."""

from __future__ import annotations

import threading
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from openlfr.api.deps import Staff, StaffViewer, State, private_image
from openlfr.api.schemas_ops import MediaList, RetroDeleted, RetroJob, RetroJobList
from openlfr.api.state import AppState
from openlfr.api.uploads import check_image_upload
from openlfr.errors import InputError
from openlfr.services.retro_jobs import JobView, RetroJobs
from openlfr.types import VIDEO_SUFFIXES

router = APIRouter(prefix="/api/retro", tags=["retrospective search"])
_make = threading.Lock()


def jobs(request: Request, st: AppState) -> RetroJobs:
    reg: RetroJobs | None = getattr(request.app.state, "openlfr_retro", None)
    if reg is None:
        with _make:
            reg = getattr(request.app.state, "openlfr_retro", None)
            if reg is None:
                reg = RetroJobs(st.ctx, st.engine_lock, media_dir=st.api.media_dir)
                request.app.state.openlfr_retro = reg
    return reg


@router.get(
    "/media",
    response_model=MediaList,
    response_model_exclude_unset=True,
    summary="Recordings in the configured media folder",
)
def list_media(request: Request, st: State, p: Staff) -> dict[str, Any]:
    rows = jobs(request, st).media()
    return {"data": rows, "count": len(rows), "configured": st.api.media_dir is not None}


@router.post(
    "", response_model=RetroJob, status_code=202, summary="Start a search: one video, or photos, or a recording's name"
)
def start(
    request: Request,
    st: State,
    p: Staff,
    watchlist: Annotated[str, Form(min_length=1, max_length=200)],
    files: Annotated[list[UploadFile] | None, File(description="One video, or photos")] = None,
    media: Annotated[str, Form(max_length=255)] = "",
    threshold: Annotated[float | None, Form(ge=0, le=1)] = None,
    fps: Annotated[float | None, Form(gt=0, le=60)] = None,
) -> JobView:
    reg = jobs(request, st)
    files = [f for f in (files or []) if f.filename or f.size]
    if media and files:
        raise InputError("pick a recording or upload files, not both", code="bad_media")
    if media:
        return reg.start_media(p.username, watchlist, media, threshold=threshold, fps=fps).view()
    if not files:
        raise InputError("upload a video or photos, or pick a recording", code="bad_media")
    limit = st.api.max_request_bytes
    videos = [f for f in files if any((f.filename or "").lower().endswith(s) for s in VIDEO_SUFFIXES)]
    if videos:
        if len(files) != 1:
            raise InputError("send one video at a time (or only photos)", code="bad_media")
        data = files[0].file.read(limit + 1)
        if not data:
            raise InputError(f"{files[0].filename}: empty file", code="bad_video")
        return reg.start_upload(
            p.username, watchlist, video=((files[0].filename or "video")[:200], data), threshold=threshold, fps=fps
        ).view()
    if len(files) > st.api.max_files_per_request:
        raise InputError(f"at most {st.api.max_files_per_request} photos per search", code="too_many_files")
    images = []
    for f in files:
        label = (f.filename or "upload")[:200]
        data = f.file.read(st.ctx.settings.max_upload_bytes + 1)
        why = check_image_upload(label, data, f.content_type, st.ctx.settings.max_upload_bytes)
        if why is not None:
            raise InputError(f"{label}: {why} (videos: {', '.join(sorted(VIDEO_SUFFIXES))})", code="bad_media")
        images.append((label, data))
    return reg.start_upload(p.username, watchlist, images=images, threshold=threshold, fps=fps).view()


@router.get("", response_model=RetroJobList, summary="My searches (in this server's memory)")
def list_jobs(request: Request, st: State, p: Staff) -> dict[str, Any]:
    views = [asdict(j.view()) for j in jobs(request, st).list(p.username, p.role)]
    rows = [{k: v for k, v in view.items() if k != "result"} for view in views]
    return {"data": rows, "count": len(rows)}


@router.get("/{job_id}", response_model=RetroJob, summary="A search: progress, then its appearances")
def get_job(job_id: str, request: Request, st: State, p: Staff) -> JobView:
    return jobs(request, st).get(job_id, p.username, p.role).view()


@router.post("/{job_id}/cancel", response_model=RetroJob, summary="Stop a running search; what it found so far is kept")
def cancel_job(job_id: str, request: Request, st: State, p: Staff) -> JobView:
    return jobs(request, st).cancel(job_id, p.username, p.role).view()


@router.delete("/{job_id}", response_model=RetroDeleted, summary="Forget a finished search and its images")
def delete_job(job_id: str, request: Request, st: State, p: Staff) -> dict[str, Any]:
    jobs(request, st).delete(job_id, p.username, p.role)
    return {"deleted": job_id}


@router.get(
    "/{job_id}/appearances/{index}/{kind}.jpg",
    response_class=Response,
    response_model=None,
    summary="The matched face, or its frame with every other face pixelated",
    responses={200: {"content": {"image/jpeg": {}}}},
)
def appearance_image(job_id: str, index: int, kind: str, request: Request, st: State, v: StaffViewer) -> Response:
    if kind not in ("face", "frame"):
        raise InputError("kind is face or frame", code="bad_kind")
    p = v.principal
    return private_image(
        jobs(request, st).image(job_id, p.username, p.role, index, kind, audited=v.covered), "image/jpeg"
    )
