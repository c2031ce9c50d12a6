"""Console pages: server-rendered shells; their JavaScript reads and writes the public JSON API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openlfr.api.deps import SESSION_COOKIE, State, page_principal
from openlfr.api.pages import error_page, render
from openlfr.errors import InputError, NotFoundError
from openlfr.services import alerts, users
from openlfr.services.users import Principal

router = APIRouter(include_in_schema=False)

ALL = ("admin", "supervisor", "operator", "auditor")
STAFF = ("admin", "supervisor", "operator")
AnyUser = Annotated[Principal, Depends(page_principal(*ALL))]
StaffUser = Annotated[Principal, Depends(page_principal(*STAFF))]
AuditUser = Annotated[Principal, Depends(page_principal("admin", "supervisor", "auditor"))]
AdminUser = Annotated[Principal, Depends(page_principal("admin"))]


@router.get("/", response_class=RedirectResponse, response_model=None)
def home(request: Request, st: State) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    p = users.session_principal(st.ctx, cookie) if cookie else None
    if p is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/reports" if p.role == "auditor" else "/alerts", status_code=303)


@router.get("/login", response_class=HTMLResponse, response_model=None)
def login_page(request: Request, st: State) -> Response:
    return render(request, "login.html", setup_pending=st.setup_token is not None)


@router.get("/setup", response_class=HTMLResponse, response_model=None)
def setup_page(request: Request, st: State) -> Response:
    return render(request, "setup.html", setup_pending=st.setup_token is not None)


@router.get("/live", response_class=HTMLResponse, response_model=None)
def live_page(request: Request, p: AnyUser) -> Response:
    return render(request, "live.html", title="Live")


@router.get("/alerts", response_class=HTMLResponse, response_model=None)
def alerts_page(request: Request, p: AnyUser) -> Response:
    return render(request, "alerts.html", title="Alerts")


@router.get("/alerts/{ref}", response_class=HTMLResponse, response_model=None)
def alert_page(ref: str, request: Request, st: State, p: AnyUser) -> Response:
    try:
        alerts.show_alert(st.ctx, ref)
    except (NotFoundError, InputError):
        return error_page(request, 404, "alert_not_found", f"There is no alert {ref}.")
    return render(request, "alert.html", title=f"Alert {ref}", ref=ref)


@router.get("/deployments", response_class=HTMLResponse, response_model=None)
def deployments_page(request: Request, p: AnyUser) -> Response:
    return render(request, "deployments.html", title="Deployments")


@router.get("/deployments/{ref}", response_class=HTMLResponse, response_model=None)
def deployment_page(ref: int, request: Request, p: AnyUser) -> Response:
    return render(request, "deployment.html", title=f"Deployment {ref}", ref=ref)


@router.get("/watchlists", response_class=HTMLResponse, response_model=None)
def watchlists_page(request: Request, p: StaffUser) -> Response:
    return render(request, "watchlists.html", title="Watchlists")


@router.get("/watchlists/{name}", response_class=HTMLResponse, response_model=None)
def watchlist_page(name: str, request: Request, p: StaffUser) -> Response:
    return render(request, "watchlist.html", title=f"Watchlist {name}", name=name)


@router.get("/reports", response_class=HTMLResponse, response_model=None)
def reports_page(request: Request, st: State, p: AnyUser) -> Response:
    pub = st.api.published_csv
    return render(request, "reports.html", title="Reports", published_configured=pub is not None and pub.is_file())


@router.get("/audit", response_class=HTMLResponse, response_model=None)
def audit_page(request: Request, p: AuditUser) -> Response:
    return render(request, "audit.html", title="Audit log")


@router.get("/evaluation", response_class=HTMLResponse, response_model=None)
def evaluation_page(request: Request, p: AnyUser) -> Response:
    return render(request, "evaluation.html", title="Evaluation")


@router.get("/users", response_class=HTMLResponse, response_model=None)
def users_page(request: Request, p: AdminUser) -> Response:
    return render(request, "users.html", title="Users")


@router.get("/account", response_class=HTMLResponse, response_model=None)
def account_page(request: Request, p: AnyUser) -> Response:
    return render(request, "account.html", title="My account")
