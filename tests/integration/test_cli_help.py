"""Issue 19 item 7: every command's ``--help`` reads cleanly: no internal principle codes such as "(P7)", no
``<bool>`` type on on/off flags, and ``synth walkthrough`` names the watchlist folder it really writes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner


def _commands() -> list[list[str]]:
    from openlfr.cli import app

    root = typer.main.get_command(app)
    out: list[list[str]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        out.append(path)
        if getattr(cmd, "commands", None):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])

    walk(root, [])
    return out


def test_every_help_is_clean() -> None:
    from openlfr.cli import app

    runner = CliRunner()
    cmds = _commands()
    assert len(cmds) > 40
    bad = []
    for path in cmds:
        r = runner.invoke(app, [*path, "--help"], terminal_width=200)
        assert r.exit_code == 0, (path, r.output)
        if "<bool>" in r.output:
            bad.append(f"{' '.join(path)}: <bool>")
        if re.search(r"\(P\d+\)", r.output):
            bad.append(f"{' '.join(path)}: {re.findall(r'.{30}[(]P[0-9]+[)]', r.output)}")
    assert not bad, "\n".join(bad)


def test_synth_walkthrough_help_names_the_folder_it_writes(tmp_path: Path) -> None:
    from openlfr.cli import app

    out = CliRunner().invoke(app, ["synth", "walkthrough", "--help"], terminal_width=200).output
    assert "walk.watchlist next to walk.mp4" in " ".join(re.sub("[│╭╮╰╯─]", " ", out).split())
    # and that is the folder the command derives (the same expression as synth_cmd)
    video = tmp_path / "walk.mp4"
    assert video.with_name(video.stem + ".watchlist").name == "walk.watchlist"
