"""The face engine: detect -> align -> measure quality -> gate -> embed.

``FaceEngine.analyse`` returns a ``FaceBatch`` with quality and (for the faces asked for)
embeddings; the aligned chips are returned alongside and never stored by the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from openlfr.engine import registry
from openlfr.engine.protocols import Aligner, Chips, Detector, Embedder
from openlfr.engine.quality import GateResult, QualityGate, apply_gate, measure
from openlfr.errors import ConfigError
from openlfr.types import FaceBatch, FloatArray, Image


class EngineConfig(BaseModel):
    """Which models make up the pipeline, and their options."""

    model_config = ConfigDict(extra="forbid")

    detector: str = Field("frdetect", description="Detector type in the backend registry.")
    detector_options: dict[str, Any] = Field(default_factory=lambda: {"min_face_px": 40})
    embedder: str = Field(
        "frfeature-512", description="Embedder type in the backend registry (default: fr_feature, 512-d)."
    )
    embedder_options: dict[str, Any] = Field(default_factory=dict)
    aligner: str | None = Field(None, description="Aligner type; default: the one the embedder's chip needs.")
    aligner_options: dict[str, Any] = Field(default_factory=dict)
    gate: QualityGate = Field(default_factory=QualityGate)
    models_dir: Path | None = Field(
        None,
        description="The local model store (user-added ONNX models, looked up by "
        "name). None: names cannot be resolved, give a path.",
    )
    cache_dir: Path | None = Field(
        None, description="Where rewritten model graphs are cached. None: rebuilt in memory once per process."
    )

    def options_for(self, kind: registry.Kind, type_name: str, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` plus the folders this backend takes (an option given explicitly wins)."""
        dirs = {
            d: getattr(self, d)
            for d in registry.directories(kind, type_name)
            if getattr(self, d) is not None and d not in options
        }
        return {**dirs, **options}


_ALIGNER_FOR = {"dlib": "dlib", "arcface": "arcface"}


@dataclass
class Analysis:
    faces: FaceBatch
    gate: GateResult
    chips: Chips = field(repr=False)


class FaceEngine:
    def __init__(
        self, detector: Detector, aligner: Aligner, embedder: Embedder, gate: QualityGate | None = None
    ) -> None:
        if aligner.spec.alignment != embedder.chip_spec.alignment or aligner.spec.size != embedder.chip_spec.size:
            raise ConfigError(
                f"aligner makes {aligner.spec} chips but the embedder needs {embedder.chip_spec}",
                code="incompatible_models",
            )
        self.detector = detector
        self.aligner = aligner
        self.embedder = embedder
        self.gate = gate or QualityGate()

    @classmethod
    def from_config(cls, cfg: EngineConfig | None = None) -> FaceEngine:
        cfg = cfg or EngineConfig()
        embedder: Embedder = registry.create(
            "embedder", cfg.embedder, **cfg.options_for("embedder", cfg.embedder, cfg.embedder_options)
        )
        detector: Detector = registry.create(
            "detector", cfg.detector, **cfg.options_for("detector", cfg.detector, cfg.detector_options)
        )
        spec = embedder.chip_spec
        aligner_type = cfg.aligner or _ALIGNER_FOR.get(spec.alignment, spec.alignment)
        opts = {
            "size": spec.size,
            **({"padding": spec.padding} if spec.alignment == "dlib" else {}),
            **cfg.aligner_options,
        }
        aligner: Aligner = registry.create("aligner", aligner_type, **opts)
        return cls(detector, aligner, embedder, cfg.gate)

    @property
    def model_ids(self) -> dict[str, str]:
        return {"detector": self.detector.model_id, "embedder": self.embedder.model_id}

    def analyse(
        self, image: Image, embed: Literal["all", "passed", "none"] = "all", faces: FaceBatch | None = None
    ) -> Analysis:
        """Run the pipeline on one RGB image. ``faces`` skips detection (boxes given)."""
        found = self.detector.detect(image) if faces is None else faces
        chips, landmarks = self.aligner.align(image, found)
        if found.landmarks is not None and len(found) and not np.isnan(found.landmarks).any():
            landmarks = found.landmarks
        view = getattr(self.aligner, "quality_view", None)  # a wide chip's quality is measured on its centre
        quality = measure(view(chips) if view is not None else chips, landmarks, found.det_score)
        gate = apply_gate(quality, self.gate)
        found = found.replace(landmarks=landmarks, quality=quality)
        if embed != "none" and len(found):
            want = np.ones(len(found), bool) if embed == "all" else gate.passed
            emb = np.full((len(found), self.embedder.dim), np.nan, dtype=np.float32)
            if want.any():
                emb[want] = self.embedder.embed(chips[want])
            found = found.replace(embedding=emb)
        return Analysis(faces=found, gate=gate, chips=chips)


@dataclass(frozen=True)
class EnrolledFace:
    """The face an enrolment photo is of, embedded; or, with ``reason``, why the photo is refused."""

    reason: str | None
    vector: FloatArray | None = field(default=None, repr=False)
    box: tuple[float, float, float, float] | None = None
    """In the pixels of the image given."""
    quality: dict[str, float | None] | None = None


def enrol_face(engine: FaceEngine, image: Image) -> EnrolledFace:
    """The one enrolment rule, for stored watchlists and in-memory ones alike: the photo's main face
    (:func:`pick_main_face`), refused unless it passes the quality gate, embedded alone."""
    analysis = engine.analyse(image, embed="none")
    idx, why = pick_main_face(analysis.faces)
    if idx is None:
        return EnrolledFace(reason=why or "no face")
    if not analysis.gate.passed[idx]:
        return EnrolledFace(reason="failed quality gate: " + "; ".join(analysis.gate.reasons[idx]))
    vec = engine.embedder.embed(analysis.chips[idx : idx + 1])[0].astype(np.float32)
    x1, y1, x2, y2 = (float(v) for v in analysis.faces.xyxy[idx])
    return EnrolledFace(reason=None, vector=vec, box=(x1, y1, x2, y2), quality=dict(analysis.faces.quality_dict(idx)))


def pick_main_face(faces: FaceBatch, dominance: float = 2.0) -> tuple[int | None, str | None]:
    """The one face an enrolment photo is of, or (None, reason).

    Accepted: the only face; or the largest face when it is at least ``dominance`` times the area
    of any other; or the largest face when it is the only one whose box contains the photo's centre
    (a subject framed in the middle with bystanders behind). Anything else is ambiguous and refused,
    so that a bystander is never enrolled by mistake.
    """
    n = len(faces)
    if n == 0:
        return None, "no face"
    if n == 1:
        return 0, None
    areas = faces.areas
    order = np.argsort(-areas)
    top = int(order[0])
    if areas[top] >= dominance * areas[order[1]]:
        return top, None
    w, h = faces.image_size
    if w > 0 and h > 0:
        b = faces.xyxy
        central = (b[:, 0] <= w / 2) & (w / 2 <= b[:, 2]) & (b[:, 1] <= h / 2) & (h / 2 <= b[:, 3])
        if central[top] and int(central.sum()) == 1:
            return top, None
    return None, f"several faces ({n}) and none clearly the subject"
