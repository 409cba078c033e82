"""The CPU benchmark model list: name -> category, PyTorch constructor (random weights, no downloads), inputs, batches.

Input shapes are written with "B" for the batch dimension; every model is exported with a dynamic batch dimension
and benchmarked at batch 1 and at its throughput batch (`tput`). Input kinds: "float" (standard normal fp32),
"ids:V" (int64 token ids in [0, V)), "ones" (int64 attention mask of ones). Torch is imported lazily (only the
exporter needs it). `tol` is the (atol, rtol) used to compare Kiln's outputs with ONNX Runtime's in fp32.
"""
from dataclasses import dataclass, field

DEFAULT_TOL = (1e-4, 1e-3)


@dataclass
class Inp:
    name: str
    shape: tuple  # "B" marks the batch dimension
    kind: str = "float"


@dataclass
class Spec:
    category: str
    build: object  # () -> (torch module, output names)
    inputs: list
    tput: int
    tol: tuple = DEFAULT_TOL
    note: str = ""
    outputs: list = field(default_factory=lambda: ["output"])


def _tv(fn_name, **kw):
    def build():
        import torchvision
        return getattr(torchvision.models, fn_name)(weights=None, **kw)
    return build


def _seg(fn_name):
    def build():
        import torch
        import torchvision

        class Out(torch.nn.Module):  # the segmentation models return a dict; keep the "out" map
            def __init__(self):
                super().__init__()
                self.m = getattr(torchvision.models.segmentation, fn_name)(
                    weights=None, weights_backbone=None, num_classes=21)

            def forward(self, x):
                return self.m(x)["out"]
        return Out()
    return build


def _hf(model_cls, config_cls, outputs="last_hidden_state", **cfg):
    def build():
        import torch
        import transformers
        config = getattr(transformers, config_cls)(**cfg)
        config._attn_implementation = "eager"
        model = getattr(transformers, model_cls)(config)

        class Wrap(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.m = model

            def forward(self, input_ids, attention_mask):
                kw = {"use_cache": False} if "GPT" in model_cls else {}
                return getattr(self.m(input_ids=input_ids, attention_mask=attention_mask, **kw), outputs)
        return Wrap()
    return build


def _whisper_encoder():
    import torch
    import transformers
    cfg = transformers.WhisperConfig(d_model=384, encoder_layers=4, encoder_attention_heads=6,
                                     encoder_ffn_dim=1536, num_mel_bins=80, max_source_positions=1500)
    enc = transformers.models.whisper.modeling_whisper.WhisperEncoder(cfg)

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = enc

        def forward(self, x):
            return self.m(x).last_hidden_state
    return Wrap()


def _custom(cls_name, *args, **kw):
    def build():
        import custom  # bench/cpu_models is on sys.path (export.py puts it there)
        return getattr(custom, cls_name)(*args, **kw)
    return build


IMG = [Inp("input", ("B", 3, 224, 224))]
SEQ = 128
BERT_IN = [Inp("input_ids", ("B", SEQ), "ids:30522"), Inp("attention_mask", ("B", SEQ), "ones")]

MODELS = {
    # CNNs (torchvision, weights=None)
    "resnet50": Spec("cnn", _tv("resnet50"), IMG, 8),
    "mobilenet_v2": Spec("cnn", _tv("mobilenet_v2"), IMG, 16),
    "mobilenet_v3_small": Spec("cnn", _tv("mobilenet_v3_small"), IMG, 16),
    "mobilenet_v3_large": Spec("cnn", _tv("mobilenet_v3_large"), IMG, 16),
    "efficientnet_b0": Spec("cnn", _tv("efficientnet_b0"), IMG, 16),
    "regnet_y_400mf": Spec("cnn", _tv("regnet_y_400mf"), IMG, 16),
    "squeezenet1_1": Spec("cnn", _tv("squeezenet1_1"), IMG, 16),
    "shufflenet_v2_x1_0": Spec("cnn", _tv("shufflenet_v2_x1_0"), IMG, 16),
    "convnext_tiny": Spec("cnn", _tv("convnext_tiny"), IMG, 8),
    # transformers (transformers configs, random weights, eager attention; torchvision ViT)
    "bert_base_s128": Spec("transformer", _hf("BertModel", "BertConfig"), BERT_IN, 4),
    "distilbert_s128": Spec("transformer", _hf("DistilBertModel", "DistilBertConfig"), BERT_IN, 4),
    "gpt2_s128": Spec("transformer", _hf("GPT2LMHeadModel", "GPT2Config", outputs="logits"),
                      [Inp("input_ids", ("B", SEQ), "ids:50257"), Inp("attention_mask", ("B", SEQ), "ones")], 4,
                      note="LM head, no KV cache"),
    "vit_b_16": Spec("transformer", _tv("vit_b_16"), IMG, 4),
    "whisper_tiny_encoder": Spec("transformer", _whisper_encoder, [Inp("input_features", ("B", 80, 3000))], 2,
                                 note="whisper-tiny encoder shape, 30 s of 80-bin mel"),
    # detection / segmentation
    "yolo_style_320": Spec("detection", _custom("YoloStyle"), [Inp("images", ("B", 3, 320, 320))], 4,
                           note="CSP backbone + SPPF + FPN/PAN, 3 heads"),
    "lraspp_mobilenet_v3": Spec("segmentation", _seg("lraspp_mobilenet_v3_large"),
                                [Inp("input", ("B", 3, 320, 320))], 4),
    "deeplabv3_mobilenet_v3": Spec("segmentation", _seg("deeplabv3_mobilenet_v3_large"),
                                   [Inp("input", ("B", 3, 320, 320))], 4),
    # audio
    "lstm_am": Spec("audio", _custom("LstmTagger"), [Inp("feats", ("B", 100, 80))], 16,
                    note="2-layer LSTM 256, 100 frames"),
    "gru_vad": Spec("audio", _custom("GruVad"), [Inp("feats", ("B", 100, 64))], 16,
                    note="bidirectional GRU 128, 100 frames"),
    "conv1d_kws": Spec("audio", _custom("Conv1dKws"), [Inp("feats", ("B", 40, 101))], 32,
                       note="dilated depthwise-separable TDNN"),
    # small MLP heads (batch 1 is the case that matters)
    "mlp_wakeword": Spec("mlp", _custom("MlpHead", [64, 128, 64, 2]), [Inp("x", ("B", 64))], 64),
    "mlp_embed_head": Spec("mlp", _custom("MlpHead", [512, 1024, 1024, 256], act="gelu", norm=True),
                           [Inp("x", ("B", 512))], 64),
}


def shape_at(inp, batch):
    return tuple(batch if d == "B" else d for d in inp.shape)
