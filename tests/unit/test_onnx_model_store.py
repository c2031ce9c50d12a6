"""Model store and resolution errors that need no model file and no network; the download's refusals
(services/downloads.py) before and without any network."""

from __future__ import annotations

from pathlib import Path

import pytest

from openlfr.engine.models import ModelStore, embedder_model_id, licence_warning, resolve_model
from openlfr.errors import InputError, ModelError, NotFoundError
from openlfr.services import downloads


def test_empty_store_lists_nothing_and_get_is_not_found(tmp_path: Path) -> None:
    st = ModelStore(tmp_path / "models")
    assert st.entries() == []
    with pytest.raises(NotFoundError) as ei:
        st.get("yunet-2023mar")
    assert ei.value.code == "model_not_installed"


def test_malformed_manifest_is_a_model_error(tmp_path: Path) -> None:
    root = tmp_path / "models"
    root.mkdir()
    (root / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError) as ei:
        ModelStore(root).entries()
    assert ei.value.code == "bad_manifest"
    (root / "manifest.json").write_text('{"models": []}')
    with pytest.raises(ModelError):
        ModelStore(root).entries()


def test_resolve_model_errors_are_clear(tmp_path: Path) -> None:
    st = ModelStore(tmp_path / "models")
    with pytest.raises(ModelError, match=r"not installed.*models fetch yunet-2023mar") as ei:
        resolve_model(model="yunet-2023mar", kind="detector", store=st)
    assert ei.value.code == "model_missing"
    with pytest.raises(ModelError, match="not found"):
        resolve_model(str(tmp_path / "missing.onnx"), kind="embedder", store=st)
    with pytest.raises(ModelError, match="no embedder model given"):
        resolve_model(kind="embedder", store=st)
    with pytest.raises(ModelError, match="either path= or model="):
        resolve_model("a", "b", kind="embedder", store=st)
    # the engine has no default store: a name without one is an explicit error, a path still works
    with pytest.raises(ModelError, match="no model store was given") as ei:
        resolve_model(model="yunet-2023mar", kind="detector")
    assert ei.value.code == "model_missing"
    f = tmp_path / "m.onnx"
    f.write_bytes(b"x")
    assert resolve_model(f, kind="embedder").path == f


def test_fetch_refusals_before_any_network(tmp_path: Path) -> None:
    st = ModelStore(tmp_path / "models")
    with pytest.raises(NotFoundError):
        downloads.fetch(st, "no-such-model")
    # unpinned checksum: refused unless the user gives one or accepts an unverified file
    with pytest.raises(ModelError) as ei:
        downloads.fetch(st, "sface-2021dec")
    assert ei.value.code == "checksum_unpinned"
    # no official URL: needs a mirror
    with pytest.raises(ModelError) as ei:
        downloads.fetch(st, "scrfd-500m")
    assert ei.value.code == "no_download_url" and "--url-base" in ei.value.message
    with pytest.raises(InputError):
        downloads.fetch(st, "yunet-2023mar", url_base="file:///etc")
    with pytest.raises(InputError):
        downloads.fetch(st, "sface-2021dec", sha256="xyz")
    assert st.entries() == []


def test_download_offline_and_bad_archive_are_clear_errors(tmp_path: Path) -> None:
    import socket
    import zipfile

    with socket.socket() as s:  # a port nothing listens on: as offline
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dest = tmp_path / "dl.onnx"
    with pytest.raises(ModelError) as ei:
        downloads.download(f"http://127.0.0.1:{port}/m.onnx", dest, timeout=5, hint="--kind detector --spec yunet")
    assert ei.value.code == "download_failed"
    assert "Offline?" in ei.value.message and "models add PATH --kind detector --spec yunet" in ei.value.message
    not_zip = tmp_path / "pack.zip"
    not_zip.write_bytes(b"not a zip")
    with pytest.raises(ModelError) as ei:
        downloads.extract_member(not_zip, "det.onnx", tmp_path)
    assert ei.value.code == "bad_archive"
    with zipfile.ZipFile(not_zip, "w") as zf:
        zf.writestr("pack/other.onnx", b"x")
    with pytest.raises(ModelError, match=r"no member det\.onnx"):
        downloads.extract_member(not_zip, "det.onnx", tmp_path)
    with zipfile.ZipFile(not_zip, "w") as zf:
        zf.writestr("pack/det.onnx", b"model")
    assert downloads.extract_member(not_zip, "det.onnx", tmp_path).read_bytes() == b"model"


def test_add_rejects_missing_file_and_bad_names(tmp_path: Path) -> None:
    st = ModelStore(tmp_path / "models")
    with pytest.raises(InputError):
        st.add(tmp_path / "nope.onnx", "embedder", "mobilefacenet-128")
    f = tmp_path / "m.onnx"
    f.write_bytes(b"x")
    with pytest.raises(InputError) as ei:
        st.add(f, "embedder", "mobilefacenet-128", name="Bad Name!")
    assert ei.value.code == "bad_model_name"
    with pytest.raises(InputError):
        st.add(f, "detector", "mobilefacenet-128")


def test_ids_and_licence_words(tmp_path: Path) -> None:
    mid = embedder_model_id("mobilefacenet-128", "6ced4e0c36abba9dd24b48d725f7dbb9")
    assert mid == "onnx-arcface:mobilefacenet-128@6ced4e0c36ab"
    assert "NON-COMMERCIAL" in (licence_warning("x", "research only", False) or "")
    assert "unknown" in (licence_warning("x", "?", None) or "")
    assert licence_warning("x", "MIT", True) is None
