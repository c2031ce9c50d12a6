"""Retrospective search (RFR): a recorded video or an image folder against a watchlist.

The same per-track decision logic as live (``engine.live``) runs over every frame (or a sampled
rate); the result lists *appearances*: one per track and watchlist entry that reached the
threshold, with when the track was first and last seen. An image folder is read in name order
as a sequence at one image per second (``first_seen_s`` = the image's position), each image
on its own (no track spans two images).
"""

from __future__ import annotations

import base64
import html
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from openlfr.engine.imageio import IMAGE_SUFFIXES, decode_image, load_image
from openlfr.engine.live import AlertEvent, LiveAnalyser, LiveConfig, TrackSummary
from openlfr.engine.memsource import memory_video
from openlfr.engine.sources import VIDEO_SUFFIXES, Frame, open_source, probe
from openlfr.errors import InputError, OpenLFRError
from openlfr.services.context import AppContext
from openlfr.services.operating_point import OperatingPoint, op_fields, resolve_for
from openlfr.services.watchlists import ListRef, load_index
from openlfr.storage import audit

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]
"""progress(done, total)"""
OnAlerts = Callable[[list[AlertEvent]], None]


class Appearance(BaseModel):
    """One track that matched one watchlist entry: who, its best score, when first and last seen (seconds
    into the source; an image folder's images count one a second)."""

    model_config = ConfigDict(frozen=True)

    person_id: str
    name: str
    entry_id: int
    score: float
    first_seen_s: float
    last_seen_s: float
    track_id: int


class SearchCounts(BaseModel):
    """What a retrospective search read: its source, frames read and analysed (at what width), faces detected
    and seen (tracks). Shared by the result and the API's view of it."""

    source: str
    frames: int
    frames_analysed: int
    analysis_width: int | None
    faces_detected: int
    faces_seen: int


class SearchResult(SearchCounts):
    """What a retrospective search found: its counts, appearances in time order, and (once known) the
    operating point it used."""

    model_config = ConfigDict(frozen=True)

    appearances: list[Appearance]
    cancelled: bool
    threshold: float | None = None
    threshold_source: str | None = None
    target_fpir: float | None = None
    operating_point: dict[str, Any] | None = None

    def at(self, op: OperatingPoint) -> SearchResult:
        """This result with the operating point it was searched at."""
        return self.model_copy(update={"threshold": op.threshold, **op_fields(op)})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``--json``): the operating point's fields only once known."""
        return self.model_dump(mode="json", exclude_unset=True)


@dataclass(frozen=True)
class SearchOptions:
    """How a retrospective search runs: its operating point (``threshold``, else the target ``fpir`` at the
    list's size), the analysis rate (``fps``) and configuration, and its hooks (progress, a lock shared by
    concurrent searches, alerts as they come, cancellation)."""

    threshold: float | None = None
    fpir: float | None = None
    fps: float | None = None
    config: LiveConfig | None = None
    progress: Progress | None = None
    lock: AbstractContextManager[Any] | None = None
    on_alerts: OnAlerts | None = None
    cancel: threading.Event | None = None


def _frames_of(path: Path, fps: float | None) -> tuple[Any, int | None, bool]:
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})", code="empty_folder")

        def gen() -> Any:
            for i, f in enumerate(files):
                try:
                    img = load_image(f)
                except OpenLFRError as exc:
                    log.warning("skipping %s: %s", f, exc.message)
                    continue
                yield Frame(image=img, t=float(i), wall=time.time(), index=i)

        return gen(), len(files), True
    if not path.is_file():
        raise InputError(f"{path}: no such file or folder", code="file_not_found")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(
            f"{path}: not a video file ({', '.join(sorted(VIDEO_SUFFIXES))}) or image folder", code="unsupported_media"
        )
    src = open_source(str(path))
    try:
        total = probe(str(path)).get("frames")
    except OpenLFRError:
        total = None

    def gen_video() -> Any:
        try:
            while (f := src.read()) is not None:
                yield f
        finally:
            src.close()

    return gen_video(), total, False


def search_media(
    analyser: LiveAnalyser, path: Path, fps: float | None = None, progress: Progress | None = None
) -> tuple[SearchResult, list[AlertEvent]]:
    """Run ``analyser`` over a video or image folder; returns (result, alert events)."""
    frames, total, is_folder = _frames_of(path, fps)
    return search_frames(analyser, frames, total, is_folder, str(path), SearchOptions(progress=progress))


def _appearances(ended: list[TrackSummary], names: dict[int, tuple[str, str]]) -> list[Appearance]:
    """One appearance per (track, entry it alerted on): who, best score, when first and last seen; in time order."""
    appearances = [
        Appearance(
            person_id=names[eid][0],
            name=names[eid][1],
            entry_id=eid,
            score=round(float(score), 6),
            first_seen_s=round(tr.first_t, 3),
            last_seen_s=round(tr.last_t, 3),
            track_id=tr.track_id,
        )
        for tr in ended
        for eid, score in tr.alerted.items()
    ]
    appearances.sort(key=lambda a: (a.first_seen_s, a.track_id, a.person_id))
    return appearances


def search_frames(
    analyser: LiveAnalyser,
    frames: Iterable[Frame],
    total: int | None,
    is_folder: bool,
    source: str,
    opts: SearchOptions | None = None,
) -> tuple[SearchResult, list[AlertEvent]]:
    """Run ``analyser`` over ``frames`` with ``opts``' hooks: with ``lock``, the engine is held only while a frame
    is analysed; ``on_alerts`` gets each frame's new alerts as they are raised (results as they come); ``cancel``,
    once set, stops the search after the current frame: the result holds what was found so far, with
    ``cancelled``."""
    o = opts or SearchOptions()
    progress, on_alerts, cancel = o.progress, o.on_alerts, o.cancel
    names = {e.entry_id: (e.person_id, e.name) for e in analyser.index.entries}
    n = 0
    ended: list[TrackSummary] = []
    events: list[AlertEvent] = []
    counters: dict[str, int] = {}
    guard = o.lock if o.lock is not None else nullcontext()

    def take(res: Any) -> None:
        ended.extend(res.ended)
        events.extend(res.alerts)
        for k, v in res.counters.items():
            counters[k] = counters.get(k, 0) + int(v)
        if on_alerts is not None and res.alerts:
            on_alerts(list(res.alerts))

    cancelled = False
    for frame in frames:
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        with guard:
            take(analyser.process(frame))
            if is_folder:
                take(analyser.finish())
        n += 1
        if progress:
            progress(n, total)
    close = getattr(frames, "close", None)
    if cancelled and callable(close):
        close()  # a video generator releases its decoder
    with guard:
        take(analyser.finish())
    result = SearchResult(
        source=source,
        frames=n,
        frames_analysed=counters.get("frames_analysed", 0),
        analysis_width=analyser.detect_width,
        faces_detected=counters.get("faces_detected", 0),
        faces_seen=counters.get("faces_seen", 0),
        appearances=_appearances(ended, names),
        cancelled=cancelled,
    )
    return result, events


def _analyser(
    ctx: AppContext, watchlist: str, o: SearchOptions, folder: bool, camera: str
) -> tuple[LiveAnalyser, ListRef, OperatingPoint]:
    index, meta = load_index(ctx, watchlist)
    if index.size == 0:
        raise InputError(f"watchlist {watchlist!r} is empty", code="empty_watchlist")
    op = resolve_for(ctx, index.size, target_fpir=o.fpir, threshold=o.threshold)
    cfg = (o.config or LiveConfig()).model_copy(update={"analysis_fps": o.fps} if o.fps else {})
    if folder:
        cfg = cfg.model_copy(update={"tracker": cfg.tracker.model_copy(update={"min_hits": 1})})
    analyser = LiveAnalyser(ctx.engine, index, op.threshold, camera=camera, config=cfg, watchlist_id=meta.id)
    return analyser, meta, op


def _audit(
    ctx: AppContext,
    actor: str,
    meta: ListRef,
    watchlist: str,
    source: str,
    op: OperatingPoint,
    result: SearchResult,
    report: Path | None,
) -> None:
    with ctx.db.session() as s:
        matched = sorted({a.person_id for a in result.appearances})
        audit.record(
            s,
            actor,
            "retro.search",
            "watchlist",
            meta.id,
            {
                "watchlist": watchlist,
                "threshold": op.threshold,
                "threshold_source": op.source,
                "target_fpir": op.target_fpir,
                "frames": result.frames,
                "faces_seen": result.faces_seen,
                "matches": len(matched),
                "cancelled": result.cancelled,
                "report": bool(report),
            },
            # the source (an uploaded file's name, a server path) and the report's path can name a
            # person or a case: encrypted beside the matched ids, not in the permanent chain
            private={
                "source": source,
                "report": str(report) if report else None,
                **({"matched_person_ids": matched} if matched else {}),
            },
            cipher=ctx.cipher,
        )


def search(
    ctx: AppContext, path: Path, watchlist: str, *, opts: SearchOptions | None = None, report: Path | None = None
) -> SearchResult:
    result, events, thr = search_path(ctx, path, watchlist, actor=ctx.settings.actor, opts=opts, report=report)
    if report is not None:
        write_report(report, result, events, watchlist, thr)
    return result


def search_path(
    ctx: AppContext,
    path: Path,
    watchlist: str,
    *,
    actor: str,
    opts: SearchOptions | None = None,
    report: Path | None = None,
) -> tuple[SearchResult, list[AlertEvent], float]:
    """A video file or image folder on this machine: (result, alert events of matches only, threshold); the
    result says how the threshold was chosen."""
    o = opts or SearchOptions()
    analyser, meta, op = _analyser(ctx, watchlist, o, path.is_dir(), path.name)
    frames, total, is_folder = _frames_of(path, o.fps)
    result, events = search_frames(analyser, frames, total, is_folder, str(path), o)
    _audit(ctx, actor, meta, watchlist, str(path), op, result, report)
    return result.at(op), events, op.threshold


def search_upload(
    ctx: AppContext,
    watchlist: str,
    *,
    actor: str,
    video: tuple[str, bytes] | None = None,
    images: list[tuple[str, bytes]] | None = None,
    opts: SearchOptions | None = None,
) -> tuple[SearchResult, list[AlertEvent], float]:
    """An uploaded video, or uploaded photos read in name order as a folder is; decoded from memory,
    nothing written to disk. Returns (result, alert events of matches only, threshold)."""
    if (video is None) == (not images):
        raise InputError("send one video or one or more photos", code="bad_media")
    if video is not None:
        label = video[0]
        frames, total = memory_video(video[1], video[0])
        folder = False
    else:
        assert images is not None
        label = f"{len(images)} uploaded photo(s)"
        ordered = sorted(images, key=lambda x: x[0])
        folder = True
        total = len(ordered)

        def gen() -> Iterator[Frame]:
            for i, (name, data) in enumerate(ordered):
                try:
                    img = decode_image(
                        data, name=name, max_pixels=ctx.settings.max_image_pixels, max_side=ctx.settings.max_photo_side
                    )
                except OpenLFRError as exc:
                    log.warning("skipping an uploaded photo: %s", exc.code)
                    continue
                yield Frame(image=img, t=float(i), wall=time.time(), index=i)

        frames = gen()
    o = opts or SearchOptions()
    analyser, meta, op = _analyser(ctx, watchlist, o, folder, "upload")
    result, events = search_frames(analyser, frames, total, folder, label, o)
    _audit(ctx, actor, meta, watchlist, f"upload: {label}", op, result, None)
    return result.at(op), events, op.threshold


def write_report(out: Path, result: SearchResult, events: list[AlertEvent], watchlist: str, threshold: float) -> None:
    """A self-contained HTML report, written 0600: one row per appearance with the matched face's
    probe crop, redacted like every alert image (``engine.privacy.redact``: a neighbour's face
    inside the crop is mosaicked), so nobody else's face appears in clear."""
    crops: dict[tuple[int, str], bytes] = {}
    for ev in events:
        key = (ev.record.track_id, ev.record.person_id)
        crops.setdefault(key, ev.record.probe_jpeg)
    rows = []
    for a in result.appearances:
        jpeg = crops.get((a.track_id, a.person_id))
        img = (
            (f'<img alt="face" src="data:image/jpeg;base64,{base64.b64encode(jpeg).decode()}" style="max-height:96px">')
            if jpeg
            else ""
        )
        rows.append(
            f"<tr><td>{a.first_seen_s:.2f}</td><td>{a.last_seen_s:.2f}</td>"
            f"<td>{html.escape(a.person_id)}</td><td>{html.escape(a.name)}</td>"
            f"<td>{a.score:.4f}</td><td>{a.track_id}</td><td>{img}</td></tr>"
        )
    body = "\n".join(rows) or '<tr><td colspan="7">No appearance at or above the threshold.</td></tr>'
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OpenLFR retrospective search</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:4px 8px;text-align:left}}</style></head><body>
<h1>Retrospective search</h1>
<p>Source: {html.escape(result.source)}<br>Watchlist: {html.escape(watchlist)}<br>
Threshold: {threshold:.4f}<br>Frames: {result.frames}<br>Faces seen (tracks): {result.faces_seen}<br>
Appearances: {len(result.appearances)}</p>
<p>Every appearance is a candidate match for a person to review, not an identification.</p>
<table><tr><th>first seen (s)</th><th>last seen (s)</th><th>person id</th><th>name</th><th>score</th>
<th>track</th><th>face</th></tr>
{body}
</table></body></html>
"""
    _write_private(out, doc.encode("utf-8"))


def _write_private(out: Path, data: bytes) -> None:
    """Write ``data`` to ``out`` readable by its owner only (0600); folders it creates are 0700.
    An existing file is truncated and set to 0600 before anything is written."""
    missing = []
    d = out.parent
    while not d.exists():
        missing.append(d)
        d = d.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700)
        os.chmod(folder, 0o700)  # mkdir's mode is cut by the umask
    with os.fdopen(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(data)
