"""The public transparency page and its CSV/JSON feed: no login, no images, no identities.

Only ended deployments are listed (``services.transparency``). These are the only routes besides
``/health`` and the login/setup endpoints that need no credentials.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from openlfr.api.deps import State
from openlfr.api.pages import render
from openlfr.api.schemas_ops import PublicFeed
from openlfr.services import transparency

router = APIRouter(tags=["public"])


@router.get(
    "/api/public/deployments", response_model=PublicFeed, summary="Public feed: every ended deployment (JSON, no login)"
)
def public_json(st: State) -> transparency.PublicFeed:
    return transparency.public_feed(st.ctx)


@router.get(
    "/api/public/deployments.csv",
    response_class=Response,
    response_model=None,
    summary="Public feed: every ended deployment (CSV, no login)",
    responses={200: {"content": {"text/csv": {}}}},
)
def public_csv(st: State) -> Response:
    return Response(
        transparency.to_csv(transparency.public_feed(st.ctx)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="openlfr-deployments.csv"'},
    )


@router.get("/transparency", response_class=HTMLResponse, response_model=None, include_in_schema=False)
def transparency_page(request: Request, st: State) -> Response:
    return render(
        request, "transparency.html", title="Transparency", feed=transparency.public_feed(st.ctx), public=True
    )
