"""If/Loop bodies run as CPU engines of their own (src/backends/cpu/subgraph_engines.h): outputs equal ONNX Runtime's
for both branches of an If that reads outer weights, a Loop whose carried value grows every iteration (a Concat) with
scan outputs and an If nested in its body, at 1 and 2 threads. KILN_CPU_SUBGRAPHS=require (set in a subprocess: read
once per process) makes a body that cannot become an engine an error, so these outputs come from the engines and not
from the interpreter fallback; =reference gives the same outputs through the interpreter."""
import os
import subprocess
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def _model_bytes():
    rng = np.random.default_rng(3)
    w1 = numpy_helper.from_array(rng.standard_normal((4, 5)).astype(np.float32), "W1")
    w2 = numpy_helper.from_array(rng.standard_normal((4, 5)).astype(np.float32), "W2")
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    one_i = numpy_helper.from_array(np.array(1, np.int64), "one_i")
    trips = numpy_helper.from_array(np.array(3, np.int64), "trips")
    t = TensorProto
    # If: then Relu(x . W1), else Sigmoid(x . W2); W1, W2 are outer values.
    then_b = helper.make_graph([helper.make_node("MatMul", ["x", "W1"], ["tm"]), helper.make_node("Relu", ["tm"], ["ty"])],
                               "then", [], [helper.make_tensor_value_info("ty", t.FLOAT, None)])
    else_b = helper.make_graph([helper.make_node("MatMul", ["x", "W2"], ["em"]), helper.make_node("Sigmoid", ["em"], ["ey"])],
                               "else", [], [helper.make_tensor_value_info("ey", t.FLOAT, None)])
    # Loop body: acc grows by one row per iteration (Concat with Relu(first row) scaled by 2 or 3, chosen by a nested
    # If on the iteration number); scan output: the sum of acc.
    inner_then = helper.make_graph([helper.make_node("Mul", ["row", "two"], ["it"])], "inner_then", [],
                                   [helper.make_tensor_value_info("it", t.FLOAT, None)])
    inner_else = helper.make_graph([helper.make_node("Add", ["row", "two"], ["ie"])], "inner_else", [],
                                   [helper.make_tensor_value_info("ie", t.FLOAT, None)])
    body = helper.make_graph(
        [helper.make_node("Slice", ["acc_in", "zero_1", "one_1"], ["first"]),
         helper.make_node("Relu", ["first"], ["row"]),
         helper.make_node("Less", ["i", "one_i"], ["early"]),
         helper.make_node("If", ["early"], ["grown"], then_branch=inner_then, else_branch=inner_else),
         helper.make_node("Concat", ["acc_in", "grown"], ["acc_out"], axis=0),
         helper.make_node("ReduceSum", ["acc_out"], ["total"], keepdims=0),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [helper.make_tensor_value_info("i", t.INT64, []), helper.make_tensor_value_info("cond_in", t.BOOL, []),
         helper.make_tensor_value_info("acc_in", t.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", t.BOOL, []), helper.make_tensor_value_info("acc_out", t.FLOAT, None),
         helper.make_tensor_value_info("total", t.FLOAT, None)],
        [numpy_helper.from_array(np.array([0], np.int64), "zero_1"), numpy_helper.from_array(np.array([1], np.int64), "one_1")])
    nodes = [helper.make_node("If", ["c"], ["y"], then_branch=then_b, else_branch=else_b),
             helper.make_node("Loop", ["trips", "c", "x"], ["acc", "totals"], body=body)]
    graph = helper.make_graph(nodes, "subgraphs",
                              [helper.make_tensor_value_info("x", t.FLOAT, [2, 4]), helper.make_tensor_value_info("c", t.BOOL, [])],
                              [helper.make_tensor_value_info("y", t.FLOAT, None), helper.make_tensor_value_info("acc", t.FLOAT, None),
                               helper.make_tensor_value_info("totals", t.FLOAT, None)],
                              [w1, w2, two, one_i, trips])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _feeds(cond):
    return {"x": np.random.default_rng(7).standard_normal((2, 4)).astype(np.float32), "c": np.array(cond)}


def _check_in_subprocess(mode):
    code = ("import sys; sys.path[:0] = %r\n"
            "import test_subgraph_engines as t, numpy as np, kiln, onnxruntime as ort\n"
            "model = t._model_bytes()\n"
            "sess = ort.InferenceSession(model, providers=['CPUExecutionProvider'])\n"
            "engine = kiln.build(model)\n"
            "for threads in (1, 2):\n"
            "    ctx = engine.create_context(threads=threads)\n"
            "    for cond in (True, False):\n"
            "        feeds = t._feeds(cond)\n"
            "        got = ctx.run(feeds)\n"
            "        want = dict(zip(['y', 'acc', 'totals'], sess.run(None, feeds)))\n"
            "        for name in want:\n"
            "            assert got[name].shape == want[name].shape, (name, got[name].shape, want[name].shape)\n"
            "            np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6)\n"
            "print('checked')\n") % (sys.path,)
    env = dict(os.environ, KILN_CPU_SUBGRAPHS=mode)
    r = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(__file__), env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0 and "checked" in r.stdout, r.stdout + r.stderr


def test_bodies_run_as_cpu_engines_and_match_onnxruntime():
    _check_in_subprocess("require")


def test_interpreter_fallback_gives_the_same_outputs():
    _check_in_subprocess("reference")
