"""One number style on the server (issue 19), the same as the console's (web/static/app.js ``fmtThreshold``,
``fmtRate``): thresholds and scores with 4 decimals; rates (FPIR, shares) as a percentage with 3
significant figures, never e-notation. And the one operating point text of a deployment,
:func:`operating_point_text`, shown alike on the deployment page, in reports, on the public page and in
the API (``operating_point_text``)."""

from __future__ import annotations

import math
from typing import Any

DASH = "–"


def fmt_threshold(x: float | None) -> str:
    return DASH if x is None else f"{float(x):.4f}"


def fmt_rate(x: float | None) -> str:
    """``1e-4`` -> ``0.01%``; ``0.0909`` -> ``9.09%``; 3 significant figures, trailing zeros dropped."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return DASH
    p = 100.0 * float(x)
    if p == 0:
        return "0%"
    digits = max(0, min(8, 2 - math.floor(math.log10(abs(p)))))
    text = f"{round(p, digits):,.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + "%"


def operating_point_text(d: dict[str, Any]) -> str | None:
    """A deployment's operating point in words, from its summary's ``threshold``, ``threshold_source``
    (or a report row's ``threshold_chosen_by``), ``target_fpir`` and ``watchlist_size``; ``None`` before
    a threshold is fixed (a draft). E.g. ``0.7105 (from target FPIR 0.01% at 40 people)``."""
    thr = d.get("threshold")
    if thr is None:
        return None
    src = d.get("threshold_source", d.get("threshold_chosen_by"))
    if src == "target_fpir" and d.get("target_fpir") is not None:
        size = d.get("watchlist_size")
        at = f" at {int(size):,} people" if size is not None else ""
        how = f"from target FPIR {fmt_rate(d['target_fpir'])}{at}"
    elif src == "override":
        how = "explicit threshold (override)"
    elif src == "model_default":
        how = "model's fixed default"
    else:
        how = "fixed at authorisation"
    return f"{fmt_threshold(thr)} ({how})"
