#!/usr/bin/env python3
"""Writes Kiln's bundled test/benchmark models (ONNX, built with onnx.helper only, fixed seeds).

Usage: python3 models/make_models.py [OUT_DIR]      (default: models/generated next to this file)

Models (every one passes onnx.checker with full_check, i.e. strict shape inference):
  small_cnn          image [batch,3,32,32] -> logits/probs [batch,10]          Conv/BN/Relu/MaxPool/grouped
                     strided Conv/residual Add/GlobalAveragePool/Flatten/Gemm/Softmax (opset 17)
  transformer_block  tokens [batch,seq,64], attention_mask [batch,1,1,seq] -> out [batch,seq,64]; one pre-LN
                     encoder block as PyTorch exports it: decomposed LayerNorm, 4 heads, erf GELU (opset 17)
  lstm_seq           x [batch,seq,16] -> seq_out [batch,seq,8], summary [batch,8]; bidirectional LSTM (opset 14)
  control_flow       x [batch,8] -> If on the sign of the sum, Loop with a trip count taken from the batch
                     dim, loop-carried state and a scan output (opset 17)
  shape_ops          x [batch,seq,16] float, ids [batch,seq] int64 -> Gather/Shape/Slice(neg. step)/Concat/
                     Reshape/Expand/Where/Tile/Unsqueeze/Squeeze/ConstantOfShape on dynamic dims (opset 18)
  decoder            latent [batch,8,4,4] -> Resize(nearest)+Conv, grouped ConvTranspose with output_padding,
                     Resize(linear, half_pixel), Conv 1x1, Sigmoid -> [batch,3,32,32] (opset 19)
  postprocess        scores [batch,boxes,10] -> Softmax/ArgMax/ReduceMax/TopK/GatherElements/CumSum/
                     ReduceSum (opset 18)
  quant_matmul       x [batch,32] -> QuantizeLinear(uint8)/DequantizeLinear/MatMulInteger, per-axis int8
                     DequantizeLinear of weights + MatMul (opset 21)

The public entry points are the make_*() functions (each returns a checked onnx.ModelProto), MODELS (name ->
function) and write_all(out_dir) -> {name: path}.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
I64 = TensorProto.INT64


class _Graph:
    """A tiny builder: node() returns fresh output names, init() adds an initializer from a numpy array."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.nodes = []
        self.inits = []
        self.count = 0

    def _name(self, hint):
        self.count += 1
        return f"{self.prefix}/{hint}_{self.count}"

    def init(self, hint, array):
        name = self._name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, n_out=1, outputs=None, **attrs):
        outs = outputs or [self._name(op) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self._name(op + "_node"), **attrs))
        return outs[0] if len(outs) == 1 else outs

    def graph(self, name, inputs, outputs):
        return helper.make_graph(self.nodes, name, inputs, outputs, initializer=self.inits)


def _model(graph, opset):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="kiln-make_models")
    m.ir_version = 8 if opset <= 18 else 9 if opset <= 20 else 10
    onnx.checker.check_model(m, full_check=True)
    return m


def _f32(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _conv_w(rng, cout, cin, k):
    return _f32(rng, cout, cin, k, k, scale=(2.0 / (cin * k * k)) ** 0.5)


# --------------------------------------------------------------------------------------------------------------
def make_small_cnn():
    rng = np.random.default_rng(1)
    g = _Graph("cnn")
    x = "image"
    c1 = g.node("Conv", [x, g.init("conv1.w", _conv_w(rng, 16, 3, 3)), g.init("conv1.b", _f32(rng, 16, scale=0.1))],
                kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    bn = g.node("BatchNormalization", [c1, g.init("bn.scale", 1.0 + _f32(rng, 16, scale=0.1)),
                                       g.init("bn.bias", _f32(rng, 16, scale=0.1)),
                                       g.init("bn.mean", _f32(rng, 16, scale=0.1)),
                                       g.init("bn.var", (0.5 + rng.random(16)).astype(np.float32))], epsilon=1e-5)
    r1 = g.node("Relu", [bn])
    p1 = g.node("MaxPool", [r1], kernel_shape=[2, 2], strides=[2, 2])                       # [b,16,16,16]
    c2 = g.node("Conv", [p1, g.init("conv2.w", _conv_w(rng, 32, 4, 3)), g.init("conv2.b", _f32(rng, 32, scale=0.1))],
                kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2], group=4)              # [b,32,8,8]
    r2 = g.node("Relu", [c2])
    sc = g.node("Conv", [p1, g.init("short.w", _conv_w(rng, 32, 16, 1))], kernel_shape=[1, 1], strides=[2, 2])
    res = g.node("Add", [r2, sc])
    r3 = g.node("Relu", [res])
    gap = g.node("GlobalAveragePool", [r3])                                                  # [b,32,1,1]
    fl = g.node("Flatten", [gap], axis=1)
    g.node("Gemm", [fl, g.init("fc.w", _f32(rng, 10, 32, scale=0.3)), g.init("fc.b", _f32(rng, 10, scale=0.1))],
           outputs=["logits"], transB=1)
    g.node("Softmax", ["logits"], outputs=["probs"], axis=-1)
    graph = g.graph("small_cnn", [helper.make_tensor_value_info("image", F, ["batch", 3, 32, 32])],
                    [helper.make_tensor_value_info("logits", F, ["batch", 10]),
                     helper.make_tensor_value_info("probs", F, ["batch", 10])])
    return _model(graph, 17)


# --------------------------------------------------------------------------------------------------------------
def make_transformer_block(d_model=64, heads=4, d_ff=256):
    rng = np.random.default_rng(2)
    dh = d_model // heads
    g = _Graph("block")
    x, mask = "tokens", "attention_mask"

    def layer_norm(inp, tag):
        mean = g.node("ReduceMean", [inp], axes=[-1], keepdims=1)
        d = g.node("Sub", [inp, mean])
        var = g.node("ReduceMean", [g.node("Pow", [d, g.init("two", np.array(2.0, np.float32))])], axes=[-1], keepdims=1)
        std = g.node("Sqrt", [g.node("Add", [var, g.init("eps", np.array(1e-5, np.float32))])])
        n = g.node("Div", [d, std])
        n = g.node("Mul", [n, g.init(tag + ".weight", 1.0 + _f32(rng, d_model, scale=0.1))])
        return g.node("Add", [n, g.init(tag + ".bias", _f32(rng, d_model, scale=0.1))])

    def linear(inp, din, dout, tag):
        mm = g.node("MatMul", [inp, g.init(tag + ".weight", _f32(rng, din, dout, scale=din ** -0.5))])
        return g.node("Add", [mm, g.init(tag + ".bias", _f32(rng, dout, scale=0.05))])

    # dynamic shape pieces, the way the exporter emits them: Shape -> Gather -> Unsqueeze -> Concat
    shp = g.node("Shape", [x])
    b = g.node("Unsqueeze", [g.node("Gather", [shp, g.init("i0", np.array(0, np.int64))], axis=0),
                             g.init("ax0", np.array([0], np.int64))])
    s = g.node("Unsqueeze", [g.node("Gather", [shp, g.init("i1", np.array(1, np.int64))], axis=0),
                             g.init("ax0", np.array([0], np.int64))])
    heads_shape = g.node("Concat", [b, s, g.init("hd", np.array([heads, dh], np.int64))], axis=0)
    model_shape = g.node("Concat", [b, s, g.init("dm", np.array([d_model], np.int64))], axis=0)

    h = layer_norm(x, "ln1")
    q = g.node("Transpose", [g.node("Reshape", [linear(h, d_model, d_model, "q"), heads_shape])], perm=[0, 2, 1, 3])
    k = g.node("Transpose", [g.node("Reshape", [linear(h, d_model, d_model, "k"), heads_shape])], perm=[0, 2, 3, 1])
    v = g.node("Transpose", [g.node("Reshape", [linear(h, d_model, d_model, "v"), heads_shape])], perm=[0, 2, 1, 3])
    scores = g.node("Div", [g.node("MatMul", [q, k]), g.init("scale", np.array(dh ** 0.5, np.float32))])
    scores = g.node("Add", [scores, mask])
    attn = g.node("Softmax", [scores], axis=-1)
    ctx = g.node("Transpose", [g.node("MatMul", [attn, v])], perm=[0, 2, 1, 3])
    ctx = g.node("Reshape", [ctx, model_shape])
    x1 = g.node("Add", [x, linear(ctx, d_model, d_model, "proj")])

    h2 = layer_norm(x1, "ln2")
    f = linear(h2, d_model, d_ff, "fc1")
    erf = g.node("Erf", [g.node("Div", [f, g.init("sqrt2", np.array(2 ** 0.5, np.float32))])])
    gelu = g.node("Mul", [g.node("Mul", [f, g.node("Add", [erf, g.init("one", np.array(1.0, np.float32))])]),
                          g.init("half", np.array(0.5, np.float32))])
    f2 = linear(gelu, d_ff, d_model, "fc2")
    g.node("Add", [x1, f2], outputs=["out"])
    graph = g.graph("transformer_block",
                    [helper.make_tensor_value_info("tokens", F, ["batch", "seq", d_model]),
                     helper.make_tensor_value_info("attention_mask", F, ["batch", 1, 1, "seq"])],
                    [helper.make_tensor_value_info("out", F, ["batch", "seq", d_model])])
    return _model(graph, 17)


# --------------------------------------------------------------------------------------------------------------
def make_lstm_seq(din=16, hidden=24, dout=8):
    rng = np.random.default_rng(3)
    g = _Graph("lstm")
    xt = g.node("Transpose", ["x"], perm=[1, 0, 2])                                          # [seq,b,16]
    sc = hidden ** -0.5
    y, y_h = g.node("LSTM", [xt, g.init("W", _f32(rng, 2, 4 * hidden, din, scale=sc)),
                             g.init("R", _f32(rng, 2, 4 * hidden, hidden, scale=sc)),
                             g.init("B", _f32(rng, 2, 8 * hidden, scale=0.1))],
                    n_out=2, hidden_size=hidden, direction="bidirectional")
    # Y: [seq, 2, b, hidden] -> [b, seq, 2*hidden]
    yb = g.node("Reshape", [g.node("Transpose", [y], perm=[2, 0, 1, 3]), g.init("s", np.array([0, 0, 2 * hidden], np.int64))])
    mm = g.node("MatMul", [yb, g.init("out.w", _f32(rng, 2 * hidden, dout, scale=0.2))])
    g.node("Add", [mm, g.init("out.b", _f32(rng, dout, scale=0.1))], outputs=["seq_out"])
    hb = g.node("Reshape", [g.node("Transpose", [y_h], perm=[1, 0, 2]), g.init("s2", np.array([0, 2 * hidden], np.int64))])
    gm = g.node("Gemm", [hb, g.init("sum.w", _f32(rng, 2 * hidden, dout, scale=0.2)), g.init("sum.b", _f32(rng, dout))])
    g.node("Tanh", [gm], outputs=["summary"])
    graph = g.graph("lstm_seq", [helper.make_tensor_value_info("x", F, ["batch", "seq", din])],
                    [helper.make_tensor_value_info("seq_out", F, ["batch", "seq", dout]),
                     helper.make_tensor_value_info("summary", F, ["batch", dout])])
    return _model(graph, 14)


# --------------------------------------------------------------------------------------------------------------
def make_control_flow(width=8):
    rng = np.random.default_rng(4)
    g = _Graph("cf")
    w = g.init("w", _f32(rng, width, width, scale=width ** -0.5))
    total = g.node("ReduceSum", ["x"], keepdims=0)                                           # scalar
    cond = g.node("Greater", [total, g.init("zero", np.array(0.0, np.float32))])

    then_g = _Graph("then")
    then_g.node("Add", [then_g.node("MatMul", ["x", w]), then_g.init("c", np.array(1.0, np.float32))], outputs=["then_out"])
    else_g = _Graph("else")
    else_g.node("Sub", [else_g.node("Abs", ["x"]), else_g.node("Mul", ["x", else_g.init("c", np.array(0.5, np.float32))])],
                outputs=["else_out"])
    then_graph = then_g.graph("then_branch", [], [helper.make_tensor_value_info("then_out", F, ["batch", width])])
    else_graph = else_g.graph("else_branch", [], [helper.make_tensor_value_info("else_out", F, ["batch", width])])
    g.node("If", [cond], outputs=["branch_out"], then_branch=then_graph, else_branch=else_graph)

    # Loop: trip count = batch + 2 (from the dynamic dim), state v <- tanh(v @ w * 0.9 + 0.1 * i), scan ReduceSum(v)
    batch = g.node("Gather", [g.node("Shape", ["x"]), g.init("i0", np.array(0, np.int64))], axis=0)
    trips = g.node("Add", [batch, g.init("two", np.array(2, np.int64))])
    body = _Graph("body")
    it_f = body.node("Cast", ["iter"], to=F)
    upd = body.node("Mul", [body.node("MatMul", ["v_in", w]), body.init("decay", np.array(0.9, np.float32))])
    upd = body.node("Add", [upd, body.node("Mul", [it_f, body.init("k", np.array(0.1, np.float32))])])
    body.node("Tanh", [upd], outputs=["v_out"])
    body.node("Identity", ["cond_in"], outputs=["cond_out"])
    body.node("ReduceSum", ["v_out", body.init("ax", np.array([1], np.int64))], outputs=["scan_out"], keepdims=0)
    body_graph = body.graph("loop_body",
                            [helper.make_tensor_value_info("iter", I64, []),
                             helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                             helper.make_tensor_value_info("v_in", F, ["batch", width])],
                            [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
                             helper.make_tensor_value_info("v_out", F, ["batch", width]),
                             helper.make_tensor_value_info("scan_out", F, ["batch"])])
    g.node("Loop", [trips, "", "branch_out"], outputs=["loop_final", "loop_scan"], body=body_graph)
    graph = g.graph("control_flow", [helper.make_tensor_value_info("x", F, ["batch", width])],
                    [helper.make_tensor_value_info("branch_out", F, ["batch", width]),
                     helper.make_tensor_value_info("loop_final", F, ["batch", width]),
                     helper.make_tensor_value_info("loop_scan", F, ["trips", "batch"])])
    return _model(graph, 17)


# --------------------------------------------------------------------------------------------------------------
def make_shape_ops(vocab=50, width=16):
    rng = np.random.default_rng(5)
    g = _Graph("shape")
    big = np.iinfo(np.int64).max
    emb = g.node("Gather", [g.init("table", _f32(rng, vocab, width)), "ids"], axis=0)          # [b,s,16]
    h = g.node("Add", ["x", emb])
    # rotate along seq by one: Concat(h[:, 1:], h[:, :1])
    tail = g.node("Slice", [h, g.init("st", np.array([1], np.int64)), g.init("en", np.array([big], np.int64)),
                            g.init("ax", np.array([1], np.int64))])
    head = g.node("Slice", [h, g.init("st", np.array([0], np.int64)), g.init("en", np.array([1], np.int64)),
                            g.init("ax", np.array([1], np.int64))])
    rot = g.node("Concat", [tail, head], axis=1)
    # reverse the feature axis with a negative-step Slice, then mix
    rev = g.node("Slice", [rot, g.init("st", np.array([-1], np.int64)), g.init("en", np.array([-big], np.int64)),
                           g.init("ax", np.array([2], np.int64)), g.init("sp", np.array([-1], np.int64))])
    mix = g.node("Sub", [rot, g.node("Mul", [rev, g.init("c", np.array(0.5, np.float32))])])
    # Reshape [b, s, 16] -> [b, 2*s, 8] with the target computed from Shape
    shp = g.node("Shape", [mix])
    bs = g.node("Slice", [shp, g.init("st", np.array([0], np.int64)), g.init("en", np.array([2], np.int64))])
    doubled = g.node("Mul", [bs, g.init("m", np.array([1, 2], np.int64))])
    new_shape = g.node("Concat", [doubled, g.init("w", np.array([width // 2], np.int64))], axis=0)
    r = g.node("Reshape", [mix, new_shape])
    # Expand a bias to r's (dynamic) shape, then Where(r > 0, r, 0.1 * bias)
    bias = g.node("Expand", [g.init("bias", _f32(rng, 1, 1, width // 2)), g.node("Shape", [r])])
    alt = g.node("Mul", [bias, g.init("c", np.array(0.1, np.float32))])
    g.node("Where", [g.node("Greater", [r, g.init("z", np.array(0.0, np.float32))]), r, alt], outputs=["selected"])
    g.node("Shape", ["selected"], outputs=["selected_shape"])
    # int path: Where(ids < 25, ids, ids * 2), Tile along seq, Unsqueeze/Squeeze round trip
    ids2 = g.node("Where", [g.node("Less", ["ids", g.init("k", np.array(25, np.int64))]), "ids",
                            g.node("Mul", ["ids", g.init("k2", np.array(2, np.int64))])])
    tiled = g.node("Tile", [ids2, g.init("rep", np.array([1, 2], np.int64))])
    un = g.node("Unsqueeze", [tiled, g.init("ax", np.array([1], np.int64))])
    g.node("Squeeze", [un, g.init("ax", np.array([1], np.int64))], outputs=["ids_out"])
    # ConstantOfShape driven by the dynamic [b, s] plus a ReduceSum of the mask
    ones = g.node("ConstantOfShape", [g.node("Shape", ["ids"])], value=helper.make_tensor("v", F, [1], [1.0]))
    g.node("Add", [ones, g.node("ReduceSum", [h, g.init("ax", np.array([-1], np.int64))], keepdims=0)],
           outputs=["row_sum"])
    graph = g.graph("shape_ops",
                    [helper.make_tensor_value_info("x", F, ["batch", "seq", width]),
                     helper.make_tensor_value_info("ids", I64, ["batch", "seq"])],
                    [helper.make_tensor_value_info("selected", F, ["batch", "seq2", width // 2]),
                     helper.make_tensor_value_info("selected_shape", I64, [3]),
                     helper.make_tensor_value_info("ids_out", I64, ["batch", "seq3"]),
                     helper.make_tensor_value_info("row_sum", F, ["batch", "seq"])])
    return _model(graph, 18)


# --------------------------------------------------------------------------------------------------------------
def make_decoder():
    rng = np.random.default_rng(6)
    g = _Graph("dec")
    up = g.node("Resize", ["latent", "", g.init("sc", np.array([1, 1, 2, 2], np.float32))],
                mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")   # [b,8,8,8]
    c1 = g.node("Relu", [g.node("Conv", [up, g.init("c1.w", _conv_w(rng, 16, 8, 3)), g.init("c1.b", _f32(rng, 16, scale=0.1))],
                                kernel_shape=[3, 3], pads=[1, 1, 1, 1])])
    # ConvTranspose, 2 groups, weight [C_in, C_out/group, k, k]: (8-1)*2 - 2 + 3 + 1 = 16
    ct = g.node("ConvTranspose", [c1, g.init("ct.w", _f32(rng, 16, 4, 3, 3, scale=0.25)), g.init("ct.b", _f32(rng, 8, scale=0.1))],
                kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1], group=2)  # [b,8,16,16]
    r2 = g.node("Relu", [ct])
    up2 = g.node("Resize", [r2, "", g.init("sc", np.array([1, 1, 2, 2], np.float32))],
                 mode="linear", coordinate_transformation_mode="half_pixel")                  # [b,8,32,32]
    c3 = g.node("Conv", [up2, g.init("c3.w", _conv_w(rng, 3, 8, 1)), g.init("c3.b", _f32(rng, 3, scale=0.1))],
                kernel_shape=[1, 1])
    g.node("Sigmoid", [c3], outputs=["reconstruction"])
    graph = g.graph("decoder", [helper.make_tensor_value_info("latent", F, ["batch", 8, 4, 4])],
                    [helper.make_tensor_value_info("reconstruction", F, ["batch", 3, 32, 32])])
    return _model(graph, 19)


# --------------------------------------------------------------------------------------------------------------
def make_postprocess(classes=10, k=3):
    g = _Graph("post")
    probs = g.node("Softmax", ["scores"], outputs=["probs"], axis=-1)
    g.node("ArgMax", [probs], outputs=["class_id"], axis=-1, keepdims=0)                       # [b, boxes]
    best = g.node("ReduceMax", [probs, g.init("ax", np.array([-1], np.int64))], keepdims=0)    # [b, boxes]
    g.node("TopK", [best, g.init("k", np.array([k], np.int64))], outputs=["top_scores", "top_index"], axis=1)
    g.node("GatherElements", ["class_id", "top_index"], outputs=["top_class"], axis=1)
    g.node("CumSum", [probs, g.init("ax", np.array(-1, np.int64))], outputs=["cdf"])
    g.node("CumSum", [best, g.init("ax", np.array(1, np.int64))], outputs=["rev_excl_cumsum"], exclusive=1, reverse=1)
    g.node("ReduceSum", [probs, g.init("ax", np.array([1], np.int64))], outputs=["class_mass"], keepdims=1)
    graph = g.graph("postprocess", [helper.make_tensor_value_info("scores", F, ["batch", "boxes", classes])],
                    [helper.make_tensor_value_info("probs", F, ["batch", "boxes", classes]),
                     helper.make_tensor_value_info("class_id", I64, ["batch", "boxes"]),
                     helper.make_tensor_value_info("top_scores", F, ["batch", k]),
                     helper.make_tensor_value_info("top_index", I64, ["batch", k]),
                     helper.make_tensor_value_info("top_class", I64, ["batch", k]),
                     helper.make_tensor_value_info("cdf", F, ["batch", "boxes", classes]),
                     helper.make_tensor_value_info("rev_excl_cumsum", F, ["batch", "boxes"]),
                     helper.make_tensor_value_info("class_mass", F, ["batch", 1, classes])])
    return _model(graph, 18)


# --------------------------------------------------------------------------------------------------------------
def make_quant_matmul(din=32, dout=16):
    rng = np.random.default_rng(7)
    g = _Graph("quant")
    x_scale = np.array(1.0 / 16, np.float32)           # powers of two: x / scale is exact, no rounding ambiguity
    x_zp = np.array(128, np.uint8)
    w_scale = np.float32(1.0 / 64)
    xs, xz = g.init("x_scale", x_scale), g.init("x_zp", x_zp)
    xq = g.node("QuantizeLinear", ["x", xs, xz], outputs=["x_q"])                              # uint8 [b,32]
    g.node("DequantizeLinear", [xq, xs, xz], outputs=["x_dq"])
    w_u8 = rng.integers(0, 256, size=(din, dout)).astype(np.uint8)
    acc = g.node("MatMulInteger", [xq, g.init("w_u8", w_u8), xz, g.init("w_zp", np.array(120, np.uint8))],
                 outputs=["acc"])                                                                # int32 [b,16]
    y = g.node("Mul", [g.node("Cast", [acc], to=F), g.init("acc_scale", np.array(x_scale * w_scale, np.float32))])
    g.node("Add", [y, g.init("bias", _f32(rng, dout, scale=0.1))], outputs=["y"])
    # per-output-channel int8 weights [dout, din], axis 0, dequantized then used in a float MatMul.
    # 7-bit range on purpose: ONNX Runtime's EXTENDED optimizer fuses this into com.microsoft.MatMulIntegerToFloat
    # (uint8 x int8), whose x86 kernel saturates int16 pair sums (255*127*2 > 32767) and then differs from the exact
    # result by whole units; |w| <= 64 keeps the reference exact ("reduce_range").
    w_i8 = rng.integers(-60, 61, size=(dout, din)).astype(np.int8)
    scales = (2.0 ** -rng.integers(5, 9, size=dout)).astype(np.float32)
    zps = rng.integers(-4, 5, size=dout).astype(np.int8)
    wdq = g.node("DequantizeLinear", [g.init("w_i8", w_i8), g.init("w_scales", scales), g.init("w_zps", zps)], axis=0)
    g.node("MatMul", ["x_dq", g.node("Transpose", [wdq], perm=[1, 0])], outputs=["y_per_channel"])
    graph = g.graph("quant_matmul", [helper.make_tensor_value_info("x", F, ["batch", din])],
                    [helper.make_tensor_value_info("x_q", TensorProto.UINT8, ["batch", din]),
                     helper.make_tensor_value_info("x_dq", F, ["batch", din]),
                     helper.make_tensor_value_info("acc", TensorProto.INT32, ["batch", dout]),
                     helper.make_tensor_value_info("y", F, ["batch", dout]),
                     helper.make_tensor_value_info("y_per_channel", F, ["batch", dout])])
    return _model(graph, 21)


MODELS = {
    "small_cnn": make_small_cnn,
    "transformer_block": make_transformer_block,
    "lstm_seq": make_lstm_seq,
    "control_flow": make_control_flow,
    "shape_ops": make_shape_ops,
    "decoder": make_decoder,
    "postprocess": make_postprocess,
    "quant_matmul": make_quant_matmul,
}


def write_all(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for name, fn in MODELS.items():
        path = os.path.join(out_dir, name + ".onnx")
        onnx.save(fn(), path)
        paths[name] = path
    return paths


def main(argv):
    out_dir = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "generated")
    for name, path in write_all(out_dir).items():
        print(f"{name:18s} {path}")


if __name__ == "__main__":
    main(sys.argv)
