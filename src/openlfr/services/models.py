"""Face models (``openlfr models ...``): the built-in ones, the ONNX files installed in the data dir's
model store, and the official catalogue; adding, downloading (sha256-checked) and removing them, with
each model's licence warning and calibration status. Downloads happen here, at the edge, never in a
running engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openlfr.engine import models as m
from openlfr.services import downloads
from openlfr.settings import Settings

if TYPE_CHECKING:
    from openlfr.services.watchlists import WatchlistSummary


@dataclass(frozen=True)
class ModelListing:
    """``openlfr models list``: every model as a row, licence and stale-watchlist warnings."""

    models_dir: Path
    rows: list[dict[str, Any]]
    warnings: list[str]
    stale_watchlists: list[str]


def store(settings: Settings) -> m.ModelStore:
    """The data dir's model store."""
    return m.ModelStore(settings.models_dir)


def _calibration(family: str, settings: Settings) -> str | None:
    """Where ``--fpir`` finds this embedder family's calibration: ``data_dir`` (from `openlfr eval
    calibrate`), ``packaged`` (shipped with OpenLFR), or None."""
    from openlfr.services.operating_point import calibration_path, is_packaged

    p = calibration_path(family, settings)
    if p is None:
        return None
    return "packaged" if is_packaged(p) else "data_dir"


def _installed_row(st: m.ModelStore, e: m.InstalledModel, settings: Settings) -> dict[str, Any]:
    spec = m.spec_for(e.kind, e.spec)
    model_id = m.embedder_model_id(e.spec, e.sha256) if e.kind == "embedder" else m.detector_model_id(e.spec, e.sha256)
    cal = _calibration(model_id, settings) if e.kind == "embedder" else None
    return {
        "name": e.name,
        "kind": e.kind,
        "spec": e.spec,
        "sha256": e.sha256,
        "licence": e.licence,
        "commercial": e.commercial,
        "source": e.source,
        "model_id": model_id,
        "family": model_id if e.kind == "embedder" else None,
        "installed": True,
        "calibrated": cal is not None if e.kind == "embedder" else None,
        "calibration": cal,
        "input_spec": spec.to_dict(),
        "path": str(st.path_of(e)),
        "verified": e.verified,
    }


def _rows(settings: Settings, include_catalogue: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per built-in and installed model (and catalogue model not installed, on request), and
    the licence warnings of the installed ones."""
    st = store(settings)
    out: list[dict[str, Any]] = []
    warnings: list[str] = []
    for b in m.builtin_models():
        cal = _calibration(b["family"], settings) if b["kind"] == "embedder" else None
        out.append(
            {
                **b,
                "installed": True,
                "calibrated": cal is not None if b["kind"] == "embedder" else None,
                "calibration": cal,
                "input_spec": None,
                "path": None,
                "verified": True,
            }
        )
        w = m.licence_warning(b["name"], b["licence"], b["commercial"])
        if w:
            warnings.append(w)
    installed = set()
    for e in st.entries():
        installed.add(e.name)
        out.append(_installed_row(st, e, settings))
        w = m.licence_warning(e.name, e.licence, e.commercial)
        if w:
            warnings.append(w)
    if include_catalogue:
        for c in m.CATALOGUE.values():
            if c.name in installed:
                continue
            out.append(
                {
                    "name": c.name,
                    "kind": c.kind,
                    "spec": c.spec,
                    "sha256": c.member_sha256 or c.sha256,
                    "licence": c.licence,
                    "commercial": c.commercial,
                    "source": c.url or "(mirror only)",
                    "model_id": None,
                    "installed": False,
                    "calibrated": None,
                    "input_spec": m.spec_for(c.kind, c.spec).to_dict(),
                    "path": None,
                    "verified": None,
                }
            )
    return out, warnings


def stale_watchlists(settings: Settings) -> list[WatchlistSummary]:
    """Watchlists whose vectors are from another embedder than the current one (none without a database)."""
    if settings.database_url is None and not (settings.data_dir / "openlfr.db").is_file():
        return []
    from openlfr.services import watchlists
    from openlfr.services.context import AppContext

    return [w for w in watchlists.list_all(AppContext(settings)) if w.embedder_current is False]


def listing(settings: Settings, include_catalogue: bool) -> ModelListing:
    """Every model, the licence warnings, and a warning per watchlist to re-embed for the current embedder."""
    found, warnings = _rows(settings, include_catalogue)
    stale = stale_watchlists(settings)
    warnings += [
        f"watchlist {w.name!r} holds vectors of {w.embedder}, not of the current embedder: run "
        f"`openlfr watchlist reembed {w.name}`"
        for w in stale
    ]
    return ModelListing(store(settings).root, found, warnings, [w.name for w in stale])


def add(
    settings: Settings,
    path: Path,
    kind: str,
    spec: str,
    name: str | None,
    *,
    licence: str | None,
    non_commercial: bool,
    force: bool,
) -> tuple[m.InstalledModel, str | None]:
    """Validate a model file by loading it and install it; the model and its licence warning."""
    commercial: bool | None = None
    if non_commercial:
        licence, commercial = licence or "non-commercial (stated by the user)", False
    elif licence:
        commercial = True
    model = store(settings).add(path, kind, spec, name, licence=licence, commercial=commercial, force=force)
    return model, m.licence_warning(model.name, model.licence, model.commercial)


def catalogue_warning(name: str) -> str | None:
    """The licence warning of a catalogue model (said before downloading it), or None."""
    entry = m.CATALOGUE.get(name)
    return m.licence_warning(name, entry.licence, entry.commercial) if entry else None


def fetch(
    settings: Settings,
    name: str,
    *,
    url_base: str | None,
    sha256: str | None,
    trust_unpinned: bool,
    timeout: float,
    force: bool,
) -> downloads.FetchResult:
    """Download a catalogue model, verify its sha256, validate it and install it."""
    return downloads.fetch(
        store(settings),
        name,
        url_base=url_base,
        sha256=sha256,
        trust_unpinned=trust_unpinned,
        timeout=timeout,
        force=force,
    )


def remove(settings: Settings, name: str) -> None:
    """Remove an installed model (file and manifest entry)."""
    store(settings).remove(name)
