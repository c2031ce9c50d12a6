"""User administration (admins only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from openlfr.api.deps import Admin, Id, State
from openlfr.api.schemas import Page, UserCreate, UserPublic, UserUpdate
from openlfr.services import users

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("", response_model=Page[UserPublic])
def list_users(st: State, p: Admin, limit: Annotated[int, Query(ge=1, le=500)] = 100,
               offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> dict[str, Any]:
    return users.list_users(st.ctx, limit=limit, offset=offset)


@router.post("", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, st: State, p: Admin) -> dict[str, Any]:
    return users.create_user(st.ctx, body.username, body.password, body.role, p.username,
                             display_name=body.display_name)


@router.get("/{user_id}", response_model=UserPublic)
def get_user(user_id: Id, st: State, p: Admin) -> dict[str, Any]:
    return users.get_user(st.ctx, user_id)


@router.patch("/{user_id}", response_model=UserPublic)
def update_user(user_id: Id, body: UserUpdate, st: State, p: Admin) -> dict[str, Any]:
    return users.update_user(st.ctx, user_id, p.username, role=body.role, active=body.active,
                             display_name=body.display_name, password=body.password)


@router.delete("/{user_id}", response_model=UserPublic)
def delete_user(user_id: Id, st: State, p: Admin) -> dict[str, Any]:
    return users.delete_user(st.ctx, user_id, p.username)
