"""A small Ray cluster on this machine, made of real ``ray start`` processes: a head and N worker
nodes (for tests, benchmarks and trying the cluster setup of docs/cluster.md on one box).

Each node is one ``ray start --block`` process in its own session (process group), so a node can
be killed like a machine that loses power (:meth:`LocalRayCluster.kill_worker`: SIGKILL to its
process group and to the worker processes its raylet started) and everything this cluster started
is stopped at the end, without touching any other Ray process on the machine (no ``ray stop``).
Usage statistics and the dashboard are off; the object store is kept small.

**Authentication** is set explicitly, whatever ``~/.ray/auth_token`` holds (Ray 2.5x turns token
authentication on for a new head when that file exists). Default ``auth="disabled"``: any local
client connects, however it was started (Ray reads its authentication settings when it is
imported). ``auth="token"`` uses a token of this process (``RAY_AUTH_MODE=token``,
``RAY_AUTH_TOKEN``); clients then need :attr:`LocalRayCluster.client_env` in their environment
before they import Ray (:meth:`LocalRayCluster.export_env`, or the ``env`` of a child process).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from openlfr.errors import ConfigError

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_cli() -> list[str]:
    exe = Path(sys.executable).with_name("ray")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("ray")
    if found:
        return [found]
    raise ConfigError(
        "the `ray` command was not found; install the 'scale' extra: pip install 'openlfr[scale]'", code="ray_missing"
    )


_TOKEN = secrets.token_hex(32)
"""One token per process: Ray caches the token it loaded, so every cluster this process starts
(and connects to) uses the same one."""


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, pgid) from /proc."""
    out: dict[int, tuple[int, int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            out[int(d)] = (int(rest[1]), int(rest[2]))
        except (OSError, IndexError, ValueError):
            continue
    return out


@dataclass
class RayNode:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    resources: dict[str, float] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)

    @property
    def pgid(self) -> int:
        return self.proc.pid  # started with start_new_session: its own process group

    def members(self) -> set[int]:
        """Every process of this node: its process group and the Ray workers its raylet started
        (those call setsid and leave the group)."""
        table = _proc_table()
        group = {p for p, (_pp, g) in table.items() if g == self.pgid}
        group |= {p for p, (pp, _g) in table.items() if pp in group}
        return group

    def signal_all(self, sig: int) -> set[int]:
        pids = self.members()
        for p in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p, sig)
        return pids

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


class LocalRayCluster:
    """``with LocalRayCluster(workers=2) as c: ... c.address ...`` (see the module docstring)."""

    def __init__(
        self,
        workers: int = 2,
        *,
        cpus_per_node: float = 1,
        head_cpus: float = 1,
        worker_resources: dict[str, float] | None = None,
        object_store_mb: int = 128,
        root: Path | None = None,
        env: dict[str, str] | None = None,
        start_timeout_s: float = 180.0,
        auth: str = "disabled",
    ) -> None:
        self.n_workers = workers
        self.cpus_per_node = cpus_per_node
        self.head_cpus = head_cpus
        self.worker_resources = dict(worker_resources or {})
        self.object_store_mb = object_store_mb
        self._own_root = root is None
        # Ray's socket paths must stay short: a short temp root
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="olfr-ray-", dir="/tmp"))
        self.client_env = {"RAY_USAGE_STATS_ENABLED": "0"}
        if auth == "token":
            self.client_env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=_TOKEN)
        else:
            self.client_env["RAY_AUTH_MODE"] = "disabled"
        self.env = {**os.environ, **self.client_env, **(env or {})}
        self.start_timeout_s = start_timeout_s
        self.port = free_port()
        self.dashboard_port = free_port()
        self.head: RayNode | None = None
        self.workers: list[RayNode] = []
        self._count = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @contextlib.contextmanager
    def export_env(self) -> Iterator[None]:
        """Set :attr:`client_env` in this process's environment (restored afterwards), so that
        ``ray.init`` here and child processes can connect."""
        saved = {k: os.environ.get(k) for k in self.client_env}
        os.environ.update(self.client_env)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def _start_node(self, name: str, args: list[str], resources: dict[str, float]) -> RayNode:
        log_path = self.root / f"{name}.log"
        cmd = [
            *_ray_cli(),
            "start",
            "--block",
            "--disable-usage-stats",
            "--temp-dir",
            str(self.root / "ray"),
            f"--object-store-memory={self.object_store_mb * 1024 * 1024}",
            *args,
        ]
        if resources:
            cmd += ["--resources", json.dumps(resources)]
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(  # noqa: S603
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
        return RayNode(name, proc, log_path, resources, args)

    def _wait_started(self, node: RayNode, retries: int = 2) -> None:
        """Wait for the node's "Ray runtime started"; a node that gives up (``ray start`` allows a
        raylet 30 s to register, too short on a busy machine) is started again, ``retries`` times."""
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            text = node.log_path.read_text(errors="replace") if node.log_path.exists() else ""
            if "Ray runtime started" in text:
                return
            if node.proc.poll() is not None:
                node.signal_all(signal.SIGKILL)
                if retries <= 0:
                    raise ConfigError(
                        f"ray node {node.name} exited ({node.proc.returncode}):\n{text[-2000:]}",
                        code="ray_start_failed",
                    )
                log.warning("ray node %s failed to start; trying again", node.name)
                retries -= 1
                node.log_path.rename(node.log_path.with_suffix(f".failed{retries}.log"))
                fresh = self._start_node(node.name, node.args, node.resources)
                node.proc = fresh.proc
            time.sleep(0.3)
        raise ConfigError(
            f"ray node {node.name} did not start within {self.start_timeout_s:g}s", code="ray_start_failed"
        )

    def start(self) -> LocalRayCluster:
        (self.root / "ray").mkdir(parents=True, exist_ok=True)
        try:
            self.head = self._start_node(
                "head",
                [
                    "--head",
                    f"--port={self.port}",
                    f"--num-cpus={self.head_cpus}",
                    "--include-dashboard=false",
                    f"--dashboard-port={self.dashboard_port}",
                ],
                {},
            )
            self._wait_started(self.head)
            for _ in range(self.n_workers):  # one at a time: a busy GCS is slow to register raylets
                self.add_worker(wait=True)
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self, resources: dict[str, float] | None = None, wait: bool = True) -> RayNode:
        self._count += 1
        name = f"worker{self._count}"
        # a tag resource names the node (nothing asks for it unless a test pins an actor there)
        node = self._start_node(
            name,
            [f"--address={self.address}", f"--num-cpus={self.cpus_per_node}"],
            {**self.worker_resources, **(resources or {}), f"olfr_{name}": 1.0},
        )
        self.workers.append(node)
        if wait:
            self._wait_started(node)
        return node

    def kill_worker(self, node: RayNode) -> set[int]:
        """SIGKILL every process of a worker node (as a machine that loses power)."""
        pids = node.signal_all(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.proc.wait(timeout=10)
        return pids

    def stop(self) -> None:
        """Stop every node this cluster started (workers first), then remove its files."""
        nodes = [*self.workers, *([self.head] if self.head else [])]
        for node in nodes:
            if node.alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(node.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for node in nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for node in nodes:
            node.signal_all(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.proc.wait(timeout=5)
        self.workers = []
        self.head = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalRayCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def node_ids(self) -> dict[str, Any]:
        """Ray node id of each live node this cluster started (needs ``ray.init`` in this process)."""
        import ray

        out: dict[str, Any] = {}
        for n in ray.nodes():  # type: ignore[no-untyped-call]
            if not n.get("Alive"):
                continue
            res = n.get("Resources", {})
            if "node:__internal_head__" in res and self.head is not None:
                out["head"] = n["NodeID"]
            for node in self.workers:
                if f"olfr_{node.name}" in res:
                    out[node.name] = n["NodeID"]
        return out
