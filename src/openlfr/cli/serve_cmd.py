"""``openlfr serve``: the HTTP API and operator console, the live workers of started deployments
and the retention sweeper, in one process. SIGTERM or Ctrl-C shuts down cleanly (cameras stop,
counters are flushed; live deployments stay live and resume at the next start), and the process then
exits normally (status 0), so that interpreter shutdown runs: uvicorn by itself raises the caught signal
again once it has stopped, and SIGTERM's default action then killed the process before multiprocessing's
exit handlers could release the live workers' queue and stop event (the resource tracker's "8 leaked
semaphore objects" at shutdown)."""

from __future__ import annotations

import contextlib
import logging
import secrets
import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from openlfr.cli._common import settings

HostOpt = Annotated[
    str, typer.Option(help="Address to listen on (loopback by default; put a TLS proxy in front to serve others).")
]
PortOpt = Annotated[int, typer.Option(min=0, max=65535, envvar="OPENLFR_PORT", help="TCP port.")]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="Run live cameras as actors on this Ray cluster (head host:port; "
        "needs the 'scale' extra; default: OPENLFR_RAY_ADDRESS or this "
        "machine).",
    ),
]


def serve(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    log_level: Annotated[str, typer.Option(help="Server log level.")] = "info",
    ray_address: RayAddressOpt = None,
) -> None:
    """Start the console and API (initialising the data dir on first run) and print how to log in."""
    import uvicorn

    from openlfr.api.app import create_app
    from openlfr.services import users
    from openlfr.services.context import AppContext

    logging.getLogger().setLevel(getattr(logging, log_level.upper(), logging.INFO))
    logging.getLogger("openlfr").setLevel(getattr(logging, log_level.upper(), logging.INFO))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    st = settings()
    if ray_address:
        st = st.model_copy(update={"ray_address": ray_address})
    if st.database_url is None and not (st.data_dir / "openlfr.db").exists():
        from openlfr.cli.init_cmd import init

        init(json_out=False)
    ctx = AppContext(st)
    n_users = users.count_users(ctx)
    ctx.close()
    token = _print_how_to_log_in(host, port, n_users)
    app = create_app(st, background=True, setup_token=token)
    proxies = app.state.openlfr.api.trusted_proxies.strip()
    # X-Forwarded-* only from configured proxies: uvicorn's default trusts them from loopback, which let
    # any local client (or a pass-through proxy's clients) pick its own address for the login throttle
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level.lower(),
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        timeout_graceful_shutdown=5,
        access_log=False,
    )
    from openlfr.redact import install_log_masking

    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # uvicorn's own handlers: mask stream secrets
        install_log_masking(logging.getLogger(name))
    server = _server_class()(config)
    server.run()
    stopped: list[int] = getattr(server, "stopped_by", [])
    how = f" ({', '.join(signal.Signals(s).name for s in stopped)})" if stopped else ""
    typer.echo(f"OpenLFR stopped{how}.")


def _print_how_to_log_in(host: str, port: int, n_users: int) -> str | None:
    """Print the console's address and how to log in; with no user yet, return a one-time setup token."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - only for the message
    url = f"http://{shown}:{port}"
    token = None
    if n_users == 0:
        token = secrets.token_urlsafe(24)
        typer.echo("No user exists yet (there is no default account). Create the first admin, either:")
        typer.echo(f"  open {url}/setup?token={token}   (one-time setup token, valid while this server runs)")
        typer.echo("  or run: openlfr user create --role admin --username NAME")
    else:
        typer.echo(f"Log in at {url}/login with a user made by `openlfr user create` ({n_users} user(s) exist).")
    typer.echo(f"OpenLFR console on {url}  (API schema: {url}/openapi.json; Ctrl-C or SIGTERM to stop)")
    return token


if TYPE_CHECKING:
    import uvicorn


def _server_class() -> type[uvicorn.Server]:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, without raising the stopping signal again after a graceful shutdown."""

        stopped_by: list[int]

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            self.stopped_by = []
            with super().capture_signals():
                yield
                captured: Any = getattr(self, "_captured_signals", [])
                self.stopped_by = list(captured)
                captured.clear()  # uvicorn re-raises what is left here once its handlers are restored

    return Server


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
