"""Time a full evaluation of lfw-dev, cold (empty embedding cache) and warm. Prints one JSON object.

A "full evaluation" is the three commands a model report needs, run through the real CLI:

    openlfr eval identify  --images lfw-dev --json          (embeds all ~9,200 images)
    openlfr eval verify    --pairs lfw-dev/pairs.txt --images lfw-dev --json
    openlfr eval threshold --images lfw-dev --json          (20 draws, N = 1,000, FPIR 1e-3)

in a fresh data dir. Model files that a backend converts once per data dir (the ONNX twin of the
dlib descriptor) are prepared first and timed separately (``model_setup_seconds``).

    .venv/bin/python benchmarks/bench_eval.py [--embedder dlib-resnet|dlib-resnet-onnx] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LFW = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "lfw-dev"


def cli(args: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "openlfr", *args, "--json"], capture_output=True, text=True, env=env, check=False
    )
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"openlfr {' '.join(args)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout), dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=Path, default=LFW)
    ap.add_argument("--embedder", default="dlib-resnet")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as d:
        env = {**os.environ, "OPENLFR_DATA_DIR": d}
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", f"from openlfr.engine import registry; registry.create('embedder', {a.embedder!r})"],
            env=env,
            check=True,
        )
        setup = time.perf_counter() - t0
        common = ["--embedder", a.embedder, "--workers", str(a.workers)]
        runs: dict[str, dict[str, Any]] = {}
        results: dict[str, Any] = {}
        for phase in ("cold", "warm"):
            times = {}
            ident, times["identify"] = cli(["eval", "identify", "--images", str(a.images), *common], env)
            ver, times["verify"] = cli(
                ["eval", "verify", "--pairs", str(a.images / "pairs.txt"), "--images", str(a.images), *common], env
            )
            thr, times["threshold"] = cli(["eval", "threshold", "--images", str(a.images), *common], env)
            runs[phase] = {
                "seconds": round(sum(times.values()), 1),
                "per_command": {k: round(v, 1) for k, v in times.items()},
                "images_computed": ident["embedding_stats"]["computed"],
            }
            results = {
                "verify_accuracy": ver["accuracy"],
                "verify_accuracy_std": ver["accuracy_std"],
                "identify_rank1": ident["rank1"],
                "fnir_at_fpir": ident["fnir_at_fpir"],
                "threshold_n1000_fpir1e-3": thr["threshold"],
                "models": ident["models"],
            }
        n = runs["cold"]["images_computed"]
        print(
            json.dumps(
                {
                    "images": n,
                    "workers": a.workers,
                    "embedder": a.embedder,
                    "cpu_count": os.cpu_count(),
                    "model_setup_seconds": round(setup, 1),
                    "cold": runs["cold"],
                    "warm": runs["warm"],
                    "cold_ms_per_image": round(1000 * runs["cold"]["per_command"]["identify"] / max(n, 1), 1),
                    "targets": {"cold_under_seconds": 1200, "warm_under_seconds": 30},
                    "results": results,
                }
            )
        )


if __name__ == "__main__":
    main()
