"""Request and response schemas, in families (Base / Create / Update / Public) per resource.

Responses are what the services return; Public models list the fields the console relies on and
allow more (``extra="allow"``) so a service may add a field without breaking the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

RoleName = Literal["admin", "supervisor", "operator", "auditor"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Public(BaseModel):
    model_config = ConfigDict(extra="allow")


class Page(BaseModel, Generic[T]):
    """A page of a list: ``data`` and the total ``count`` (before paging)."""

    data: list[T]
    count: int


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


# ---------------------------------------------------------------- auth and users


class LoginRequest(Strict):
    username: str = Field(..., min_length=1, max_length=100)
    password: str = Field(..., min_length=1, max_length=1000)


class SetupRequest(Strict):
    token: str = Field(..., min_length=8, max_length=200, description="The one-time setup token printed by "
                                                                      "`openlfr serve`.")
    username: str = Field(..., min_length=1, max_length=100)
    password: str = Field(..., min_length=1, max_length=1000)
    display_name: str = Field("", max_length=200)


class PasswordChange(Strict):
    old_password: str = Field(..., min_length=1, max_length=1000)
    new_password: str = Field(..., min_length=1, max_length=1000)


class UserBase(BaseModel):
    username: str = Field(..., min_length=1, max_length=100)
    display_name: str = Field("", max_length=200)
    role: RoleName


class UserCreate(UserBase, Strict):
    password: str = Field(..., min_length=1, max_length=1000)


class UserUpdate(Strict):
    role: RoleName | None = None
    active: bool | None = None
    display_name: str | None = Field(None, max_length=200)
    password: str | None = Field(None, min_length=1, max_length=1000, description="Reset the password.")


class UserPublic(Public):
    id: int
    username: str
    display_name: str
    role: str
    active: bool
    created_at: str | None = None
    last_login_at: str | None = None


class Me(Public):
    id: int
    username: str
    role: str
    display_name: str
    via: str
    csrf_token: str | None = None


class TokenCreate(Strict):
    name: str = Field("", max_length=200)
    expires_days: float | None = Field(None, gt=0, le=3650)


class TokenPublic(Public):
    id: int
    name: str
    prefix: str
    created_at: str | None = None
    expires_at: str | None = None
    last_used_at: str | None = None
    active: bool


class TokenCreated(TokenPublic):
    token: str = Field(..., description="Shown once; send as `Authorization: Bearer <token>`.")


# ---------------------------------------------------------------- watchlists


class WatchlistBase(BaseModel):
    name: str = Field(..., min_length=1, max_length=200)
    description: str = Field("", max_length=2000)


class WatchlistCreate(WatchlistBase, Strict):
    pass


class WatchlistPublic(Public):
    id: int
    name: str
    description: str = ""
    entries: int | None = None
    images: int | None = None
    deployment_id: int | None = None
    embedder: str | None = None
    embedder_current: bool | None = Field(
        None, description="False: the list's vectors are from another model than the current one (re-embed it); "
                          "None: no vectors yet.")


class EntryPublic(Public):
    id: int
    person_id: str
    name: str
    category: str = ""
    reason: str = ""
    images: int = 0


class WatchlistDetail(Public):
    id: int
    name: str
    entries: list[EntryPublic]
    embedder: str | None = None
    embedder_current: bool | None = None


class ReembedRejection(Public):
    person_id: str
    image_id: int
    reason: str


class ReembedResult(Public):
    watchlist: str
    from_model: str | None
    to_model: str
    images: int
    embedded: int
    without_face: int
    rejected: list[ReembedRejection]


class Rejection(Public):
    source: str
    person_id: str
    reason: str


class EnrolResult(Public):
    accepted_images: int
    people: int
    rejected_images: int
    rejected: list[Rejection]


class CheckResult(Public):
    watchlist: str
    watchlist_size: int
    threshold: float
    faces: list[dict[str, Any]]


# ---------------------------------------------------------------- deployments and cameras


class CameraCreate(Strict):
    name: str = Field(..., min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
    url: str = Field(..., min_length=1, max_length=2000, description="Stream URL or video file path.")
    description: str = Field("", max_length=500)


class EntryReason(Strict):
    person_id: str = Field(..., min_length=1, max_length=200)
    reason: str = Field(..., min_length=1, max_length=2000)


class DeploymentBase(BaseModel):
    location: str = Field(..., min_length=1, max_length=2000, description="Street, junction or landmark.")
    purpose: str = Field(..., min_length=1, max_length=4000)
    legal_basis: str = Field("", max_length=4000)
    planned_start: datetime
    planned_end: datetime
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    threshold: float | None = Field(None, ge=0, le=1)
    target_fpir: float | None = Field(None, gt=0, lt=1)


class DeploymentCreate(DeploymentBase, Strict):
    name: str | None = Field(None, max_length=200)
    source_watchlist: str = Field(..., min_length=1, max_length=200)
    entries: list[EntryReason] | None = Field(None, max_length=100_000,
                                              description="People to copy, each with a reason...")
    all_entries_reason: str | None = Field(None, max_length=2000, description="...or one reason for all.")
    cameras: list[CameraCreate] = Field(default_factory=list, max_length=64)


class Authorise(Strict):
    officer: str = Field(..., min_length=1, max_length=300, description="Rank and name.")
    note: str = Field("", max_length=4000)
    justification: str = Field("", max_length=8000, description=(
        "Written justification; required for an operating point outside the safe band."))
    target_fpir: float | None = Field(None, gt=0, lt=1, description=(
        "Change the target FPIR per face seen (threshold from the calibration at the list's size)."))
    threshold: float | None = Field(None, ge=0, le=1, description="Or: an explicit threshold (override).")
    legal_basis: str | None = Field(None, max_length=4000, description="Replace the stated legal basis.")


class DeploymentPublic(Public):
    id: int
    name: str
    state: str
    location: str
    purpose: str
    planned_start: str | None = None
    planned_end: str | None = None
    threshold: float | None = None
    operating_point_text: str | None = Field(None, description=(
        "The threshold and how it was chosen, in the words every page uses (None for a draft)."))
    cameras: list[dict[str, Any]] = []


class CameraPublic(Public):
    deployment_id: int
    camera: str
    state: str
    counters: dict[str, int]
    running: bool
    preview: bool


class LiveStatus(Public):
    deployment_id: int
    running: bool
    store: dict[str, Any] | None = Field(None, description=(
        "The alert store as the run sees it: state ok | unavailable (alerts and counters are spooled on "
        "disk, encrypted) | flushing (back; writing the spool), spooled, flushed, pending."))
    cameras: list[dict[str, Any]] = []


# ---------------------------------------------------------------- alerts


class AlertPublic(Public):
    id: int
    alert_uid: str
    deployment_id: int | None = None
    camera: str
    occurred_at: str | None = None
    score: float
    threshold: float
    verdict: str | None = None
    adjudicated: bool
    outcome: str | None = None
    images: list[str] = []


class Adjudication(Strict):
    verdict: Literal["true", "false"]
    outcome: Literal["arrest", "other_disposal", "no_action", "not_engaged"] | None = None
    note: str | None = Field(None, max_length=4000)


class HoldCreate(Strict):
    reason: str = Field(..., min_length=1, max_length=2000)


class HoldRelease(Strict):
    note: str = Field("", max_length=2000)


class HoldPublic(Public):
    id: int
    reason: str
    active: bool


# ---------------------------------------------------------------- audit and evaluation


class AuditEventPublic(Public):
    seq: int
    at: str | None = None
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any] = {}


class ChainStatus(Public):
    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str | None = None


class PlanRequest(Strict):
    faces: float = Field(..., ge=0, le=1e12, description="Faces expected to pass the cameras.")
    watchlist_size: int = Field(..., ge=1, le=100_000_000)
    prevalence: float = Field(..., ge=0, le=1, description="Share of passers-by who are on the watchlist.")
    threshold: float | None = Field(None, ge=0, le=1, description="Operating threshold (needs a calibration).")
    fpir: float | None = Field(None, ge=0, le=1, description="FPIR at this watchlist size, if known.")
    fmr: float | None = Field(None, ge=0, le=1, description="Per-comparison false match rate (FPIR ~= N FMR).")
    tpir: float = Field(0.9, ge=0, le=1, description="True positive identification rate at the threshold.")


class Health(BaseModel):
    status: str
    database: str
    version: str
