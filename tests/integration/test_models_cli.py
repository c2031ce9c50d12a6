"""``openlfr models`` through the real CLI: add/list/remove, and fetch from a local HTTP server
(correct checksum installs; bad checksum, archive member that does not fit, and no server are
rejected with clear errors and leave the store unchanged)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import shutil
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.shared_data

YUNET = "face_detection_yunet_2023mar.onnx"
SCRFD = "scrfd_500m_bnkps.onnx"
MFN = "mobilefacenet_paddle_128d.onnx"


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """A local HTTP server on 127.0.0.1 for ``directory``; yields its base URL; stops by itself."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join(timeout=5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _list(cli, env=None) -> dict:  # type: ignore[no-untyped-def]
    p = cli("models", "list", "--json", "--all", env=env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_models_add_list_remove(cli, shared_models: Path, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    before = _list(cli)
    names = {m["name"]: m for m in before["models"]}
    assert names["dlib-resnet"]["installed"] and names["dlib-resnet"]["kind"] == "embedder"
    # the default dlib family ships with a calibration (both backends of the one network share it)
    for name in ("dlib-resnet", "dlib-resnet-onnx"):
        assert names[name]["family"] == "dlib-resnet-v1@55533b28a958"
        assert names[name]["calibrated"] is True and names[name]["calibration"] == "packaged"
    # so does the default embedder (fused dlib + MobileFaceNet-192), shipped in the package
    assert names["fused"]["calibrated"] is True and names["fused"]["calibration"] == "packaged"
    assert names["mobilefacenet-192"]["installed"] is True
    assert len(names["dlib-resnet"]["sha256"]) == 64
    assert names["yunet-2023mar"]["installed"] is False

    p = cli(
        "models",
        "add",
        str(shared_models / MFN),
        "--kind",
        "embedder",
        "--spec",
        "mobilefacenet-128",
        "--name",
        "mfn",
        "--json",
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["model"]["sha256"] == "6ced4e0c36abba9dd24b48d725f7dbb94089f75b3d3445d3d67b85157cb64743"
    assert (data_dir / "models" / "mfn.onnx").is_file()
    p = cli("models", "add", str(shared_models / SCRFD), "--kind", "detector", "--spec", "scrfd")
    assert p.returncode == 0, p.stderr
    assert "NON-COMMERCIAL" in p.stderr  # clear licence warning
    assert "installed scrfd-500m" in p.stdout

    # calibration status follows the file `openlfr eval calibrate` writes for the family
    rows = {m["name"]: m for m in _list(cli)["models"]}
    assert rows["mfn"]["calibrated"] is False and rows["mfn"]["calibration"] is None
    from openlfr.eval.calibration import Calibration, save_calibration
    from openlfr.settings import load_settings

    mid = "onnx-arcface:mobilefacenet-128@6ced4e0c36ab"
    save_calibration(
        Calibration(
            family=mid,
            embedder_model_id=mid,
            grid=np.array([0.5, 0.9]),
            impostor_n=10,
            impostor_ge=np.array([10, 1]),
            genuine_n=5,
            genuine_lt=np.array([1, 4]),
        ),
        load_settings(data_dir=data_dir),
    )
    rows = {m["name"]: m for m in _list(cli)["models"]}
    assert rows["mfn"]["installed"] and rows["mfn"]["calibrated"] is True
    assert rows["mfn"]["calibration"] == "data_dir" and rows["mfn"]["family"] == rows["mfn"]["model_id"]
    assert rows["mfn"]["model_id"] == "onnx-arcface:mobilefacenet-128@6ced4e0c36ab"
    assert rows["mfn"]["input_spec"]["std"] == 128.0 and rows["mfn"]["input_spec"]["colour"] == "RGB"
    # an engine finds an installed model by name in the folder the services pass it (the data dir's store)
    p = cli(
        "eval",
        "plan",
        "--faces",
        "1000",
        "--watchlist-size",
        "10",
        "--prevalence",
        "0.01",
        "--threshold",
        "0.6",
        "--tpir",
        "0.9",
        "--embedder",
        "onnx-arcface",
        "--embedder-model",
        "mfn",
        "--json",
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["source"].startswith(f"calibration {mid} "), p.stdout
    assert rows["scrfd-500m"]["commercial"] is False and rows["scrfd-500m"]["calibrated"] is None
    assert any("scrfd-500m" in w and "NON-COMMERCIAL" in w for w in _list(cli)["warnings"])
    table = cli("models", "list")
    assert table.returncode == 0 and "mfn" in table.stdout and "NON-COMMERCIAL" in table.stdout

    # validation by loading: a detector as an embedder, a text file, a wrong spec
    junk = data_dir.parent / "junk.onnx"
    junk.write_text("not a model")
    for args in (
        [str(shared_models / YUNET), "--kind", "embedder", "--spec", "mobilefacenet-128"],
        [str(junk), "--kind", "detector", "--spec", "yunet"],
        [str(shared_models / MFN), "--kind", "embedder", "--spec", "arcface-r50", "--name", "x"],
        [str(shared_models / MFN), "--kind", "embedder", "--spec", "nope"],
    ):
        p = cli("models", "add", *args)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert lines[-1].startswith("error[") and sum(x.startswith("error[") for x in lines) == 1, p.stderr
    # the same name for a different file is a conflict
    p = cli("models", "add", str(shared_models / YUNET), "--kind", "detector", "--spec", "yunet", "--name", "mfn")
    assert p.returncode == 2 and "error[model_exists]" in p.stderr
    assert {m["name"] for m in _list(cli)["models"] if m["source"] != "builtin" and m["installed"]} == {
        "mfn",
        "scrfd-500m",
    }

    p = cli("models", "remove", "mfn")
    assert p.returncode == 0 and not (data_dir / "models" / "mfn.onnx").exists()
    p = cli("models", "remove", "mfn")
    assert p.returncode == 2 and "error[model_not_installed]" in p.stderr


def test_models_fetch_from_local_server(cli, shared_models: Path, data_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    shutil.copyfile(shared_models / YUNET, good / YUNET)
    shutil.copyfile(shared_models / MFN, good / MFN)
    (bad / YUNET).write_bytes((shared_models / YUNET).read_bytes()[:-1] + b"\0")  # one byte changed
    store = data_dir / "models"

    with serve(bad) as url:
        p = cli("models", "fetch", "yunet-2023mar", "--url-base", url)
    assert p.returncode == 2 and "error[checksum_mismatch]" in p.stderr, p.stderr
    assert not (store / "yunet-2023mar.onnx").exists()
    assert (
        not [f for f in store.glob("*") if not f.name.startswith(".")]
        or json.loads((store / "manifest.json").read_text())["models"] == {}
    )

    # no server listening: a clear error, as offline
    p = cli("models", "fetch", "yunet-2023mar", "--url-base", f"http://127.0.0.1:{_free_port()}", "--timeout", "5")
    assert p.returncode == 2 and "error[download_failed]" in p.stderr and "models add" in p.stderr, p.stderr
    # a 404
    with serve(tmp_path) as url:
        p = cli("models", "fetch", "yunet-2023mar", "--url-base", url)
    assert p.returncode == 2 and "HTTP 404" in p.stderr

    with serve(good) as url:
        p = cli("models", "fetch", "yunet-2023mar", "--url-base", url, "--json")
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        assert out["model"]["sha256"] == "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
        assert out["model"]["verified"] is True and out["model"]["source"].startswith(url)
        assert out["warnings"] == []  # MIT
        # a model without an official URL, from a mirror, checked against the pinned sha256
        p = cli("models", "fetch", "mobilefacenet-128", "--url-base", url)
        assert p.returncode == 0, p.stderr
        assert "licence unknown" in p.stderr
        # unpinned entries need --sha256 or --trust-unpinned; a wrong --sha256 is rejected
        p = cli("models", "fetch", "sface-2021dec", "--url-base", url)
        assert p.returncode == 2 and "error[checksum_unpinned]" in p.stderr
    assert (store / "yunet-2023mar.onnx").is_file()
    rows = {m["name"]: m for m in _list(cli)["models"]}
    assert rows["yunet-2023mar"]["installed"] and rows["mobilefacenet-128"]["installed"]

    # an archive pack: member extracted, then validated by loading; a 128-d file declared as the
    # 512-d arcface-mbf is refused and nothing is installed
    pack = tmp_path / "pack"
    pack.mkdir()
    with zipfile.ZipFile(pack / "buffalo_sc.zip", "w") as zf:
        zf.write(shared_models / MFN, "buffalo_sc/w600k_mbf.onnx")
    with serve(pack) as url:
        p = cli("models", "fetch", "buffalo-sc-arcface", "--url-base", url, "--sha256", "0" * 64)
        assert p.returncode == 2 and "error[checksum_mismatch]" in p.stderr
        p = cli("models", "fetch", "buffalo-sc-arcface", "--url-base", url, "--trust-unpinned")
        assert p.returncode == 2 and "error[bad_model_shape]" in p.stderr, p.stderr
    assert "buffalo-sc-arcface" not in {m["name"] for m in _list(cli)["models"] if m["installed"]}
    assert not list(store.glob(".fetch-*"))  # temporary downloads cleaned up
