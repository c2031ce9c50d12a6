"""Names people type (watchlist names, person ids, deployment and camera names): what they may hold.

A name ends up in URL paths (``/api/watchlists/{name}``), file and folder names (exports, imports),
CSV cells, log lines and terminal output, so it may not contain a path separator ('/' or '\\') or
any control or invisible formatting character (C0/C1 controls such as NUL, tab, CR, LF, ESC, and
Unicode format characters such as the right-to-left override U+202E or zero-width spaces, which
can make one name display as another), and may not be '.' or '..' (a client resolves
``DELETE /api/watchlists/wl/entries/..`` to the list itself).
"""

from __future__ import annotations

import unicodedata

from openlfr.errors import InputError

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def name_problem(value: str) -> str | None:
    """Why ``value`` is not acceptable as a name, or None."""
    if value.strip() in (".", ".."):
        return "is a path component ('.' or '..'), not a name"
    for ch in value:
        if ch in "/\\":
            return f"may not contain {ch!r}"
        if unicodedata.category(ch) in _REFUSED_CATEGORIES:
            return f"may not contain control or invisible characters (found U+{ord(ch):04X})"
    return None


def check_name(value: str, what: str, code: str) -> str:
    """``value`` unchanged if it is an acceptable name; otherwise an ``InputError`` with ``code``."""
    why = name_problem(value)
    if why is not None:
        raise InputError(f"{what} {value!r} {why}", code=code)
    return value
