"""onnxruntime telemetry is switched off before any OpenLFR session exists, and every session that
OpenLFR creates goes through the one helper that guarantees it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "openlfr"

_PROBE = """
import onnxruntime as ort
events = []
real_disable, real_session = ort.disable_telemetry_events, ort.InferenceSession
def disable():
    events.append("telemetry_off")
    real_disable()
class Session(real_session):
    def __init__(self, *a, **k):
        events.append("session")
        super().__init__(*a, **k)
ort.disable_telemetry_events, ort.InferenceSession = disable, Session

import onnx
from onnx import TensorProto, helper
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
from openlfr.engine.backends.onnx_common import TELEMETRY_DISABLED, make_session
import numpy as np
s = make_session(__import__("pathlib").Path("relu.onnx"), model_bytes=model.SerializeToString())
out = s.run(None, {"x": np.array([[-1.0, 2.0]], dtype=np.float32)})[0]
assert out.tolist() == [[0.0, 2.0]]
print(TELEMETRY_DISABLED, events)
"""


def test_telemetry_off_before_first_session() -> None:
    res = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, check=True)
    last = res.stdout.strip().splitlines()[-1]
    assert last == "True ['telemetry_off', 'session']", res.stdout + res.stderr


def test_every_session_goes_through_the_helper() -> None:
    """No module other than onnx_common constructs ``InferenceSession`` itself."""
    offenders = []
    for py in SRC.rglob("*.py"):
        tree = ast.parse(py.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
                if name == "InferenceSession" and py.name != "onnx_common.py":
                    offenders.append(f"{py.relative_to(SRC)}:{node.lineno}")
    assert not offenders, offenders
