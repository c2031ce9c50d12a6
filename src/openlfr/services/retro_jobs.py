"""Retrospective searches started from the console: run in a background thread, with progress.

A job's results live in this process's memory only: the appearances (time, person, score) and,
for each appearance, the matched face's crop and its frame as the engine made them (every other
face pixelated, ``engine.privacy``). Nothing about a face that did not match is kept: the engine
keeps no crop of it and an uploaded video is decoded from memory (``engine.memsource``). A job is
visible only to the user who started it (and admins) and is forgotten ``ttl_s`` after it ends, or
when deleted.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openlfr.engine.imageio import IMAGE_SUFFIXES
from openlfr.engine.live import AlertEvent
from openlfr.engine.sources import VIDEO_SUFFIXES
from openlfr.errors import ConflictError, InputError, NotFoundError, OpenLFRError
from openlfr.services import retro
from openlfr.services.context import AppContext
from openlfr.storage import audit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobView:
    """A search as its owner sees it: progress, what it found so far, then its result."""

    id: str
    owner: str
    watchlist: str
    source: str
    """The video's name, or how many photos (``"3 photo(s)"``)."""
    state: str
    done: int
    total: int | None
    threshold: float | None
    """The threshold the search used, once finished (None while it runs)."""
    elapsed_s: float
    eta_s: float | None
    cancel_requested: bool
    found: list[dict[str, Any]]
    """While it runs: the alerts raised so far (person, score, time in the source, track, image index)."""
    error: dict[str, str] | None
    """``code`` and ``message`` when it failed."""
    result: dict[str, Any] | None
    """Once finished: ``retro.search_frames``'s result, each appearance with the ``index`` of its images."""


@dataclass(frozen=True)
class VideoItem:
    name: str
    kind: str
    bytes: int


@dataclass(frozen=True)
class FolderItem:
    name: str
    kind: str
    images: int
    """Photos directly inside the folder."""


@dataclass
class Job:
    id: str
    owner: str
    watchlist: str
    source: str
    state: str = "running"
    """running, done, cancelled or failed"""
    done: int = 0
    total: int | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    threshold: float | None = None
    result: retro.SearchResult | None = None
    image_at: dict[tuple[int, str], int] = field(default_factory=dict, repr=False)
    """(track, person) of an appearance -> the index in ``images`` of what it showed while the search ran."""
    error: dict[str, str] | None = None
    images: list[tuple[bytes, bytes | None]] = field(default_factory=list, repr=False)
    """Per appearance: (matched face crop JPEG, frame JPEG with every other face pixelated). While the search
    runs: per alert raised so far (``found``), in the order raised."""
    found: list[dict[str, Any]] = field(default_factory=list)
    """The alerts raised so far (results as they come): person, score, time in the source, track."""
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    image_people: list[str] = field(default_factory=list, repr=False)
    """The person id of each entry of ``images`` (for the audit of a view)."""

    def view(self) -> JobView:
        elapsed = (self.finished or time.time()) - self.started
        eta = None
        if self.state == "running" and self.total and self.done:
            eta = round(elapsed * max(self.total - self.done, 0) / self.done, 1)
        result = None
        if self.result is not None:
            apps = []
            for a in self.result.appearances:
                i = self.image_at.get((a.track_id, a.person_id), -1)
                ok = 0 <= i < len(self.images)
                apps.append(
                    {
                        **a.model_dump(),
                        "index": i if ok else None,
                        "has_face": bool(ok and self.images[i][0]),
                        "has_frame": bool(ok and self.images[i][1] is not None),
                    }
                )
            result = {**self.result.to_dict(), "appearances": apps}
        return JobView(
            id=self.id,
            owner=self.owner,
            watchlist=self.watchlist,
            source=self.source,
            state=self.state,
            done=self.done,
            total=self.total,
            threshold=self.threshold,
            elapsed_s=round(elapsed, 2),
            eta_s=eta,
            cancel_requested=self.cancel.is_set() and self.state == "running",
            found=list(self.found) if self.result is None else [],
            error=self.error,
            result=result,
        )


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path``, with every symbolic link resolved, is inside ``folder`` (resolved too): the
    media folder does not follow links out of itself."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # a link loop
        return False


class RetroJobs:
    """The searches of one server process. At most ``max_running`` run at once."""

    def __init__(
        self,
        ctx: AppContext,
        lock: AbstractContextManager[Any],
        *,
        max_running: int = 2,
        ttl_s: float = 3600.0,
        media_dir: Path | None = None,
    ) -> None:
        self.ctx = ctx
        self.lock = lock
        self.max_running = max_running
        self.ttl_s = ttl_s
        self.media_dir = media_dir
        self._jobs: dict[str, Job] = {}
        self._mu = threading.Lock()

    # ------------------------------------------------------------------ media on this machine
    def media(self) -> list[VideoItem | FolderItem]:
        """Videos and image folders directly inside the media folder (none when it is not set)."""
        d = self.media_dir
        if d is None or not d.is_dir():
            return []
        out: list[VideoItem | FolderItem] = []
        for p in sorted(d.iterdir()):
            if not _inside(p, d):
                continue  # a symbolic link out of the media folder is not offered
            if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
                out.append(VideoItem(p.name, "video", p.stat().st_size))
            elif p.is_dir():
                n = sum(1 for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
                if n:
                    out.append(FolderItem(p.name, "folder", n))
        return out

    def _media_path(self, name: str) -> Path:
        d = self.media_dir
        if d is None or not d.is_dir():
            raise NotFoundError("no media folder configured (OPENLFR_API_MEDIA_DIR)", code="no_media_dir")
        if name in ("", ".", "..") or "/" in name or "\\" in name or "\x00" in name:
            raise InputError(f"{name!r} is not a name in the media folder", code="bad_media")
        path = d / name
        if not path.exists() or not _inside(path, d):
            raise NotFoundError(f"{name!r} is not in the media folder", code="media_not_found")
        if path.is_dir() and any(not _inside(f, d) for f in path.iterdir()):
            # a folder whose photos link out of the media folder (e.g. to another case's files)
            raise NotFoundError(f"{name!r} links outside the media folder", code="media_not_found")
        return path

    # ------------------------------------------------------------------ jobs
    def _purge(self) -> None:
        now = time.time()
        for k in [k for k, j in self._jobs.items() if j.finished is not None and now - j.finished > self.ttl_s]:
            del self._jobs[k]

    def _new(self, owner: str, watchlist: str, source: str) -> Job:
        with self._mu:
            self._purge()
            if sum(1 for j in self._jobs.values() if j.state == "running") >= self.max_running:
                raise ConflictError(
                    f"{self.max_running} searches are already running; wait for one to finish", code="too_many_searches"
                )
            job = Job(id=secrets.token_hex(8), owner=owner, watchlist=watchlist, source=source)
            self._jobs[job.id] = job
            return job

    def _opts(
        self, job: Job, threshold: float | None, fps: float | None, progress: retro.Progress, on_alerts: retro.OnAlerts
    ) -> retro.SearchOptions:
        """A job's search: its operating point and rate, the engine lock shared by the jobs, its cancel flag."""
        return retro.SearchOptions(
            threshold=threshold, fps=fps, progress=progress, lock=self.lock, on_alerts=on_alerts, cancel=job.cancel
        )

    def start_media(
        self, owner: str, watchlist: str, name: str, threshold: float | None = None, fps: float | None = None
    ) -> Job:
        path = self._media_path(name)
        job = self._new(owner, watchlist, name)
        self._spawn(
            job,
            lambda progress, on_alerts: retro.search_path(
                self.ctx, path, watchlist, actor=owner, opts=self._opts(job, threshold, fps, progress, on_alerts)
            ),
        )
        return job

    def start_upload(
        self,
        owner: str,
        watchlist: str,
        *,
        video: tuple[str, bytes] | None = None,
        images: list[tuple[str, bytes]] | None = None,
        threshold: float | None = None,
        fps: float | None = None,
    ) -> Job:
        if (video is None) == (not images):
            raise InputError("send one video or one or more photos", code="bad_media")
        label = video[0] if video is not None else f"{len(images or [])} photo(s)"
        job = self._new(owner, watchlist, label)
        self._spawn(
            job,
            lambda progress, on_alerts: retro.search_upload(
                self.ctx,
                watchlist,
                actor=owner,
                video=video,
                images=images,
                opts=self._opts(job, threshold, fps, progress, on_alerts),
            ),
        )
        return job

    def _spawn(self, job: Job, run: Any) -> None:
        def progress(done: int, total: int | None) -> None:
            job.done, job.total = done, total

        seen: set[tuple[int, str]] = set()

        def on_alerts(events: list[AlertEvent]) -> None:
            for ev in events:  # the first alert of each track and person: one card, shown at once
                key = (ev.record.track_id, ev.record.person_id)
                if key in seen:
                    continue
                seen.add(key)
                job.images.append((ev.record.probe_jpeg, ev.record.frame_jpeg))
                job.image_people.append(ev.record.person_id)
                job.found.append(
                    {
                        "index": len(job.images) - 1,
                        "person_id": ev.record.person_id,
                        "name": ev.name,
                        "entry_id": ev.record.entry_id,
                        "score": round(float(ev.record.score), 6),
                        "t": round(float(ev.t), 3),
                        "track_id": ev.record.track_id,
                        "has_frame": ev.record.frame_jpeg is not None,
                    }
                )

        def work() -> None:
            try:
                result, events, thr = run(progress, on_alerts)
                on_alerts(events)  # any alert not yet seen (none, normally)
                # each card keeps the images it had while the search ran
                job.image_at = {(f["track_id"], f["person_id"]): f["index"] for f in job.found}
                job.threshold = thr
                job.result = result
                job.found = []
                job.state = "cancelled" if result.cancelled else "done"
            except OpenLFRError as exc:
                job.error = {"code": exc.code, "message": exc.message}
                job.state = "failed"
            except Exception as exc:
                log.exception("retrospective search %s failed", job.id)
                job.error = {"code": "internal_error", "message": type(exc).__name__}
                job.state = "failed"
            finally:
                job.finished = time.time()

        threading.Thread(target=work, name=f"retro-{job.id}", daemon=True).start()

    def get(self, job_id: str, user: str, role: str) -> Job:
        with self._mu:
            self._purge()
            job = self._jobs.get(job_id)
        if job is None or (job.owner != user and role != "admin"):
            raise NotFoundError(f"no search {job_id!r}", code="search_not_found")
        return job

    def list(self, user: str, role: str) -> list[Job]:
        with self._mu:
            self._purge()
            return [j for j in self._jobs.values() if j.owner == user or role == "admin"]

    def cancel(self, job_id: str, user: str, role: str) -> Job:
        """Ask a running search to stop after its current frame; what it found so far is kept."""
        job = self.get(job_id, user, role)
        if job.state != "running":
            raise ConflictError(f"the search has already {job.state}", code="search_not_running")
        job.cancel.set()
        return job

    def delete(self, job_id: str, user: str, role: str) -> None:
        job = self.get(job_id, user, role)
        if job.state == "running":
            raise ConflictError("the search is still running", code="search_running")
        with self._mu:
            self._jobs.pop(job.id, None)

    def image(self, job_id: str, user: str, role: str, index: int, kind: str, audited: bool = False) -> bytes:
        job = self.get(job_id, user, role)
        if index < 0 or index >= len(job.images):
            raise NotFoundError(f"no appearance {index}", code="appearance_not_found")
        face, frame = job.images[index]
        data = face if kind == "face" else frame
        if not data:
            raise NotFoundError("no image kept for this appearance", code="no_image")
        if audited:  # declared by the page view that shows it (services.image_views)
            return data
        with self.ctx.db.session() as s:
            pid = job.image_people[index] if index < len(job.image_people) else None
            audit.record(
                s,
                user,
                "retro.view_image",
                "retro_search",
                job.id,
                {"appearance": index, "kind": kind},
                private={"person_id": pid} if pid else None,
                cipher=self.ctx.cipher,
            )
        return data
