"""Rendering console pages (Jinja templates in ``openlfr.web``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

import openlfr
import openlfr.web

WEB = Path(openlfr.web.__file__).parent
templates = Jinja2Templates(directory=str(WEB / "templates"))

NAV = [  # (path, label, roles)
    ("/live", "Live", ("admin", "supervisor", "operator", "auditor")),
    ("/alerts", "Alerts", ("admin", "supervisor", "operator", "auditor")),
    ("/deployments", "Deployments", ("admin", "supervisor", "operator", "auditor")),
    ("/watchlists", "Watchlists", ("admin", "supervisor", "operator")),
    ("/check", "Check photo", ("admin", "supervisor", "operator")),
    ("/retro", "Search recordings", ("admin", "supervisor", "operator")),
    ("/reports", "Reports", ("admin", "supervisor", "operator", "auditor")),
    ("/audit", "Audit", ("admin", "supervisor", "auditor")),
    ("/evaluation", "Evaluation", ("admin", "supervisor", "operator", "auditor")),
    ("/users", "Users", ("admin",)),
]


def render(request: Request, template: str, /, **context: Any) -> HTMLResponse:
    p = getattr(request.state, "principal", None)
    nav = [(path, label) for path, label, roles in NAV if p is not None and p.role in roles]
    ctx = {
        "request": request,
        "user": p,
        "nav": nav,
        "active": request.url.path,
        "csrf": p.csrf_token if p is not None else "",
        "version": openlfr.__version__,
        "may_see_faces": p is not None and p.role in ("admin", "supervisor", "operator"),
        **context,
    }
    resp = templates.TemplateResponse(request, template, ctx)
    resp.headers["Cache-Control"] = "no-store"
    return resp


TITLES = {401: "Please log in", 403: "Not allowed", 404: "Not found"}


def error_page(request: Request, status: int, code: str, message: str) -> HTMLResponse:
    """A console page for a failure: a sentence for people; the stable code only in a data attribute."""
    if getattr(request.state, "principal", None) is None:  # e.g. an unknown address: no route ran
        from openlfr.api.deps import SESSION_COOKIE
        from openlfr.services import users

        st = getattr(request.app.state, "openlfr", None)
        cookie = request.cookies.get(SESSION_COOKIE)
        if st is not None and cookie:
            request.state.principal = users.session_principal(st.ctx, cookie)
    text = message[:1].upper() + message[1:]
    resp = render(
        request,
        "error.html",
        title=TITLES.get(status, "Error"),
        status=status,
        code=code,
        heading=TITLES.get(status, "Something went wrong"),
        message=text,
    )
    resp.status_code = status
    return resp
