"""Cost of P3's redaction by inversion per preview / alert frame (issue 13, item 1).

Times ``engine.privacy.redact`` (whole-frame mosaic, the alerted person put back, other detected
faces re-mosaicked) and ``annotate`` (the preview: the same plus outlines and a label) on random
frames at common sizes with 5 face boxes, one of them alerted, and prints one JSON object:
per size the median and 95th percentile in milliseconds.

    python benchmarks/bench_redact.py [--repeat 200]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from openlfr.engine.privacy import annotate, redact

SIZES = ((640, 360), (1280, 720), (1920, 1080))


def _boxes(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    side = h / 8
    xs = rng.uniform(0, w - side, 5)
    ys = rng.uniform(0, h / 2, 5)
    return np.stack([xs, ys, xs + side, ys + side], axis=1).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    out: dict[str, dict[str, float]] = {}
    for w, h in SIZES:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        boxes = _boxes(w, h, rng)
        for name, fn in (
            ("redact", lambda i=img, b=boxes: redact(i, b, keep=[0])),
            ("annotate", lambda i=img, b=boxes: annotate(i, b, alerted={0: "person 0.97"})),
        ):
            fn()
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1000)
            out[f"{name}_{w}x{h}"] = {
                "median_ms": round(float(np.median(times)), 3),
                "p95_ms": round(float(np.percentile(times, 95)), 3),
            }
    print(json.dumps({"repeat": args.repeat, "faces": 5, "results": out}, indent=1))


if __name__ == "__main__":
    main()
