"""transformers builders for the zoo: models built from a Config object (random weights, nothing downloaded).

Every builder takes attn= (the transformers attention implementation: "eager" for the ONNX exports, "sdpa" for
the PyTorch baselines) and returns an FP32 nn.Module whose forward takes the registry's inputs positionally and
returns the last hidden state (no KV cache, no pooler).
"""
import torch
import transformers


def config(cls_name, attn, **kw):
    """transformers.<cls_name>(**kw) with the given attention implementation (set both ways: the constructor
    argument where it is accepted, the attribute for versions that only read that)."""
    cls = getattr(transformers, cls_name)
    try:
        cfg = cls(attn_implementation=attn, **kw)
    except TypeError:
        cfg = cls(**kw)
    try:
        cfg._attn_implementation = attn
    except AttributeError:  # a read-only property: the constructor argument already set it
        pass
    return cfg


class Hidden(torch.nn.Module):
    """Calls the wrapped model with keyword inputs (named by `names`, in forward's positional order) and returns
    its last_hidden_state."""

    def __init__(self, model, names, **fixed):
        super().__init__()
        self.model, self.names, self.fixed = model, names, fixed

    def forward(self, *args):
        out = self.model(**dict(zip(self.names, args)), **self.fixed)
        return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]


TEXT = ("input_ids", "attention_mask")


def bert_base(attn="eager", **_):
    return Hidden(transformers.BertModel(config("BertConfig", attn), add_pooling_layer=False), TEXT)


def roberta_base(attn="eager", **_):
    cfg = config("RobertaConfig", attn, vocab_size=50265, max_position_embeddings=514, type_vocab_size=1,
                 pad_token_id=1)
    return Hidden(transformers.RobertaModel(cfg, add_pooling_layer=False), TEXT)


def distilbert_base(attn="eager", **_):
    return Hidden(transformers.DistilBertModel(config("DistilBertConfig", attn)), TEXT)


def gpt2(attn="eager", **_):
    return Hidden(transformers.GPT2Model(config("GPT2Config", attn)), TEXT, use_cache=False)


def t5_encoder(attn="eager", **_):
    cfg = config("T5Config", attn, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12, vocab_size=32128)
    return Hidden(transformers.T5EncoderModel(cfg), TEXT)


def bart_base(attn="eager", **_):
    cfg = config("BartConfig", attn, d_model=768, encoder_layers=6, decoder_layers=6, encoder_attention_heads=12,
                 decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072, vocab_size=50265)
    return Hidden(transformers.BartModel(cfg), TEXT + ("decoder_input_ids",), use_cache=False)


def llama_small(attn="eager", **_):
    cfg = config("LlamaConfig", attn, hidden_size=1024, intermediate_size=2816, num_hidden_layers=8,
                 num_attention_heads=16, num_key_value_heads=4, vocab_size=32000, max_position_embeddings=2048,
                 rope_theta=10000.0)
    return Hidden(transformers.LlamaModel(cfg), TEXT, use_cache=False)


def deit_small(attn="eager", **_):
    cfg = config("DeiTConfig", attn, hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                 intermediate_size=1536)
    return Hidden(transformers.DeiTModel(cfg, add_pooling_layer=False), ("pixel_values",))


def swin_tiny(attn="eager", **_):
    return Hidden(transformers.SwinModel(config("SwinConfig", attn), add_pooling_layer=False), ("pixel_values",))


def whisper_encoder(attn="eager", **_):
    from transformers.models.whisper.modeling_whisper import WhisperEncoder
    cfg = config("WhisperConfig", attn, d_model=512, encoder_layers=6, encoder_attention_heads=8,
                 encoder_ffn_dim=2048, num_mel_bins=80, max_source_positions=1500)
    return Hidden(WhisperEncoder(cfg), ("input_features",))


def wav2vec2_base(attn="eager", **_):
    return Hidden(transformers.Wav2Vec2Model(config("Wav2Vec2Config", attn)), ("input_values",))
