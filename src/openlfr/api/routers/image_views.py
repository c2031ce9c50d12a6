"""Page views of face images: a list page declares its thumbnails once (one audit event), then
fetches each with ``?view=<token>`` (``services.image_views``)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import Field

from openlfr.api.deps import Staff, State
from openlfr.api.schemas import Strict
from openlfr.api.schemas_ops import ImageView
from openlfr.services import image_views

router = APIRouter(prefix="/api/image-views", tags=["audit"])


class PageView(Strict):
    page: Literal["alerts", "alert", "watchlist", "photos", "retro", "check"]
    images: list[str] = Field(..., min_length=1, max_length=500)


@router.post(
    "", response_model=ImageView, summary="Declare the face images one page shows: one audit event for all of them"
)
def open_view(body: PageView, st: State, p: Staff) -> image_views.PageView:
    return st.image_views.open(st.ctx, p.username, p.role, body.page, body.images)
