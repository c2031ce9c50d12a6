"""Cameras of the deployments running in this server: state, counters, pixelated preview."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from openlfr.api.deps import Anyone, Id, Staff, State, private_image
from openlfr.api.live import for_role
from openlfr.api.schemas import CameraPublic, Page
from openlfr.errors import NotFoundError
from openlfr.types import MJPEG_BOUNDARY as BOUNDARY

router = APIRouter(prefix="/api/cameras", tags=["cameras"])


@router.get("", response_model=Page[CameraPublic])
def list_cameras(st: State, p: Anyone) -> dict[str, Any]:
    cams = [for_role(c, p.role) for c in st.live.cameras()]
    return {"data": cams, "count": len(cams)}


def _latest(st: Any, deployment_id: Id, camera: str) -> tuple[bytes, float, int]:
    cur = st.live.preview(deployment_id, camera)
    if cur is None:
        raise NotFoundError(f"no preview for camera {camera!r} of deployment {deployment_id}", code="no_preview")
    return cur  # type: ignore[no-any-return]


@router.get(
    "/{deployment_id}/{camera}/frame.jpg",
    response_class=Response,
    response_model=None,
    summary="Latest preview frame (every face pixelated except an alerted one)",
    responses={200: {"content": {"image/jpeg": {}}}},
)
def frame(deployment_id: Id, camera: str, st: State, p: Staff) -> Response:
    jpeg, _, _ = _latest(st, deployment_id, camera)
    return private_image(jpeg, "image/jpeg")


@router.get(
    "/{deployment_id}/{camera}/preview.mjpg",
    response_class=StreamingResponse,
    response_model=None,
    summary="Live preview as MJPEG",
    responses={200: {"content": {f"multipart/x-mixed-replace; boundary={BOUNDARY}": {}}}},
)
async def preview(deployment_id: Id, camera: str, request: Request, st: State, p: Staff) -> StreamingResponse:
    _latest(st, deployment_id, camera)

    async def frames() -> AsyncIterator[bytes]:
        seq = -1
        while not await request.is_disconnected():
            cur = st.live.preview(deployment_id, camera)
            if cur is None:
                return
            jpeg, _, n = cur
            if n != seq:
                seq = n
                yield (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                    + jpeg
                    + b"\r\n"
                )
            await asyncio.sleep(0.05)

    return StreamingResponse(
        frames(),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-store, private"},
    )
