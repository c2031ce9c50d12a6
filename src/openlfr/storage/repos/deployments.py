"""Deployments, their cameras (URLs sealed), their runner lease and their bespoke watchlist's rows."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from openlfr.storage.crypto import Cipher
from openlfr.storage.models import AuditEvent, ReferenceEmbedding, ReferenceImage, Watchlist, WatchlistEntry
from openlfr.storage.models_gov import Deployment, DeploymentCamera
from openlfr.storage.repos.watchlists import WatchlistRepo
from openlfr.storage.sealed import seal, unseal


class DeploymentRepo:
    """Queries over deployments, their cameras and bespoke watchlists in one open session; ``cipher`` seals
    camera URLs and the bespoke list's copied photos and embeddings."""

    def __init__(self, s: Session, cipher: Cipher | None = None) -> None:
        self.s = s
        self.cipher = cipher

    def _key(self) -> Cipher:
        if self.cipher is None:
            raise ValueError("DeploymentRepo needs a cipher to seal or unseal")
        return self.cipher

    # ------------------------------------------------------------ deployments

    def get(self, deployment_id: int) -> Deployment | None:
        return self.s.get(Deployment, deployment_id)

    def by_name(self, name: str) -> Deployment | None:
        return self.s.scalar(select(Deployment).where(Deployment.name == name))

    def all(self, state: str | None = None) -> list[Deployment]:
        """Deployments (in ``state`` when given) by planned start."""
        q = select(Deployment).order_by(Deployment.planned_start, Deployment.id)
        if state is not None:
            q = q.where(Deployment.state == state)
        return list(self.s.scalars(q))

    def not_ended(self) -> list[Deployment]:
        return list(self.s.scalars(select(Deployment).where(Deployment.state != "ended")))

    def past_draft(self) -> list[Deployment]:
        """Deployments authorised, live or ended (not drafts), by planned start."""
        q = select(Deployment).where(Deployment.state != "draft").order_by(Deployment.planned_start, Deployment.id)
        return list(self.s.scalars(q))

    def ended_newest_first(self) -> list[Deployment]:
        q = (
            select(Deployment)
            .where(Deployment.state == "ended")
            .order_by(Deployment.ended_at.desc(), Deployment.id.desc())
        )
        return list(self.s.scalars(q))

    def editors(self, dep: Deployment, not_actions: Iterable[str]) -> list[str]:
        """Actors of the audited changes to ``dep`` other than ``not_actions``, in log order (repeats kept)."""
        q = (
            select(AuditEvent.actor)
            .where(
                AuditEvent.object_type == "deployment",
                AuditEvent.object_id == str(dep.id),
                AuditEvent.action.not_in(list(not_actions)),
            )
            .order_by(AuditEvent.seq)
        )
        return list(self.s.scalars(q))

    # ------------------------------------------------------------ cameras

    def add_camera(self, dep: Deployment, name: str, url: str, url_display: str, description: str) -> DeploymentCamera:
        """A camera added to ``dep`` with its URL sealed (only ``url_display`` is kept in clear)."""
        cam = DeploymentCamera(name=name, url_enc=b"", url_display=url_display, description=description)
        dep.cameras.append(cam)
        seal(self.s, self._key(), cam, url.encode())
        return cam

    def camera_url(self, cam: DeploymentCamera) -> str:
        """The camera's URL in clear (unsealed)."""
        return unseal(self._key(), cam).decode()

    # ------------------------------------------------------------ runner lease

    def take_lease(self, deployment_id: int, current: str | None, holder: str, until: datetime) -> bool:
        """Compare-and-set: give the lease to ``holder`` if it is still held by ``current`` (None: free)."""
        cond = Deployment.lease_holder.is_(None) if current is None else Deployment.lease_holder == current
        res = self.s.execute(
            update(Deployment)
            .where(and_(Deployment.id == deployment_id, cond))
            .values(lease_holder=holder, lease_until=until)
        )
        return bool(res.rowcount == 1)  # type: ignore[attr-defined]

    def renew_lease(self, deployment_id: int, holder: str, until: datetime) -> bool:
        """Extend ``holder``'s lease; False when it no longer holds it."""
        res = self.s.execute(
            update(Deployment)
            .where(and_(Deployment.id == deployment_id, Deployment.lease_holder == holder))
            .values(lease_until=until)
        )
        return bool(res.rowcount == 1)  # type: ignore[attr-defined]

    def release_lease(self, deployment_id: int, holder: str) -> None:
        """Free the lease if ``holder`` still holds it."""
        self.s.execute(
            update(Deployment)
            .where(and_(Deployment.id == deployment_id, Deployment.lease_holder == holder))
            .values(lease_holder=None, lease_until=None)
        )

    # ------------------------------------------------------------ watchlists (source and bespoke)

    def list_digest(self, watchlist_id: int) -> tuple[str, int]:
        """(sha256 over the list's entries, photos and embeddings, number of entries)."""
        rows = self.s.execute(
            select(WatchlistEntry.id, WatchlistEntry.person_id, ReferenceImage.id, ReferenceEmbedding.id)
            .outerjoin(ReferenceImage, ReferenceImage.entry_id == WatchlistEntry.id)
            .outerjoin(ReferenceEmbedding, ReferenceEmbedding.image_id == ReferenceImage.id)
            .where(WatchlistEntry.watchlist_id == watchlist_id)
            .order_by(WatchlistEntry.id, ReferenceImage.id, ReferenceEmbedding.id)
        ).all()
        h = hashlib.sha256()
        for r in rows:
            h.update(("|".join(str(v) for v in r) + "\n").encode())
        return h.hexdigest(), WatchlistRepo(self.s).sizes(watchlist_id)[0]

    def free_list_name(self, base: str) -> str:
        """``base``, or ``base-2``, ``base-3``...: the first watchlist name not taken."""
        taken = set(self.s.scalars(select(Watchlist.name).where(Watchlist.name.like(f"{base}%"))))
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        return name

    def copy_entry_media(self, src: WatchlistEntry, dst: WatchlistEntry) -> tuple[int, int]:
        """Copy ``src``'s photos and embeddings onto ``dst``, re-sealed and bound to the new rows (the copy shares
        no ciphertext with the source); (images, embeddings) copied."""
        lists = WatchlistRepo(self.s, self._key())
        n_images = n_emb = 0
        for img in lists.photos(src.id):
            copy = lists.add_photo(
                dst,
                lists.image_bytes(img),
                media_type=img.media_type,
                width=img.width,
                height=img.height,
                box=dict(img.box),
                quality=dict(img.quality),
            )
            for emb in sorted(img.embeddings, key=lambda e: e.id):
                lists.add_embedding(
                    copy, lists.vector_bytes(emb), model_family=emb.model_family, model_id=emb.model_id, dim=emb.dim
                )
                n_emb += 1
            n_images += 1
        return n_images, n_emb
