"""CSV cells that a spreadsheet will not execute (CSV/formula injection).

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a formula
by Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)`` in a deployment name would run when an
auditor opens the report). Such cells get a leading apostrophe, which spreadsheets show as plain
text and which a reader can strip. Numbers stay numbers. Every CSV that OpenLFR writes goes through
:func:`write_csv`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` as it may go into a CSV cell: text that a spreadsheet would treat as a formula is
    prefixed with ``'``; anything else is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([safe_cell(h) for h in header])
    for row in rows:
        w.writerow([safe_cell(v) for v in row])
    return buf.getvalue()
