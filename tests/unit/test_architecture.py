"""Static checks that guard the design: import direction (import-linter), lint (ruff) and types
(mypy --strict on src, as ARCHITECTURE.md asks)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str:
    exe = Path(sys.executable).parent / name
    found = str(exe) if exe.exists() else shutil.which(name)
    assert found, f"{name} is not installed (it is in the [test] extra)"
    return found


def test_import_layers() -> None:
    proc = subprocess.run([_tool("lint-imports")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "BROKEN" not in proc.stdout


def test_import_contracts_catch_a_violation(tmp_path: Path) -> None:
    """The contracts are not vacuous: in a copy of the package, a CLI module importing storage directly, an
    engine module importing eval, one reading the settings and one downloading each break their contract (and
    the unchanged copy keeps every contract)."""
    import os

    shutil.copytree(SRC, tmp_path / "src" / "openlfr", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}

    def lint() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_tool("lint-imports"), "--no-cache"], cwd=tmp_path, env=env, capture_output=True, text=True
        )

    clean = lint()
    assert clean.returncode == 0 and "BROKEN" not in clean.stdout, clean.stdout[-3000:] + clean.stderr[-2000:]
    pkg = tmp_path / "src" / "openlfr"
    with (pkg / "cli" / "synth_cmd.py").open("a") as f:
        f.write("\nfrom openlfr.storage import db as _db  # noqa\n")
    with (pkg / "engine" / "quality.py").open("a") as f:
        f.write("\nfrom openlfr.eval import metrics as _metrics  # noqa\n")
    with (pkg / "engine" / "models.py").open("a") as f:
        f.write("\nfrom openlfr.settings import load_settings as _ls  # noqa\n")
    with (pkg / "engine" / "backends" / "onnx_common.py").open("a") as f:
        f.write("\nimport urllib.request as _ur  # noqa\n")
    proc = lint()
    out = " ".join(proc.stdout.split())  # contract names may wrap
    assert proc.returncode != 0, out
    assert "CLI and API reach engine, runtime, eval and storage only through services BROKEN" in out, out
    assert "openlfr.cli.synth_cmd -> openlfr.storage.db" in out, out
    assert "Nothing below services imports eval (eval only measures; services read its results) BROKEN" in out, out
    assert "openlfr.engine.quality -> openlfr.eval.metrics" in out, out
    assert "Engine reads no process settings (settings are read at the edge and passed in) BROKEN" in out, out
    assert "openlfr.engine.models -> openlfr.settings" in out, out
    assert "Engine touches no network (model downloads are the services' job: services/downloads.py) BROKEN" in out
    assert "openlfr.engine.backends.onnx_common -> urllib" in out, out


def test_ruff_clean() -> None:
    proc = subprocess.run(
        [_tool("ruff"), "check", "src", "tests", "benchmarks"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_ruff_format_applied() -> None:
    """Issue 20: the code is laid out by ``ruff format`` ([tool.ruff.format] in pyproject.toml)."""
    proc = subprocess.run(
        [_tool("ruff"), "format", "--check", "src", "tests", "benchmarks"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_mypy_strict_clean() -> None:
    # the configuration ([tool.mypy] in pyproject.toml: strict, the pydantic plugin) names the files
    proc = subprocess.run([_tool("mypy")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Success: no issues found" in proc.stdout


def test_engine_never_imports_storage_at_runtime() -> None:
    code = (
        "import sys, openlfr.engine.pipeline, openlfr.engine.matcher, openlfr.engine.registry as r; "
        "r.available('embedder'); "
        "bad=[m for m in sys.modules if m.startswith(('openlfr.storage','openlfr.services','sqlalchemy'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


SRC = REPO / "src" / "openlfr"


def _sources() -> list[Path]:
    return [p for p in sorted(SRC.rglob("*.py")) if "migrations" not in p.parts]


def test_no_function_over_60_lines() -> None:
    """Issue 20: no function in src/ (outside generated migrations) is over 60 lines (def to last line)."""
    import ast

    long = [
        f"{p.relative_to(REPO)}:{n.lineno} {n.name} ({n.end_lineno - n.lineno + 1} lines)"
        for p in _sources()
        for n in ast.walk(ast.parse(p.read_text()))
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        and n.end_lineno is not None
        and n.end_lineno - n.lineno + 1 > 60
    ]
    assert not long, long


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped text) of the lines that carry code: not blank, comments, docstring quotes, imports
    or the names of a parenthesised import list."""
    out = []
    in_import = False
    for i, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if in_import:
            in_import = not line.startswith(")")
            continue
        if line.startswith("import ") or (line.startswith("from ") and " import " in line):
            in_import = line.endswith("(")
            continue
        if not line or line.startswith("#") or line in ('"""', "'''"):
            continue
        out.append((i, line))
    return out


def repeated_blocks(files: list[Path], root: Path = REPO, size: int = 6) -> list[str]:
    """Places where ``size`` consecutive code lines stand again, identical, elsewhere (same or other file)."""
    import re

    seen: dict[tuple[str, ...], list[str]] = {}
    for p in files:
        lines = _code_lines(p)
        for k in range(len(lines) - size + 1):
            window = tuple(text for _, text in lines[k : k + size])
            if sum(len(re.sub(r"[\W_]", "", t)) >= 3 for t in window) < size - 1:
                continue  # mostly brackets and punctuation
            seen.setdefault(window, []).append(f"{p.relative_to(root)}:{lines[k][0]}")
    return [" ~ ".join(places) for places in seen.values() if len(places) > 1]


def test_no_repeated_blocks_in_src(tmp_path: Path) -> None:
    """Issue 20: no block of 6 or more identical code lines repeated in src/ (imports and migrations aside).
    The check itself is shown to catch a copy."""
    assert repeated_blocks(_sources()) == []
    block = "\n".join(f"total_{i} = compute_{i}(value) + offset" for i in range(6))
    (tmp_path / "a.py").write_text(f"def f(value, offset):\n{block}\n")
    (tmp_path / "b.py").write_text(f"def g(value, offset):\n{block}\n")
    assert len(repeated_blocks([tmp_path / "a.py", tmp_path / "b.py"], root=tmp_path)) == 1


def test_core_constants_match_their_runtime_copies() -> None:
    """``openlfr.types.MJPEG_BOUNDARY`` (used by the API) is the boundary ``runtime.preview`` writes
    (kept there until the live-host rewrite imports it from types)."""
    from openlfr.runtime.preview import BOUNDARY
    from openlfr.types import MJPEG_BOUNDARY

    assert MJPEG_BOUNDARY == BOUNDARY


def _returns_untyped_dict(annotation: str) -> bool:
    """A return annotation that is, or holds, a free-form mapping: ``dict[str, Any]`` or ``Dict[str, Any]``."""
    flat = annotation.replace(" ", "").replace("typing.", "")
    return "dict[str,Any]" in flat or "Dict[str,Any]" in flat


def untyped_service_functions(root: Path = SRC / "services") -> list[str]:
    """``module.function`` (or ``module.Class.method``) of each public service function whose return annotation
    is or contains ``dict[str, Any]``; names starting with ``_`` (the module's own helpers) aside, and a typed
    result's ``to_dict`` (its JSON form, for ``--json`` and files: the result itself is typed)."""
    import ast

    found: list[str] = []

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for n in body:
            if isinstance(n, ast.ClassDef) and not n.name.startswith("_"):
                visit(n.body, f"{prefix}{n.name}.")
            elif (
                isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                and not n.name.startswith("_")
                and not (prefix.count(".") == 2 and n.name == "to_dict")
                and n.returns is not None
                and _returns_untyped_dict(ast.unparse(n.returns))
            ):
                found.append(f"{prefix}{n.name}")

    for p in sorted(root.glob("*.py")):
        visit(ast.parse(p.read_text()).body, f"{p.stem}.")
    return found


def test_services_return_typed_results(tmp_path: Path) -> None:
    """Issue 20: services return frozen dataclasses or pydantic models, not ``dict[str, Any]``. The check itself
    is shown to catch an untyped result."""
    assert untyped_service_functions() == [], "untyped service results"
    (tmp_path / "m.py").write_text(
        "from typing import Any, Dict\n"
        "def a() -> dict[str, Any]: ...\n"
        "def b() -> tuple[int, list[Dict[str, Any]]]: ...\n"
        "def _c() -> dict[str, Any]: ...\n"
        "def d() -> dict[str, int]: ...\n"
        "class K:\n"
        "    def e(self) -> 'dict[str, Any] | None': ...\n"
        "    def to_dict(self) -> dict[str, Any]: ...\n"
        "def to_dict() -> dict[str, Any]: ...\n"
    )
    assert untyped_service_functions(tmp_path) == ["m.a", "m.b", "m.K.e", "m.to_dict"]


SESSION_QUERY_CALLS = {"execute", "scalar", "scalars", "get", "query", "scalar_one", "scalar_one_or_none"}


def service_queries(root: Path = SRC / "services") -> dict[str, list[str]]:
    """Service module -> what in it queries or seals: an import from sqlalchemy (bar the ``Session`` type and
    the error classes) or
    from ``openlfr.storage.sealed``, or a query call on a session (``s.execute``, ``s.get``, ...)."""
    import ast

    found: dict[str, list[str]] = {}
    for path in sorted(root.glob("*.py")):
        hits: list[str] = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                mod = node.module
                names = {a.name for a in node.names}
                if mod == "openlfr.storage.sealed" or (
                    mod.startswith("sqlalchemy")
                    and mod != "sqlalchemy.exc"
                    and not (mod == "sqlalchemy.orm" and names <= {"Session"})
                ):
                    hits.append(f"{node.lineno}: from {mod} import {', '.join(sorted(names))}")
            elif isinstance(node, ast.Import):
                hits += [f"{node.lineno}: import {a.name}" for a in node.names if a.name.startswith("sqlalchemy")]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SESSION_QUERY_CALLS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in {"s", "session", "sess", "db"}
            ):
                hits.append(f"{node.lineno}: {node.func.value.id}.{node.func.attr}(...)")
        if hits:
            found[path.stem] = hits
    return found


def test_services_leave_queries_to_repositories(tmp_path: Path) -> None:
    """Issue 20: services keep the unit of work (``with ctx.db.session() as s``) and change model rows, but
    the queries and the sealing live in ``storage/repos``. The check itself is shown to catch a query."""
    assert service_queries() == {}, "queries or sealing in services: move them into a repository"
    (tmp_path / "m.py").write_text(
        "from sqlalchemy import select\nfrom sqlalchemy.orm import Session\n"
        "from openlfr.storage.sealed import unseal\n"
        "def f(s: Session) -> None:\n    s.get(int, 1)\n    s.add(1)\n"
    )
    (tmp_path / "ok.py").write_text("from sqlalchemy.orm import Session\ndef g(s: Session) -> None:\n    s.add(1)\n")
    assert service_queries(tmp_path) == {
        "m": ["1: from sqlalchemy import select", "3: from openlfr.storage.sealed import unseal", "5: s.get(...)"]
    }
