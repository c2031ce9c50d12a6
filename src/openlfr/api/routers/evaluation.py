"""The evaluation page's data: the newest DET plot and the planning calculator (ARCHITECTURE.md §4)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from openlfr.api.deps import Anyone, State
from openlfr.api.schemas import PlanRequest
from openlfr.api.schemas_ops import EvaluationOverview, PlanResult
from openlfr.errors import InputError, NotFoundError
from openlfr.eval import planning

router = APIRouter(prefix="/api/evaluation", tags=["evaluation"])


def _eval_dir(st: Any) -> Path:
    return Path(st.api.eval_dir or (st.ctx.settings.data_dir / "eval"))


def _newest_det(st: Any) -> Path | None:
    d = _eval_dir(st)
    if not d.is_dir():
        return None
    plots = [p for p in d.rglob("*.png") if "det" in p.name.lower() and p.is_file()]
    return max(plots, key=lambda p: p.stat().st_mtime) if plots else None


def _calibration(st: Any) -> Any:
    """The calibration of the server's embedder (``openlfr eval calibrate``), or None."""
    from openlfr.errors import OpenLFRError
    from openlfr.services.operating_point import load_calibration

    try:
        return load_calibration(st.ctx.engine.embedder, st.ctx.settings)
    except OpenLFRError:
        return None


@router.get("", response_model=EvaluationOverview, summary="What the evaluation page shows")
def overview(st: State, p: Anyone) -> dict[str, Any]:
    det = _newest_det(st)
    cal = _calibration(st)
    return {"eval_dir": str(_eval_dir(st)), "calibration": None if cal is None else cal.summary(),
            "det_plot": None if det is None else {
                "name": det.name,
                "modified": datetime.fromtimestamp(det.stat().st_mtime, UTC).isoformat()},
            "how": "openlfr eval identify --images DIR --plot <eval_dir>/det.png writes the DET plot shown here"}


@router.get("/det.png", response_class=Response, response_model=None,
            summary="The newest DET plot (FPIR vs FNIR)", responses={200: {"content": {"image/png": {}}}})
def det_png(st: State, p: Anyone) -> Response:
    det = _newest_det(st)
    if det is None:
        raise NotFoundError(f"no DET plot in {_eval_dir(st)}; run `openlfr eval identify ... --plot "
                            f"{_eval_dir(st)}/det.png`", code="no_det_plot")
    return Response(det.read_bytes(), media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/plan", response_model=PlanResult,
             summary="Expected false and true alerts and precision for a deployment")
def plan(body: PlanRequest, st: State, p: Anyone) -> dict[str, Any]:
    notes = []
    cal = _calibration(st) if body.threshold is not None and body.fpir is None and body.fmr is None else None
    if cal is not None:
        assert body.threshold is not None
        value, (lo, hi), k, n = cal.fpir(body.threshold, body.watchlist_size)
        fpir_rate = planning.Rate(value, lo, hi, k, n)
        tp = cal.tpir(body.threshold)
        tpir_rate = planning.Rate.measured(*tp) if tp and tp[1] else planning.Rate.exact(body.tpir)
        notes.append(f"FPIR ~= N x FMR with FMR = {k}/{n} impostor comparisons at >= {body.threshold:.4f} "
                     f"(calibration of {cal.family})")
        if not (tp and tp[1]):
            notes.append("TPIR as given (the calibration has no identification run)")
        out = planning.plan(body.faces, body.prevalence, fpir_rate, tpir_rate, body.watchlist_size,
                            threshold=body.threshold, source="calibration", notes=tuple(notes))
        return out.to_dict()
    if body.fpir is not None:
        fpir = body.fpir
        source = "FPIR given"
    elif body.fmr is not None:
        fpir = planning.fpir_from_fmr(body.fmr, body.watchlist_size)
        source = "FPIR ~= N x FMR"
        notes.append(f"FPIR = min(1, {body.watchlist_size} x {body.fmr:g}) = {fpir:.3g}")
    else:
        raise InputError("give the FPIR at this watchlist size or the per-comparison FMR (FPIR ~= N x FMR), or "
                         "a threshold once `openlfr eval calibrate` has run for this model", code="need_rate")
    out = planning.plan(body.faces, body.prevalence, planning.Rate.exact(fpir), planning.Rate.exact(body.tpir),
                        body.watchlist_size, threshold=body.threshold, source=source, notes=tuple(notes))
    return out.to_dict()
