"""The audit log: search and chain status (admins, supervisors, auditors)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from openlfr.api.deps import Overseers, State
from openlfr.api.schemas import AuditEventPublic, ChainStatus, Page
from openlfr.services import audit_admin, audit_export, audit_log, reports

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", response_model=Page[AuditEventPublic])
def search(
    st: State,
    p: Overseers,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=100, description="Prefix, e.g. `alert.`")] = None,
    object_type: Annotated[str | None, Query(max_length=100)] = None,
    object_id: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text anywhere in the event")] = None,
    from_: Annotated[str | None, Query(alias="from", min_length=10, max_length=40)] = None,
    to: Annotated[str | None, Query(min_length=10, max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
) -> audit_log.AuditPage:
    since = reports.parse_when(from_) if from_ else None
    until = reports.parse_when(to, end=True) if to else None
    return audit_log.search(
        st.ctx,
        actor=actor or None,
        action=action or None,
        object_type=object_type or None,
        object_id=object_id or None,
        text=q or None,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )


@router.get("/verify", response_model=ChainStatus, summary="Recompute the hash chain and check its anchor")
def verify(st: State, p: Overseers) -> audit_admin.FullVerify:
    return audit_admin.verify(st.ctx, use_anchor=True, refresh=False)


@router.get(
    "/export",
    response_class=Response,
    response_model=None,
    summary="Export the matching events (CSV or JSON); the export is audited",
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
def export(
    st: State,
    p: Overseers,
    format: Literal["csv", "json"] = "csv",
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    from_: Annotated[str | None, Query(alias="from", min_length=10, max_length=40)] = None,
    to: Annotated[str | None, Query(min_length=10, max_length=40)] = None,
) -> Response:
    since = reports.parse_when(from_) if from_ else None
    until = reports.parse_when(to, end=True) if to else None
    text, _ = audit_export.export(
        st.ctx, p.username, format, actor=actor or None, action=action or None, text=q or None, since=since, until=until
    )
    media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    return Response(
        text, media_type=media, headers={"Content-Disposition": f'attachment; filename="openlfr-audit.{format}"'}
    )
