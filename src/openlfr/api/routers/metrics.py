"""Prometheus metrics (text exposition format), readable by supervisors only."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from openlfr.api.deps import State, Supervisor

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    response_model=None,
    summary="Prometheus metrics",
    responses={200: {"content": {"text/plain": {}}}},
)
def metrics(st: State, p: Supervisor) -> Response:
    return Response(st.metrics.render(), media_type=CONTENT_TYPE_LATEST)
