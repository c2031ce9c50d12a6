"""``openlfr run`` (live recognition) and ``openlfr search`` (retrospective search)."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from openlfr.cli._common import emit_json, progress_callback, settings
from openlfr.cli._live_opts import AnalysisWidthOpt, FusionOpt, MaxAttemptsOpt

if TYPE_CHECKING:
    from openlfr.services.live import RunResult

SourceOpt = Annotated[
    list[str] | None,
    typer.Option("--source", "-s", help="Video file, rtsp:// or http(s):// URL, or webcam index; repeatable."),
]
DeploymentOpt = Annotated[
    str | None,
    typer.Option("--deployment", "-d", help="Run an authorised deployment (its watchlist, threshold, cameras)."),
]
ThresholdOpt = Annotated[float | None, typer.Option(help="Score threshold in [0, 1]: an override of the target FPIR.")]
FpirOpt = Annotated[
    float | None,
    typer.Option(
        help="Target FPIR per face seen (default 1e-4 without --threshold): threshold from the "
        "embedder's calibration at the watchlist's size."
    ),
]
JsonLinesOpt = Annotated[bool, typer.Option("--json", help="One JSON line per alert on stdout, then one summary line.")]
PreviewPortOpt = Annotated[
    int | None, typer.Option(help="Serve pixelated previews as MJPEG on 127.0.0.1:PORT (0: any free port).")
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="Run each camera as an actor on this Ray cluster (head host:port; needs "
        "the 'scale' extra; default: OPENLFR_RAY_ADDRESS or this machine).",
    ),
]


def run(
    watchlist: Annotated[str | None, typer.Option("--watchlist", "-w", help="Watchlist to search.")] = None,
    source: SourceOpt = None,
    deployment: DeploymentOpt = None,
    threshold: ThresholdOpt = None,
    fpir: FpirOpt = None,
    json_out: JsonLinesOpt = False,
    loop: Annotated[bool, typer.Option("--loop", help="Restart file sources at their end.")] = False,
    realtime: Annotated[bool, typer.Option("--realtime", help="Pace file sources at their frame rate.")] = False,
    max_seconds: Annotated[float | None, typer.Option("--max-seconds", help="Stop after this long.")] = None,
    analysis_fps: Annotated[float | None, typer.Option(help="Analyse at most this many frames/s.")] = None,
    analysis_width: AnalysisWidthOpt = None,
    fusion: FusionOpt = None,
    max_attempts: MaxAttemptsOpt = None,
    roi: Annotated[str | None, typer.Option(help="Region of interest x1,y1,x2,y2 as fractions.")] = None,
    mode: Annotated[str, typer.Option(help="Workers: auto, thread or process.")] = "auto",
    preview_port: PreviewPortOpt = None,
    end: Annotated[bool, typer.Option("--end", help="With --deployment: end it when the run stops.")] = False,
    ray_address: RayAddressOpt = None,
) -> None:
    """Live recognition until stopped (Ctrl-C or SIGTERM stop cleanly and flush counters)."""
    from openlfr.services import live
    from openlfr.services.context import AppContext

    _check_run_arguments(watchlist, source, deployment, threshold, fpir)
    st = settings()
    if ray_address:
        st = st.model_copy(update={"ray_address": ray_address})
    ctx = AppContext(st)
    opts = live.RunOptions(
        loop=loop,
        realtime=realtime,
        max_seconds=max_seconds,
        mode=mode,
        live=live.live_config(analysis_fps, analysis_width, fusion, max_attempts, roi),
        end_deployment_on_exit=end,
    )
    handle = live.LiveRun()
    handle.bus.subscribe(live.AlertStored, _alert_printer(json_out))
    handle.bus.subscribe(live.CameraState, _print_state)
    server = _start_preview(preview_port, handle)
    _install_signal_handlers(handle)
    try:
        if deployment is not None:
            ref: int | str = int(deployment) if deployment.isdigit() else deployment
            out = live.run_deployment(ctx, ref, options=opts, run=handle)
        else:
            assert watchlist is not None
            out = live.run_watchlist(
                ctx, watchlist, list(source or []), threshold=threshold, fpir=fpir, options=opts, run=handle
            )
    finally:
        if server is not None:
            server.close()
        ctx.close()
    _print_run_summary(out, json_out)


def _check_run_arguments(
    watchlist: str | None, source: list[str] | None, deployment: str | None, threshold: float | None, fpir: float | None
) -> None:
    """Either a watchlist (with sources) or a deployment (with its own cameras and threshold)."""
    from openlfr.errors import InputError

    if (watchlist is None) == (deployment is None):
        raise InputError("give either --watchlist (with --source) or --deployment", code="bad_arguments")
    if deployment is not None and (source or threshold is not None or fpir is not None):
        raise InputError(
            "--deployment uses the deployment's own cameras and threshold; drop --source, --threshold and --fpir",
            code="bad_arguments",
        )


def _alert_printer(json_out: bool) -> Callable[[Any], None]:
    """What ``openlfr run`` does with each stored alert (``AlertStored``): one JSON line or one text line on stdout."""
    from openlfr.services.live import live_alert

    def on_alert(ev: Any) -> None:
        a = live_alert(ev.event, ev.watchlist)
        if json_out:
            typer.echo(json.dumps({"event": "alert", **a.to_dict()}))
        else:
            typer.echo(
                f"ALERT {a.occurred_at} camera {a.camera}: {a.person_id} ({a.name}) "
                f"score {a.score:.4f} track {a.track_id}"
            )
        sys.stdout.flush()

    return on_alert


def _print_state(ev: Any) -> None:
    typer.echo(f"camera {ev.camera}: {ev.state.value}{' - ' + ev.detail if ev.detail else ''}", err=True)


def _start_preview(preview_port: int | None, handle: Any) -> Any:
    """A preview hub fed from the run's bus and its MJPEG server on 127.0.0.1:PORT (None without --preview-port)."""
    if preview_port is None:
        return None
    from openlfr.services.live import MjpegServer, PreviewHub

    hub = PreviewHub()
    hub.subscribe(handle.bus)
    server = MjpegServer(hub, port=preview_port).start()
    typer.echo(f"preview: {server.url}<camera>.mjpg?token={server.token}  (the token is required)", err=True)
    return server


def _install_signal_handlers(handle: Any) -> None:
    """SIGTERM/SIGINT stop the run cleanly (at once if it has not started yet); a second signal interrupts."""
    interrupted = {"n": 0}

    def on_signal(signum: int, _frame: Any) -> None:
        interrupted["n"] += 1
        if interrupted["n"] > 1:
            raise KeyboardInterrupt
        handle.stop("sigterm" if signum == signal.SIGTERM else "interrupted")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def _print_run_summary(out: RunResult, json_out: bool) -> None:
    if json_out:
        typer.echo(json.dumps({"event": "summary", **out.to_dict()}, default=str))
    else:
        typer.echo(f"stopped ({out.stopped_by}) after {out.duration_s:.1f}s; alerts: {out.alerts}")
        for cam, c in out.cameras.items():
            counters = ", ".join(f"{k} {v}" for k, v in sorted(c["counters"].items()))
            typer.echo(f"  {cam} [{c['state']}] {c['source']}: {counters}")


def search(
    path: Path,
    watchlist: Annotated[str, typer.Option("--watchlist", "-w", help="Watchlist to search.")],
    threshold: ThresholdOpt = None,
    fpir: FpirOpt = None,
    fps: Annotated[float | None, typer.Option(help="Analyse at most this many frames per second.")] = None,
    analysis_width: AnalysisWidthOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Write an HTML report here.")] = None,
) -> None:
    """Retrospective search of a video file or an image folder against a watchlist."""
    from openlfr.services import retro
    from openlfr.services.context import AppContext
    from openlfr.services.live import live_config

    ctx = AppContext(settings())
    try:
        with progress_callback("searching", quiet=json_out) as progress:
            opts = retro.SearchOptions(
                threshold=threshold,
                fpir=fpir,
                fps=fps,
                config=live_config(None, analysis_width, None, None),
                progress=progress,
            )
            result = retro.search(ctx, path, watchlist, opts=opts, report=out)
    finally:
        ctx.close()
    if json_out:
        emit_json(result.to_dict())
        return
    typer.echo(
        f"{result.source}: {result.frames} frames, {result.faces_seen} faces seen, "
        f"{len(result.appearances)} appearance(s)"
    )
    for a in result.appearances:
        typer.echo(
            f"  {a.first_seen_s:8.2f}-{a.last_seen_s:.2f}s  {a.person_id} ({a.name}) "
            f"score {a.score:.4f} track {a.track_id}"
        )
    if out:
        typer.echo(f"report: {out}")


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("search")(search)
