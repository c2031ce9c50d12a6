"""Reusable engine options for commands that run the face engine.

Use the ``Annotated`` aliases as parameters of a Typer command and pass the values to
:func:`openlfr.services.engine_choice.engine_config`::

    def cmd(detector: DetectorOpt = None, embedder: EmbedderOpt = None, upsample: UpsampleOpt = None,
            jitter: JitterOpt = None, detector_model: DetectorModelOpt = None,
            embedder_model: EmbedderModelOpt = None, detector_option: DetectorOptionOpt = None,
            embedder_option: EmbedderOptionOpt = None) -> None:
        cfg = engine_choice.engine_config(detector, embedder, upsample=upsample, jitter=jitter, ...)

Unset options fall back to the process settings (``OPENLFR_DETECTOR``, ``OPENLFR_EMBEDDER``,
``OPENLFR_HOG_UPSAMPLE``, ``OPENLFR_MIN_FACE_PX``) and then to each backend's own defaults.
"""

from __future__ import annotations

from typing import Annotated

import typer

DetectorOpt = Annotated[
    str | None,
    typer.Option(
        "--detector",
        help="Detector type: frdetect (default), mtcnn, dlib-hog, dlib-mmod, blazeface, yunet, scrfd.",
        show_default=False,
    ),
]
EmbedderOpt = Annotated[
    str | None,
    typer.Option(
        "--embedder",
        help="Embedder type: frfeature-512 (default: fr_feature, 512-d), fused-arcface (fr_feature + "
        "MobileFaceNet-192), fused (dlib's ResNet + MobileFaceNet-192, the old default), "
        "dlib-resnet-onnx, dlib-resnet, mobilefacenet-192, onnx-arcface.",
        show_default=False,
    ),
]
UpsampleOpt = Annotated[
    int | None,
    typer.Option(
        "--upsample",
        min=0,
        max=3,
        help="Detector upsampling steps (dlib detectors; default 1 for HOG).",
        show_default=False,
    ),
]
JitterOpt = Annotated[
    int | None,
    typer.Option(
        "--jitter",
        min=0,
        max=100,
        help="dlib descriptor jitter: average of N randomly jittered chips (dlib-resnet only; default 0).",
        show_default=False,
    ),
]
DetectorModelOpt = Annotated[
    str | None,
    typer.Option(
        "--detector-model", help="Detector model file (path) or catalogue name (ONNX detectors).", show_default=False
    ),
]
EmbedderModelOpt = Annotated[
    str | None,
    typer.Option(
        "--embedder-model", help="Embedder model file (path) or catalogue name (onnx-arcface).", show_default=False
    ),
]
DetectorOptionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--detector-option",
        help="Extra detector option KEY=VALUE (VALUE parsed as JSON when it can be); repeatable.",
        show_default=False,
    ),
]
EmbedderOptionOpt = Annotated[
    list[str] | None,
    typer.Option("--embedder-option", help="Extra embedder option KEY=VALUE; repeatable.", show_default=False),
]
