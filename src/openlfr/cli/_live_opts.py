"""Live recognition options shared by ``openlfr run`` and ``openlfr eval walkthrough`` (``Annotated`` aliases
for Typer command parameters; the values go to :func:`openlfr.services.live.live_config`)."""

from __future__ import annotations

from typing import Annotated

import typer

WIDTH_HELP = "Detect on frames scaled down to this width (default 640; 0: the full frame)."

AnalysisWidthOpt = Annotated[int | None, typer.Option(help=WIDTH_HELP)]
FusionOpt = Annotated[str | None, typer.Option(help="Fusion rule over a track's shots: max, mean, top2.")]
MaxAttemptsOpt = Annotated[int | None, typer.Option(help="Shots embedded per track (cap).")]
