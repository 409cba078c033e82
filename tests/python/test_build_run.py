"""kiln.build from a path and from bytes, Context.run on the bundled models, compared with ONNX Runtime; dynamic
shapes (two sizes through one engine), fixed shapes and optimization profiles; engine descriptors."""
import numpy as np
import onnxruntime as ort
import pytest

import kiln
from conftest import assert_outputs_match, make_feeds

MODELS = ["small_cnn", "transformer_block", "lstm_seq", "control_flow", "shape_ops", "decoder", "postprocess",
          "quant_matmul"]
SIZES = [{"batch": 1, "seq": 5, "n": 5}, {"batch": 3, "seq": 11, "n": 17}]


def _ort(path):
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def _sizes(sess, base):
    """Every symbolic dim of the session's inputs -> a value: batch-like names from base, the rest from 'seq'."""
    out = {}
    for inp in sess.get_inputs():
        for d in inp.shape:
            if not isinstance(d, int):
                out[d] = base["batch"] if "batch" in d.lower() or d in ("N", "B") else base["seq"]
    return out


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("source", ["path", "bytes"])
def test_matches_onnxruntime(model, source, model_paths):
    path = model_paths[model]
    if source == "bytes":
        with open(path, "rb") as f:
            engine = kiln.build(f.read())
    else:
        engine = kiln.build(path)
    sess = _ort(path)
    assert [i.name for i in engine.inputs] == [i.name for i in sess.get_inputs()]
    assert [o.name for o in engine.outputs] == [o.name for o in sess.get_outputs()]
    ctx = engine.create_context(threads=1)
    names = [o.name for o in sess.get_outputs()]
    for k, base in enumerate(SIZES):  # one engine, two input sizes
        feeds = make_feeds(sess, np.random.default_rng(100 + k), _sizes(sess, base))
        before = {n: a.copy() for n, a in feeds.items()}
        assert_outputs_match(ctx.run(feeds), names, sess.run(None, feeds))
        for n, a in feeds.items():  # inputs are used in place: Kiln must never write to them
            np.testing.assert_array_equal(a, before[n], err_msg=f"input {n} was modified")


def test_descriptors(model_paths):
    engine = kiln.build(model_paths["shape_ops"])
    by_name = {d.name: d for d in engine.inputs}
    assert by_name["x"].dtype == "float32" and by_name["ids"].dtype == "int64"
    assert len(by_name["x"].dims) == 3 and by_name["x"].dims[-1] == 16 and by_name["x"].dims[0] == -1
    assert by_name["x"].dim_names[0] != "" and by_name["x"].kind == "tensor"
    assert "x" in repr(by_name["x"])
    info = engine.info
    assert info["backend"] == "cpu" and info["precision"] == "fp32" and info["weight_bytes"] > 0
    assert kiln.__version__ == info["kiln_version"]


def test_fixed_shapes(model_paths):
    path = model_paths["small_cnn"]
    engine = kiln.build(path, shapes={"image": "2x3x32x32"})
    assert engine.inputs[0].dims == [2, 3, 32, 32]
    sess = _ort(path)
    feeds = {"image": np.random.default_rng(7).standard_normal((2, 3, 32, 32)).astype(np.float32)}
    assert_outputs_match(engine.create_context().run(feeds), [o.name for o in sess.get_outputs()], sess.run(None, feeds))
    with pytest.raises(kiln.KilnError) as e:
        engine.create_context().run({"image": np.zeros((3, 3, 32, 32), np.float32)})
    assert "image" in str(e.value)


def test_profiles(model_paths):
    path = model_paths["transformer_block"]
    sess = _ort(path)
    prof = {"tokens": ((1, 1, 64), (2, 8, 64), (4, 16, 64)), "attention_mask": ("1x1x1x1", "2x1x1x8", "4x1x1x16")}
    engine = kiln.build(path, profiles=[prof])
    assert engine.profiles == [{"attention_mask": ([1, 1, 1, 1], [2, 1, 1, 8], [4, 1, 1, 16]),
                                "tokens": ([1, 1, 64], [2, 8, 64], [4, 16, 64])}]
    ctx = engine.create_context()
    rng = np.random.default_rng(3)
    for b, s in [(1, 1), (3, 9), (4, 16)]:
        feeds = {"tokens": rng.standard_normal((b, s, 64)).astype(np.float32),
                 "attention_mask": np.zeros((b, 1, 1, s), np.float32)}
        assert_outputs_match(ctx.run(feeds), [o.name for o in sess.get_outputs()], sess.run(None, feeds))
    with pytest.raises(kiln.KilnError) as e:
        ctx.run({"tokens": np.zeros((5, 4, 64), np.float32), "attention_mask": np.zeros((5, 1, 1, 4), np.float32)})
    assert e.value.code == "OUT_OF_RANGE" and "profile" in str(e.value)


def test_lists_take_the_declared_dtype(model_paths):
    engine = kiln.build(model_paths["control_flow"], shapes={"x": (1, 8)})
    ctx = engine.create_context()
    x = [[0.5] * 8]
    got = ctx.run({"x": x})
    want = ctx.run({"x": np.asarray(x, np.float32)})
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


def test_outputs_survive_later_runs(model_paths):
    """Outputs own their memory: a second run does not change the first run's arrays."""
    engine = kiln.build(model_paths["small_cnn"])
    ctx = engine.create_context()
    rng = np.random.default_rng(11)
    first = ctx.run({"image": rng.standard_normal((1, 3, 32, 32)).astype(np.float32)})
    snapshot = {k: v.copy() for k, v in first.items()}
    ctx.run({"image": rng.standard_normal((1, 3, 32, 32)).astype(np.float32)})
    for k in first:
        np.testing.assert_array_equal(first[k], snapshot[k])
