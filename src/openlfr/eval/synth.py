"""Walk-through simulator: people from a labelled photo folder pass through a synthetic scene.

Modelled on how the UK's National Physical Laboratory tested police live facial recognition
(seeded subjects walking past cameras): each person makes one *pass* across the frame, at a
different size, speed, direction, lighting and blur; a pass shows several different photos of the
person in turn (a real walk gives several views). Watchlisted people have separate photos
enrolled (never shown in the video); everyone else is a stranger to the watchlist.

Outputs: the video (H.264 MP4 via PyAV), a ground-truth JSON (who appears when and where, frame
by frame, and which photos were used), and a watchlist folder (one subfolder per watchlisted
person with their enrolment photos, the layout ``openlfr watchlist import`` reads).

Input folder layout: ``<images>/<person>/<image files>`` (LFW's). People are drawn (seeded) among
identities with at least ``enrol_images + pass_images`` photos; the chosen identities are listed
in the truth file so that they can be kept out of threshold calibration.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from openlfr.engine.imageio import IMAGE_SUFFIXES, load_image
from openlfr.errors import InputError
from openlfr.types import Image


@dataclass(frozen=True)
class SynthConfig:
    people: int = 40
    watchlisted: int = 20
    seed: int = 0
    size: tuple[int, int] = (1280, 720)
    fps: float = 10.0
    enrol_images: int = 2
    pass_images: int = 3
    """Photos shown per pass (fewer if the person has fewer left; at least 2 are required)."""
    face_px: tuple[float, float] = (90.0, 150.0)
    """Face width range in pixels at 720 lines (scaled with the frame height)."""
    pass_seconds: tuple[float, float] = (2.5, 4.0)
    gap_seconds: tuple[float, float] = (1.0, 1.8)
    gain: tuple[float, float] = (0.65, 1.25)
    blur_sigma: tuple[float, float] = (0.0, 1.2)
    lead_in_s: float = 0.5

    def __post_init__(self) -> None:
        if self.people < 1 or not 0 <= self.watchlisted <= self.people:
            raise InputError("need people >= 1 and 0 <= watchlisted <= people", code="bad_option")
        if self.size[0] < 160 or self.size[1] < 120:
            raise InputError("video size must be at least 160x120", code="bad_option")
        if not 1 <= self.fps <= 60:
            raise InputError("fps must be 1..60", code="bad_option")
        if self.enrol_images < 1 or self.pass_images < 2:
            raise InputError("need enrol_images >= 1 and pass_images >= 2", code="bad_option")


@dataclass
class Pass:
    person_id: str
    watchlisted: bool
    enrol_images: list[str]
    pass_images: list[str]
    start_s: float
    duration_s: float
    lane: int
    direction: int
    face_px: float
    gain: float
    blur: float
    boxes: list[list[float]] = field(default_factory=list)
    """[frame, x1, y1, x2, y2] of the pasted head region per frame it is visible."""

    def to_dict(self) -> dict[str, Any]:
        visible = [b[0] for b in self.boxes]
        return {
            "person_id": self.person_id,
            "watchlisted": self.watchlisted,
            "enrol_images": self.enrol_images,
            "pass_images": self.pass_images,
            "first_frame": min(visible) if visible else None,
            "last_frame": max(visible) if visible else None,
            "start_s": round(self.start_s, 3),
            "duration_s": round(self.duration_s, 3),
            "lane": self.lane,
            "direction": "left_to_right" if self.direction > 0 else "right_to_left",
            "face_px": round(self.face_px, 1),
            "gain": round(self.gain, 3),
            "blur_sigma": round(self.blur, 3),
            "boxes": [[int(b[0])] + [round(float(v), 1) for v in b[1:]] for b in self.boxes],
        }


def eligible_identities(images: Path, min_images: int) -> dict[str, list[Path]]:
    if not images.is_dir():
        raise InputError(f"{images}: not a folder of identity subfolders", code="bad_dataset")
    out: dict[str, list[Path]] = {}
    for d in sorted(p for p in images.iterdir() if p.is_dir()):
        files = sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if len(files) >= min_images:
            out[d.name] = files
    return out


def _background(w: int, h: int, rng: np.random.Generator) -> Image:
    """A plain street-like scene: sky/wall gradient, pavement, a few facades with windows, grain."""
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    top = np.array([150, 170, 190], np.float32)
    bottom = np.array([95, 90, 85], np.float32)
    img = (top * (1 - y) + bottom * y)[:, None, :].repeat(w, axis=1).reshape(h, w, 3)
    horizon = int(h * 0.78)
    img[horizon:] = np.array([110, 105, 100], np.float32)
    x = 0
    while x < w:
        bw = int(rng.integers(w // 10, w // 4))
        top_y = int(rng.integers(int(h * 0.05), int(h * 0.35)))
        colour = rng.uniform(90, 200, size=3).astype(np.float32)
        img[top_y:horizon, x : x + bw] = colour
        for wy in range(top_y + 15, horizon - 30, 45):
            for wx in range(x + 10, x + bw - 25, 35):
                img[wy : wy + 22, wx : wx + 16] = colour * 0.55
        x += bw + int(rng.integers(0, w // 20))
    img += rng.normal(0, 4, size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _head_patch(image: Image) -> tuple[Image, np.ndarray]:
    """The central head region of a (LFW-style, centred) photo, with a soft elliptical alpha."""
    h, w = image.shape[:2]
    x1, x2 = int(w * 0.18), int(w * 0.82)
    y1, y2 = int(h * 0.12), int(h * 0.88)
    patch = image[y1:y2, x1:x2]
    ph, pw = patch.shape[:2]
    yy, xx = np.mgrid[0:ph, 0:pw].astype(np.float32)
    d = ((xx - pw / 2) / (pw * 0.48)) ** 2 + ((yy - ph / 2) / (ph * 0.5)) ** 2
    alpha = np.clip((1.0 - d) / 0.12, 0.0, 1.0)
    return patch, alpha


FACE_FRACTION = 0.62
"""Face width as a fraction of the head patch width (LFW crops: face ~100 px of the 160 px patch)."""


def _paste(
    frame: np.ndarray, patch: Image, alpha: np.ndarray, cx: float, cy: float, face_px: float, gain: float, blur: float
) -> list[float] | None:
    scale = face_px / (FACE_FRACTION * patch.shape[1])
    pw, ph = max(8, round(patch.shape[1] * scale)), max(8, round(patch.shape[0] * scale))
    p = cv2.resize(patch, (pw, ph), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    a = cv2.resize(alpha, (pw, ph), interpolation=cv2.INTER_LINEAR)
    p = p.astype(np.float32) * gain
    if blur > 0.05:
        p = cv2.GaussianBlur(p, (0, 0), blur)
    x1, y1 = round(cx - pw / 2), round(cy - ph / 2)
    x2, y2 = x1 + pw, y1 + ph
    H, W = frame.shape[:2]
    fx1, fy1, fx2, fy2 = max(0, x1), max(0, y1), min(W, x2), min(H, y2)
    if fx2 - fx1 < pw * 0.6 or fy2 - fy1 < ph * 0.6:
        return None  # mostly outside the frame: not "visible"
    sub = frame[fy1:fy2, fx1:fx2].astype(np.float32)
    pp = p[fy1 - y1 : fy2 - y1, fx1 - x1 : fx2 - x1]
    aa = a[fy1 - y1 : fy2 - y1, fx1 - x1 : fx2 - x1, None]
    frame[fy1:fy2, fx1:fx2] = np.clip(sub * (1 - aa) + pp * aa, 0, 255).astype(np.uint8)
    return [float(x1), float(y1), float(x2), float(y2)]


def plan_passes(images: Path, cfg: SynthConfig) -> list[Pass]:
    need = cfg.enrol_images + 2
    pool = eligible_identities(images, need)
    if len(pool) < cfg.people:
        raise InputError(
            f"{images}: only {len(pool)} identities have >= {need} images; need {cfg.people}", code="bad_dataset"
        )
    rng = random.Random(cfg.seed)  # noqa: S311 - reproducible simulation, not cryptography
    chosen = rng.sample(sorted(pool), cfg.people)
    watch = set(rng.sample(chosen, cfg.watchlisted))
    order = chosen[:]
    rng.shuffle(order)
    h = cfg.size[1]
    t = cfg.lead_in_s
    passes = []
    for i, pid in enumerate(order):
        files = pool[pid]
        enrol = files[: cfg.enrol_images] if pid in watch else []
        rest = files[cfg.enrol_images :]
        shown = rest[: cfg.pass_images]
        duration = rng.uniform(*cfg.pass_seconds)
        passes.append(
            Pass(
                person_id=pid,
                watchlisted=pid in watch,
                enrol_images=[str(f.relative_to(images)) for f in enrol],
                pass_images=[str(f.relative_to(images)) for f in shown],
                start_s=t,
                duration_s=duration,
                lane=i % 2,
                direction=1 if rng.random() < 0.5 else -1,
                face_px=rng.uniform(*cfg.face_px) * h / 720.0,
                gain=rng.uniform(*cfg.gain),
                blur=rng.uniform(*cfg.blur_sigma),
            )
        )
        t += rng.uniform(*cfg.gap_seconds)
    return passes


def render(
    images: Path,
    out_video: Path,
    out_truth: Path,
    cfg: SynthConfig,
    watchlist_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Compose the walk-through video; write truth JSON (and the watchlist folder)."""
    import av

    passes = plan_passes(images, cfg)
    w, h = cfg.size
    w, h = w // 2 * 2, h // 2 * 2
    nprng = np.random.default_rng(cfg.seed)
    bg = _background(w, h, nprng)
    patches = {p.person_id: [_head_patch(load_image(images / f)) for f in p.pass_images] for p in passes}
    end_s = max(p.start_s + p.duration_s for p in passes) + 0.5
    n_frames = math.ceil(end_s * cfg.fps)
    out_video.parent.mkdir(parents=True, exist_ok=True)
    lanes = (h * 0.36, h * 0.62)
    rate = Fraction(cfg.fps).limit_denominator(1000)
    with av.open(str(out_video), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for k in range(n_frames):
            frame = _draw_frame(bg, passes, patches, k, k / cfg.fps, lanes)
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            for pkt in stream.encode(vf):
                container.mux(pkt)
            if progress:
                progress(k + 1, n_frames)
        for pkt in stream.encode():
            container.mux(pkt)
    truth = _truth(images, out_video, cfg, passes, (w, h), n_frames)
    out_truth.parent.mkdir(parents=True, exist_ok=True)
    out_truth.write_text(json.dumps(truth, indent=1))
    if watchlist_dir is not None:
        _write_watchlist(images, passes, watchlist_dir)
    return {
        "video": str(out_video),
        "truth": str(out_truth),
        "frames": n_frames,
        "duration_s": round(end_s, 2),
        "people": cfg.people,
        "watchlisted": cfg.watchlisted,
        "watchlist_dir": str(watchlist_dir) if watchlist_dir else None,
    }


def _truth(
    images: Path, video: Path, cfg: SynthConfig, passes: list[Pass], size: tuple[int, int], n_frames: int
) -> dict[str, Any]:
    """The ground truth of a walk-through video: how it was made and who passes when."""
    return {
        "version": 1,
        "video": str(video),
        "fps": cfg.fps,
        "size": list(size),
        "frames": n_frames,
        "seed": cfg.seed,
        "images": str(images),
        "people": cfg.people,
        "watchlisted": cfg.watchlisted,
        "enrol_images": cfg.enrol_images,
        "pass_images": cfg.pass_images,
        "identities": sorted(p.person_id for p in passes),
        "passes": [p.to_dict() for p in passes],
    }


def _draw_frame(
    bg: Image,
    passes: list[Pass],
    patches: dict[str, list[tuple[Image, np.ndarray]]],
    k: int,
    t: float,
    lanes: tuple[float, float],
) -> Image:
    """Frame ``k`` (time ``t``): every pass under way pasted on the background; visible head boxes
    are appended to the passes' ``boxes``."""
    w = bg.shape[1]
    frame = bg.copy()
    for p in passes:
        u = (t - p.start_s) / p.duration_s
        if not 0.0 <= u <= 1.0:
            continue
        size = p.face_px * (0.85 + 0.3 * u)  # walking towards the camera
        margin = size
        cx = (-margin + u * (w + 2 * margin)) if p.direction > 0 else (w + margin - u * (w + 2 * margin))
        cy = lanes[p.lane] + math.sin(u * math.pi * 6) * size * 0.04
        seg = min(int(u * len(patches[p.person_id])), len(patches[p.person_id]) - 1)
        patch, alpha = patches[p.person_id][seg]
        box = _paste(frame, patch, alpha, cx, cy, size, p.gain, p.blur)
        if box is not None:
            p.boxes.append([float(k), *box])
    return frame


def _write_watchlist(images: Path, passes: list[Pass], watchlist_dir: Path) -> None:
    """The watchlisted people's enrolment photos, one folder per person (replacing the folder)."""
    if watchlist_dir.exists():
        shutil.rmtree(watchlist_dir)
    for p in passes:
        if p.watchlisted:
            d = watchlist_dir / p.person_id
            d.mkdir(parents=True, exist_ok=True)
            for f in p.enrol_images:
                shutil.copyfile(images / f, d / Path(f).name)
