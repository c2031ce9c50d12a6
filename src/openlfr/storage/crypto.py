"""Encryption at rest for biometric data (P7): Fernet (AES-128-CBC + HMAC-SHA256).

The key lives outside the database: ``OPENLFR_KEY`` in the environment, or a key file created by
``openlfr init`` with 0600 permissions. Several keys (newest first, separated by commas in the
key file or variable) allow rotation: data encrypted with any of them decrypts, new data uses
the first.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from openlfr.errors import ConfigError
from openlfr.settings import Settings


class Cipher:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ConfigError("no encryption key configured", code="no_key")
        try:
            self._fernets = [Fernet(k) for k in keys]
        except (ValueError, TypeError) as exc:
            raise ConfigError("encryption key is malformed (expect urlsafe base64 of 32 bytes)",
                              code="bad_key") from exc
        self._multi = MultiFernet(self._fernets)

    def encrypt(self, data: bytes) -> bytes:
        return self._multi.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._multi.decrypt(token)
        except InvalidToken as exc:
            raise ConfigError("stored data cannot be decrypted with the configured key(s)",
                              code="wrong_key") from exc

    def rotate(self, token: bytes) -> bytes:
        return self._multi.rotate(token)


def _parse_keys(text: str) -> list[bytes]:
    return [k.strip().encode() for k in text.replace("\n", ",").split(",") if k.strip()]


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
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(f"key file {path} is readable by others (mode {mode:o}); chmod 600 it",
                          code="key_permissions")
    return Cipher(_parse_keys(path.read_text()))
