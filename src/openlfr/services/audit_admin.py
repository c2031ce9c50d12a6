"""Audit log administration: full verification (chain + anchor), signed export, export check.

Export format (JSON lines, UTF-8): one line per event, keys ``seq, at, actor, action, object_type,
object_id, details, prev_hash, hash`` (``at`` exactly as hashed), then one last line::

    {"type": "signature", "algorithm": "HMAC-SHA256", "key_id": ..., "events": n, "first_seq": ...,
     "last_seq": ..., "head_hash": ..., "sha256": <hex of every preceding byte>,
     "hmac_sha256": <HMAC of the same bytes under the audit key>}

The audit key is derived (HKDF-SHA256, info "openlfr audit v1") from the encryption key, which lives
outside the database; anyone holding the key can check an export with ``openlfr audit
verify-export``, and the chain inside the file can be recomputed without any key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from openlfr.errors import InputError, OpenLFRError
from openlfr.services.context import AppContext
from openlfr.storage import audit
from openlfr.storage.audit_anchor import anchor_path, audit_keys, key_id, read_anchor, write_anchor
from openlfr.storage.models import AuditEvent
from openlfr.storage.repos.audit import AuditRepo


@dataclass(frozen=True)
class FullVerify:
    ok: bool
    events: int
    first_bad_seq: int | None
    problem: str | None
    chain_ok: bool
    anchor: dict[str, Any]
    """What the anchor check found: ``checked``, and when checked ``path``, ``status`` and the anchor's
    ``seq``, ``hash``, ``at``, ``key_id``, ``signature``; ``private_details`` counts when the key is at hand."""


@dataclass(frozen=True)
class AuditExport:
    """A signed export written: the file, its events and the signature's checksum and key."""

    file: str
    events: int
    first_seq: int | None
    last_seq: int | None
    head_hash: str | None
    sha256: str
    key_id: str


def _check_anchor(ctx: AppContext, s: Session, n: int, head_seq: int) -> tuple[dict[str, Any], str | None, int | None]:
    """The log against its anchor file: (what was found, the problem or None, the first bad seq or None)."""
    path = anchor_path(ctx.settings)
    anc = read_anchor(path)
    info: dict[str, Any] = {"checked": True, "path": str(path)}
    problem: str | None = None
    bad: int | None = None
    if anc is None:
        info["status"] = "missing"
        if n:
            problem = f"audit anchor {path} is missing (cannot rule out removal of the newest events)"
        return info, problem, bad
    if anc.seq < 0:
        info["status"] = "unreadable"
        return info, f"audit anchor {path} is unreadable", bad
    info.update({"seq": anc.seq, "hash": anc.hash, "at": anc.at, "key_id": anc.key_id})
    keys = audit_keys(ctx.settings)
    mac_ok = anc.check_mac(keys)
    info["signature"] = {True: "valid", False: "INVALID", None: "unsigned"}[mac_ok]
    if mac_ok is None and not keys:
        info["signature"] = "unchecked (no key)"
    if mac_ok is False:
        problem = "audit anchor signature is invalid (the anchor file was altered)"
    elif mac_ok is None and keys:
        problem = "audit anchor has no signature although a key is configured (the anchor file was replaced)"
    elif anc.seq > head_seq:
        problem = f"the log ends at seq {head_seq} but the anchor records seq {anc.seq}: the newest events were removed"
        bad = head_seq + 1
    elif AuditRepo(s).hash_at(anc.seq) != anc.hash:
        problem = f"event {anc.seq} does not carry the anchored hash: the chain was rewritten or the event removed"
        bad = anc.seq
    info["status"] = "ok" if problem is None else "FAILED"
    return info, problem, bad


def _check_private(ctx: AppContext, info: dict[str, Any]) -> tuple[str | None, int | None]:
    """Private detail rows against the digests in their events (when the key is at hand)."""
    try:
        cipher = ctx.cipher
    except OpenLFRError:
        return None, None
    if cipher is None:
        return None, None
    with ctx.db.session() as s:
        present, purged, altered = audit.check_private(s, cipher)
    info["private_details"] = {"present": present, "purged": purged, "altered": len(altered)}
    if altered:
        return (
            f"{len(altered)} private audit detail row(s) do not match the digest in their event (altered or swapped)"
        ), altered[0]
    return None, None


def verify(ctx: AppContext, use_anchor: bool = True, refresh: bool = True) -> FullVerify:
    """Recompute the chain, then check it against the anchor (see storage.audit_anchor)."""
    with ctx.db.session() as s:
        chain = audit.verify(s)
        events = AuditRepo(s)
        head = events.head()
        n = events.count()
        anchor_info: dict[str, Any] = {"checked": False}
        problem: str | None = None
        bad: int | None = None
        if use_anchor:
            anchor_info, problem, bad = _check_anchor(ctx, s, n, head[0] if head else 0)
    if not chain.ok:
        return FullVerify(False, chain.events, chain.first_bad_seq, chain.problem, False, anchor_info)
    if problem is None:
        problem, bad = _check_private(ctx, anchor_info)
    if problem is not None:
        return FullVerify(False, n, bad, problem, True, anchor_info)
    if use_anchor and refresh and head is not None and audit_keys(ctx.settings):
        write_anchor(ctx.settings, head[0], head[1])
    return FullVerify(True, n, None, None, True, anchor_info)


def _event_line(ev: AuditEvent) -> bytes:
    d = {
        "seq": ev.seq,
        "at": audit._iso(ev.at),
        "actor": ev.actor,
        "action": ev.action,
        "object_type": ev.object_type,
        "object_id": ev.object_id,
        "details": ev.details,
        "prev_hash": ev.prev_hash,
        "hash": ev.hash,
    }
    return (json.dumps(d, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def export(ctx: AppContext, out: Path, actor: str) -> AuditExport:
    """Write the whole log (including this export's own event) and a signature line."""
    keys = audit_keys(ctx.settings)
    if not keys:
        raise InputError("no encryption key available to sign the export", code="no_key")
    with ctx.db.session() as s:
        audit.record(s, actor, "audit.export", "audit", "", {"file": out.name})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    digest = hashlib.sha256()
    mac = hmac.new(keys[0], digestmod=hashlib.sha256)
    n, first, last, head = 0, None, None, None
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f, ctx.db.session() as s:
        for ev in audit.iter_events(s):
            line = _event_line(ev)
            f.write(line)
            digest.update(line)
            mac.update(line)
            n += 1
            first = ev.seq if first is None else first
            last, head = ev.seq, ev.hash
        sig = {
            "type": "signature",
            "algorithm": "HMAC-SHA256",
            "key_id": key_id(keys[0]),
            "events": n,
            "first_seq": first,
            "last_seq": last,
            "head_hash": head,
            "sha256": digest.hexdigest(),
            "hmac_sha256": mac.hexdigest(),
        }
        f.write((json.dumps(sig, sort_keys=True) + "\n").encode())
    os.replace(tmp, out)
    return AuditExport(
        file=str(out),
        events=n,
        first_seq=first,
        last_seq=last,
        head_hash=head,
        sha256=digest.hexdigest(),
        key_id=key_id(keys[0]),
    )


@dataclass(frozen=True)
class ExportCheck:
    """An export checked: ``ok`` and why not (``problem``); once the file could be read, its events and each
    check (``hmac_ok`` None: no audit key here to check the signature with)."""

    ok: bool
    problem: str | None
    events: int | None = None
    sha256_ok: bool | None = None
    hmac_ok: bool | None = None
    chain_ok: bool | None = None
    events_match: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``audit verify-export --json``): just ``ok`` and ``problem`` for an unreadable file."""
        out = asdict(self)
        return out if self.events is not None else {"ok": self.ok, "problem": self.problem}


def _chain_problem(lines: list[bytes]) -> tuple[str | None, str]:
    """Why the events in ``lines`` do not form a hash chain from the genesis (None if they do), and the head hash."""
    from datetime import datetime

    prev = audit.GENESIS
    for i, line in enumerate(lines, 1):
        ev = json.loads(line)
        at = datetime.fromisoformat(ev["at"].replace("Z", "+00:00"))
        h = audit.event_hash(
            ev["prev_hash"], ev["seq"], at, ev["actor"], ev["action"], ev["object_type"], ev["object_id"], ev["details"]
        )
        if ev["seq"] != i or ev["prev_hash"] != prev or h != ev["hash"]:
            return f"line {i} (seq {ev['seq']}) breaks the chain", prev
        prev = ev["hash"]
    return None, prev


def verify_export(ctx: AppContext | None, path: Path) -> ExportCheck:
    """Check an export: checksum, HMAC (when a key is configured) and the chain inside the file."""
    lines = path.read_bytes().splitlines(keepends=True)
    if not lines:
        return ExportCheck(False, "empty file")
    try:
        sig = json.loads(lines[-1])
    except ValueError:
        return ExportCheck(False, "last line is not the signature")
    if not isinstance(sig, dict) or sig.get("type") != "signature":
        return ExportCheck(False, "last line is not the signature (file truncated?)")
    body = b"".join(lines[:-1])
    sha_ok = hashlib.sha256(body).hexdigest() == sig.get("sha256")
    keys = audit_keys(ctx.settings) if ctx is not None else []
    hmac_ok = (
        any(
            hmac.compare_digest(hmac.new(k, body, hashlib.sha256).hexdigest(), str(sig.get("hmac_sha256")))
            for k in keys
        )
        if keys
        else None
    )
    chain_problem, head = _chain_problem(lines[:-1])
    match = sig.get("events") == len(lines) - 1 and (chain_problem is not None or sig.get("head_hash") == head)
    problems = [
        p
        for p, bad in (
            ("checksum mismatch", not sha_ok),
            ("signature (HMAC) mismatch", hmac_ok is False),
            (chain_problem or "", chain_problem is not None),
            ("signature line does not match the events", not match),
        )
        if bad
    ]
    return ExportCheck(
        not problems, "; ".join(problems) or None, len(lines) - 1, sha_ok, hmac_ok, chain_problem is None, match
    )
