"""The onnxruntime session every export is scored in: its settings, on a one-node graph built here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx", reason="building a graph needs the onnx extra")
pytest.importorskip("onnxruntime", reason="the ONNX backend needs the runtime extra")

import onnx
from onnx import TensorProto, helper

from bertner.inference.onnx.runtime import create_session


def _add_one_graph(path: Path) -> None:
    """y = x + 1 on a (batch, 3) float tensor."""
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    node = helper.make_node("Add", ["x", "one"], ["y"])
    graph = helper.make_graph(
        [node],
        "add-one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializer=[one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.mark.parametrize("threads", [None, 2])
def test_sessions_do_not_spin_and_keep_the_threads_asked(tmp_path: Path, threads: int | None) -> None:
    """Spinning intra-op threads held the cores that the server's event loop and the Python between `run`
    calls needed (issue 23): every session lets its threads sleep, whatever the thread count."""
    path = tmp_path / "add-one.onnx"
    _add_one_graph(path)
    session = create_session(path, threads)
    options = session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == (threads or 0)  # 0: onnxruntime's default, one per physical core
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    (y,) = session.run(["y"], {"x": x})
    np.testing.assert_array_equal(y, x + 1)
