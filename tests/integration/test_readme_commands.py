"""Issue 19, item 7: every command in README.md runs as written.

The README's ``bash`` code blocks are parsed and each line is run by bash, literally (quotes, ``&&``,
comments), with "y" typed at any confirmation prompt (``watchlist delete`` asks), in a temporary
working directory holding the files it names (``a.jpg``, ``b.jpg``, ``photos/`` with one subfolder
per person, ``probe.jpg``) and with a fresh data dir
(``OPENLFR_DATA_DIR``), the real CLI of this checkout first on ``PATH``. Three steps cannot run
literally inside a test, and are checked instead:

- ``python3 -m venv .venv && . .venv/bin/activate && pip install .``: the environment running this
  test already holds the package installed from this checkout (asserted from its ``direct_url.json``:
  installed from the repository's root, as ``pip install .`` does, or editable), so the install is not
  repeated (it would need the package index); the ``openlfr serve`` that follows runs for real.
- ``openlfr serve``: started as written (port from ``OPENLFR_PORT``, a free one), must print the
  one-time setup link on a fresh data dir and answer ``/health``; stopped with SIGTERM, it must exit 0.
- ``pip install ".[test]" && python -m pytest``: the ``test`` extra must exist and every requirement
  of it be installed; ``python -m pytest`` is run with ``--collect-only`` (running the whole suite from
  inside itself would recurse), which must collect every test without an error.

Commands quoted inline in the README's text (``openlfr user create ...``, ``openlfr search VIDEO ...``)
are checked to exist: ``openlfr <command> --help`` exits 0 for each.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from tests.integration.serve_harness import free_port

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
FACES = REPO / "tests" / "data" / "faces"
BIN = Path(sys.executable).parent

INSTALL = ("python3 -m venv .venv", ". .venv/bin/activate", "pip install .")


def _blocks() -> list[list[str]]:
    """The command lines of each ```bash block of the README."""
    blocks = re.findall(r"^```bash\n(.*?)^```", README.read_text(), flags=re.S | re.M)
    return [[ln.strip() for ln in b.splitlines() if ln.strip()] for b in blocks]


def _steps(line: str) -> list[str]:
    """A line's commands joined by ``&&``, comments dropped (quote-aware)."""
    words = shlex.split(line, comments=True)
    steps, cur = [], []
    for w in words:
        if w == "&&":
            steps.append(shlex.join(cur))
            cur = []
        else:
            cur.append(w)
    steps.append(shlex.join(cur))
    return [s for s in steps if s]


def _env(tmp: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "OPENLFR_DATA_DIR": str(tmp / "data"),
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "PYTHONUNBUFFERED": "1",
    }
    for k in ("OPENLFR_KEY", "OPENLFR_DATABASE_URL"):
        env.pop(k, None)
    return env


def _workdir(tmp: Path) -> Path:
    """The files the quickstart names: two photos of one person, a folder of people, a probe photo."""
    work = tmp / "work"
    (work / "photos").mkdir(parents=True)
    shutil.copy(FACES / "Al_Gore" / "Al_Gore_0001.jpg", work / "a.jpg")
    shutil.copy(FACES / "Al_Gore" / "Al_Gore_0002.jpg", work / "b.jpg")
    for person in ("Aaron_Peirsol", "Abdullah_Gul", "Adrien_Brody"):
        shutil.copytree(FACES / person, work / "photos" / person)
    shutil.copy(FACES / "Al_Gore" / "Al_Gore_0003.jpg", work / "probe.jpg")
    return work


def _bash(
    line: str, cwd: Path, env: dict[str, str], answer: str = "", timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", line], cwd=cwd, env=env, input=answer, capture_output=True, text=True, timeout=timeout
    )


def test_readme_has_the_blocks_this_test_knows() -> None:
    """A new README block must be taught to this test (or run as an ordinary one)."""
    blocks = _blocks()
    assert len(blocks) == 3, blocks
    assert _steps(blocks[0][0]) == [*INSTALL, "openlfr serve"], blocks[0]
    assert _steps(blocks[1][0]) == ["pip install '.[test]'", "python -m pytest"], blocks[1]
    assert all(_steps(ln)[0].startswith("openlfr ") for ln in blocks[2]), blocks[2]


def test_install_and_serve_as_written(tmp_path: Path) -> None:
    line = _blocks()[0][0]
    # the install steps: this environment's package is this checkout, installed from its root (`pip install .`
    # as README says, as CI does; or editable, as in development)
    dist = metadata.distribution("openlfr")
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    assert direct.get("url") == REPO.as_uri() and "dir_info" in direct, direct
    assert shutil.which("openlfr", path=str(BIN)), "no openlfr script in this environment"
    serve = _steps(line)[-1]
    env = _env(tmp_path)
    port = free_port()
    env["OPENLFR_PORT"] = str(port)
    work = _workdir(tmp_path)
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    import httpx

    with open(out, "w") as fo, open(err, "w") as fe:
        proc = subprocess.Popen(["bash", "-c", f"exec {serve}"], cwd=work, env=env, stdout=fo, stderr=fe, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text() + err.read_text()
            time.sleep(0.3)
        r = httpx.get(f"http://127.0.0.1:{port}/login", timeout=10)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    text = out.read_text()
    # as the README says: a fresh data dir, no default account, a one-time setup link
    assert (tmp_path / "data" / "openlfr.db").is_file()
    assert re.search(rf"open http://127\.0\.0\.1:{port}/setup\?token=\S+", text), text
    assert "openlfr user create --role admin --username NAME" in text
    assert code == 0, (code, err.read_text()[-2000:])


def test_tests_line_as_far_as_it_can_run(tmp_path: Path) -> None:
    steps = _steps(_blocks()[1][0])
    # pip install ".[test]": the extra exists and all of it is installed here
    assert shlex.split(steps[0])[2] == ".[test]"
    req = Requirement("openlfr" + shlex.split(steps[0])[2].removeprefix("."))
    assert req.extras == {"test"}
    dist = metadata.distribution("openlfr")
    extra = [Requirement(r) for r in dist.requires or [] if 'extra == "test"' in r]
    assert extra, "no 'test' extra in the package metadata"
    for r in extra:
        metadata.version(r.name)  # raises PackageNotFoundError when missing
    # python -m pytest, from the repository's root: collects every test without an error
    p = subprocess.run(
        [*shlex.split(steps[1].replace("python", sys.executable, 1)), "--collect-only", "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert re.search(r"^\d{3,} tests collected", p.stdout, flags=re.M), p.stdout[-500:]


def test_quickstart_commands_as_written(tmp_path: Path) -> None:
    env = _env(tmp_path)
    work = _workdir(tmp_path)
    outputs = {}
    for line in _blocks()[2]:
        p = _bash(line, work, env, answer="y\n")  # as a user at a terminal: `watchlist delete` asks first
        assert p.returncode == 0, f"{line}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
        outputs[" ".join(shlex.split(line, comments=True)[1:3])] = p.stdout
    # the commands did what the README says they do: the probe (a third photo of the person added as P123)
    # is found, and the list is gone at the end
    check = json.loads(outputs["check probe.jpg"])
    assert "P123" in json.dumps(check), check
    p = _bash("openlfr watchlist list", work, env)
    assert p.returncode == 0 and "wanted" not in p.stdout, p.stdout


def test_inline_commands_exist() -> None:
    text = README.read_text()
    inline = {m for m in re.findall(r"`(openlfr [^`]+)`", text)}
    assert len(inline) >= 10, inline
    for cmd in sorted(inline):
        words = []
        for w in shlex.split(cmd)[1:]:
            if w.startswith("-") or w == "..." or w.isupper() or "." in w:
                break
            words.append(w)
        p = subprocess.run([str(BIN / "openlfr"), *words, "--help"], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"`{cmd}`: openlfr {' '.join(words)} --help\n{p.stdout}\n{p.stderr}"
