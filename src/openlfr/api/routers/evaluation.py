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
from openlfr.errors import NotFoundError
from openlfr.services import evaluation

router = APIRouter(prefix="/api/evaluation", tags=["evaluation"])


def _eval_dir(st: Any) -> Path:
    return Path(st.api.eval_dir or (st.ctx.settings.data_dir / "eval"))


def _newest_det(st: Any) -> Path | None:
    d = _eval_dir(st)
    if not d.is_dir():
        return None
    plots = [p for p in d.rglob("*.png") if "det" in p.name.lower() and p.is_file()]
    return max(plots, key=lambda p: p.stat().st_mtime) if plots else None


@router.get("", response_model=EvaluationOverview, summary="What the evaluation page shows")
def overview(st: State, p: Anyone) -> dict[str, Any]:
    det = _newest_det(st)
    cal = evaluation.server_calibration(st.ctx)
    return {
        "eval_dir": str(_eval_dir(st)),
        "calibration": None if cal is None else cal.summary(),
        "det_plot": None
        if det is None
        else {"name": det.name, "modified": datetime.fromtimestamp(det.stat().st_mtime, UTC).isoformat()},
        "how": "openlfr eval identify --images DIR --plot <eval_dir>/det.png writes the DET plot shown here",
    }


@router.get(
    "/det.png",
    response_class=Response,
    response_model=None,
    summary="The newest DET plot (FPIR vs FNIR)",
    responses={200: {"content": {"image/png": {}}}},
)
def det_png(st: State, p: Anyone) -> Response:
    det = _newest_det(st)
    if det is None:
        raise NotFoundError(
            f"no DET plot in {_eval_dir(st)}; run `openlfr eval identify ... --plot {_eval_dir(st)}/det.png`",
            code="no_det_plot",
        )
    return Response(det.read_bytes(), media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post(
    "/plan", response_model=PlanResult, summary="Expected false and true alerts and precision for a deployment"
)
def plan(body: PlanRequest, st: State, p: Anyone) -> dict[str, Any]:
    return evaluation.plan_request(
        st.ctx,
        body.faces,
        body.prevalence,
        body.watchlist_size,
        threshold=body.threshold,
        fpir=body.fpir,
        fmr=body.fmr,
        tpir=body.tpir,
    ).to_dict()
