"""The docs figure of a redacted live scene (issue 19, item 1): docs/img/live-redacted.png.

Preview frames of the Intel "face demographics walking and pause" clip (CC BY 4.0, Intel Corporation) as the
Live tile shows them (``engine.privacy.annotate`` on the default detector's faces, nobody alerted),
one row per frame: the fixed mosaic used before (cells 1/16 of the frame) and the cell sized from the
faces in view (a face about 3 cells), so people, clothing and movement are visible and no face is.

    python benchmarks/figure_live_redaction.py [--out docs/img/live-redacted.png]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np

from openlfr.engine.pipeline import FaceEngine
from openlfr.engine.privacy import DEFAULT_CELLS, annotate, cell_size
from openlfr.engine.sources import open_source

CLIP = (
    Path(os.environ.get("OPENLFR_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
    / "data"
    / "videos"
    / "intel_face-demographics-walking-and-pause.gif"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/img/live-redacted.png")
    ap.add_argument("--frames", default="2,12,30", help="frame numbers of the clip")
    args = ap.parse_args()
    engine = FaceEngine.from_config()
    src = open_source(str(CLIP))
    frames = []
    while (f := src.read()) is not None:
        frames.append(f.image)
    src.close()
    rows = []
    for i in (int(x) for x in args.frames.split(",")):
        img = frames[i]
        boxes = engine.detector.detect(img).xyxy
        old = annotate(img, boxes, cells=DEFAULT_CELLS)
        new = annotate(img, boxes)
        label = f"frame {i}: cell {cell_size(img.shape, boxes):.0f} px"
        cv2.putText(
            old, "before: cell 1/16 of the frame", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA
        )
        cv2.putText(new, "now: " + label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
        rows.append(np.concatenate([old, np.full((img.shape[0], 8, 3), 255, np.uint8), new], axis=1))
    sheet = np.concatenate([np.concatenate([r, np.full((8, r.shape[1], 3), 255, np.uint8)]) for r in rows])
    cv2.imwrite(args.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(args.out, sheet.shape)


if __name__ == "__main__":
    main()
