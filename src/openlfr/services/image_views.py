"""Thumbnail views aggregated per page view (issue 19): one audit event for a list page's images.

A page that shows many face images at once (the alert list, a watchlist, a person's photos, the
results of a recording search, a photo check's candidates) first declares them:
``open(actor, role, page, paths)`` records ONE audit event ``images.view_page`` naming the page,
the number of images and each image's object (alert id and kind, watchlist entry id and photo
number, search appearance), and returns a short-lived token bound to that user and exactly those
images. The page then asks for each image with ``?view=<token>``; an image the token covers is
served without an event of its own (it is in the page view's event). Any other request for an
image (no token, someone else's, expired, or an image the page did not declare) is audited one by
one as before, so nothing is ever served unaudited. Tokens live in this process's memory.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import unquote

from openlfr.errors import InputError
from openlfr.services.context import AppContext
from openlfr.services.roles import MAY_VIEW_IMAGES, require_role
from openlfr.storage import audit

PATTERNS = {
    "alert": re.compile(r"^/api/alerts/(\d{1,10})/images/(probe|frame|reference)$"),
    "watchlist_photo": re.compile(
        r"^/api/watchlists/([^/]{1,200})/entries/entry:(\d{1,10})"
        r"/images/(\d{1,6})$"
    ),
    "retro": re.compile(r"^/api/retro/([0-9a-f]{16})/appearances/(\d{1,6})/(face|frame)\.jpg$"),
}
PAGES = ("alerts", "alert", "watchlist", "photos", "retro", "check")
MAX_IMAGES = 500
TTL_S = 900.0


@dataclass(frozen=True)
class PageView:
    """A page's declared face images: send ``view`` with each image request (within ``expires_in_s``)."""

    view: str
    images: int
    expires_in_s: float


@dataclass
class _View:
    actor: str
    paths: frozenset[str]
    expires: float


class ImageViews:
    def __init__(self, ttl_s: float = TTL_S) -> None:
        self.ttl_s = ttl_s
        self._views: dict[str, _View] = {}
        self._mu = threading.Lock()

    def open(self, ctx: AppContext, actor: str, role: str, page: str, paths: list[str]) -> PageView:
        require_role(role, MAY_VIEW_IMAGES, "view face images")
        if page not in PAGES:
            raise InputError(f"page must be one of {', '.join(PAGES)}", code="bad_page")
        if not paths:
            raise InputError("no images named", code="no_images")
        if len(paths) > MAX_IMAGES:
            raise InputError(f"at most {MAX_IMAGES} images per page view", code="too_many_images")
        objects: list[str] = []
        paths = [unquote(p) for p in paths]
        for p in paths:
            kind = next((k for k, rx in PATTERNS.items() if rx.match(p)), None)
            if kind is None:
                raise InputError(f"{p[:120]!r} is not a face image of the console", code="bad_image_path")
            m = PATTERNS[kind].match(p)
            assert m is not None
            objects.append(
                {
                    "alert": "alert {0} {1}",
                    "watchlist_photo": "{0} entry {1} photo {2}",
                    "retro": "search {0} appearance {1} {2}",
                }[kind].format(*m.groups())
            )
        token = secrets.token_urlsafe(18)
        now = time.time()
        with self._mu:
            for k in [k for k, v in self._views.items() if v.expires < now]:
                del self._views[k]
            self._views[token] = _View(actor, frozenset(paths), now + self.ttl_s)
        with ctx.db.session() as s:
            audit.record(
                s,
                actor,
                "images.view_page",
                "page",
                page,
                {"page": page, "images": len(paths), "objects": sorted(set(objects)), "role": role},
            )
        return PageView(view=token, images=len(paths), expires_in_s=self.ttl_s)

    def covers(self, token: str | None, actor: str, path: str) -> bool:
        """Whether ``path`` was declared by ``actor``'s page view ``token`` (and so is audited already)."""
        if not token:
            return False
        with self._mu:
            v = self._views.get(token)
        return v is not None and v.actor == actor and v.expires >= time.time() and path in v.paths
