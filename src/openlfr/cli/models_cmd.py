"""``openlfr models``: list, add, fetch and remove face models (detectors, embedders)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openlfr.cli._common import emit_json, settings

models_app = typer.Typer(
    name="models", no_args_is_help=True, help="Face models: built-in (dlib), installed ONNX files, official downloads."
)


def _licence_mark(commercial: bool | None) -> str:
    return {True: "", False: " [NON-COMMERCIAL]", None: " [licence unknown]"}[commercial]


def list_models(
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Also list catalogue models not installed.")] = False,
) -> None:
    """List built-in and installed models: kind, spec, sha256, licence, calibration status."""
    from openlfr.services import models

    found = models.listing(settings(), all_)
    rows, warnings = found.rows, found.warnings
    if json_out:
        emit_json(
            {
                "models_dir": str(found.models_dir),
                "models": rows,
                "warnings": warnings,
                "stale_watchlists": found.stale_watchlists,
            }
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"models ({found.models_dir})")
    for col in ("name", "kind", "spec", "sha256", "installed", "calibrated", "licence"):
        table.add_column(col)
    for r in rows:
        cal = (
            "-"
            if r["calibrated"] is None
            else "no"
            if not r["calibrated"]
            else "yes (packaged)"
            if r.get("calibration") == "packaged"
            else "yes"
        )
        table.add_row(
            r["name"],
            r["kind"],
            r["spec"],
            (r["sha256"] or "-")[:12],
            "yes" if r["installed"] else "no",
            cal,
            r["licence"] + _licence_mark(r["commercial"]),
        )
    Console(width=200).print(table)
    for w in warnings:
        typer.echo(f"warning: {w}", err=True)


def add(
    path: Annotated[Path, typer.Argument(help="An ONNX model file.")],
    kind: Annotated[str, typer.Option("--kind", help="detector or embedder.")],
    spec: Annotated[
        str,
        typer.Option(
            "--spec",
            help="Input spec: yunet, scrfd (detectors); "
            "mobilefacenet-128, arcface-r50, arcface-mbf, "
            "sface-128 (embedders).",
        ),
    ],
    name: Annotated[str | None, typer.Option("--name", help="Store name (default from the file).")] = None,
    licence: Annotated[str | None, typer.Option("--licence", help="Licence note to record.")] = None,
    non_commercial: Annotated[
        bool, typer.Option("--non-commercial", help="Mark the licence as non-commercial.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace another model of that name.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Validate a model file by loading it, then copy it into the model store with its sha256."""
    from openlfr.services import models

    m, w = models.add(settings(), path, kind, spec, name, licence=licence, non_commercial=non_commercial, force=force)
    if json_out:
        emit_json({"model": m.to_dict(), "warnings": [w] if w else []})
    else:
        typer.echo(f"installed {m.name} ({m.kind}, spec {m.spec}, sha256 {m.sha256})")
    if w:
        typer.echo(f"warning: {w}", err=True)


def fetch(
    name: Annotated[str, typer.Argument(help="Catalogue name (see `openlfr models list --all`).")],
    url_base: Annotated[
        str | None,
        typer.Option("--url-base", help="Download from this base URL (a mirror) instead of the official one."),
    ] = None,
    sha256: Annotated[
        str | None, typer.Option("--sha256", help="Expected sha256 when the catalogue has none pinned.")
    ] = None,
    trust_unpinned: Annotated[
        bool, typer.Option("--trust-unpinned", help="Accept a file with no pinned checksum (recorded as unverified).")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Network timeout, seconds.")] = 30.0,
    force: Annotated[bool, typer.Option("--force", help="Replace another model of that name.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Download an official model, verify its sha256, validate it and install it."""
    from openlfr.services import models

    first = models.catalogue_warning(name)
    if first:  # said before downloading, whatever happens next
        typer.echo(f"warning: {first}", err=True)
    res = models.fetch(
        settings(), name, url_base=url_base, sha256=sha256, trust_unpinned=trust_unpinned, timeout=timeout, force=force
    )
    if json_out:
        emit_json({"model": res.model.to_dict(), "warnings": res.warnings})
    else:
        typer.echo(
            f"installed {res.model.name} ({res.model.kind}, spec {res.model.spec}, "
            f"sha256 {res.model.sha256}, {'verified' if res.model.verified else 'UNVERIFIED'})"
        )
    for w in res.warnings:
        if w != first:
            typer.echo(f"warning: {w}", err=True)


def remove(
    name: Annotated[str, typer.Argument(help="Installed model name.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Remove an installed model (file and manifest entry)."""
    from openlfr.services import models

    models.remove(settings(), name)
    if json_out:
        emit_json({"removed": name})
    else:
        typer.echo(f"removed {name}")


models_app.command("list")(list_models)
models_app.command("add")(add)
models_app.command("fetch")(fetch)
models_app.command("remove")(remove)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
