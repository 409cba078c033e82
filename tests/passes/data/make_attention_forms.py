"""Writes tests/passes/data/attention_forms/: tiny ONNX models of every common way attention is exported, and a
manifest (inputs to feed, how many fused Attention nodes kiln must make, which of them causal / grouped-query).

Run on a machine with torch, torchvision and transformers (CI has none: the files are checked in):
    python3 tests/passes/data/make_attention_forms.py [--out DIR] [--only NAME ...]
Random weights (seeded), hidden size 16, two heads, one layer: a few KB per file. The test that reads them is
tests/passes/test_attention_forms.py (kiln build + inspect + run vs ONNX Runtime and the un-fused reference).
"""
import argparse
import contextlib
import io
import json
import math
import os
import warnings

import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore")
E, H, S, B = 16, 2, 5, 2  # hidden, heads, sequence, batch
D = E // H


def _seed():
    torch.manual_seed(0)


# ---------------------------------------------------------------------------------------------------- modules
class MHA(torch.nn.Module):
    """nn.MultiheadAttention self-attention; mask_kind: kpm (key_padding_mask), bool / float (attn_mask)."""

    def __init__(self, batch_first, mask_kind, need_weights=False, cross=False):
        super().__init__()
        self.m = torch.nn.MultiheadAttention(E, H, batch_first=batch_first)
        self.mask_kind, self.need_weights, self.cross = mask_kind, need_weights, cross

    def forward(self, x, mask, mem=None):
        kv = mem if self.cross else x
        kw = {"need_weights": self.need_weights}
        if self.mask_kind == "kpm":
            kw["key_padding_mask"] = mask
        elif self.mask_kind in ("bool", "float"):
            kw["attn_mask"] = mask
        return self.m(x, kv, kv, **kw)[0]


class MHAWeights(torch.nn.Module):
    """Negative form: the attention weights are an output too (the probabilities must stay)."""

    def __init__(self):
        super().__init__()
        self.m = torch.nn.MultiheadAttention(E, H, batch_first=True)

    def forward(self, x):
        return self.m(x, x, x, need_weights=True, average_attn_weights=False)


class SDPA(torch.nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind

    def forward(self, q, k, v, m=None):
        if self.kind == "causal":
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        if self.kind == "bool_mask":
            return F.scaled_dot_product_attention(q, k, v, attn_mask=m)
        if self.kind == "float_mask":
            return F.scaled_dot_product_attention(q, k, v, attn_mask=m)
        if self.kind == "scale":
            return F.scaled_dot_product_attention(q, k, v, scale=0.3)
        if self.kind == "gqa":
            return F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
        raise ValueError(self.kind)


class Eager(torch.nn.Module):
    """Hand-written attention on [B, H, S, D] inputs (or [B*H, S, D] for bmm_3d)."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        tri = torch.tril(torch.ones(S, S, dtype=torch.bool))
        self.register_buffer("tri", tri, persistent=False)

    def forward(self, q, k, v, m=None):
        kind = self.kind
        if kind == "q_scaled":
            s = (q * D ** -0.5) @ k.transpose(-2, -1)
        elif kind == "bmm_3d":
            s = torch.bmm(q * D ** -0.5, k.transpose(1, 2))
        else:
            s = q @ k.transpose(-2, -1)
        if kind in ("div_sqrt", "masked_fill_inf", "cross", "softmax_heads_axis"):
            s = s / math.sqrt(D)
        elif kind in ("mul_scale", "causal_where_inf", "causal_add_1e4", "causal_where_finfo", "scale_after_mask"):
            s = s * 0.25
        if kind == "masked_fill_inf":
            s = s.masked_fill(m == 0, float("-inf"))
        elif kind == "causal_where_inf":
            s = s.masked_fill(~self.tri, float("-inf"))
        elif kind == "causal_add_1e4":
            s = s + (1.0 - self.tri.float()) * -10000.0
        elif kind == "causal_where_finfo":
            s = torch.where(self.tri, s, torch.finfo(s.dtype).min)
        elif kind == "scale_after_mask":
            s = (q @ k.transpose(-2, -1) + m) * 0.25
        if kind == "softmax_heads_axis":
            p = torch.softmax(s, dim=-2)
        else:
            p = torch.softmax(s, dim=-1)
        return p @ v if kind != "bmm_3d" else torch.bmm(p, v)


class EagerFp16(torch.nn.Module):
    """fp16 attention with the softmax in float32 around casts (transformers' eager pattern)."""

    def forward(self, q, k, v):
        q, k, v = q.half(), k.half(), v.half()
        s = (q @ k.transpose(-2, -1)) * D ** -0.5
        p = torch.softmax(s.float(), dim=-1).to(torch.float16)
        return (p @ v).float()


class Hf(torch.nn.Module):
    """A transformers model returning its last hidden state."""

    def __init__(self, model, kind):
        super().__init__()
        self.m, self.kind = model, kind

    def forward(self, a, b=None):
        if self.kind in ("ids", "ids_only"):
            kw = {"input_ids": a} if self.kind == "ids_only" else {"input_ids": a, "attention_mask": b}
            if hasattr(self.m.config, "use_cache"):
                kw["use_cache"] = False
            return self.m(**kw).last_hidden_state
        return self.m(a).last_hidden_state


def _hf(name, impl):
    import transformers as T
    cfg = dict(attn_implementation=impl)
    if name == "bert":
        return T.BertModel(T.BertConfig(hidden_size=E, num_hidden_layers=1, num_attention_heads=H, intermediate_size=32,
                                        vocab_size=32, max_position_embeddings=16, type_vocab_size=1, **cfg)), "ids"
    if name == "gpt2":
        return T.GPT2Model(T.GPT2Config(n_embd=E, n_layer=1, n_head=H, vocab_size=32, n_positions=16,
                                        bos_token_id=0, eos_token_id=0, **cfg)), "ids"
    if name == "llama":
        return T.LlamaModel(T.LlamaConfig(hidden_size=E, num_hidden_layers=1, num_attention_heads=4,
                                          num_key_value_heads=2, intermediate_size=32, vocab_size=32,
                                          max_position_embeddings=16, **cfg)), "ids"
    if name == "t5":
        return T.T5EncoderModel(T.T5Config(d_model=E, d_kv=D, num_heads=H, num_layers=1, d_ff=32, vocab_size=32,
                                           relative_attention_num_buckets=8, **cfg)), "ids"
    if name == "whisper":
        c = T.WhisperConfig(d_model=E, encoder_layers=1, encoder_attention_heads=H, decoder_layers=1,
                            decoder_attention_heads=H, encoder_ffn_dim=32, decoder_ffn_dim=32, num_mel_bins=8,
                            max_source_positions=6, vocab_size=32, pad_token_id=1,
                            bos_token_id=0, eos_token_id=0, decoder_start_token_id=0, **cfg)
        return T.WhisperModel(c).get_encoder(), "feats"
    if name == "vit":
        return T.ViTModel(T.ViTConfig(hidden_size=E, num_hidden_layers=1, num_attention_heads=H, intermediate_size=32,
                                      image_size=8, patch_size=4, num_channels=3, **cfg)), "pixels"
    raise ValueError(name)


# ---------------------------------------------------------------------------------------------------- forms
def _in(name, shape, kind):
    return {"name": name, "shape": list(shape), "kind": kind}


def _example(spec):
    """A torch example input for the export (the test draws its own values from the same spec)."""
    shape, kind = spec["shape"], spec["kind"]
    if kind == "float":
        return torch.randn(*shape)
    if kind == "float_mask":
        return torch.randn(*shape)
    if kind in ("bool_keep", "bool_drop"):
        m = torch.rand(*shape) > 0.3
        return m if kind == "bool_keep" else ~m
    if kind.startswith("ids:"):
        return torch.randint(0, int(kind[4:]), tuple(shape))
    if kind == "pad_mask":
        return torch.ones(*shape, dtype=torch.int64)
    raise ValueError(kind)


def forms():
    """name -> (module factory, input specs, expected {attention, causal, gqa}, exporters, extra export kwargs).
    An expected value may be a dict by exporter."""
    f = {}
    x3 = [_in("x", (B, S, E), "float")]
    for bf in (True, False):
        xs = [_in("x", (B, S, E) if bf else (S, B, E), "float")]
        tag = "bf" if bf else "sf"
        f[f"mha_{tag}_key_padding"] = (lambda bf=bf: MHA(bf, "kpm"), xs + [_in("kpm", (B, S), "bool_drop")],
                                       {"attention": 1}, ("legacy", "dynamo"), {})
        f[f"mha_{tag}_bool_attn_mask"] = (lambda bf=bf: MHA(bf, "bool"), xs + [_in("m", (S, S), "bool_drop")],
                                          {"attention": 1}, ("legacy", "dynamo"), {})
    f["mha_float_attn_mask"] = (lambda: MHA(True, "float"), x3 + [_in("m", (S, S), "float_mask")],
                                {"attention": 1}, ("legacy", "dynamo"), {})
    f["mha_need_weights_default"] = (lambda: MHA(True, "kpm", need_weights=True),
                                     x3 + [_in("kpm", (B, S), "bool_drop")], {"attention": 1}, ("legacy", "dynamo"), {})
    f["mha_cross"] = (lambda: MHA(True, "kpm", cross=True),
                      x3 + [_in("kpm", (B, S + 2), "bool_drop"), _in("mem", (B, S + 2, E), "float")],
                      {"attention": 1}, ("legacy", "dynamo"), {})
    f["mha_returns_weights"] = (MHAWeights, x3, {"attention": 0}, ("legacy",), {})
    qkv = [_in("q", (B, H, S, D), "float"), _in("k", (B, H, S, D), "float"), _in("v", (B, H, S, D), "float")]
    f["sdpa_causal"] = (lambda: SDPA("causal"), qkv, {"attention": 1, "causal": 1}, ("legacy", "dynamo"), {})
    f["sdpa_bool_mask"] = (lambda: SDPA("bool_mask"), qkv + [_in("m", (B, 1, S, S), "bool_keep")],
                           {"attention": 1}, ("legacy", "dynamo"), {})
    f["sdpa_float_mask"] = (lambda: SDPA("float_mask"), qkv + [_in("m", (B, 1, S, S), "float_mask")],
                            {"attention": 1}, ("legacy", "dynamo"), {})
    f["sdpa_scale"] = (lambda: SDPA("scale"), qkv, {"attention": 1}, ("legacy", "dynamo"), {})
    gqa = [_in("q", (B, 4, S, D), "float"), _in("k", (B, 2, S, D), "float"), _in("v", (B, 2, S, D), "float")]
    f["sdpa_gqa"] = (lambda: SDPA("gqa"), gqa, {"attention": 1, "gqa": 2}, ("dynamo",), {})
    for kind in ("div_sqrt", "mul_scale", "q_scaled", "causal_where_inf", "causal_add_1e4", "causal_where_finfo"):
        causal = {"causal": 1} if kind.startswith("causal") else {}
        f[f"eager_{kind}"] = (lambda kind=kind: Eager(kind), qkv, {"attention": 1, **causal}, ("legacy", "dynamo"), {})
    f["eager_masked_fill_inf"] = (lambda: Eager("masked_fill_inf"), qkv + [_in("m", (B, 1, 1, S), "bool_keep")],
                                  {"attention": 1}, ("legacy", "dynamo"), {})
    f["eager_scale_after_mask"] = (lambda: Eager("scale_after_mask"), qkv + [_in("m", (B, 1, S, S), "float_mask")],
                                   {"attention": 1}, ("legacy",), {})
    f["eager_bmm_3d"] = (lambda: Eager("bmm_3d"), [_in("q", (B * H, S, D), "float"), _in("k", (B * H, S, D), "float"),
                                                   _in("v", (B * H, S, D), "float")],
                         {"attention": 1}, ("legacy", "dynamo"), {})
    f["eager_cross"] = (lambda: Eager("cross"), [_in("q", (B, H, S, D), "float"), _in("k", (B, H, S + 3, D), "float"),
                                                 _in("v", (B, H, S + 3, D), "float")],
                        {"attention": 1}, ("legacy", "dynamo"), {})
    f["eager_fp16_softmax_fp32"] = (EagerFp16, qkv, {"attention": 1}, ("legacy",), {})
    f["eager_softmax_heads_axis"] = (lambda: Eager("softmax_heads_axis"), qkv, {"attention": 0}, ("legacy",), {})
    ids = [_in("input_ids", (B + 1, 6), "ids:32"), _in("attention_mask", (B + 1, 6), "pad_mask")]
    for name in ("bert", "gpt2", "llama", "t5"):
        for impl in ("eager", "sdpa"):
            if name == "t5" and impl == "sdpa":
                continue  # T5 has no SDPA path in transformers
            exp = {"attention": 1}
            if name == "llama":
                exp["gqa"] = 2
            if name in ("gpt2", "llama") and impl == "sdpa":
                # The legacy exporter writes SDPA's boolean mask as Where(m, 0, -inf): causal AND padding, split
                # exactly into is_causal + the padding mask. The dynamo export's transformers mask fills with
                # float32's lowest: an And of causal and padding rows that may be fully masked, kept additive.
                exp["causal"] = {"legacy": 1, "dynamo": 0}
            exporters = ("legacy",) if name == "t5" else ("legacy", "dynamo")  # dynamo fails on T5 (torch 2.15)
            f[f"hf_{name}_{impl}"] = (lambda name=name, impl=impl: Hf(*_hf(name, impl)), ids, exp, exporters, {})
    for name in ("gpt2", "llama"):  # decoders exported without an attention_mask: the causal mask alone
        for impl in ("eager", "sdpa"):
            exp = {"attention": 1, "causal": 1, **({"gqa": 2} if name == "llama" else {})}
            f[f"hf_{name}_causal_only_{impl}"] = (lambda name=name, impl=impl: Hf(_hf(name, impl)[0], "ids_only"),
                                                  ids[:1], exp, ("dynamo",), {})  # legacy: no aten::diff
    for impl in ("eager", "sdpa"):
        f[f"hf_whisper_encoder_{impl}"] = (lambda impl=impl: Hf(*_hf("whisper", impl)),
                                           [_in("input_features", (B, 8, 12), "float")], {"attention": 1},
                                           ("legacy", "dynamo"), {})
        f[f"hf_vit_{impl}"] = (lambda impl=impl: Hf(*_hf("vit", impl)), [_in("pixel_values", (B, 3, 8, 8), "float")],
                               {"attention": 1}, ("legacy", "dynamo"), {})
    dyn = {"dynamic_axes": {"input_features": {0: "batch"}}}
    f["hf_whisper_encoder_dynamic_batch"] = (lambda: Hf(*_hf("whisper", "eager")),
                                             [_in("input_features", (B, 8, 12), "float")], {"attention": 1},
                                             ("legacy",), dyn)
    f["hf_bert_dynamic_seq"] = (lambda: Hf(*_hf("bert", "eager")), ids, {"attention": 1}, ("legacy",),
                                {"dynamic_axes": {"input_ids": {0: "batch", 1: "seq"},
                                                  "attention_mask": {0: "batch", 1: "seq"}}})

    def tv_vit():
        import torchvision
        return torchvision.models.VisionTransformer(image_size=8, patch_size=4, num_layers=1, num_heads=H,
                                                    hidden_dim=E, mlp_dim=32, num_classes=8)
    f["torchvision_vit_dynamic_batch"] = (tv_vit, [_in("input", (B, 3, 8, 8), "float")], {"attention": 1},
                                          ("legacy",), {"dynamic_axes": {"input": {0: "batch"}}})
    return f


def export(name, factory, specs, exporter, extra, out_dir):
    _seed()
    model = factory().eval()
    args = tuple(_example(s) for s in specs)
    path = os.path.join(out_dir, f"{name}_{exporter}.onnx")
    names = [s["name"] for s in specs]
    kw = {"input_names": names, "output_names": ["y"]}
    if exporter == "legacy":
        kw.update(extra)
        if "dynamic_axes" in kw:
            kw["dynamic_axes"] = dict(kw["dynamic_axes"], y={0: "batch"})
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        torch.onnx.export(model, args, path, dynamo=exporter == "dynamo", opset_version=17 if exporter == "legacy"
                          else 18, external_data=False, **kw)
    import onnx
    m = onnx.load(path)
    if exporter == "dynamo":  # the dynamo exporter names inputs after the forward() arguments: use the spec's names
        rename = {i.name: n for i, n in zip(m.graph.input, names)}
        for i in m.graph.input:
            i.name = rename[i.name]
        for n in m.graph.node:
            n.input[:] = [rename.get(x, x) for x in n.input]
    # Stack traces, doc strings and long scoped names: kilobytes per node, nothing the test reads.
    keep = {i.name for i in m.graph.input} | {o.name for o in m.graph.output} | {i.name for i in m.graph.initializer}
    short = {}
    for k, n in enumerate(m.graph.node):
        del n.metadata_props[:]
        n.doc_string = ""
        n.name = f"{n.op_type}_{k}"
        for o in n.output:
            if o and o not in keep:
                short[o] = f"t{len(short)}"
        n.input[:] = [short.get(x, x) for x in n.input]
        n.output[:] = [short.get(x, x) for x in n.output]
    del m.graph.value_info[:]
    del m.metadata_props[:]
    m.graph.doc_string = ""
    onnx.save(m, path)
    return os.path.basename(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "attention_forms"))
    ap.add_argument("--only", nargs="*", default=None)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    manifest_path = os.path.join(a.out, "manifest.json")
    manifest = json.load(open(manifest_path)) if a.only and os.path.exists(manifest_path) else {}
    import transformers
    for name, (factory, specs, expected, exporters, extra) in forms().items():
        if a.only and name not in a.only:
            continue
        for exporter in exporters:
            key = f"{name}_{exporter}"
            try:
                file = export(name, factory, specs, exporter, extra, a.out)
            except Exception as e:  # noqa: BLE001: report which form an exporter cannot write and go on
                print(f"{key}: export failed: {str(e).splitlines()[0][:200]}")
                continue
            dynamic = list((extra.get("dynamic_axes") or {}).keys()) if exporter == "legacy" else []
            resolved = {k: (v[exporter] if isinstance(v, dict) else v) for k, v in expected.items()}
            manifest[key] = {"file": file, "inputs": specs, "expected": resolved, "exporter": exporter,
                             "dynamic_inputs": dynamic}
            print(f"{key}: {os.path.getsize(os.path.join(a.out, file))} bytes")
    manifest["_about"] = {"torch": torch.__version__, "transformers": transformers.__version__,
                          "script": "tests/passes/data/make_attention_forms.py"}
    with open(manifest_path, "w") as fh:
        json.dump(dict(sorted(manifest.items())), fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
