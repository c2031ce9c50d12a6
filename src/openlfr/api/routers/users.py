"""User administration (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from openlfr.api.deps import Admin, Id, State
from openlfr.api.schemas import Page, TokenPublic, UserCreate, UserPublic, UserUpdate
from openlfr.api.schemas_ops import TokenRevoked as TokenRevokedOut
from openlfr.api.schemas_ops import TokensRevoked as TokensRevokedOut
from openlfr.services import users
from openlfr.services.users import TokenList, TokenRevoked, TokensRevoked, UserPage, UserRecord

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("", response_model=Page[UserPublic])
def list_users(
    st: State,
    p: Admin,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> UserPage:
    return users.list_users(st.ctx, limit=limit, offset=offset)


@router.post("", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, st: State, p: Admin) -> UserRecord:
    return users.create_user(
        st.ctx, body.username, body.password, body.role, p.username, display_name=body.display_name
    )


@router.get("/{user_id}", response_model=UserPublic)
def get_user(user_id: Id, st: State, p: Admin) -> UserRecord:
    return users.get_user(st.ctx, user_id)


@router.patch("/{user_id}", response_model=UserPublic)
def update_user(user_id: Id, body: UserUpdate, st: State, p: Admin) -> UserRecord:
    return users.update_user(
        st.ctx,
        user_id,
        p.username,
        role=body.role,
        active=body.active,
        display_name=body.display_name,
        password=body.password,
    )


@router.get(
    "/{user_id}/tokens", response_model=Page[TokenPublic], summary="A user's API tokens (never the tokens themselves)"
)
def user_tokens(user_id: Id, st: State, p: Admin) -> TokenList:
    return users.list_user_tokens(st.ctx, user_id)


@router.delete("/{user_id}/tokens", response_model=TokensRevokedOut, summary="Revoke every API token of a user")
def revoke_user_tokens(user_id: Id, st: State, p: Admin) -> TokensRevoked:
    return users.revoke_user_tokens(st.ctx, user_id, p.username)


@router.delete("/{user_id}/tokens/{token_id}", response_model=TokenRevokedOut, summary="Revoke one API token of a user")
def revoke_user_token(user_id: Id, token_id: Id, st: State, p: Admin) -> TokenRevoked:
    return users.revoke_user_token(st.ctx, user_id, p.username, token_id)


@router.delete("/{user_id}", response_model=UserPublic)
def delete_user(user_id: Id, st: State, p: Admin) -> UserRecord:
    return users.delete_user(st.ctx, user_id, p.username)
