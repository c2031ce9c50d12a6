"""Cold start of ``openlfr check``: the real command, run as a user runs it, imports only what a
one-photo check needs: no scipy (its statistics are for evaluation; the operating point's interval is
solved in numpy), no Alembic when the database is at the newest revision, and only the backend
modules of the models it uses. Its total import time stays under a bound."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from openlfr.eval.intervals import clopper_pearson

REPO = Path(__file__).resolve().parents[2]
FACES = REPO / "tests" / "data" / "faces"

NOT_FOR_CHECK = (
    "scipy",
    "alembic",
    "onnx",
    "matplotlib",
    "sklearn",
    "ray",
    "fastapi",
    "uvicorn",
    "openlfr.engine.backends.blazeface",
    "openlfr.engine.backends.mtcnn",
    "openlfr.engine.backends.dlib_onnx",
)
IMPORT_BOUND_S = 3.0
"""Sum of the top-level imports' cumulative time. Measured 1.3-1.8 s at load average 6-8 on the
2-core test machine (2.5-3.0 s before: scipy.stats alone 0.5-1.2 s, Alembic 0.27 s)."""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("checkdata")
    code = (
        "from pathlib import Path\n"
        "from openlfr.services import watchlists\n"
        "from openlfr.services.context import AppContext\n"
        "from openlfr.storage.crypto import create_key_file\n"
        "from openlfr.storage.db import Database\n"
        "ctx = AppContext()\n"
        "create_key_file(ctx.settings.resolved_key_file)\n"
        "Database(ctx.settings.db_url).upgrade()\n"
        "watchlists.create(ctx, 'wl', 'tester')\n"
        f"for p in sorted(Path({str(FACES)!r}).iterdir()):\n"
        "    r = watchlists.add_person(ctx, 'wl', p.name, [sorted(p.glob('*.jpg'))[0]], 'tester')\n"
        "    assert r.accepted == 1, (p, r)\n"
    )
    env = {**os.environ, "OPENLFR_DATA_DIR": str(d)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, timeout=300)
    return d


def test_check_imports_nothing_it_does_not_need(data_dir: Path) -> None:
    env = {**os.environ, "OPENLFR_DATA_DIR": str(data_dir)}
    p = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "openlfr",
            "check",
            str(FACES / "Al_Gore" / "Al_Gore_0002.jpg"),
            "-w",
            "wl",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert '"person_id": "Al_Gore"' in p.stdout  # the check really ran: the enrolled person is found
    rows = [
        m
        for m in (re.match(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)", line) for line in p.stderr.splitlines())
        if m
    ]
    names = {m.group(4) for m in rows}
    # the default models' modules (fr_feature on onnxruntime, the ArcFace aligner), and only they
    assert {
        "openlfr.services.check",
        "openlfr.engine.backends.faceplugin",
        "openlfr.engine.backends.onnx_embedders",
    } <= names
    for mod in NOT_FOR_CHECK:
        assert not any(n == mod or n.startswith(mod + ".") for n in names), mod
    total = sum(int(m.group(2)) for m in rows if m.group(3) == "") / 1e6
    assert total < IMPORT_BOUND_S, total


@pytest.mark.parametrize("confidence", [0.95, 0.99])
def test_interval_without_scipy_matches_scipy(confidence: float) -> None:
    """The numpy solution of the Clopper-Pearson bounds equals scipy's Beta quantiles."""
    from scipy.stats import beta

    a = 1 - confidence
    for n in (1, 2, 7, 40, 1000, 3999, 250_000, 87_000_000):
        for k in sorted(k for k in {0, 1, 3, n // 2, n - 1, n, min(n, 3000), max(0, n - 3000)} if k <= n):
            lo, hi = clopper_pearson(k, n, confidence)  # type: ignore[misc]
            want_lo = 0.0 if k == 0 else beta.ppf(a / 2, k, n - k + 1)
            want_hi = 1.0 if k == n else beta.ppf(1 - a / 2, k + 1, n - k)
            assert lo == pytest.approx(want_lo, rel=1e-8, abs=1e-300), (k, n)
            assert hi == pytest.approx(want_hi, rel=1e-8), (k, n)
