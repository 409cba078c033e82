"""The zoo's models, rows and groups (bench/zoo_gpu.py --list); plain data, importable without torch.

A Model is one PyTorch network (random weights) with its inputs, throughput batch and time estimates. A row is a
(model, exporter) pair: every model is exported with the TorchScript exporter ("legacy", row name = model name);
transformer models also with the dynamo exporter (row "NAME[dynamo]"), which shares the model's PyTorch baselines.
A group is a set of models sized to run in one device call (<= 10 minutes, aim 7) on one H200 with 16 cores.
"""
from dataclasses import dataclass, field

SEQ = 128  # tokens per sequence for the text models


@dataclass(frozen=True)
class Inp:
    """One model input. shape: a tuple with "B" for the batch dimension. kind: image (standard normal float32),
    wave / mel (standard normal float32 audio samples / log-mel frames), ids:V (int64 token ids in [0, V)),
    mask (int64 attention mask with right padding: lengths SEQ/2..SEQ, the first row full)."""
    name: str
    shape: tuple
    kind: str = "image"


@dataclass(frozen=True)
class Est:
    """Seconds on one H200 with 16 cores (estimates, refined from measured runs): ONNX export (BatchNorm
    re-estimation and the ONNX Runtime check included), PyTorch preparation (FP32 references and both
    torch.compile first calls), both Kiln builds (batch 1 and the throughput batch), and the measurements
    (kiln run + kiln bench at both batches, eager and compiled PyTorch at both batches)."""
    export: float
    prepare: float
    build: float
    measure: float


@dataclass(frozen=True)
class Model:
    name: str
    family: str  # classification, detection, vision-transformer, text, audio
    group: str
    builder: str  # "module:function" in bench/zoo; called with keyword arguments (attn=... for transformers)
    inputs: tuple
    outputs: tuple
    tput: int  # the throughput batch
    est: Est
    exporters: tuple = ("legacy",)
    channels_last: bool = False  # PyTorch eager/compile run channels_last (CNNs)
    hf: bool = False  # a transformers model: exported with eager attention, PyTorch baselines with SDPA
    calib: tuple = (0, 0)  # BatchNorm re-estimation: (batches, images per batch); (0, 0) when there is none
    kwargs: dict = field(default_factory=dict)
    note: str = ""


def _img(size):
    return (Inp("input", ("B", 3, size, size)),)


def _text(vocab, decoder=False):
    ins = (Inp("input_ids", ("B", SEQ), f"ids:{vocab}"), Inp("attention_mask", ("B", SEQ), "mask"))
    return ins + ((Inp("decoder_input_ids", ("B", SEQ), f"ids:{vocab}"),) if decoder else ())


BOTH = ("legacy", "dynamo")
CNN_CALIB = (4, 16)
DET_CALIB = (2, 4)
HIDDEN = ("last_hidden_state",)


def _cls(name, group, tput, est, size=224, note=""):
    return Model(name, "classification", group, "vision:classifier", _img(size), ("logits",), tput, est,
                 channels_last=True, calib=CNN_CALIB, kwargs={"arch": name}, note=note)


def _hf(name, family, group, builder, inputs, tput, est, outputs=HIDDEN, note="", **kw):
    return Model(name, family, group, builder, inputs, outputs, tput, est, exporters=BOTH, hf=True, kwargs=kw,
                 note=note)


MODELS = [
    # classification (torchvision, weights=None)
    _cls("resnet50", "cnn-resnet", 128, Est(20, 45, 55, 30)),
    _cls("resnext50_32x4d", "cnn-resnet", 128, Est(20, 50, 60, 30), note="grouped 3x3 convolutions (32 groups)"),
    _cls("regnet_y_1_6gf", "cnn-resnet", 128, Est(25, 60, 60, 30), note="grouped convs, squeeze-excitation"),
    _cls("mobilenet_v2", "cnn-mobile", 128, Est(15, 40, 35, 30), note="depthwise 3x3, ReLU6"),
    _cls("mobilenet_v3_large", "cnn-mobile", 128, Est(15, 45, 40, 30), note="depthwise 3x3/5x5, HardSwish, SE"),
    _cls("efficientnet_b0", "cnn-mobile", 128, Est(20, 50, 45, 30), note="depthwise, SiLU, squeeze-excitation"),
    _cls("efficientnet_v2_s", "cnn-modern", 64, Est(40, 80, 70, 35), size=384, note="fused-MBConv, 384x384"),
    _cls("convnext_tiny", "cnn-modern", 128, Est(25, 60, 60, 30), note="depthwise 7x7, channel LayerNorm"),
    # vision transformers (torchvision ViT/Swin/MaxViT, transformers DeiT/Swin)
    Model("vit_b_16", "vision-transformer", "vit-torchvision", "vision:classifier", _img(224), ("logits",), 64,
          Est(25, 55, 45, 30), exporters=BOTH, kwargs={"arch": "vit_b_16"}, note="nn.MultiheadAttention"),
    Model("swin_t", "vision-transformer", "vit-torchvision", "vision:classifier", _img(224), ("logits",), 64,
          Est(35, 90, 60, 30), kwargs={"arch": "swin_t"}, note="shifted windows (roll), relative position bias"),
    Model("maxvit_t", "vision-transformer", "vit-maxvit", "vision:classifier", _img(224), ("logits",), 32,
          Est(45, 120, 70, 35), calib=CNN_CALIB, kwargs={"arch": "maxvit_t"},
          note="MBConv + block/grid attention"),
    _hf("deit-small", "vision-transformer", "vit-maxvit", "hf:deit_small", (Inp("pixel_values", ("B", 3, 224, 224)),),
        128, Est(20, 45, 35, 30), note="transformers DeiTModel, distillation token"),
    _hf("swin-tiny-hf", "vision-transformer", "vit-hf", "hf:swin_tiny", (Inp("pixel_values", ("B", 3, 224, 224)),),
        64, Est(35, 80, 55, 30), note="transformers SwinModel: window attention with masks"),
    # detection / segmentation
    Model("retinanet-r50-fpn", "detection", "det-a", "vision:retinanet_head", _img(640),
          ("cls_logits", "bbox_regression"), 16, Est(40, 70, 70, 35), channels_last=True, calib=DET_CALIB,
          note="torchvision RetinaNet backbone+FPN+heads (no NMS), 640x640"),
    Model("deeplabv3-r50", "detection", "det-a", "vision:deeplabv3", _img(512), ("out",), 8, Est(40, 70, 70, 40),
          channels_last=True, calib=DET_CALIB, note="dilated ResNet-50, ASPP, bilinear upsample, 512x512"),
    Model("detr-r50", "detection", "det-b", "detr:detr_r50", _img(640), ("logits", "boxes"), 16,
          Est(35, 70, 60, 30), calib=DET_CALIB,
          note="plain PyTorch DETR: ResNet-50 + nn.Transformer 6+6 layers, 100 queries (cross-attention)"),
    Model("yolo-style-s", "detection", "det-b", "yolo:yolo_style_s", (Inp("images", ("B", 3, 640, 640)),),
          ("predictions",), 32, Est(25, 60, 45, 30), channels_last=True, calib=DET_CALIB,
          note="plain PyTorch C2f/SPPF/PAN detector, decoupled heads, DFL box decoding, 640x640"),
    # text encoders / decoders (transformers, random weights from a Config)
    _hf("bert-base", "text", "text-bert", "hf:bert_base", _text(30522), 64, Est(20, 50, 35, 30)),
    _hf("roberta-base", "text", "text-bert", "hf:roberta_base", _text(50265), 64, Est(20, 50, 35, 30)),
    _hf("distilbert-base", "text", "text-gpt", "hf:distilbert_base", _text(30522), 64, Est(15, 40, 25, 25)),
    _hf("gpt2", "text", "text-gpt", "hf:gpt2", _text(50257), 64, Est(20, 50, 35, 30),
        note="GPT2Model, causal, use_cache=False"),
    _hf("t5-base-encoder", "text", "text-t5", "hf:t5_encoder", _text(32128), 64, Est(20, 50, 35, 30),
        note="T5EncoderModel: RMS-style LayerNorm, relative position bias"),
    _hf("bart-base", "text", "text-t5", "hf:bart_base", _text(50265, decoder=True), 32, Est(25, 60, 45, 30),
        note="BartModel 6+6 layers: causal decoder with cross-attention, use_cache=False"),
    _hf("llama-small", "text", "text-llama", "hf:llama_small", _text(32000), 32, Est(20, 55, 40, 30),
        note="LlamaModel 8 layers, hidden 1024, GQA 16/4 heads, RMSNorm, rotary, SiLU MLP, use_cache=False"),
    # audio
    _hf("whisper-base-encoder", "audio", "audio", "hf:whisper_encoder", (Inp("input_features", ("B", 80, 3000), "mel"),),
        16, Est(25, 60, 45, 30), note="WhisperEncoder (base): Conv1d front end, 1500 positions"),
    _hf("wav2vec2-base", "audio", "audio", "hf:wav2vec2_base", (Inp("input_values", ("B", 16000), "wave"),), 32,
        Est(25, 60, 45, 30), note="Wav2Vec2Model: 7-layer Conv1d front end (GroupNorm), conv positions, 12 layers"),
]
BY_NAME = {m.name: m for m in MODELS}
GROUPS = list(dict.fromkeys(m.group for m in MODELS))
STARTUP_S = 25.0  # imports, CUDA context, input files
EXPORT_JOBS = 3  # export processes that run beside the GPU work


def row_name(model, exporter):
    return model.name if exporter == "legacy" else f"{model.name}[{exporter}]"


def rows_of(model):
    return [row_name(model, e) for e in model.exporters]


def all_rows():
    return [r for m in MODELS for r in rows_of(m)]


def parse_row(name):
    """'bert-base[dynamo]' -> (Model, 'dynamo'); 'bert-base' -> (Model, 'legacy'). KeyError with the known names."""
    base, exporter = (name[:-1].split("[", 1) if name.endswith("]") and "[" in name else (name, "legacy"))
    m = BY_NAME.get(base)
    if m is None or exporter not in m.exporters:
        raise KeyError(f"unknown zoo row '{name}'")
    return m, exporter


def select(group=None, names=None):
    """The plan: [(Model, [exporters])] in registry order, for a group and/or a comma list of rows or model names
    (a model name alone selects all its rows). Raises KeyError naming an unknown group or row."""
    chosen = {}
    if group:
        for g in group.split(","):
            if g not in GROUPS and g != "all":
                raise KeyError(f"unknown group '{g}' (known: {', '.join(GROUPS)}, all)")
            for m in MODELS:
                if g in ("all", m.group):
                    chosen.setdefault(m.name, set()).update(m.exporters)
    for n in [x.strip() for x in (names or "").split(",") if x.strip()]:
        if n in BY_NAME:
            chosen.setdefault(n, set()).update(BY_NAME[n].exporters)
        else:
            m, e = parse_row(n)
            chosen.setdefault(m.name, set()).add(e)
    return [(m, [e for e in m.exporters if e in chosen[m.name]]) for m in MODELS if m.name in chosen]


def model_estimate(model, exporters):
    """(export seconds, serial seconds) for one model and its chosen exporters. A dynamo export takes about 2.5x a
    legacy one; each row adds its own Kiln builds and Kiln measurements (40% of `measure`), while the PyTorch
    preparation and timings (the other 60%) are shared by the rows of a model."""
    export = model.est.export * (("legacy" in exporters) + 2.5 * ("dynamo" in exporters))
    serial = model.est.prepare + 0.6 * model.est.measure + len(exporters) * (model.est.build + 0.4 * model.est.measure)
    return export, serial


def plan_estimate(plan, export_jobs=EXPORT_JOBS):
    """Seconds for a plan run as zoo_gpu runs it: exports in `export_jobs` processes beside the PyTorch
    preparations; the first preparation waits for the first model's export; builds and measurements serial."""
    if not plan:
        return 0.0
    parts = [model_estimate(m, e) for m, e in plan]
    prepare = sum(m.est.prepare for m, _ in plan)
    first_export = parts[0][0]
    overlap = max(first_export + prepare, sum(p[0] for p in parts) / max(1, export_jobs))
    rest = sum(s for _, s in parts) - prepare
    return STARTUP_S + overlap + rest
