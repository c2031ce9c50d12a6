"""Downloading a catalogue model (``openlfr models fetch``): the HTTP fetch, its sha256 check and the
extraction of an archive member, then installation through the engine's local model store.

The network is touched here, at the edge, and nowhere in the engine: the engine's ``ModelStore``
only installs, lists, removes and resolves local files.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from openlfr.engine.models import CATALOGUE, CatalogueEntry, InstalledModel, ModelStore, licence_warning, sha256_file
from openlfr.errors import InputError, ModelError, NotFoundError

MAX_DOWNLOAD_BYTES = 1 << 30


@dataclass
class FetchResult:
    model: InstalledModel
    warnings: list[str] = field(default_factory=list)


def _url_for(name: str, entry: CatalogueEntry, url_base: str | None) -> str:
    if url_base:
        return url_base.rstrip("/") + "/" + urllib.parse.quote(entry.filename)
    if entry.url:
        return entry.url
    raise ModelError(
        f"{name}: there is no stable official download URL for {entry.filename}. "
        "Pass --url-base with a mirror that holds it (the file is checked against "
        "the pinned sha256), or download it yourself and run "
        f"`openlfr models add PATH --kind {entry.kind} --spec {entry.spec}`",
        code="no_download_url",
    )


def _catalogue_entry(name: str) -> CatalogueEntry:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise NotFoundError(
            f"no catalogue model named {name!r}; known: {', '.join(sorted(CATALOGUE))}", code="unknown_catalogue_model"
        ) from None


def fetch(
    store: ModelStore,
    name: str,
    url_base: str | None = None,
    sha256: str | None = None,
    trust_unpinned: bool = False,
    timeout: float = 30.0,
    force: bool = False,
) -> FetchResult:
    """Download a catalogue model, verify its checksum, validate it and install it in ``store``."""
    entry = _catalogue_entry(name)
    url = _url_for(name, entry, url_base)
    pinned = (sha256 or "").lower() or entry.sha256
    member_pin = entry.member_sha256
    if sha256 and not re.fullmatch(r"[0-9a-f]{64}", sha256.lower()):
        raise InputError("--sha256 must be 64 hex digits", code="bad_checksum_arg")
    if not pinned and not member_pin and not trust_unpinned:
        raise ModelError(
            f"{name}: no pinned checksum for {entry.filename}; pass --sha256 with the "
            "publisher's value, or --trust-unpinned to accept whatever the server sends "
            "(recorded as unverified)",
            code="checksum_unpinned",
        )
    warnings: list[str] = []
    w = licence_warning(name, entry.licence, entry.commercial)
    if w:
        warnings.append(w)
    store.root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=store.root) as tdir:
        dl = Path(tdir) / entry.filename
        got = download(url, dl, timeout, hint=f"--kind {entry.kind} --spec {entry.spec}")
        if pinned and got != pinned:
            raise ModelError(
                f"{name}: checksum mismatch for {url}: expected sha256 {pinned}, got {got}; the file was discarded",
                code="checksum_mismatch",
            )
        model_file = dl
        if entry.member:
            model_file = extract_member(dl, entry.member, Path(tdir))
            if member_pin and sha256_file(model_file) != member_pin:
                raise ModelError(
                    f"{name}: checksum mismatch for {entry.member} inside {entry.filename}", code="checksum_mismatch"
                )
        verified = bool(pinned or member_pin)
        if not verified:
            warnings.append(f"model {name}: no checksum to verify against; recorded as unverified (sha256 {got})")
        m = store.add(
            model_file,
            entry.kind,
            entry.spec,
            name,
            licence=entry.licence,
            commercial=entry.commercial,
            source=url,
            force=force,
            verified=verified,
        )
    return FetchResult(model=m, warnings=warnings)


def download(url: str, dest: Path, timeout: float, hint: str = "--kind ... --spec ...") -> str:
    """Stream ``url`` (http or https only) to ``dest``; its sha256. At most ``MAX_DOWNLOAD_BYTES``."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise InputError(f"download URL must be http(s), not {url!r}", code="bad_url")
    h = hashlib.sha256()
    total = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, dest.open("wb") as out:  # noqa: S310
            while True:
                block = resp.read(1 << 20)
                if not block:
                    break
                total += len(block)
                if total > MAX_DOWNLOAD_BYTES:
                    raise ModelError(
                        f"{url}: larger than {MAX_DOWNLOAD_BYTES} bytes; refused", code="download_too_large"
                    )
                h.update(block)
                out.write(block)
    except urllib.error.HTTPError as exc:
        raise ModelError(f"download of {url} failed: HTTP {exc.code} {exc.reason}", code="download_failed") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelError(
            f"could not download {url} ({reason}). Offline? Download the file on a "
            f"connected machine and install it with `openlfr models add PATH {hint}`",
            code="download_failed",
        ) from exc
    if total == 0:
        raise ModelError(f"download of {url} returned an empty file", code="download_failed")
    return h.hexdigest()


def extract_member(archive: Path, member: str, into: Path) -> Path:
    """Copy ``member`` (matched by its base name) out of the zip ``archive`` into ``into``."""
    try:
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n == member or n.endswith("/" + member)]
            if not names:
                raise ModelError(f"{archive.name} has no member {member}", code="bad_archive")
            info = zf.getinfo(names[0])
            if info.file_size > MAX_DOWNLOAD_BYTES:
                raise ModelError(f"{member} in {archive.name} is too large", code="bad_archive")
            out = into / member
            with zf.open(info) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            return out
    except zipfile.BadZipFile as exc:
        raise ModelError(f"{archive.name} is not a valid zip archive", code="bad_archive") from exc
