"""Encryption at rest for biometric data (P7).

The key lives outside the database: ``OPENLFR_KEY`` in the environment, or a key file created by
``openlfr init`` with 0600 permissions. Several keys (newest first, separated by commas in the
key file or variable) allow rotation: data encrypted with any of them decrypts, new data uses
the first.

Format v2 (written since issue 13): ``b"\\x00OLF2" + key id (8 bytes) + nonce (12) + AES-256-GCM
ciphertext and tag``. The AES key is derived (HKDF-SHA256, info ``openlfr aead v2``) from the
configured 32-byte key; the key id is a hash of the derived key (not secret). Every value is
bound to its row with associated data (:func:`bind`: table, column and the row's identifying
columns), so a ciphertext copied into another row, or a row re-parented by SQL, fails to decrypt
(``ciphertext_rejected``). Version 1 values (Fernet tokens, base64 text starting ``gAAAAA``) written
before still decrypt, unbound; ``openlfr keys reencrypt`` (or a rotation) rewrites them as v2.

A key-file cipher notices when the key file changes (another process rotated the key): it
re-reads the file before encrypting and when it meets a value under a key id it does not hold,
so a running process follows a rotation without restarting.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from openlfr.errors import ConfigError, ConflictError
from openlfr.settings import Settings

MAGIC = b"\x00OLF2"
_KID = 8
_NONCE = 12
_HEAD = len(MAGIC) + _KID + _NONCE


def bind(table: str, column: str, *parts: object) -> bytes:
    """Associated data tying a ciphertext to one row: table, column and identifying values."""
    return "\x1f".join(["openlfr", table, column, *(str(p) for p in parts)]).encode()


def _aes_key(raw: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"openlfr aead v2").derive(raw)


def _kid(aes_key: bytes) -> bytes:
    return hashlib.sha256(b"openlfr key id v2\n" + aes_key).digest()[:_KID]


def token_key_id(token: bytes) -> bytes | None:
    """The key id of a v2 value; None for a v1 (Fernet) value."""
    t = bytes(token)
    return t[len(MAGIC) : len(MAGIC) + _KID] if t.startswith(MAGIC) and len(t) >= _HEAD else None


class Cipher:
    def __init__(self, keys: list[bytes], source: Path | None = None) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._stat: tuple[int, int, int] | None = self._file_stat() if source is not None else None
        self._load(keys)

    # ------------------------------------------------------------ keys

    def _load(self, keys: list[bytes]) -> None:
        if not keys:
            raise ConfigError("no encryption key configured", code="no_key")
        try:
            fernets = [Fernet(k) for k in keys]
            raws = [base64.urlsafe_b64decode(k) for k in keys]
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                "encryption key is malformed (expect urlsafe base64 of 32 bytes)", code="bad_key"
            ) from exc
        aes = [_aes_key(r) for r in raws]
        self._raw = raws
        self._multi = MultiFernet(fernets)
        self._aead = {_kid(k): AESGCM(k) for k in aes}
        self._primary = _kid(aes[0])

    def _file_stat(self) -> tuple[int, int, int] | None:
        assert self._source is not None
        try:
            st = self._source.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def refresh(self) -> bool:
        """Re-read the key file if it changed since it was read; True if the keys were reloaded."""
        if self._source is None:
            return False
        with self._lock:
            now = self._file_stat()
            if now is None or now == self._stat:
                return False
            self._load(_read_key_file(self._source))
            self._stat = now
            return True

    @property
    def raw_keys(self) -> list[bytes]:
        """The configured 32-byte secrets, newest first (for key derivation: HMAC keys)."""
        return list(self._raw)

    @property
    def primary_key_id(self) -> bytes:
        return self._primary

    def is_current(self, token: bytes) -> bool:
        """True if ``token`` is a v2 value under the first (newest) key."""
        return token_key_id(token) == self._primary

    # ------------------------------------------------------------ values

    def encrypt(self, data: bytes, aad: bytes = b"") -> bytes:
        self.refresh()
        nonce = os.urandom(_NONCE)
        return MAGIC + self._primary + nonce + self._aead[self._primary].encrypt(nonce, bytes(data), aad)

    def decrypt(self, token: bytes, aad: bytes = b"") -> bytes:
        t = bytes(token)
        kid = token_key_id(t)
        if kid is None:
            return self._decrypt_v1(t)
        if kid not in self._aead:
            self.refresh()
        aead = self._aead.get(kid)
        if aead is None:
            raise ConfigError("stored data was encrypted with a key that is not configured", code="wrong_key")
        try:
            return aead.decrypt(t[len(MAGIC) + _KID : _HEAD], t[_HEAD:], aad)
        except InvalidTag as exc:
            raise ConflictError(
                "stored ciphertext does not belong to this row (copied from another row, "
                "re-parented or altered); refused",
                code="ciphertext_rejected",
            ) from exc

    def _decrypt_v1(self, token: bytes) -> bytes:
        for attempt in (0, 1):
            try:
                return self._multi.decrypt(token)
            except InvalidToken as exc:
                if attempt == 0 and self.refresh():
                    continue
                raise ConfigError(
                    "stored data cannot be decrypted with the configured key(s)", code="wrong_key"
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def rotate(self, token: bytes, aad: bytes = b"") -> bytes:
        """Decrypt with any configured key; encrypt with the first, bound to ``aad`` (upgrades v1)."""
        return self.encrypt(self.decrypt(token, aad), aad)


def _parse_keys(text: str) -> list[bytes]:
    return [k.strip().encode() for k in text.replace("\n", ",").split(",") if k.strip()]


def _read_key_file(path: Path) -> list[bytes]:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(
            f"key file {path} is readable by others (mode {mode:o}); chmod 600 it", code="key_permissions"
        )
    return _parse_keys(path.read_text())


def create_key_file(path: Path) -> bool:
    """Create a new key file (0600) unless one exists; returns True if created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(Fernet.generate_key().decode() + "\n")
    return True


def load_cipher(settings: Settings) -> Cipher:
    if settings.key is not None:
        return Cipher(_parse_keys(settings.key.get_secret_value()))
    path = settings.resolved_key_file
    if not path.is_file():
        raise ConfigError(f"no key file at {path}; run `openlfr init` or set OPENLFR_KEY", code="no_key")
    return Cipher(_read_key_file(path), source=path)
