"""Console pages for operator-initiated checks (one photo) and retrospective search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openlfr.api.deps import page_principal
from openlfr.api.pages import render
from openlfr.services.users import Principal

router = APIRouter(include_in_schema=False)

StaffUser = Annotated[Principal, Depends(page_principal("admin", "supervisor", "operator"))]


@router.get("/check", response_class=HTMLResponse, response_model=None)
def check_page(request: Request, p: StaffUser) -> Response:
    return render(request, "check.html", title="Check a photo")


@router.get("/retro", response_class=HTMLResponse, response_model=None)
def retro_page(request: Request, p: StaffUser) -> Response:
    return render(request, "retro.html", title="Search recordings")


@router.get("/favicon.ico", response_class=RedirectResponse, response_model=None)
def favicon() -> Response:
    """Browsers ask for /favicon.ico on every page; answer with the console's icon (no login needed)."""
    return RedirectResponse("/static/favicon.svg", status_code=301)
