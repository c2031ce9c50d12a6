"""Alerts: list, show, images for review (never for auditors), adjudication, legal holds, and the
console's event stream (Server-Sent Events: alerts as they are stored, camera states)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from openlfr.api.deps import (
    Adjudicators,
    Anyone,
    Id,
    Managers,
    Overseers,
    Staff,
    StaffViewer,
    State,
    numeric_ref,
    private_image,
)
from openlfr.api.events import sse_message
from openlfr.api.schemas import Adjudication, AlertPublic, HoldCreate, HoldPublic, HoldRelease, Page
from openlfr.api.schemas_ops import AlertContext
from openlfr.services import alert_search, alerts, reports
from openlfr.services.alert_search import ReviewContext
from openlfr.services.alerts import AlertPage, AlertView, HoldView

router = APIRouter(tags=["alerts"])


@router.get("/api/alerts", response_model=Page[AlertPublic])
def list_alerts(
    st: State,
    p: Anyone,
    deployment_id: Annotated[int | None, Query(ge=0, le=2_147_483_647)] = None,
    unadjudicated: bool = False,
    include_purged: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    camera: Annotated[str | None, Query(max_length=100)] = None,
    person: Annotated[str | None, Query(max_length=200, description="Person id or name contains")] = None,
    verdict: Annotated[Literal["true", "false", "open"] | None, Query()] = None,
    from_: Annotated[str | None, Query(alias="from", min_length=10, max_length=40)] = None,
    to: Annotated[str | None, Query(min_length=10, max_length=40, description="inclusive day")] = None,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    sort: Literal["newest", "oldest", "score_desc", "score_asc"] = "newest",
) -> AlertPage:
    return alert_search.filter_alerts(
        st.ctx,
        deployment=deployment_id,
        unadjudicated=unadjudicated,
        include_purged=include_purged,
        camera=camera or None,
        person=person or None,
        verdict=verdict,
        since=reports.parse_when(from_) if from_ else None,
        until=reports.parse_when(to, end=True) if to else None,
        min_score=min_score,
        max_score=max_score,
        sort=sort,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/api/alerts/{ref}/context",
    response_model=AlertContext,
    summary="The entry's reason and earlier decisions about the same person",
)
def alert_context(ref: str, st: State, p: Anyone) -> ReviewContext:
    return alert_search.review_context(st.ctx, numeric_ref(ref))


@router.get("/api/alerts/{ref}", response_model=AlertPublic, summary="One alert (by id or alert uid)")
def show_alert(ref: str, st: State, p: Anyone) -> AlertView:
    return alerts.show_alert(st.ctx, numeric_ref(ref))


@router.get(
    "/api/alerts/{ref}/images/{kind}",
    response_class=Response,
    response_model=None,
    summary="An alert image for review (audited; never for auditors)",
    responses={200: {"content": {"image/jpeg": {}}}},
)
def alert_image(ref: str, kind: Literal["probe", "frame", "reference"], st: State, v: StaffViewer) -> Response:
    p = v.principal
    data, media = alerts.alert_image(st.ctx, numeric_ref(ref), kind, p.username, p.role, audited=v.covered)
    return private_image(data, media)


@router.post(
    "/api/alerts/{ref}/adjudicate",
    response_model=AlertPublic,
    summary="Record the verdict (true/false) and the engagement outcome",
)
def adjudicate(ref: str, body: Adjudication, st: State, p: Adjudicators) -> AlertView:
    out = alerts.adjudicate(
        st.ctx, numeric_ref(ref), p.username, p.role, body.verdict, outcome=body.outcome, note=body.note
    )
    st.broker.publish(
        "adjudicated",
        {"id": out.id, "alert_uid": out.alert_uid, "verdict": out.verdict},
        roles=frozenset({"admin", "supervisor", "operator"}),
    )
    return out


@router.post(
    "/api/alerts/{ref}/hold",
    response_model=HoldPublic,
    status_code=201,
    summary="Place a legal hold on an alert (suspends retention deletion)",
)
def hold(ref: str, body: HoldCreate, st: State, p: Managers) -> HoldView:
    return alerts.place_hold(st.ctx, p.username, p.role, body.reason, alert=numeric_ref(ref))


@router.get("/api/holds", response_model=Page[HoldPublic])
def list_holds(st: State, p: Overseers, active_only: bool = True) -> dict[str, Any]:
    rows = alerts.list_holds(st.ctx, active_only=active_only)
    return {"data": rows, "count": len(rows)}


@router.post("/api/holds/{hold_id}/release", response_model=HoldPublic)
def release_hold(hold_id: Id, body: HoldRelease, st: State, p: Managers) -> HoldView:
    return alerts.release_hold(st.ctx, hold_id, p.username, p.role, note=body.note)


@router.get(
    "/api/events",
    response_class=StreamingResponse,
    response_model=None,
    summary="Server-Sent Events: `alert`, `adjudicated`, `camera`, `deployment`",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(request: Request, st: State, p: Staff) -> StreamingResponse:
    sub = st.broker.subscribe(p.role)
    st.metrics.sse_clients.inc()

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 2000\n\n" + sse_message("hello", {"user": p.username, "at": time.time()})
            while True:
                try:
                    event, data = await asyncio.wait_for(sub.queue.get(), timeout=15.0)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": keep-alive\n\n"
                    continue
                if event == "alert" and data.get("worker_at"):
                    st.metrics.push_seconds.observe(max(0.0, time.time() - float(data["worker_at"])))
                yield sse_message(event, data)
        finally:
            st.broker.unsubscribe(sub)
            st.metrics.sse_clients.dec()

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
