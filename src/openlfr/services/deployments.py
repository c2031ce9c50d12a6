"""Deployments: a place, a time window, a purpose, cameras, a threshold and a bespoke watchlist.

States: ``draft -> authorised -> live -> ended`` (a draft or authorised deployment may also be
ended, i.e. cancelled). Only a supervisor authorises; the authorisation fixes the threshold and
a digest of the bespoke watchlist, so a list edited after authorisation cannot go live.
Ending a deployment deletes its watchlist (entries, photos, embeddings: P4) and freezes its
statistics. Alerts keep their own encrypted copy of the matched watchlist photo (made when the
alert is stored) until retention deletes the alert's images (P5).

The live runtime (``openlfr run --deployment ID``) uses :func:`live_plan`, :func:`mark_live`,
:func:`mark_ended` and :class:`openlfr.services.alerts.StoreAlertSink`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openlfr.engine.protocols import family_of
from openlfr.engine.sources import mask_url
from openlfr.errors import AuthError, ConflictError, InputError, NotFoundError, OpenLFRError
from openlfr.names import check_name
from openlfr.services import watchlist_integrity
from openlfr.services.context import AppContext
from openlfr.services.numbers import operating_point_text
from openlfr.services.operating_point import (
    Guardrail,
    OperatingPoint,
    check_choice,
    guardrail,
    require_justification,
    resolve,
)
from openlfr.services.roles import MAY_AUTHORISE, require_role
from openlfr.services.stats import deployment_stats
from openlfr.storage import audit
from openlfr.storage.models import Watchlist, WatchlistEntry
from openlfr.storage.models_gov import Deployment
from openlfr.storage.repos.deployments import DeploymentRepo
from openlfr.storage.repos.watchlists import WatchlistRepo

log = logging.getLogger(__name__)

_CAMERA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


# ---------------------------------------------------------------- helpers


def now_utc() -> datetime:
    return datetime.now(UTC)


def as_utc(dt: datetime | None) -> datetime | None:
    """Aware UTC datetime (SQLite returns naive values that were written as UTC)."""
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _iso(dt: datetime | None) -> str | None:
    d = as_utc(dt)
    return None if d is None else d.isoformat()


def redact_url(url: str) -> str:
    """The URL with its credentials and secret-looking query values replaced by ``***``
    (one masking rule for every path: :func:`openlfr.engine.sources.mask_url`)."""
    return mask_url(url)


@dataclass(frozen=True)
class EntrySelection:
    """One person copied from the source watchlist, with the reason they are on this deployment's list."""

    person_id: str
    reason: str


@dataclass(frozen=True)
class CameraSpec:
    name: str
    url: str = field(repr=False)
    description: str = ""


@dataclass(frozen=True)
class CameraPlan:
    name: str
    url: str = field(repr=False)
    """The stream URL in clear (may hold credentials): never log it; log ``url_display``."""
    url_display: str


@dataclass(frozen=True)
class LivePlan:
    """What ``openlfr run --deployment ID`` needs. Stop at ``planned_end`` at the latest."""

    deployment_id: int
    name: str
    state: str
    watchlist: str
    watchlist_id: int
    watchlist_size: int
    threshold: float
    cameras: tuple[CameraPlan, ...]
    models: dict[str, str]
    planned_start: datetime
    planned_end: datetime
    threshold_source: str | None = None
    """``target_fpir`` or ``override``, fixed at authorisation."""
    target_fpir: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (camera URLs redacted)."""
        return {
            "deployment_id": self.deployment_id,
            "name": self.name,
            "state": self.state,
            "watchlist": self.watchlist,
            "watchlist_id": self.watchlist_id,
            "watchlist_size": self.watchlist_size,
            "threshold": self.threshold,
            "threshold_source": self.threshold_source,
            "target_fpir": self.target_fpir,
            "cameras": [{"name": c.name, "url": mask_url(c.url_display)} for c in self.cameras],
            "models": dict(self.models),
            "planned_start": self.planned_start.isoformat(),
            "planned_end": self.planned_end.isoformat(),
        }


class CameraView(BaseModel):
    """A deployment's camera as shown: its name, its URL masked (no credentials, no query values)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    url: str
    """Masked: no credentials, no query string."""
    description: str


class DeploymentSummary(BaseModel):
    """A deployment as listed and as answered by ``create`` and ``authorise``: where, why, when, its operating
    point, watchlist, cameras and who did what (times as ISO 8601 text). The API's ``DeploymentPublic`` adds
    its own keys to these fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    name: str
    state: str
    location: str
    latitude: float | None
    longitude: float | None
    purpose: str
    legal_basis: str
    planned_start: str | None
    planned_end: str | None
    threshold: float | None
    target_fpir: float | None
    threshold_source: str | None
    operating_point: dict[str, Any] | None = Field(
        description=(
            "The operating point fixed at authorisation, as stored then: `OperatingPointOut`'s fields with its "
            "`guardrail` and `computed_at` (a record written by an older version may hold fewer); None for a draft."
        )
    )
    justification: str
    models: dict[str, str | None] = Field(description="`detector` and `embedder` model ids.")
    watchlist: str | None
    watchlist_id: int | None
    source_watchlist: str | None
    watchlist_size: int | None
    watchlist_deleted_at: str | None
    cameras: list[CameraView]
    created_by: str
    created_at: str | None
    authorising_officer: str | None
    authorised_by: str | None
    authorised_at: str | None
    authorisation_note: str
    self_authorised: bool
    started_by: str | None
    started_at: str | None
    ended_by: str | None
    ended_at: str | None
    end_reason: str
    operating_point_text: str | None = Field(
        description="The threshold and how it was chosen, in the words every page uses (None for a draft)."
    )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``--json``): the fields given, in their order."""
        return self.model_dump(mode="json", exclude_unset=True)


class DeploymentDetail(DeploymentSummary):
    """One deployment (``show``): its summary, its statistics (live, or frozen at its end), who drafted it and,
    for a draft with a watchlist, what authorising it now would fix (or why nothing can be fixed yet)."""

    statistics: dict[str, Any]
    """``DeploymentStats.to_dict()``, or as frozen at the end (a record written by an older version may hold
    fewer keys)."""
    statistics_frozen: bool
    drafters: list[str]
    self_authorisation_allowed: bool
    operating_point_preview: dict[str, Any] | None = None
    """A draft: ``PointPreview.to_dict()``; None (with ``operating_point_error``) when none can be computed."""
    operating_point_error: dict[str, str] | None = None
    """``code`` and ``message`` of why a draft has no operating point yet."""


class DeploymentEnded(DeploymentSummary):
    """An ended deployment (``mark_ended``): its frozen statistics and, when this call ended it, what was
    deleted of its watchlist."""

    statistics: dict[str, Any] | None
    watchlist_deleted: dict[str, int] | None = None
    """``entries``, ``images`` and ``embeddings`` deleted (not given when it had ended before)."""


@dataclass(frozen=True)
class PointPreview:
    """The operating point a draft would be authorised at, and where it stands against the safe band."""

    point: OperatingPoint
    guardrail: Guardrail

    def to_dict(self) -> dict[str, Any]:
        """The operating point's JSON form with its ``guardrail``."""
        return {**self.point.to_dict(), "guardrail": self.guardrail.to_dict()}


def get_deployment(s: Session, ref: int | str) -> Deployment:
    """By numeric id or by name."""
    deps = DeploymentRepo(s)
    dep: Deployment | None = None
    if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
        dep = deps.get(int(ref))
    if dep is None and isinstance(ref, str):
        dep = deps.by_name(ref.strip())
    if dep is None:
        raise NotFoundError(f"no deployment {ref!r}", code="deployment_not_found")
    return dep


def watchlist_digest(s: Session, watchlist_id: int) -> tuple[str, int]:
    """(sha256 over the list's entries, photos and embeddings, number of entries)."""
    return DeploymentRepo(s).list_digest(watchlist_id)


_NOT_EDITS = ("deployment.authorise", "deployment.start", "deployment.end")


def drafters(s: Session, dep: Deployment) -> list[str]:
    """The users who created or edited the deployment before it was authorised (its creator and the
    actor of every other audited change to it): none of them may authorise it (separation of duties)."""
    who = [dep.created_by]
    for actor in DeploymentRepo(s).editors(dep, _NOT_EDITS):
        if actor not in who:
            who.append(actor)
    return who


def _summary_fields(s: Session, dep: Deployment) -> dict[str, Any]:
    """The fields of the deployment's :class:`DeploymentSummary`."""
    live_size: int | None = None
    if dep.watchlist_id is not None:
        live_size = WatchlistRepo(s).sizes(dep.watchlist_id)[0]
    size = dep.watchlist_size if dep.watchlist_size is not None else live_size
    return {
        **dep.heading(),
        "purpose": dep.purpose,
        "legal_basis": dep.legal_basis,
        "planned_start": _iso(dep.planned_start),
        "planned_end": _iso(dep.planned_end),
        "threshold": dep.threshold,
        "target_fpir": dep.target_fpir,
        "threshold_source": dep.threshold_source,
        "operating_point": dep.operating_point,
        "justification": dep.justification,
        "models": {"detector": dep.detector, "embedder": dep.embedder},
        "watchlist": dep.watchlist_name,
        "watchlist_id": dep.watchlist_id,
        "source_watchlist": dep.source_watchlist,
        "watchlist_size": size,
        "watchlist_deleted_at": _iso(dep.watchlist_deleted_at),
        "cameras": [
            CameraView(name=c.name, url=mask_url(c.url_display), description=c.description) for c in dep.cameras
        ],
        "created_by": dep.created_by,
        "created_at": _iso(dep.created_at),
        "authorising_officer": dep.authorising_officer,
        "authorised_by": dep.authorised_by,
        "authorised_at": _iso(dep.authorised_at),
        "authorisation_note": dep.authorisation_note,
        "self_authorised": dep.authorised_by is not None and dep.authorised_by in drafters(s, dep),
        "started_by": dep.started_by,
        "started_at": _iso(dep.started_at),
        "ended_by": dep.ended_by,
        "ended_at": _iso(dep.ended_at),
        "end_reason": dep.end_reason,
        # the same words in reports and on the public page
        "operating_point_text": operating_point_text(
            {
                "threshold": dep.threshold,
                "threshold_source": dep.threshold_source,
                "target_fpir": dep.target_fpir,
                "watchlist_size": size,
            }
        ),
    }


def _summary(s: Session, dep: Deployment) -> DeploymentSummary:
    return DeploymentSummary(**_summary_fields(s, dep))


# ---------------------------------------------------------------- guardrails

_PLACEHOLDERS = {
    "",
    "-",
    "--",
    "n/a",
    "na",
    "none",
    "tbc",
    "tbd",
    "todo",
    "test",
    "x",
    "xxx",
    "unknown",
    "?",
    "legal basis",
    "see above",
    "as above",
    "various",
    "policy",
}
LEGAL_BASIS_MIN_CHARS = 10


def check_legal_basis(text: str) -> str:
    """The stripped legal basis; ``InputError`` (``no_legal_basis``) when it is missing or says
    nothing (a placeholder, fewer than 10 characters or fewer than two words)."""
    t = " ".join(text.split())
    words = re.findall(r"[A-Za-z]{2,}", t)
    if t.lower().strip(" .") in _PLACEHOLDERS or len(t) < LEGAL_BASIS_MIN_CHARS or len(words) < 2:
        raise InputError(
            "state the legal basis for this deployment (the power and policy relied on, e.g. "
            "'Common law policing powers; DPA 2018 s.35; force LFR policy v2'); "
            f"{text.strip()!r} is not one",
            code="no_legal_basis",
        )
    return t


def check_window(ctx: AppContext, start: datetime, end: datetime, now: datetime) -> None:
    """A planned window must end after it starts, not lie in the past, and be no longer than
    ``settings.max_deployment_hours``."""
    if end <= start:
        raise InputError("planned end must be after planned start", code="bad_window")
    if end <= now:
        raise InputError(
            f"the planned window ended at {end.isoformat()}, before now ({now.isoformat()}): "
            "a deployment cannot be created for the past",
            code="window_passed",
        )
    hours = (end - start).total_seconds() / 3600.0
    limit = ctx.settings.max_deployment_hours
    if hours > limit + 1e-9:
        raise InputError(
            f"the planned window is {hours:.1f} h; the maximum is {limit:g} h (setting OPENLFR_MAX_DEPLOYMENT_HOURS)",
            code="window_too_long",
        )


def _family(ctx: AppContext, s: Session, dep: Deployment) -> str:
    """The embedder family of the deployment's watchlist (its vectors' space); the deployment's
    embedder's when the list has none recorded."""
    if dep.watchlist_id is not None:
        wl = WatchlistRepo(s).get(dep.watchlist_id)
        if wl is not None and wl.embedder_family:
            return wl.embedder_family
    if dep.embedder == ctx.settings.embedder and dep.detector == ctx.settings.detector:
        return family_of(ctx.engine.embedder)
    sub = AppContext(ctx.settings.model_copy(update={"detector": dep.detector, "embedder": dep.embedder}))
    try:
        return family_of(sub.engine.embedder)
    finally:
        sub.close()


def _operating_point(
    ctx: AppContext, s: Session, dep: Deployment, size: int, target_fpir: float | None, threshold: float | None
) -> tuple[OperatingPoint, Guardrail]:
    op = resolve(_family(ctx, s, dep), size, target_fpir=target_fpir, threshold=threshold, settings=ctx.settings)
    return op, guardrail(op, ctx.settings)


def _choice(dep: Deployment, target_fpir: float | None, threshold: float | None) -> tuple[float | None, float | None]:
    """(target FPIR, threshold override) to use: the ones given now, else the deployment's."""
    if target_fpir is not None or threshold is not None:
        return target_fpir, threshold
    if dep.threshold_source == "override" or (dep.threshold_source is None and dep.threshold is not None):
        return None, dep.threshold
    return dep.target_fpir, None


def preview_operating_point(
    ctx: AppContext, ref: int | str, target_fpir: float | None = None, threshold: float | None = None
) -> PointPreview:
    """The operating point a draft would be authorised at, for its watchlist's current size (or
    the given target FPIR / threshold override), with the safe-band verdict."""
    with ctx.db.session() as s:
        dep = get_deployment(s, ref)
        if dep.state != "draft":
            raise ConflictError(
                f"deployment {dep.id} is {dep.state}; its operating point was fixed at authorisation", code="bad_state"
            )
        if dep.watchlist_id is None:
            raise ConflictError(f"deployment {dep.id} has no watchlist", code="no_watchlist")
        size = watchlist_digest(s, dep.watchlist_id)[1]
        t, thr = _choice(dep, target_fpir, threshold)
        return PointPreview(*_operating_point(ctx, s, dep, size, t, thr))


# ---------------------------------------------------------------- create


CAMERA_SCHEMES = ("rtsp", "rtsps", "http", "https")


def check_camera_url(name: str, url: str, media_root: Path | None, *, local_files: bool) -> str:
    """A camera is an rtsp/rtsps/http/https URL, or a local file inside ``media_root`` (symlinks
    resolved). Without a media root a local file is accepted only when ``local_files`` (the CLI: its
    user is on this machine already); the API passes False, so a console user cannot point a camera
    at a server file (``/etc/passwd``) or device."""
    if "://" in url or (re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", url) and not url.startswith("webcam:")):
        scheme = urlsplit(url).scheme.lower()
        if scheme not in CAMERA_SCHEMES:
            raise InputError(
                f"camera {name!r}: only {', '.join(CAMERA_SCHEMES)} URLs or files under the media "
                f"root are accepted, not {scheme}:",
                code="bad_camera_url",
            )
        return url
    if media_root is None:
        if local_files:
            return url
        raise InputError(
            f"camera {name!r}: a local file or device is not accepted here; give an rtsp/http(s) "
            "URL, or have an admin set OPENLFR_CAMERA_MEDIA_ROOT",
            code="camera_file_not_allowed",
        )
    root = Path(media_root).resolve()
    target = Path(url).expanduser()
    if not target.is_absolute():
        target = root / target
    if url.strip().isdigit() or url.startswith(("webcam:", "/dev/")) or not target.resolve().is_relative_to(root):
        raise InputError(
            f"camera {name!r}: a local file must be inside the media root (OPENLFR_CAMERA_MEDIA_ROOT)",
            code="camera_file_not_allowed",
        )
    return str(target.resolve())


def _check_place(location: str, purpose: str, latitude: float | None) -> tuple[str, str]:
    """The stripped location and purpose: a location precise enough to find (or coordinates), a purpose."""
    location, purpose = location.strip(), purpose.strip()
    if not location:
        raise InputError("a deployment needs a precise location (street, junction or landmark)", code="bad_location")
    if latitude is None and len(re.findall(r"\w+", location)) < 2:
        raise InputError(
            f"location {location!r} is too vague: name the street, junction or landmark "
            "(e.g. 'High St, Sutton, outside the station') or give coordinates",
            code="vague_location",
        )
    if not purpose:
        raise InputError("a deployment needs a purpose", code="bad_purpose")
    return location, purpose


def _check_coordinates(latitude: float | None, longitude: float | None) -> None:
    if (latitude is None) != (longitude is None):
        raise InputError("give both latitude and longitude, or neither", code="bad_coordinates")
    if latitude is not None and not (-90 <= latitude <= 90 and -180 <= (longitude or 0) <= 180):
        raise InputError("coordinates out of range", code="bad_coordinates")


def _check_selection(entries: Sequence[EntrySelection] | None, all_entries_reason: str | None) -> dict[str, str]:
    """person id -> reason for the selected entries (empty when every entry is copied with one reason)."""
    if (entries is None) == (all_entries_reason is None):
        raise InputError(
            "select the watchlist entries (each with a reason) or give one reason for all", code="bad_selection"
        )
    if all_entries_reason is not None and not all_entries_reason.strip():
        raise InputError("the reason for copying every entry must not be empty", code="bad_selection")
    selection: dict[str, str] = {}
    for sel in entries or ():
        pid, why = sel.person_id.strip(), sel.reason.strip()
        if not pid or not why:
            raise InputError(f"entry {sel.person_id!r}: each selected person needs a reason", code="bad_selection")
        if pid in selection:
            raise InputError(f"person {pid!r} selected twice", code="bad_selection")
        selection[pid] = why
    return selection


def _check_cameras(ctx: AppContext, cameras: Sequence[CameraSpec], local_files: bool) -> list[CameraSpec]:
    """Cameras with valid, unique names and allowed source URLs (normalised)."""
    checked: list[CameraSpec] = []
    seen: set[str] = set()
    for c in cameras:
        if not _CAMERA_NAME.match(c.name):
            raise InputError(
                f"camera name {c.name!r}: use letters, digits, '.', '_' or '-' (max 100)", code="bad_camera"
            )
        if c.name in seen:
            raise InputError(f"camera {c.name!r} given twice", code="bad_camera")
        if not c.url.strip():
            raise InputError(f"camera {c.name!r} has no source URL", code="bad_camera")
        url = check_camera_url(c.name, c.url.strip(), ctx.settings.camera_media_root, local_files=local_files)
        if url != c.url.strip():
            c = CameraSpec(c.name, url, c.description)
        checked.append(c)
        seen.add(c.name)
    return checked


def _source_entries(
    ctx: AppContext, s: Session, source_watchlist: str, selection: dict[str, str], all_entries_reason: str | None
) -> tuple[Watchlist, dict[str, WatchlistEntry], dict[str, str]]:
    """The standing list to copy from (integrity checked), its entries by person id, and the final selection."""
    lists = WatchlistRepo(s)
    src = lists.by_name(source_watchlist)
    if src is None:
        raise NotFoundError(f"no watchlist named {source_watchlist!r}", code="watchlist_not_found")
    if src.deployment_id is not None:
        raise InputError(
            f"{source_watchlist!r} is another deployment's bespoke list; copy from a standing watchlist",
            code="bad_source",
        )
    try:
        watchlist_integrity.check(s, ctx.cipher, src)
    except ConflictError as exc:
        watchlist_integrity.record_failure(ctx, src.id, src.name, exc, "deployment copy")
        raise
    src_entries = {e.person_id: e for e in lists.entries(src.id)}
    if all_entries_reason is not None:
        selection = {pid: all_entries_reason.strip() for pid in sorted(src_entries)}
    missing = sorted(set(selection) - set(src_entries))
    if missing:
        raise NotFoundError(
            f"not on {source_watchlist!r}: {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}",
            code="entry_not_found",
        )
    if not selection:
        raise InputError(f"{source_watchlist!r} has no entries to copy", code="bad_selection")
    return src, src_entries, selection


def _bespoke_list(
    s: Session,
    repo: DeploymentRepo,
    dep: Deployment,
    src: Watchlist,
    src_entries: dict[str, WatchlistEntry],
    selection: dict[str, str],
    actor: str,
) -> tuple[Watchlist, int, int]:
    """The deployment's own list, entry by entry from ``src`` with each entry's reason; (list, images, embeddings)."""
    # a standing list someone named ``deployment-7`` must not block deployment 7: the next free name
    wl = Watchlist(
        name=repo.free_list_name(f"deployment-{dep.id}"),
        description=f"bespoke watchlist of deployment {dep.id}",
        embedder_family=src.embedder_family,
        deployment_id=dep.id,
        created_by=actor,
    )
    s.add(wl)
    s.flush()
    dep.watchlist_id, dep.watchlist_name = wl.id, wl.name
    n_images = n_emb = 0
    for pid, why in sorted(selection.items()):
        se = src_entries[pid]
        ne = WatchlistEntry(
            watchlist_id=wl.id,
            person_id=se.person_id,
            display_name=se.display_name,
            category=se.category,
            reason=why,
            added_by=actor,
            expires_at=se.expires_at,
            source=f"copied from watchlist {src.name!r} entry {se.id}",
        )
        s.add(ne)
        i, e = repo.copy_entry_media(se, ne)
        n_images, n_emb = n_images + i, n_emb + e
    return wl, n_images, n_emb


def _threshold_choice(ctx: AppContext, threshold: float | None, target_fpir: float | None) -> tuple[float | None, str]:
    """The target FPIR (the configured default when neither it nor a threshold override is given) and where the
    threshold will come from (``override`` or ``target_fpir``)."""
    check_choice(target_fpir, threshold)
    threshold_source = "override" if threshold is not None else "target_fpir"
    if threshold is None and target_fpir is None:
        target_fpir = ctx.settings.default_target_fpir
    return target_fpir, threshold_source


def _deployment_name(name: str | None, location: str, start: datetime) -> str:
    """The given name, or one made of the location and start; checked."""
    name = (name or f"{location[:80]} {start:%Y-%m-%d %H:%M}").strip()
    if len(name) > 200:
        raise InputError("deployment name must be at most 200 characters", code="bad_name")
    check_name(name, "deployment name", "bad_name")
    return name


def _add_cameras(repo: DeploymentRepo, dep: Deployment, cams: Sequence[CameraSpec]) -> None:
    """The cameras added to the deployment, each URL sealed (only a redacted form is kept in clear)."""
    for c in cams:
        repo.add_camera(dep, c.name, c.url.strip(), redact_url(c.url.strip()), c.description)


def _record_creation(
    s: Session,
    cipher: Any,
    actor: str,
    dep: Deployment,
    wl: Watchlist,
    cams: Sequence[CameraSpec],
    selection: dict[str, str],
    copied: tuple[int, int],
) -> None:
    """The audit events of a deployment's creation and of its watchlist's copy (``copied``: images, embeddings;
    which people and why, privately)."""
    start, end = as_utc(dep.planned_start), as_utc(dep.planned_end)
    assert start is not None and end is not None
    audit.record(
        s,
        actor,
        "deployment.create",
        "deployment",
        dep.id,
        {
            "name": dep.name,
            "location": dep.location,
            "purpose": dep.purpose,
            "planned_start": start.isoformat(),
            "planned_end": end.isoformat(),
            "cameras": [c.name for c in cams],
            "threshold": dep.threshold,
            "target_fpir": dep.target_fpir,
            "threshold_source": dep.threshold_source,
            "legal_basis": dep.legal_basis,
        },
    )
    audit.record(
        s,
        actor,
        "watchlist.copy",
        "watchlist",
        wl.id,
        {
            "deployment_id": dep.id,
            "source_watchlist": dep.source_watchlist,
            "watchlist": wl.name,
            "entries": len(selection),
            "images": copied[0],
            "embeddings": copied[1],
        },
        private={"entries": [{"person_id": p, "reason": r} for p, r in sorted(selection.items())]},
        cipher=cipher,
    )


def _store_draft(
    ctx: AppContext,
    dep: Deployment,
    source_watchlist: str,
    selection: dict[str, str],
    all_entries_reason: str | None,
    cams: Sequence[CameraSpec],
) -> DeploymentSummary:
    """Store the new draft with its bespoke watchlist copied from ``source_watchlist`` and its cameras; audited."""
    cipher = ctx.cipher
    actor = dep.created_by
    with ctx.db.session() as s:
        src, src_entries, selection = _source_entries(ctx, s, source_watchlist, selection, all_entries_reason)
        dep.source_watchlist = src.name
        s.add(dep)
        s.flush()
        repo = DeploymentRepo(s, cipher)
        wl, n_images, n_emb = _bespoke_list(s, repo, dep, src, src_entries, selection, actor)
        _add_cameras(repo, dep, cams)
        s.flush()
        watchlist_integrity.reseal(s, cipher, wl)
        _record_creation(s, cipher, actor, dep, wl, cams, selection, (n_images, n_emb))
        return _summary(s, dep)


def create(
    ctx: AppContext,
    *,
    location: str,
    purpose: str,
    planned_start: datetime,
    planned_end: datetime,
    actor: str,
    source_watchlist: str,
    entries: Sequence[EntrySelection] | None = None,
    all_entries_reason: str | None = None,
    cameras: Sequence[CameraSpec] = (),
    name: str | None = None,
    legal_basis: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
    local_files: bool = True,
    threshold: float | None = None,
    target_fpir: float | None = None,
    detector: str | None = None,
    embedder: str | None = None,
) -> DeploymentSummary:
    """Create a draft deployment with its bespoke watchlist, copied entry by entry (each with the
    reason it is there) from ``source_watchlist``; photos and embeddings are re-encrypted copies."""
    location, purpose = _check_place(location, purpose, latitude)
    start, end = as_utc(planned_start), as_utc(planned_end)
    assert start is not None and end is not None
    check_window(ctx, start, end, now_utc())
    legal_basis = check_legal_basis(legal_basis)
    _check_coordinates(latitude, longitude)
    target_fpir, threshold_source = _threshold_choice(ctx, threshold, target_fpir)
    selection = _check_selection(entries, all_entries_reason)
    cams = _check_cameras(ctx, cameras, local_files)
    name = _deployment_name(name, location, start)
    dep = Deployment(
        name=name,
        location=location,
        latitude=latitude,
        longitude=longitude,
        purpose=purpose,
        legal_basis=legal_basis.strip(),
        planned_start=start,
        planned_end=end,
        threshold=threshold,
        target_fpir=target_fpir,
        threshold_source=threshold_source,
        detector=detector or ctx.settings.detector,
        embedder=embedder or ctx.settings.embedder,
        state="draft",
        created_by=actor,
    )
    try:
        return _store_draft(ctx, dep, source_watchlist, selection, all_entries_reason, cams)
    except IntegrityError as exc:
        raise ConflictError(f"a deployment named {name!r} already exists", code="deployment_exists") from exc


# ---------------------------------------------------------------- queries


def _preview_fields(ctx: AppContext, s: Session, dep: Deployment) -> dict[str, Any]:
    """A draft with a watchlist: what authorising it now would fix, for the list's current size (recomputed on
    each call), or why nothing can be fixed yet; nothing for any other deployment."""
    if dep.state != "draft" or dep.watchlist_id is None:
        return {}
    try:
        size = watchlist_digest(s, dep.watchlist_id)[1]
        preview = PointPreview(*_operating_point(ctx, s, dep, size, *_choice(dep, None, None)))
        return {"operating_point_preview": preview.to_dict()}
    except OpenLFRError as exc:
        return {"operating_point_preview": None, "operating_point_error": {"code": exc.code, "message": exc.message}}


def show(ctx: AppContext, ref: int | str) -> DeploymentDetail:
    with ctx.db.session() as s:
        dep = get_deployment(s, ref)
        frozen = dep.state == "ended" and dep.stats is not None
        return DeploymentDetail(
            **_summary_fields(s, dep),
            statistics=dep.stats if frozen else deployment_stats(s, dep).to_dict(),
            statistics_frozen=frozen,
            drafters=drafters(s, dep),
            self_authorisation_allowed=ctx.settings.allow_self_authorisation,
            **_preview_fields(ctx, s, dep),
        )


def list_all(ctx: AppContext, state: str | None = None) -> list[DeploymentSummary]:
    with ctx.db.session() as s:
        return [_summary(s, d) for d in DeploymentRepo(s).all(state)]


def state_of(ctx: AppContext, ref: int | str) -> str:
    """The deployment's current state (cheap; the runtime may poll it to notice a remote stop)."""
    with ctx.db.session() as s:
        return get_deployment(s, ref).state


# ---------------------------------------------------------------- transitions


def _check_authorisable(ctx: AppContext, s: Session, dep: Deployment, actor: str, t: datetime) -> bool:
    """Refuse unless ``dep`` is a draft whose window has not ended and ``actor`` may authorise it (separation of
    duties); whether ``actor`` drafted it (a self-authorisation, when the installation allows it)."""
    if dep.state != "draft":
        raise ConflictError(f"deployment {dep.id} is {dep.state}; only a draft can be authorised", code="bad_state")
    if as_utc(dep.planned_end) <= t:  # type: ignore[operator]
        raise ConflictError(f"deployment {dep.id}'s planned window has already ended", code="window_passed")
    self_auth = actor in drafters(s, dep)
    if self_auth and not ctx.settings.allow_self_authorisation:
        err = AuthError(
            f"you created or edited deployment {dep.id}, so another supervisor must authorise it "
            "(separation of duties; a one-person installation may allow this with the setting "
            "OPENLFR_ALLOW_SELF_AUTHORISATION)",
            code="self_authorisation",
        )
        err.http_status = 403
        raise err
    return self_auth


def _ready_watchlist(s: Session, dep: Deployment) -> tuple[str, int]:
    """The digest and size of the deployment's watchlist; refused when it has no cameras or an empty list."""
    if not dep.cameras:
        raise ConflictError(f"deployment {dep.id} has no cameras", code="no_cameras")
    if dep.watchlist_id is None:
        raise ConflictError(f"deployment {dep.id} has no watchlist", code="no_watchlist")
    digest, size = watchlist_digest(s, dep.watchlist_id)
    if size == 0:
        raise ConflictError(f"deployment {dep.id}'s watchlist is empty", code="empty_watchlist")
    return digest, size


def _record_authorisation(
    s: Session, dep: Deployment, actor: str, role: str, op: OperatingPoint, g: Guardrail, self_auth: bool
) -> None:
    """The audit event of an authorisation, with the operating point fixed and where it stands against the
    safe band."""
    audit.record(
        s,
        actor,
        "deployment.authorise",
        "deployment",
        dep.id,
        {
            "role": role,
            "officer": dep.authorising_officer,
            "note": dep.authorisation_note,
            "threshold": op.threshold,
            "threshold_source": op.source,
            "target_fpir": op.target_fpir,
            "watchlist_size": dep.watchlist_size,
            "watchlist_digest": dep.watchlist_digest,
            "legal_basis": dep.legal_basis,
            "expected_false_alerts_per_10000": op.false_alerts_per_10000,
            "expected_tpir": op.tpir,
            "calibration": (op.calibration or {}).get("file"),
            "safe_band": g.safe,
            "outside_band": list(g.problems),
            "justification": dep.justification,
            "self_authorisation": self_auth,
        },
    )


def authorise(
    ctx: AppContext,
    ref: int | str,
    actor: str,
    role: str,
    officer: str,
    note: str = "",
    now: datetime | None = None,
    *,
    justification: str = "",
    target_fpir: float | None = None,
    threshold: float | None = None,
    legal_basis: str | None = None,
) -> DeploymentSummary:
    """A supervisor authorises a draft: fixes the watchlist's digest and the operating point for
    the list's size at this moment (the deployment's target FPIR or threshold override, or the
    ``target_fpir``/``threshold`` given here). Refused without a meaningful legal basis, and, for an
    operating point outside the safe band, without a written justification (stored and audited).
    Refused to the user who created or edited the draft (separation of duties) unless the setting
    ``allow_self_authorisation`` is on (one-person installations): then audited as such."""
    require_role(role, MAY_AUTHORISE, "authorise a deployment")
    officer = officer.strip()
    if not officer:
        raise InputError("name the authorising officer (rank and name)", code="bad_officer")
    check_choice(target_fpir, threshold)
    t = as_utc(now) or now_utc()
    with ctx.db.session() as s:
        dep = get_deployment(s, ref)
        self_auth = _check_authorisable(ctx, s, dep, actor, t)
        basis = check_legal_basis(dep.legal_basis if legal_basis is None else legal_basis)
        digest, size = _ready_watchlist(s, dep)
        want_fpir, want_thr = _choice(dep, target_fpir, threshold)
        op, g = _operating_point(ctx, s, dep, size, want_fpir, want_thr)
        why = require_justification(g, justification)
        point = {**op.to_dict(), "guardrail": g.to_dict(), "computed_at": t.isoformat()}
        dep.legal_basis = basis
        dep.threshold, dep.target_fpir, dep.threshold_source = op.threshold, op.target_fpir, op.source
        dep.operating_point, dep.justification = point, why
        dep.watchlist_digest, dep.watchlist_size = digest, size
        dep.state, dep.authorised_by, dep.authorised_at = "authorised", actor, t
        dep.authorising_officer, dep.authorisation_note = officer, note.strip()
        _record_authorisation(s, dep, actor, role, op, g, self_auth)
        return _summary(s, dep)


def _check_window(dep: Deployment, t: datetime) -> None:
    start, end = as_utc(dep.planned_start), as_utc(dep.planned_end)
    assert start is not None and end is not None
    if t < start:
        raise ConflictError(
            f"deployment {dep.id} is authorised from {start.isoformat()}; it is {t.isoformat()}", code="before_window"
        )
    if t >= end:
        raise ConflictError(f"deployment {dep.id}'s window ended at {end.isoformat()}", code="window_passed")


def _plan(ctx: AppContext, s: Session, dep: Deployment, t: datetime) -> LivePlan:
    if dep.state not in ("authorised", "live"):
        raise ConflictError(
            f"deployment {dep.id} is {dep.state}; it must be authorised (or live) to run", code="not_authorised"
        )
    _check_window(dep, t)
    if dep.watchlist_id is None or dep.threshold is None:
        raise ConflictError(f"deployment {dep.id} has no watchlist or threshold", code="not_authorised")
    digest, size = watchlist_digest(s, dep.watchlist_id)
    if digest != dep.watchlist_digest:
        raise ConflictError(
            f"deployment {dep.id}'s watchlist changed after it was authorised; it cannot run", code="watchlist_changed"
        )
    cipher = ctx.cipher
    repo = DeploymentRepo(s, cipher)
    wl = WatchlistRepo(s).get(dep.watchlist_id)
    if wl is not None:
        try:
            watchlist_integrity.check(s, cipher, wl)
        except ConflictError as exc:
            watchlist_integrity.record_failure(ctx, wl.id, wl.name, exc, f"deployment {dep.id} plan")
            raise
    cams = tuple(
        CameraPlan(name=c.name, url=repo.camera_url(c), url_display=mask_url(c.url_display)) for c in dep.cameras
    )
    return LivePlan(
        deployment_id=dep.id,
        name=dep.name,
        state=dep.state,
        watchlist=dep.watchlist_name,
        watchlist_id=dep.watchlist_id,
        watchlist_size=size,
        threshold=float(dep.threshold),
        cameras=cams,
        models={"detector": dep.detector, "embedder": dep.embedder},
        planned_start=as_utc(dep.planned_start),  # type: ignore[arg-type]
        planned_end=as_utc(dep.planned_end),  # type: ignore[arg-type]
        threshold_source=dep.threshold_source,
        target_fpir=dep.target_fpir,
    )


def live_plan(ctx: AppContext, ref: int | str, now: datetime | None = None) -> LivePlan:
    """The watchlist, threshold, cameras and models to run; refuses unless the deployment is
    authorised or live, inside its planned window, with the watchlist it was authorised with."""
    t = as_utc(now) or now_utc()
    with ctx.db.session() as s:
        return _plan(ctx, s, get_deployment(s, ref), t)


def mark_live(ctx: AppContext, ref: int | str, actor: str, now: datetime | None = None) -> LivePlan:
    """authorised -> live (idempotent when already live); returns the plan."""
    t = as_utc(now) or now_utc()
    with ctx.db.session() as s:
        dep = get_deployment(s, ref)
        plan = _plan(ctx, s, dep, t)
        if dep.state == "authorised":
            dep.state, dep.started_by, dep.started_at = "live", actor, t
            audit.record(
                s,
                actor,
                "deployment.start",
                "deployment",
                dep.id,
                {
                    "cameras": [c.name for c in plan.cameras],
                    "threshold": plan.threshold,
                    "watchlist_size": plan.watchlist_size,
                },
            )
        return LivePlan(**{**plan.__dict__, "state": "live"})


def _delete_watchlist_rows(s: Session, watchlist_id: int) -> dict[str, int]:
    """Delete the bespoke list with every entry, photo and embedding (``delete_incomplete`` if any is left)."""
    wl = WatchlistRepo(s).get(watchlist_id)
    gone = WatchlistRepo(s).delete_list(wl) if wl is not None else None
    return asdict(gone) if gone is not None else {"entries": 0, "images": 0, "embeddings": 0}


def mark_ended(
    ctx: AppContext, ref: int | str, actor: str, reason: str = "stopped", now: datetime | None = None
) -> DeploymentEnded:
    """End (or cancel) a deployment: delete its bespoke watchlist (P4), freeze its statistics.
    Idempotent: ending an ended deployment returns its summary."""
    t = as_utc(now) or now_utc()
    with ctx.db.session() as s:
        dep = get_deployment(s, ref)
        if dep.state == "ended":
            return DeploymentEnded(**_summary_fields(s, dep), statistics=dep.stats)
        previous = dep.state
        deleted = {"entries": 0, "images": 0, "embeddings": 0}
        if dep.watchlist_id is not None:
            if dep.watchlist_size is None:
                dep.watchlist_size = watchlist_digest(s, dep.watchlist_id)[1]
            deleted = _delete_watchlist_rows(s, dep.watchlist_id)
            dep.watchlist_id = None
            dep.watchlist_deleted_at = t
        dep.state, dep.ended_by, dep.ended_at, dep.end_reason = "ended", actor, t, reason
        s.flush()
        dep.stats = deployment_stats(s, dep, now=t).to_dict()
        audit.record(
            s,
            actor,
            "deployment.end",
            "deployment",
            dep.id,
            {
                "previous_state": previous,
                "reason": reason,
                "watchlist": dep.watchlist_name,
                "watchlist_deleted": deleted,
                "statistics": {
                    k: dep.stats[k] for k in ("faces_seen", "alerts", "true_alerts", "false_alerts", "unadjudicated")
                },
            },
        )
        out = DeploymentEnded(**_summary_fields(s, dep), statistics=dep.stats, watchlist_deleted=deleted)
    ctx.db.checkpoint()
    return out


def refresh_frozen_stats(s: Session, deployment_id: int | None) -> None:
    """After a late adjudication of an ended deployment's alert: recompute its frozen statistics
    (counters cannot change any more; verdicts and outcomes can)."""
    if deployment_id is None:
        return
    dep = DeploymentRepo(s).get(deployment_id)
    if dep is not None and dep.state == "ended":
        s.flush()
        dep.stats = deployment_stats(s, dep, now=as_utc(dep.ended_at)).to_dict()


def end_overdue(ctx: AppContext, actor: str, now: datetime | None = None) -> list[int]:
    """End every deployment whose planned end has passed (used by the retention sweeper)."""
    t = as_utc(now) or now_utc()
    with ctx.db.session() as s:
        deps = DeploymentRepo(s).not_ended()
        ids = [d.id for d in deps if as_utc(d.planned_end) <= t]  # type: ignore[operator]
    for i in ids:
        mark_ended(ctx, i, actor, reason="planned end reached", now=t)
    return ids
