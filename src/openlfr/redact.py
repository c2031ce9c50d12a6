"""Masking secrets in stream URLs, in messages and in log records.

Credentials in stream URLs (``rtsp://user:pass@host/...``) and every query value are masked in every
message and log line (:func:`mask_url`, :class:`SecretMaskingFilter`); the clear URL is only handed to
FFmpeg. A core module (beside ``types`` and ``errors``): every layer, the CLI and the API included, uses it.
"""

from __future__ import annotations

import logging
import re

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/{1,2}")
"""'scheme://' (or 'scheme:/', as a URL appears once it went through a file path)."""
_URL_TOKEN = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:/{1,2}[^\s'\"<>]+")
_HOST_AFTER_AT = re.compile(r"@(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]*)(:\d*)?(?=[/?#]|$)")
MASK = "***"


_QUERY_ITEM = re.compile(r"([?&;#])([^&;#?]*)")


def _mask_params(text: str) -> str:
    """Every query and fragment value becomes ``***`` (names are kept; a bare item, which may be a
    token, is masked whole): a camera's ``sid=``, ``pw=``, ``t=`` or ``code=`` is as secret as ``token=``."""
    cut = next((i for i, ch in enumerate(text) if ch in "?#"), len(text))

    def item(m: re.Match[str]) -> str:
        sep, body = m.group(1), m.group(2)
        if not body or body == MASK:
            return m.group(0)
        name, eq, _ = body.partition("=")
        return f"{sep}{name}={MASK}" if eq else f"{sep}{MASK}"

    return text[:cut] + _QUERY_ITEM.sub(item, text[cut:])


def _cut_password(authority: str, after: str) -> bool:
    """Whether a '#', '/' or '?' in a password has cut the authority short (then an '@' follows)."""
    if "@" not in after:
        return False
    if ":" in authority and not authority.rpartition(":")[2].isdigit():
        return True  # 'user:pa' is no host:port
    if after[0] == "#" or "@" in after.split("?", 1)[0]:
        return True  # '@' in a fragment start or in the path: rather user info than a path
    before_at = after.split("@", 1)[0]
    return after[0] == "?" and "=" not in before_at and "&" not in before_at


def _mask_one(url: str) -> str:
    """Mask one URL (no whitespace inside)."""
    m = _SCHEME.match(url)
    if m is None:
        return url
    scheme, rest = m.group(0), url[m.end() :]
    authority_end = next((i for i, ch in enumerate(rest) if ch in "/?#"), len(rest))
    authority = rest[:authority_end]
    if "@" in authority:
        # The host follows the last '@' of the authority; a password may itself hold '@'.
        hostport = authority.rpartition("@")[2]
        tail = rest[authority_end:]
    elif _cut_password(authority, rest[authority_end:]):
        # 'user:p#ss/w@host/...' or 'user:pa/ss@host': a password holding '#', '/' or '?' cuts the
        # authority short. The user info runs to the last '@' that is followed by a host; mask
        # generously rather than show any part of the password.
        hits = list(_HOST_AFTER_AT.finditer(rest))
        if not hits:
            return scheme + MASK
        at = hits[-1].start()
        hostport_tail = rest[at + 1 :]
        cut = next((i for i, ch in enumerate(hostport_tail) if ch in "/?#"), len(hostport_tail))
        hostport, tail = hostport_tail[:cut], hostport_tail[cut:]
    else:
        return scheme + authority + _mask_params(rest[authority_end:])
    # all user info is hidden: a user name alone can be a token, and names people
    return scheme + f"{MASK}@" + hostport + _mask_params(tail)


def mask_url(url: str) -> str:
    """Hide the secrets of a stream URL: ``rtsp://user:secret@host/x`` -> ``rtsp://***@host/x`` (all user
    info; a password holding ``#``, ``/``, ``?`` or ``@`` is masked whole), and every query and fragment
    value becomes ``***`` (``?sid=1&ch=2`` -> ``?sid=***&ch=***``). Scheme, host, port and path unchanged.

    Also masks every URL inside free text (e.g. an FFmpeg error message that repeats the URL).
    Idempotent: masking a masked URL changes nothing.
    """
    if not url:
        return url
    if _SCHEME.match(url) and not any(ch.isspace() for ch in url):
        return _mask_one(url)
    return _URL_TOKEN.sub(lambda m: _mask_one(m.group(0)), url)


class SecretMaskingFilter(logging.Filter):
    """A logging filter (for handlers) that masks stream credentials and secret query values in
    every record: its message, its arguments and its traceback text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler's own error path
            return True
        record.msg, record.args = mask_url(msg), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_url(record.exc_text)
        return True


def install_log_masking(logger: logging.Logger | None = None) -> None:
    """Add :class:`SecretMaskingFilter` to every handler of ``logger`` (default: the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, SecretMaskingFilter) for f in handler.filters):
            handler.addFilter(SecretMaskingFilter())
