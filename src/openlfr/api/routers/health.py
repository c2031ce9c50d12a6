"""Liveness (the one route open without a login; it reveals nothing)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

import openlfr
from openlfr.api.deps import State
from openlfr.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(st: State) -> Any:
    try:
        from openlfr.services import users

        users.count_users(st.ctx)
        db = "ok"
    except Exception:  # the database is down or not initialised
        db = "unavailable"
    body = {"status": "ok" if db == "ok" else "degraded", "database": db, "version": openlfr.__version__}
    return body if db == "ok" else JSONResponse(body, status_code=503)
