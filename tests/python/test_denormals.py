"""CPU engines treat denormal floats as zero inside their kernels (docs/precision.md: MXCSR flush-to-zero and
denormals-are-zero), run reference-backend nodes in the caller's IEEE mode, leave the calling thread's mode as they
found it, and keep denormals when KILN_CPU_DENORMALS=keep."""
import os
import subprocess
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import kiln

TINY = np.float32(1e-39)  # a denormal float32


def _model_bytes():
    # y = x . W on a CPU kernel: 4 x 1e-39 x 1e30 = 4e-9 in IEEE arithmetic, 0 with denormals read as zero.
    # z = Shrink(x, lambd 0, bias 0) on the reference kernel (the CPU backend has no Shrink): x itself, denormal.
    w = numpy_helper.from_array(np.full((4, 3), 1e30, np.float32), "W")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"]), helper.make_node("Shrink", ["x"], ["z"], lambd=0.0, bias=0.0)]
    graph = helper.make_graph(nodes, "denormals", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3]),
                               helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 4])], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _run(threads):
    engine = kiln.build(_model_bytes())
    return engine.create_context(threads=threads).run({"x": np.full((2, 4), TINY, np.float32)})


def test_kernels_flush_reference_keeps_and_caller_mode_restored():
    for threads in (1, 2):
        out = _run(threads)
        np.testing.assert_array_equal(out["y"], np.zeros((2, 3), np.float32))
        np.testing.assert_array_equal(out["z"], np.full((2, 4), TINY, np.float32))  # the reference step: IEEE
        # numpy runs on this thread: had the engine left FTZ/DAZ set here, this product would be 0.
        assert np.multiply(TINY, np.float32(2)) == np.float32(2e-39)


def test_keep_leaves_denormals_alone():
    code = ("import sys; sys.path[:0] = %r\n"
            "import test_denormals as t, numpy as np\n"
            "np.testing.assert_allclose(t._run(2)['y'], np.full((2, 3), 4e-9, np.float32), rtol=1e-5)\n") % (sys.path,)
    env = dict(os.environ, KILN_CPU_DENORMALS="keep")
    r = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(__file__), env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
