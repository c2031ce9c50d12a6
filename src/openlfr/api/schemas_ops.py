"""Response models of the routes typed for issue 20: every field each route answers, nothing more.

Each model forbids extra keys (``Closed``, the base of every model in ``schemas``): FastAPI validates a route's
answer against its model, so a key a service adds without adding it here fails loudly (a 500 in the tests)
instead of being dropped.
Numbers that may be integer or real are ``Num`` (``int | float``: an integer stays an integer in the JSON).
Free-form nested structures (counters, per-year summaries, a calibration) are ``dict[str, Any]``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from openlfr.api.schemas import Closed, Consistency, DeletionCounts, OperatingPointOut, TokenPublic
from openlfr.services.retro import SearchCounts

Num = int | float


# ---------------------------------------------------------------- users, watchlists, entries


class ApiTokenRecord(TokenPublic):
    """A user's API token record, as revoked (never the token itself)."""


class TokensRevoked(Closed):
    user: str
    revoked: int


class TokenRevoked(TokensRevoked):
    token: ApiTokenRecord


class WatchlistDeleted(Closed):
    deleted: DeletionCounts
    name: str


class EntryRemoved(Closed):
    entry_id: int
    person_id: str
    images: int
    embeddings: int


class WatchlistEdited(Closed):
    name: str
    description: str


class EntryEdited(Closed):
    id: int
    person_id: str
    name: str
    category: str
    reason: str


class PhotoMeta(Closed):
    index: int
    image_id: int
    width: int
    height: int
    added_at: str


class EntryPhotos(Closed):
    entry_id: int
    person_id: str
    photos: list[PhotoMeta]
    consistency: Consistency


class PhotoRemoved(Closed):
    entry_id: int
    person_id: str
    removed_image_id: int
    photos_left: int


class ImageView(Closed):
    view: str
    images: int
    expires_in_s: Num


# ---------------------------------------------------------------- deployments and alerts


class CameraTest(Closed):
    camera: str
    source: str
    ok: bool
    width: int | None
    height: int | None
    fps: float | None
    code: str | None
    seconds: float
    detail: str


class CameraTestResult(Closed):
    deployment_id: int
    ok: bool
    cameras: list[CameraTest]


class ContextEntry(Closed):
    person_id: str
    name: str
    category: str
    reason: str = Field(description="Why the person is on the list, as enrolled.")
    added_by: str | None
    added_at: str | None


class PreviousDecision(Closed):
    id: int
    deployment_id: int | None
    camera: str
    occurred_at: str | None = Field(description="When the face was seen (ISO 8601, UTC).")
    score: float
    verdict: str | None
    outcome: str | None
    adjudicated_by: str | None
    adjudicated_at: str | None


class AlertContext(Closed):
    alert_id: int
    watchlist_entry: ContextEntry | None
    previous_decisions: list[PreviousDecision]


# ---------------------------------------------------------------- reports, transparency, evaluation


class PublishedReport(Closed):
    source: str
    rows: int
    first_date: str
    last_date: str
    years: dict[str, dict[str, Any]]
    all: dict[str, Any]
    definitions: dict[str, str]


class PublicDeployment(Closed):
    id: int
    location: str
    latitude: float | None
    longitude: float | None
    started_at: str | None
    ended_at: str | None
    duration_minutes: Num | None
    purpose: str
    legal_basis: str | None
    watchlist_size: int | None
    threshold: float | None
    faces_seen: int | None
    alerts: int | None
    true_alerts: int | None
    false_alerts: int | None
    unadjudicated: int | None
    outcomes: dict[str, int]
    false_alerts_per_face: float | None
    false_alerts_per_face_ci: list[float] | None
    share_of_alerts_wrong: float | None
    share_of_alerts_wrong_ci: list[float] | None
    operating_point_text: str | None


class PublicFeed(Closed):
    generated_at: str
    deployments: list[PublicDeployment]
    totals: dict[str, Any]
    notes: list[str]
    definitions: dict[str, str]


class DetPlot(Closed):
    name: str
    modified: str


class EvaluationOverview(Closed):
    eval_dir: str
    calibration: dict[str, Any] | None
    det_plot: DetPlot | None
    how: str


class RateOut(Closed):
    value: float
    ci: list[float]
    k: int | None
    n: int | None


class ValueCI(Closed):
    value: float | None
    ci: list[float | None]


class PlanResult(Closed):
    faces: float
    watchlist_size: int
    prevalence: float
    threshold: float | None
    fpir: RateOut
    tpir: RateOut
    expected_false_alerts: ValueCI
    expected_true_alerts: ValueCI
    expected_alerts: float
    expected_precision: ValueCI
    false_alerts_per_face_seen: float | None
    share_of_alerts_wrong: float | None
    source: str
    notes: list[str]


# ---------------------------------------------------------------- retrospective search


class MediaItem(Closed):
    name: str
    kind: str
    bytes: int | None = None
    """Videos only."""
    images: int | None = None
    """Folders of photos only."""


class MediaList(Closed):
    data: list[MediaItem]
    count: int
    configured: bool


class RetroFound(Closed):
    index: int
    person_id: str
    name: str | None
    entry_id: int | None
    score: float
    t: float
    track_id: int | None
    has_frame: bool


class JobError(Closed):
    code: str
    message: str


class RetroJobSummary(Closed):
    id: str
    owner: str
    watchlist: str
    source: str
    state: str
    done: int
    total: int | None
    threshold: float | None
    elapsed_s: float
    eta_s: float | None
    cancel_requested: bool
    found: list[RetroFound]
    error: JobError | None


class RetroAppearance(Closed):
    person_id: str
    name: str | None
    entry_id: int | None
    score: float
    first_seen_s: float
    last_seen_s: float
    track_id: int | None
    index: int | None
    """The images it had while the search ran (``appearances/{index}/face.jpg``), if any."""
    has_face: bool
    has_frame: bool


class RetroResult(Closed, SearchCounts):
    appearances: list[RetroAppearance]
    cancelled: bool
    threshold: float
    threshold_source: str
    target_fpir: float | None
    operating_point: OperatingPointOut


class RetroJob(RetroJobSummary):
    result: RetroResult | None
    """The search's result once finished."""


class RetroJobList(Closed):
    data: list[RetroJobSummary]
    count: int


class RetroDeleted(Closed):
    deleted: str
