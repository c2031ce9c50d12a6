"""The ``openlfr`` command line (Typer), thin over ``services``.

Each module in this package that defines ``register(app: typer.Typer) -> None`` adds its
commands; modules keep heavy imports (models, databases) inside their command functions so
that ``openlfr --help`` stays fast.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
from typing import Any

import typer

from openlfr.errors import OpenLFRError


def _no_type_on_flags() -> None:
    """Typer (0.29) labels every on/off flag ``<bool>`` in the rich help; a flag takes no value, so show none."""
    from typer.core import TyperOption

    plain = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag and self.metavar is None else plain(self, ctx)

    setattr(TyperOption, "display_type_rich", display_type_rich)  # noqa: B010 - patching a method of Typer's


_no_type_on_flags()

app = typer.Typer(
    name="openlfr", no_args_is_help=True, add_completion=False, help="OpenLFR: accountable live facial recognition."
)


@app.command("version")
def version() -> None:
    """Print the OpenLFR version."""
    from openlfr import __version__

    typer.echo(__version__)


def _discover() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        reg = getattr(mod, "register", None)
        if callable(reg):
            reg(app)


_discover()


def main() -> None:
    """Entry point: run the app; an ``OpenLFRError`` prints one line and exits 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from openlfr.redact import install_log_masking, mask_url

    install_log_masking()
    try:
        rc = app(standalone_mode=False)
        if isinstance(rc, int) and rc:  # `raise typer.Exit(n)` returns n in non-standalone mode
            sys.exit(rc)
    except OpenLFRError as exc:
        typer.echo(f"error[{exc.code}]: {mask_url(exc.message)}", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        # Usage errors (Typer's bundled click) arrive here in non-standalone mode.
        show = getattr(exc, "show", None)
        if callable(show) and hasattr(exc, "exit_code"):
            show()
            sys.exit(int(exc.exit_code))
        raise
