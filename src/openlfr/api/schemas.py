"""Request and response schemas, in families (Base / Create / Update / Public) per resource.

Every model, request or response, refuses unknown keys (``Closed``, ``extra="forbid"``): FastAPI validates a
route's answer against its model, so a key a service adds without declaring it here fails loudly (a 500 in
the tests) instead of leaking out unlisted or being dropped. A response model lists every key its routes
answer, in the order they answer it. A key some answers carry and others don't is listed in the model's
``omit_unset``: it is left out of the JSON when the service did not give it (so that, e.g., the list of
deployments does not grow the keys only ``GET /api/deployments/{ref}`` has). A route may return a service's
typed result (a frozen dataclass, or a pydantic model such as ``DeploymentSummary``): the model reads its
fields (a pydantic model's as given, so an unset optional field stays out), nested results included.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from openlfr.services.deployments import DeploymentSummary

T = TypeVar("T")

RoleName = Literal["admin", "supervisor", "operator", "auditor"]


class Closed(BaseModel):
    """The base of every API model: unknown keys are refused; keys in ``omit_unset`` are left out of the
    JSON unless given."""

    model_config = ConfigDict(extra="forbid")
    omit_unset: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _from_result(cls, data: Any) -> Any:
        """A service's typed result (a dataclass, or another pydantic model) is read as its fields (a pydantic
        model's as given), so a field the model does not declare fails as an unknown key would
        (``from_attributes`` would skip it silently)."""
        if dataclasses.is_dataclass(data) and not isinstance(data, type):
            return {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
        if isinstance(data, BaseModel) and not isinstance(data, cls):
            return data.model_dump(exclude_unset=True)
        return data

    # No return annotation on purpose: with one, pydantic would take it as the serialised schema and the
    # OpenAPI document would lose every response's fields.
    @model_serializer(mode="wrap")
    def _leave_out_unset(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        out = handler(self)
        if self.omit_unset and isinstance(out, dict):
            for key in self.omit_unset - self.model_fields_set:
                out.pop(key, None)
        return out


class Strict(Closed):
    """A request body."""


class Page(Closed, Generic[T]):
    """A page of a list: ``data`` and the total ``count`` (before paging)."""

    data: list[T]
    count: int


class ErrorDetail(Closed):
    code: str
    message: str


class ErrorResponse(Closed):
    error: ErrorDetail


# ---------------------------------------------------------------- auth and users


class LoginRequest(Strict):
    username: str = Field(..., min_length=1, max_length=100)
    password: str = Field(..., min_length=1, max_length=1000)


class SetupRequest(Strict):
    token: str = Field(
        ..., min_length=8, max_length=200, description="The one-time setup token printed by `openlfr serve`."
    )
    username: str = Field(..., min_length=1, max_length=100)
    password: str = Field(..., min_length=1, max_length=1000)
    display_name: str = Field("", max_length=200)


class PasswordChange(Strict):
    old_password: str = Field(..., min_length=1, max_length=1000)
    new_password: str = Field(..., min_length=1, max_length=1000)


class UserBase(Closed):
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


class UserPublic(Closed):
    id: int
    username: str
    display_name: str
    role: str
    active: bool
    created_at: str | None
    last_login_at: str | None
    created_by: str | None = Field(description="Who created the user (`setup`, `cli:...` or an admin).")
    locked_until: str | None = Field(description="Set while logins are refused after repeated failures.")


class Me(Closed):
    id: int
    username: str
    role: str
    display_name: str
    via: str
    csrf_token: str | None = None


class TokenCreate(Strict):
    name: str = Field("", max_length=200)
    expires_days: float | None = Field(None, gt=0, le=3650)


class TokenCore(Closed):
    id: int
    name: str
    prefix: str
    created_at: str | None = None
    expires_at: str | None = None
    last_used_at: str | None = None
    active: bool


class TokenPublic(TokenCore):
    """An API token's record (never the token itself)."""

    user_id: int
    revoked_at: str | None


class TokenCreated(TokenCore):
    token: str = Field(..., description="Shown once; send as `Authorization: Bearer <token>`.")
    user_id: int
    revoked_at: str | None


# ---------------------------------------------------------------- watchlists


class WatchlistBase(Closed):
    name: str = Field(..., min_length=1, max_length=200)
    description: str = Field("", max_length=2000)


class WatchlistCreate(WatchlistBase, Strict):
    pass


class WatchlistPublic(Closed):
    id: int
    name: str
    description: str = ""
    entries: int | None = None
    images: int | None = None
    deployment_id: int | None = None
    embedder: str | None = None
    embedder_current: bool | None = Field(
        None,
        description="False: the list's vectors are from another model than the current one (re-embed it); "
        "None: no vectors yet.",
    )
    created_by: str | None = Field(None, description="In lists (not in the answer to a create).")
    created_at: str | None = Field(None, description="In lists (not in the answer to a create).")

    omit_unset = frozenset({"created_by", "created_at"})


class EntryPublic(Closed):
    id: int
    person_id: str
    name: str
    category: str = ""
    reason: str = ""
    images: int = 0
    source: str = Field(description="Where the entry came from (an import file, the console, a copy).")
    added_by: str | None
    added_at: str | None
    expires_at: str | None


class WatchlistDetail(Closed):
    id: int
    name: str
    entries: list[EntryPublic]
    embedder: str | None = None
    embedder_current: bool | None = None
    description: str
    deployment_id: int | None = Field(description="The deployment a bespoke copy belongs to (None: a standing list).")


class ReembedRejection(Closed):
    person_id: str
    image_id: int
    reason: str


class ReembedResult(Closed):
    watchlist: str
    from_model: str | None
    to_model: str
    images: int
    embedded: int
    without_face: int
    rejected: list[ReembedRejection]


class Rejection(Closed):
    source: str
    person_id: str
    reason: str


class Consistency(Closed):
    """How alike a person's photos are to each other (a warning when some pair scores under the threshold)."""

    person_id: str
    photos: int
    threshold: float | None
    genuine_frr: float | None
    min_score: float | None
    pairs_below: list[list[int | float]]
    """``[i, j, score]``: 1-based photo numbers and their score, for each pair under the threshold."""
    warning: str | None


class EnrolResult(Closed):
    accepted_images: int
    people: int
    rejected_images: int
    rejected: list[Rejection]
    rejected_by_reason: dict[str, int] = Field(description="How many photos were refused, per reason code.")
    consistency: Consistency | None = Field(None, description="When the person's photos were enrolled.")

    omit_unset = frozenset({"consistency"})


class SafeBand(Closed):
    fpir_min: float
    fpir_max: float
    false_alerts_per_10000_min: float
    false_alerts_per_10000_max: float


class GuardrailPublic(Closed):
    safe: bool
    problems: list[str]
    band: SafeBand
    min_justification_chars: int


class OperatingPointOut(Closed):
    """``OperatingPoint.to_dict()``: a threshold, how it was chosen and what it implies."""

    family: str
    watchlist_size: int
    threshold: float
    source: str
    target_fpir: float | None
    expected_fpir: float | None
    expected_fpir_ci: list[float] | None
    impostor_comparisons_ge: int | None
    impostor_comparisons: int | None
    expected_false_alerts_per_10000: float | None
    expected_false_alerts_per_10000_upper: float | None
    expected_tpir: float | None
    expected_tpir_ci: list[float] | None
    mated_hits: int | None
    mated_searches: int | None
    tpir_reason: str
    calibration: dict[str, Any] | None
    """The calibration file's header (free-form: what the file recorded)."""
    notes: list[str]


class Candidate(Closed):
    """One watchlist entry a face was compared with (``Match.to_dict()`` and the entry's id)."""

    person_id: str
    name: str
    score: float
    rank: int
    entry_id: int


class CheckedFace(Closed):
    box: list[float]
    """``[x1, y1, x2, y2]`` in the photo's pixels."""
    quality: dict[str, float | list[str] | None]
    """The quality measures (``openlfr.types.QUALITY_FIELDS``; None where not measured) and ``failed``, the
    names of the checks the face failed; empty when no quality was measured."""
    passed_quality: bool
    candidates: list[Candidate]
    near_misses: list[Candidate]


class OperatingPointPreview(OperatingPointOut):
    guardrail: GuardrailPublic


class CheckResult(Closed):
    watchlist: str
    watchlist_size: int
    threshold: float
    faces: list[CheckedFace]
    image: str = Field(description="The photo's name (as uploaded).")
    threshold_source: str
    target_fpir: float | None
    operating_point: OperatingPointOut
    analysed_size: list[int] = Field(description="``[width, height]`` of the photo as analysed.")


# ---------------------------------------------------------------- deployments and cameras


class CameraCreate(Strict):
    name: str = Field(..., min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
    url: str = Field(..., min_length=1, max_length=2000, description="Stream URL or video file path.")
    description: str = Field("", max_length=500)


class EntryReason(Strict):
    person_id: str = Field(..., min_length=1, max_length=200)
    reason: str = Field(..., min_length=1, max_length=2000)


class DeploymentBase(Closed):
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
    entries: list[EntryReason] | None = Field(
        None, max_length=100_000, description="People to copy, each with a reason..."
    )
    all_entries_reason: str | None = Field(None, max_length=2000, description="...or one reason for all.")
    cameras: list[CameraCreate] = Field(default_factory=list, max_length=64)


class Authorise(Strict):
    officer: str = Field(..., min_length=1, max_length=300, description="Rank and name.")
    note: str = Field("", max_length=4000)
    justification: str = Field(
        "",
        max_length=8000,
        description=("Written justification; required for an operating point outside the safe band."),
    )
    target_fpir: float | None = Field(
        None,
        gt=0,
        lt=1,
        description=("Change the target FPIR per face seen (threshold from the calibration at the list's size)."),
    )
    threshold: float | None = Field(None, ge=0, le=1, description="Or: an explicit threshold (override).")
    legal_basis: str | None = Field(None, max_length=4000, description="Replace the stated legal basis.")


class DeletionCounts(Closed):
    entries: int
    images: int
    embeddings: int


class StoreStatus(Closed):
    """The alert store as a live run sees it (``SpoolingSink.status()``)."""

    state: Literal["ok", "unavailable", "flushing"]
    spooled: int
    flushed: int
    pending: int
    unavailable_s: float | None
    error: str
    """The last store error's type name ("" if none)."""


class CameraPublic(Closed):
    deployment_id: int
    camera: str
    state: str
    counters: dict[str, int]
    running: bool
    preview: bool
    detail: str = Field(description="Why the camera is not streaming (admins only; others see that there is one).")
    store: StoreStatus | None
    preview_age_s: float | None = Field(description="Seconds since the last preview frame.")


class LiveStatus(Closed):
    deployment_id: int
    running: bool
    store: StoreStatus | None = Field(
        None,
        description=(
            "The alert store as the run sees it: state ok | unavailable (alerts and counters are spooled on "
            "disk, encrypted) | flushing (back; writing the spool), spooled, flushed, pending."
        ),
    )
    cameras: list[CameraPublic] = []
    error: str | None = Field(None, description="Why the run failed (admins only; others see that it did).")
    stop_reason: str | None = None
    started: float | None = Field(None, description="When the run started (Unix time).")

    omit_unset = frozenset({"store", "error", "stop_reason", "started"})
    """A deployment that has not run in this server answers ``deployment_id``, ``running`` and ``cameras`` only."""


class DeploymentPublic(Closed, DeploymentSummary):
    """A deployment: the service's summary (``services.deployments.DeploymentSummary``'s fields), and what a
    list, one deployment or its end add."""

    running_here: bool | None = Field(None, description="In the list: whether this server runs it now.")
    statistics: dict[str, Any] | None = Field(
        None,
        description=(
            "One deployment: faces seen, alerts, verdicts, outcomes, per camera (`services.stats.deployment_stats`; "
            "frozen at the end, as stored then)."
        ),
    )
    statistics_frozen: bool | None = None
    drafters: list[str] | None = None
    self_authorisation_allowed: bool | None = None
    operating_point_preview: OperatingPointPreview | None = Field(
        None, description=("A draft: what authorising now would fix.")
    )
    operating_point_error: ErrorDetail | None = Field(None, description="A draft: why no operating point yet.")
    watchlist_deleted: DeletionCounts | None = Field(None, description="Ending: what was deleted.")
    live: LiveStatus | None = Field(None, description="One deployment: its run in this server.")

    omit_unset = frozenset(
        {
            "running_here",
            "statistics",
            "statistics_frozen",
            "drafters",
            "self_authorisation_allowed",
            "operating_point_preview",
            "operating_point_error",
            "watchlist_deleted",
            "live",
        }
    )


# ---------------------------------------------------------------- alerts


class AlertPublic(Closed):
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
    received_at: str | None
    person_id: str | None
    name: str | None
    category: str | None
    entry_id: int | None
    track_id: int | None
    box: dict[str, float] | None = Field(description="`x1`, `y1`, `x2`, `y2` in the frame's pixels.")
    models: dict[str, Any] = Field(description="The ids of the models that raised the alert.")
    note: str | None
    adjudicated_by: str | None
    adjudicated_at: str | None
    legal_hold: bool
    purged_at: str | None
    purge_reason: str | None


class Adjudication(Strict):
    verdict: Literal["true", "false"]
    outcome: Literal["arrest", "other_disposal", "no_action", "not_engaged"] | None = None
    note: str | None = Field(None, max_length=4000)


class HoldCreate(Strict):
    reason: str = Field(..., min_length=1, max_length=2000)


class HoldRelease(Strict):
    note: str = Field("", max_length=2000)


class HoldPublic(Closed):
    id: int
    reason: str
    active: bool
    alert_id: int | None
    deployment_id: int | None
    placed_by: str
    placed_at: str | None
    released_by: str | None
    released_at: str | None


# ---------------------------------------------------------------- audit and evaluation


class AuditEventPublic(Closed):
    seq: int
    at: str | None = None
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any] = Field({}, description="What the event recorded (free-form: it depends on the action).")
    hash: str


class PrivateDetails(Closed):
    present: int
    purged: int
    altered: int


class AnchorCheck(Closed):
    """The log checked against its anchor file (the newest event's seq and hash, signed)."""

    checked: bool
    path: str | None = None
    seq: int | None = None
    hash: str | None = None
    at: str | None = None
    key_id: str | None = None
    signature: str | None = None
    status: str | None = Field(None, description="ok | missing | unreadable | FAILED")
    private_details: PrivateDetails | None = None

    omit_unset = frozenset({"path", "seq", "hash", "at", "key_id", "signature", "status", "private_details"})


class ChainStatus(Closed):
    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str | None = None
    chain_ok: bool
    anchor: AnchorCheck


class PlanRequest(Strict):
    faces: float = Field(..., ge=0, le=1e12, description="Faces expected to pass the cameras.")
    watchlist_size: int = Field(..., ge=1, le=100_000_000)
    prevalence: float = Field(..., ge=0, le=1, description="Share of passers-by who are on the watchlist.")
    threshold: float | None = Field(None, ge=0, le=1, description="Operating threshold (needs a calibration).")
    fpir: float | None = Field(None, ge=0, le=1, description="FPIR at this watchlist size, if known.")
    fmr: float | None = Field(None, ge=0, le=1, description="Per-comparison false match rate (FPIR ~= N FMR).")
    tpir: float = Field(0.9, ge=0, le=1, description="True positive identification rate at the threshold.")


class Health(Closed):
    status: str
    database: str
    version: str
