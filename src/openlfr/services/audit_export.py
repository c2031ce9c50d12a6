"""Export of the audit log (CSV or JSON) with the same filters as the console's search; the export
is itself audited."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any

from openlfr.errors import InputError
from openlfr.services import audit_log
from openlfr.services.context import AppContext
from openlfr.storage import audit

MAX_ROWS = 100_000
COLUMNS = ("seq", "at", "actor", "action", "object_type", "object_id", "details", "hash")


def export(ctx: AppContext, exported_by: str, fmt: str, **filters: Any) -> tuple[str, int]:
    """``(text, rows)``; refuses more than ``MAX_ROWS`` events (narrow the filters)."""
    if fmt not in ("csv", "json"):
        raise InputError("format must be csv or json", code="bad_format")
    first = audit_log.search(ctx, limit=1000, offset=0, **filters)
    if first.count > MAX_ROWS:
        raise InputError(
            f"{first.count} events match; export at most {MAX_ROWS} at once (narrow the period)",
            code="export_too_large",
        )
    rows = [asdict(e) for e in first.data]
    while len(rows) < first.count:
        page = audit_log.search(ctx, limit=1000, offset=len(rows), **filters).data
        if not page:
            break
        rows.extend(asdict(e) for e in page)
    with ctx.db.session() as s:
        used = {k: str(v) for k, v in filters.items() if v}
        # the filter values (a search text is often a person id) stay out of the permanent chain: the
        # chain names which filters were used, their values are an encrypted detail
        audit.record(
            s,
            exported_by,
            "audit.export",
            "audit",
            "",
            {"format": fmt, "rows": len(rows), "filters": sorted(used)},
            private={"filters": used} if used else None,
            cipher=ctx.cipher,
        )
    if fmt == "json":
        return json.dumps({"events": rows, "count": len(rows)}, default=str), len(rows)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([_cell(json.dumps(r[c], sort_keys=True) if c == "details" else r[c]) for c in COLUMNS])
    return buf.getvalue(), len(rows)


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v
