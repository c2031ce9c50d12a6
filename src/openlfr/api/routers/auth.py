"""Login, logout, the current user, first-run setup, password change and the caller's API tokens."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from openlfr.api.deps import SESSION_COOKIE, Anyone, Id, State, client_of, current_principal
from openlfr.api.schemas import (
    LoginRequest,
    Me,
    Page,
    PasswordChange,
    SetupRequest,
    TokenCreate,
    TokenCreated,
    TokenPublic,
)
from openlfr.errors import AuthError
from openlfr.services import users
from openlfr.services.users import NewToken, Principal, TokenList, TokenRecord

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _secure(request: Request, st: State) -> bool:
    if st.api.secure_cookies is not None:
        return st.api.secure_cookies
    return request.url.scheme == "https"


def _set_session(response: Response, request: Request, st: State, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request, st),
        max_age=int(users.SESSION_HOURS * 3600),
        path="/",
    )


def _me(p: Principal) -> Me:
    return Me(
        id=p.user_id, username=p.username, role=p.role, display_name=p.display_name, via=p.via, csrf_token=p.csrf_token
    )


@router.post("/login", response_model=Me, summary="Log in (console session cookie)")
def login(body: LoginRequest, request: Request, response: Response, st: State) -> Me:
    client = client_of(request)
    if st.limiter.blocked(client):
        err = AuthError("too many failed logins from this address: try again later", code="login_throttled")
        err.http_status = 429
        raise err
    try:
        token, p = users.login(st.ctx, body.username, body.password, client=client)
    except AuthError as exc:
        if exc.code == "bad_credentials":
            st.limiter.failed(client)
        raise
    st.limiter.succeeded(client)
    _set_session(response, request, st, token)
    return _me(p)


@router.post("/setup", response_model=Me, summary="Create the first admin with the one-time setup token")
def setup(body: SetupRequest, request: Request, response: Response, st: State) -> Me:
    if st.setup_token is None or not secrets.compare_digest(body.token, st.setup_token):
        err = AuthError("invalid or used setup token", code="bad_setup_token")
        err.http_status = 403
        raise err
    users.create_user(
        st.ctx, body.username, body.password, "admin", actor="setup", display_name=body.display_name, only_if_none=True
    )
    st.setup_token = None
    token, p = users.login(st.ctx, body.username, body.password, client=client_of(request))
    _set_session(response, request, st, token)
    return _me(p)


@router.post(
    "/logout", response_class=Response, response_model=None, status_code=204, summary="End this console session"
)
def logout(request: Request, response: Response, st: State, p: Anyone) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and p.via == "session":
        users.logout(st.ctx, cookie)
    out = Response(status_code=204)
    out.delete_cookie(SESSION_COOKIE, path="/")
    return out


@router.get("/me", response_model=Me, summary="Who am I (and the CSRF token of this session)")
def me(p: Annotated[Principal, Depends(current_principal)]) -> Me:
    return _me(p)


@router.post(
    "/password",
    response_class=Response,
    response_model=None,
    status_code=204,
    summary="Change my password (my other console sessions end, my API tokens are revoked)",
)
def change_password(body: PasswordChange, st: State, p: Anyone) -> Response:
    users.change_password(st.ctx, p.user_id, body.old_password, body.new_password, keep_session_id=p.session_id)
    return Response(status_code=204)


@router.get("/tokens", response_model=Page[TokenPublic], summary="My API tokens")
def my_tokens(st: State, p: Anyone) -> TokenList:
    return users.list_tokens(st.ctx, p.user_id)


@router.post("/tokens", response_model=TokenCreated, status_code=201, summary="Create an API token for me")
def create_token(body: TokenCreate, st: State, p: Anyone) -> NewToken:
    return users.create_token(st.ctx, p.user_id, p.username, name=body.name, expires_days=body.expires_days)


@router.delete("/tokens/{token_id}", response_model=TokenPublic, summary="Revoke one of my API tokens")
def revoke_token(token_id: Id, st: State, p: Anyone) -> TokenRecord:
    return users.revoke_token(st.ctx, token_id, p)
