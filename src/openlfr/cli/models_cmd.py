"""``openlfr models``: list, add, fetch and remove face models (detectors, embedders)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from openlfr.cli._common import emit_json

if TYPE_CHECKING:
    from openlfr.services.watchlists import WatchlistSummary

models_app = typer.Typer(name="models", no_args_is_help=True,
                         help="Face models: built-in (dlib), installed ONNX files, official downloads.")


def _store() -> Any:
    from openlfr.cli._common import settings
    from openlfr.engine.models import ModelStore

    return ModelStore(settings().data_dir / "models")


def _calibration(family: str) -> str | None:
    """Where ``--fpir`` finds this embedder family's calibration: ``data_dir`` (from `openlfr eval
    calibrate`), ``packaged`` (shipped with OpenLFR), or None."""
    from openlfr.cli._common import settings
    from openlfr.services.operating_point import calibration_path, is_packaged

    p = calibration_path(family, settings())
    if p is None:
        return None
    return "packaged" if is_packaged(p) else "data_dir"


def _rows(include_catalogue: bool) -> tuple[list[dict[str, Any]], list[str]]:
    from openlfr.cli._common import settings
    from openlfr.engine import models as m

    data_dir = settings().data_dir
    store = m.ModelStore(data_dir / "models")
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    for b in m.builtin_models():
        cal = _calibration(b["family"]) if b["kind"] == "embedder" else None
        rows.append({**b, "installed": True, "calibrated": cal is not None if b["kind"] == "embedder" else None,
                     "calibration": cal, "input_spec": None, "path": None, "verified": True})
        w = m.licence_warning(b["name"], b["licence"], b["commercial"])
        if w:
            warnings.append(w)
    installed = set()
    for e in store.entries():
        installed.add(e.name)
        spec = m.spec_for(e.kind, e.spec)
        model_id = (m.embedder_model_id(e.spec, e.sha256) if e.kind == "embedder"
                    else m.detector_model_id(e.spec, e.sha256))
        cal = _calibration(model_id) if e.kind == "embedder" else None
        rows.append({"name": e.name, "kind": e.kind, "spec": e.spec, "sha256": e.sha256,
                     "licence": e.licence, "commercial": e.commercial, "source": e.source,
                     "model_id": model_id, "family": model_id if e.kind == "embedder" else None,
                     "installed": True, "calibrated": cal is not None if e.kind == "embedder" else None,
                     "calibration": cal,
                     "input_spec": spec.to_dict(), "path": str(store.path_of(e)), "verified": e.verified})
        w = m.licence_warning(e.name, e.licence, e.commercial)
        if w:
            warnings.append(w)
    if include_catalogue:
        for c in m.CATALOGUE.values():
            if c.name in installed:
                continue
            rows.append({"name": c.name, "kind": c.kind, "spec": c.spec,
                         "sha256": c.member_sha256 or c.sha256,
                         "licence": c.licence, "commercial": c.commercial, "source": c.url or "(mirror only)",
                         "model_id": None, "installed": False, "calibrated": None,
                         "input_spec": m.spec_for(c.kind, c.spec).to_dict(), "path": None, "verified": None})
    return rows, warnings


def _licence_mark(commercial: bool | None) -> str:
    return {True: "", False: " [NON-COMMERCIAL]", None: " [licence unknown]"}[commercial]


def _stale_watchlists() -> list[WatchlistSummary]:
    """Watchlists whose vectors are from another embedder than the current one (none without a database)."""
    from openlfr.cli._common import settings

    st = settings()
    if st.database_url is None and not (st.data_dir / "openlfr.db").is_file():
        return []
    from openlfr.services import watchlists
    from openlfr.services.context import AppContext

    return [w for w in watchlists.list_all(AppContext(st)) if w.embedder_current is False]


def list_models(
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Also list catalogue models not installed.")] = False,
) -> None:
    """List built-in and installed models: kind, spec, sha256, licence, calibration status."""
    rows, warnings = _rows(all_)
    stale = _stale_watchlists()
    warnings += [f"watchlist {w.name!r} holds vectors of {w.embedder}, not of the current embedder: run "
                 f"`openlfr watchlist reembed {w.name}`" for w in stale]
    if json_out:
        emit_json({"models_dir": str(_store().root), "models": rows, "warnings": warnings,
                   "stale_watchlists": [w.name for w in stale]})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"models ({_store().root})")
    for col in ("name", "kind", "spec", "sha256", "installed", "calibrated", "licence"):
        table.add_column(col)
    for r in rows:
        cal = ("-" if r["calibrated"] is None else "no" if not r["calibrated"]
               else "yes (packaged)" if r.get("calibration") == "packaged" else "yes")
        table.add_row(r["name"], r["kind"], r["spec"], (r["sha256"] or "-")[:12],
                      "yes" if r["installed"] else "no", cal, r["licence"] + _licence_mark(r["commercial"]))
    Console(width=200).print(table)
    for w in warnings:
        typer.echo(f"warning: {w}", err=True)


def add(
    path: Annotated[Path, typer.Argument(help="An ONNX model file.")],
    kind: Annotated[str, typer.Option("--kind", help="detector or embedder.")],
    spec: Annotated[str, typer.Option("--spec", help="Input spec: yunet, scrfd (detectors); "
                                                     "mobilefacenet-128, arcface-r50, arcface-mbf, "
                                                     "sface-128 (embedders).")],
    name: Annotated[str | None, typer.Option("--name", help="Store name (default from the file).")] = None,
    licence: Annotated[str | None, typer.Option("--licence", help="Licence note to record.")] = None,
    non_commercial: Annotated[bool, typer.Option("--non-commercial",
                                                 help="Mark the licence as non-commercial.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace another model of that name.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Validate a model file by loading it, then copy it into the model store with its sha256."""
    from openlfr.engine.models import licence_warning

    commercial: bool | None = None
    if non_commercial:
        licence, commercial = licence or "non-commercial (stated by the user)", False
    elif licence:
        commercial = True
    m = _store().add(path, kind, spec, name, licence=licence, commercial=commercial, force=force)
    w = licence_warning(m.name, m.licence, m.commercial)
    if json_out:
        emit_json({"model": m.to_dict(), "warnings": [w] if w else []})
    else:
        typer.echo(f"installed {m.name} ({m.kind}, spec {m.spec}, sha256 {m.sha256})")
    if w:
        typer.echo(f"warning: {w}", err=True)


def fetch(
    name: Annotated[str, typer.Argument(help="Catalogue name (see `openlfr models list --all`).")],
    url_base: Annotated[str | None, typer.Option("--url-base", help="Download from this base URL "
                                                 "(a mirror) instead of the official one.")] = None,
    sha256: Annotated[str | None, typer.Option("--sha256", help="Expected sha256 when the catalogue "
                                               "has none pinned.")] = None,
    trust_unpinned: Annotated[bool, typer.Option("--trust-unpinned", help="Accept a file with no pinned "
                                                 "checksum (recorded as unverified).")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Network timeout, seconds.")] = 30.0,
    force: Annotated[bool, typer.Option("--force", help="Replace another model of that name.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Download an official model, verify its sha256, validate it and install it."""
    from openlfr.engine.models import CATALOGUE, licence_warning

    entry = CATALOGUE.get(name)
    first = licence_warning(name, entry.licence, entry.commercial) if entry else None
    if first:  # said before downloading, whatever happens next
        typer.echo(f"warning: {first}", err=True)
    res = _store().fetch(name, url_base=url_base, sha256=sha256, trust_unpinned=trust_unpinned,
                         timeout=timeout, force=force)
    if json_out:
        emit_json({"model": res.model.to_dict(), "warnings": res.warnings})
    else:
        typer.echo(f"installed {res.model.name} ({res.model.kind}, spec {res.model.spec}, "
                   f"sha256 {res.model.sha256}, {'verified' if res.model.verified else 'UNVERIFIED'})")
    for w in res.warnings:
        if w != first:
            typer.echo(f"warning: {w}", err=True)


def remove(
    name: Annotated[str, typer.Argument(help="Installed model name.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Remove an installed model (file and manifest entry)."""
    _store().remove(name)
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
