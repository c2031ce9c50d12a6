"""ROC and DET plots (matplotlib, Agg backend), written as PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from openlfr.eval.metrics import DetCurve, RocCurve


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def roc_png(roc: RocCurve, path: Path, title: str = "ROC (LFW View 2)", label: str = "") -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=120)
    fmr = np.maximum(roc.fmr, 1e-5)
    ax.plot(fmr, roc.tmr, drawstyle="steps-post", label=label or None)
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1.0)
    ax.set_ylim(max(0.0, float(roc.tmr[np.searchsorted(roc.fmr, 1e-4)]) - 0.05) if roc.fmr.size else 0, 1.001)
    ax.set_xlabel("false match rate (FMR)")
    ax.set_ylabel("true match rate (1 - FNMR)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if label:
        ax.legend(loc="lower right")
    return _save(plt, fig, path)


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def det_png(
    curves: dict[str, DetCurve],
    path: Path,
    title: str = "DET (open-set 1:N)",
    marks: dict[str, list[tuple[float, float]]] | None = None,
) -> Path:
    """FNIR against FPIR on log-log axes; ``marks`` adds labelled operating points."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=120)
    for name, det in curves.items():
        fp = np.maximum(det.fpir, 1e-5)
        fn = np.maximum(det.fnir, 1e-4)
        ax.plot(fp, fn, drawstyle="steps-post", label=name)
    for name, pts in (marks or {}).items():
        for x, y in pts:
            ax.plot([x], [y], "o", color="black", ms=3)
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(1e-4, 1.0)
    ax.set_ylim(1e-3, 1.0)
    ax.set_xlabel("FPIR (non-mated searches with a candidate >= threshold)")
    ax.set_ylabel("FNIR (mate not rank 1 at >= threshold)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if curves:
        ax.legend(loc="lower left", fontsize=8)
    return _save(plt, fig, path)
