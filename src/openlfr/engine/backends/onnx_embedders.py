"""ArcFace-style ONNX embedders: aligned 112x112 chip -> L2-normalised vector.

The input convention (colour order, mean/std, layout, output size) is declared per model by a
spec name from ``openlfr.engine.models.EMBEDDER_SPECS``; the file is checked against it when the
embedder is built (input rank/channels/size and a one-chip trial run for the output size), so a
wrong file fails at construction with a ``ModelError``, not later with odd scores.

Scores: cosine of L2-normalised embeddings mapped to (1 + cos) / 2 (``protocols.cosine_to_score``).
``model_id`` and ``family`` are ``onnx-arcface:<spec>@<sha256[:12]>``: vectors from different
families live in different spaces and must never be compared.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from openlfr.engine.backends.onnx_common import DEFAULT_THREADS, make_session
from openlfr.engine.models import (
    EMBEDDER_SPECS,
    EmbedderSpec,
    ModelStore,
    embedder_model_id,
    resolve_model,
    warn_licence_once,
)
from openlfr.engine.protocols import Chips, ChipSpec, l2_normalise
from openlfr.errors import ConfigError, InputError, ModelError
from openlfr.types import FloatArray

log = logging.getLogger(__name__)


class OnnxArcFaceEmbedder:
    """An ONNX embedder on ArcFace-template chips, batched (``batch_size`` chips per run)."""

    def __init__(
        self,
        path: str | Path | None = None,
        model: str | None = None,
        spec: str | None = None,
        *,
        threads: int = DEFAULT_THREADS,
        batch_size: int = 8,
        models_dir: str | Path | None = None,
    ) -> None:
        r = resolve_model(
            path, model, kind="embedder", store=ModelStore(Path(models_dir)) if models_dir is not None else None
        )
        spec_name = spec or r.spec
        if spec_name is None:
            raise ModelError(
                f"{r.path.name}: unknown model, say which input spec it uses with spec= "
                f"(one of {', '.join(sorted(EMBEDDER_SPECS))})",
                code="spec_required",
            )
        if spec_name not in EMBEDDER_SPECS:
            raise ConfigError(
                f"unknown embedder spec {spec_name!r}; known: {', '.join(sorted(EMBEDDER_SPECS))}",
                code="unknown_model_spec",
            )
        if r.spec is not None and spec is not None and r.name is not None and spec != r.spec:
            log.warning("model %s is catalogued with spec %s but spec=%s was given", r.name, r.spec, spec)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}", code="bad_option")
        warn_licence_once(r)
        self.spec: EmbedderSpec = EMBEDDER_SPECS[spec_name]
        self.resolved = r
        self.threads = threads
        self.batch_size = batch_size
        self.dim = self.spec.dim
        self.model_id = embedder_model_id(self.spec.name, r.sha256)
        self.family = self.model_id
        self.chip_spec = ChipSpec(size=self.spec.size, alignment=self.spec.alignment, padding=0.0)
        self._sess = make_session(r.path, threads)
        self._check_io()

    def _check_io(self) -> None:
        name = self.resolved.path.name
        ins, outs = self._sess.get_inputs(), self._sess.get_outputs()
        if len(ins) != 1:
            raise ModelError(f"{name}: an embedder has one input, this model has {len(ins)}", code="bad_model_shape")
        shape = list(ins[0].shape)
        s = self.spec.size
        want = ["N", 3, s, s] if self.spec.layout == "NCHW" else ["N", s, s, 3]
        if len(shape) != 4:
            raise ModelError(
                f"{name}: embedder input must be 4-d {self.spec.layout}, got {shape}", code="bad_model_shape"
            )
        for got, exp in zip(shape[1:], want[1:], strict=True):
            if isinstance(got, int) and got != exp:
                raise ModelError(
                    f"{name}: input shape {shape} does not fit spec {self.spec.name} "
                    f"({self.spec.layout} {want}); is this a detector or another model?",
                    code="bad_model_shape",
                )
        self._fixed_batch = shape[0] if isinstance(shape[0], int) else None
        if not outs:
            raise ModelError(f"{name}: model has no output", code="bad_model_shape")
        self._input = ins[0].name
        self._output = outs[0].name
        nb = self._fixed_batch or 1
        try:
            trial = self._run(np.zeros((nb, s, s, 3), np.uint8))
        except Exception as exc:
            raise ModelError(
                f"{name}: trial run failed ({str(exc).splitlines()[0][:200]})", code="bad_model_file"
            ) from exc
        if trial.ndim != 2 or trial.shape != (nb, self.dim):
            raise ModelError(
                f"{name}: output shape {tuple(trial.shape)} does not fit spec {self.spec.name} "
                f"(expected (n, {self.dim}))",
                code="bad_model_shape",
            )

    def preprocess(self, chips: Chips) -> np.ndarray:
        x = chips.astype(np.float32)
        if self.spec.colour == "BGR":
            x = x[..., ::-1]
        x = (x - self.spec.mean) / self.spec.std
        if self.spec.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, dtype=np.float32)

    def _run(self, chips: Chips) -> np.ndarray:
        x = self.preprocess(chips)
        out = np.asarray(self._sess.run([self._output], {self._input: x})[0], dtype=np.float32)
        return out.reshape(out.shape[0], -1) if out.ndim > 2 else out

    def embed_raw(self, chips: Chips) -> FloatArray:
        """Un-normalised model outputs, (n, dim)."""
        chips = np.asarray(chips)
        s = self.chip_spec.size
        if chips.ndim != 4 or chips.shape[1:] != (s, s, 3):
            raise InputError(f"embedder expects chips (n, {s}, {s}, 3), got {chips.shape}", code="bad_chips")
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        chips = chips.astype(np.uint8, copy=False)
        step = self._fixed_batch or self.batch_size
        parts = []
        for i in range(0, len(chips), step):
            part = chips[i : i + step]
            if self._fixed_batch and len(part) < self._fixed_batch:
                pad = np.zeros((self._fixed_batch - len(part), s, s, 3), np.uint8)
                parts.append(self._run(np.concatenate([part, pad]))[: len(part)])
            else:
                parts.append(self._run(part))
        return np.concatenate(parts).astype(np.float32)

    def embed(self, chips: Chips) -> FloatArray:
        return l2_normalise(self.embed_raw(chips))
