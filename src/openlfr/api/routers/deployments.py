"""Deployments: list, create (with a bespoke watchlist), authorise (supervisor), start, stop."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from openlfr.api.deps import Anyone, Id, State, Supervisor, allow
from openlfr.api.live import HIDDEN_DETAIL, for_role
from openlfr.api.schemas import Authorise, DeploymentCreate, DeploymentPublic, LiveStatus, OperatingPointPreview, Page
from openlfr.api.schemas_ops import CameraTestResult
from openlfr.services import camera_test, deployments
from openlfr.services.deployments import CameraSpec, EntrySelection
from openlfr.services.users import Principal

router = APIRouter(prefix="/api/deployments", tags=["deployments"])

Planner = Annotated[Principal, Depends(allow("admin", "supervisor", "operator"))]
Starter = Annotated[Principal, Depends(allow("supervisor", "operator"))]

StateName = Literal["draft", "authorised", "live", "ended"]


@router.get("", response_model=Page[DeploymentPublic])
def list_deployments(
    st: State,
    p: Anyone,
    state: StateName | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    rows = deployments.list_all(st.ctx, state=state)[::-1]  # newest first
    page = [{**d.to_dict(), "running_here": st.live.status(d.id)["running"]} for d in rows[offset : offset + limit]]
    return {"data": page, "count": len(rows)}


@router.post("", response_model=DeploymentPublic, status_code=201)
def create_deployment(body: DeploymentCreate, st: State, p: Planner) -> deployments.DeploymentSummary:
    return deployments.create(
        st.ctx,
        location=body.location,
        purpose=body.purpose,
        planned_start=body.planned_start,
        planned_end=body.planned_end,
        actor=p.username,
        source_watchlist=body.source_watchlist,
        entries=None if body.entries is None else [EntrySelection(e.person_id, e.reason) for e in body.entries],
        all_entries_reason=body.all_entries_reason,
        cameras=[CameraSpec(c.name, c.url, c.description) for c in body.cameras],
        name=body.name,
        legal_basis=body.legal_basis,
        latitude=body.latitude,
        longitude=body.longitude,
        local_files=False,
        threshold=body.threshold,
        target_fpir=body.target_fpir,
    )


@router.get("/{ref}", response_model=DeploymentPublic)
def show_deployment(ref: Id, st: State, p: Anyone) -> dict[str, Any]:
    out = deployments.show(st.ctx, ref)
    return {**out.to_dict(), "live": for_role(st.live.status(out.id), p.role)}


@router.post("/{ref}/authorise", response_model=DeploymentPublic, summary="Authorise a draft (supervisors only)")
def authorise(ref: Id, body: Authorise, st: State, p: Supervisor) -> deployments.DeploymentSummary:
    return deployments.authorise(
        st.ctx,
        ref,
        p.username,
        p.role,
        officer=body.officer,
        note=body.note,
        justification=body.justification,
        target_fpir=body.target_fpir,
        threshold=body.threshold,
        legal_basis=body.legal_basis,
    )


@router.get(
    "/{ref}/operating-point",
    response_model=OperatingPointPreview,
    summary="The operating point a draft would be authorised at",
)
def operating_point(
    ref: Id,
    st: State,
    p: Anyone,
    target_fpir: Annotated[float | None, Query(gt=0, lt=1)] = None,
    threshold: Annotated[float | None, Query(ge=0, le=1)] = None,
) -> dict[str, Any]:
    return deployments.preview_operating_point(st.ctx, ref, target_fpir=target_fpir, threshold=threshold).to_dict()


@router.post("/{ref}/start", response_model=LiveStatus, summary="Go live: run the deployment's cameras")
def start(ref: Id, st: State, p: Starter) -> dict[str, Any]:
    dep = deployments.show(st.ctx, ref)
    return for_role(st.live.start(dep.id, p.username), p.role)


@router.post(
    "/{ref}/cameras/test",
    response_model=CameraTestResult,
    summary="Test the deployment's cameras: open each, read one frame (nothing kept)",
)
def check_cameras(ref: Id, st: State, p: Planner) -> camera_test.CameraTestResult:
    """Per camera: whether it opened and gave a frame within a few seconds, the frame's size and the stream's
    frame rate when stated. Why a camera failed goes to admins only (it can tell what is at a local path or
    whether a port is open). No frame is stored; the test is audited."""
    out = camera_test.check_cameras(st.ctx, ref, p.username)
    if p.role != "admin":
        out = replace(
            out, cameras=[replace(c, code=None, detail=HIDDEN_DETAIL if c.detail else "") for c in out.cameras]
        )
    return out


@router.post(
    "/{ref}/stop",
    response_model=DeploymentPublic,
    summary="End the deployment: stop its cameras, delete its watchlist, freeze its statistics",
)
def stop(ref: Id, st: State, p: Planner) -> deployments.DeploymentEnded:
    dep = deployments.show(st.ctx, ref)
    return st.live.stop(dep.id, p.username)
