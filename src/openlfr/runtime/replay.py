"""Alert keys: one alert id per (deployment, camera, source position) in every runner.

``LiveAnalyser`` derives an alert's id from (deployment, watchlist, camera, alert key, track, entry).
A source that can be replayed from its start (a file, a video file over HTTP(S)) gets a key that
depends only on its URL: a restarted run (after SIGKILL, a crash, a lost Ray node) sees the same
frames, builds the same tracks and so the same ids, and the store, idempotent on the id, keeps one
copy. A live stream cannot be replayed: each run gets a fresh key (its track numbers restart).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from urllib.parse import urlsplit

from openlfr.engine.sources import NETWORK_SCHEMES, VIDEO_SUFFIXES


def replayable(url: str) -> bool:
    """True for sources a replacement actor can replay from the start: files, and video files served
    over HTTP(S). Cameras and streams are not."""
    s = url.strip()
    if s.isdigit() or s.startswith(("webcam:", "/dev/video")):
        return False
    if "://" not in s:
        return True
    parts = urlsplit(s)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return True
    if scheme in ("http", "https"):
        suffix = os.path.splitext(parts.path)[1].lower()
        return suffix in VIDEO_SUFFIXES and suffix not in (".mjpeg", ".mjpg")
    return scheme not in NETWORK_SCHEMES


def replay_key(url: str) -> str:
    """The alert key of a replayable source: the same for every actor (and run) that analyses it,
    so a replay reproduces the same alert ids."""
    return "replay:" + hashlib.sha256(url.encode()).hexdigest()[:16]


def alert_key_for(url: str, run_key: str | None = None) -> str:
    """The alert key of a camera: :func:`replay_key` for a replayable source, else a per-run key."""
    if replayable(url):
        return replay_key(url)
    return f"live:{run_key or uuid.uuid4().hex}"
