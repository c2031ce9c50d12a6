"""Authentication and role dependencies: every route states who may call it.

A caller is a console session (cookie ``openlfr_session``; state-changing requests must carry
the session's CSRF token in ``X-CSRF-Token``) or a script (``Authorization: Bearer olfr_...``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request, Response
from fastapi import Path as FastPath
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from openlfr.api.errors import LoginRedirect
from openlfr.api.state import AppState
from openlfr.errors import AuthError
from openlfr.services import users
from openlfr.services.roles import ROLES
from openlfr.services.users import Principal

SESSION_COOKIE = "openlfr_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

ALL = ROLES
STAFF = ("admin", "supervisor", "operator")
"""Roles that may see face images (auditors never do)."""

_bearer = HTTPBearer(auto_error=False, description="API token from `openlfr user token` or the console")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="Console session (login)")


def app_state(request: Request) -> AppState:
    st: AppState = request.app.state.openlfr
    return st


State = Annotated[AppState, Depends(app_state)]


def client_of(request: Request) -> str:
    return request.client.host if request.client else "-"


def _unauthenticated(message: str = "log in or send a bearer API token") -> AuthError:
    return AuthError(message, code="unauthenticated")


def _forbidden(message: str, code: str = "forbidden") -> AuthError:
    err = AuthError(message, code=code)
    err.http_status = 403
    return err


def resolve_principal(
    request: Request, st: AppState, bearer: HTTPAuthorizationCredentials | None, cookie: str | None
) -> Principal | None:
    if bearer is not None:
        p = users.token_principal(st.ctx, bearer.credentials)
        if p is None:
            raise _unauthenticated("invalid, expired or revoked API token")
        return p
    if cookie:
        p = users.session_principal(st.ctx, cookie)
        if p is None:
            return None
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent or not p.csrf_token or not secrets.compare_digest(sent, p.csrf_token):
                raise _forbidden("missing or wrong CSRF token (send the X-CSRF-Token header)", "csrf_failed")
        return p
    return None


def current_principal(
    request: Request,
    st: State,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    p = resolve_principal(request, st, bearer, cookie)
    if p is None:
        raise _unauthenticated()
    request.state.principal = p
    return p


def allow(*roles: str) -> Callable[..., Principal]:
    """Dependency: the caller, if their role is one of ``roles`` (else 403)."""
    allowed = tuple(roles)

    def dep(p: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if p.role not in allowed:
            raise _forbidden(f"role {p.role!r} may not use this (needs {' or '.join(allowed)})")
        return p

    dep.__name__ = "role_" + "_".join(allowed)
    return dep


def page_principal(*roles: str) -> Callable[..., Principal]:
    """Like :func:`allow` for console pages: not logged in -> redirect to /login."""
    allowed = tuple(roles)

    def dep(request: Request, st: State, cookie: Annotated[str | None, Depends(_cookie)]) -> Principal:
        p = users.session_principal(st.ctx, cookie) if cookie else None
        if p is None:
            raise LoginRedirect(str(request.url.path))
        if p.role not in allowed:
            raise _forbidden(f"this page is not open to the {p.role} role")
        request.state.principal = p
        return p

    return dep


MAX_ID = 2_147_483_647
Id = Annotated[int, FastPath(ge=0, le=MAX_ID, description="Numeric id")]
ViewToken = Annotated[
    str | None, Query(max_length=64, description="A page view token (POST /api/image-views): audited with the page")
]
"""The page view an image request belongs to (``st.image_views.covers``)."""
"""Numeric path ids are bounded so that no request reaches the database with an out-of-range integer."""


def numeric_ref(ref: str) -> str:
    """A reference that may be an id or a name: refuse digit strings beyond any id (404, not 500)."""
    from openlfr.errors import NotFoundError

    if ref.strip().isdigit() and int(ref.strip()) > MAX_ID:
        raise NotFoundError(f"no object {ref[:40]!r}", code="not_found")
    return ref


Anyone = Annotated[Principal, Depends(allow(*ALL))]
Staff = Annotated[Principal, Depends(allow(*STAFF))]
Admin = Annotated[Principal, Depends(allow("admin"))]
Supervisor = Annotated[Principal, Depends(allow("supervisor"))]
Managers = Annotated[Principal, Depends(allow("admin", "supervisor"))]
Adjudicators = Annotated[Principal, Depends(allow("supervisor", "operator"))]
Overseers = Annotated[Principal, Depends(allow("admin", "supervisor", "auditor"))]


@dataclass(frozen=True)
class ImageViewer:
    """Who asks for a stored face image, and whether a page view they declared already audits this request."""

    principal: Principal
    covered: bool


def image_viewer(request: Request, st: State, p: Staff, view: ViewToken = None) -> ImageViewer:
    return ImageViewer(p, st.image_views.covers(view, p.username, request.scope["path"]))


StaffViewer = Annotated[ImageViewer, Depends(image_viewer)]
"""A staff member viewing a face image (auditors never see one)."""


def private_image(data: bytes, media_type: str) -> Response:
    """An image answer no cache may keep."""
    return Response(data, media_type=media_type, headers={"Cache-Control": "no-store, private"})
