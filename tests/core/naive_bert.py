"""A slow, obviously correct float64 BERT forward pass and a tiny random BERT on disk.

Written from the BERT paper and the ``transformers`` layout, independently of
``explorer.core.encoder_forward``: weights stay in torch's ``(out, in)`` layout, heads are a
Python loop, softmax and GELU (``math.erf``) are spelled out.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

TINY_WORDS = ["the", "cat", "dog", "sat", "on", "mat", "river", "bank", "money", "in", "."]
TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TINY_WORDS, "##s", "##ing"]
TINY_CONFIG = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "hidden_act": "gelu",
    "hidden_size": 16,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "intermediate_size": 24,
    "max_position_embeddings": 20,
    "type_vocab_size": 2,
    "vocab_size": len(TINY_VOCAB),
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
}


def tiny_tensors(cfg: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Random float32 weights in torch layout; LayerNorm gains near 1 so signals stay O(1)."""
    rng = np.random.default_rng(seed)
    H, inter = cfg["hidden_size"], cfg["intermediate_size"]

    def r(*shape, s=0.3):
        return (rng.standard_normal(shape) * s).astype(np.float32)

    t = {
        "embeddings.word_embeddings.weight": r(cfg["vocab_size"], H, s=1.0),
        "embeddings.position_embeddings.weight": r(cfg["max_position_embeddings"], H, s=0.5),
        "embeddings.token_type_embeddings.weight": r(cfg["type_vocab_size"], H, s=0.5),
        "embeddings.LayerNorm.weight": 1 + r(H, s=0.1),
        "embeddings.LayerNorm.bias": r(H, s=0.1),
        "embeddings.position_ids": np.arange(cfg["max_position_embeddings"])[None],  # unused
    }
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            t[f"{p}attention.self.{n}.weight"] = r(H, H, s=0.6)
            t[f"{p}attention.self.{n}.bias"] = r(H, s=0.3)
        t[f"{p}attention.output.dense.weight"] = r(H, H)
        t[f"{p}attention.output.dense.bias"] = r(H, s=0.1)
        t[f"{p}attention.output.LayerNorm.weight"] = 1 + r(H, s=0.1)
        t[f"{p}attention.output.LayerNorm.bias"] = r(H, s=0.1)
        t[f"{p}intermediate.dense.weight"] = r(inter, H)
        t[f"{p}intermediate.dense.bias"] = r(inter, s=0.1)
        t[f"{p}output.dense.weight"] = r(H, inter)
        t[f"{p}output.dense.bias"] = r(H, s=0.1)
        t[f"{p}output.LayerNorm.weight"] = 1 + r(H, s=0.1)
        t[f"{p}output.LayerNorm.bias"] = r(H, s=0.1)
    return t


def write_tiny_model(folder: Path, *, prefix: str = "", cfg=None, tensors=None, vocab=True):
    """Write config.json, model.safetensors and vocab.txt; return (cfg, tensors)."""
    from safetensors.numpy import save_file

    cfg = dict(TINY_CONFIG if cfg is None else cfg)
    tensors = tiny_tensors(cfg) if tensors is None else tensors
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    save_file({prefix + k: v for k, v in tensors.items()}, str(folder / "model.safetensors"))
    if vocab:
        (folder / "vocab.txt").write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
    return cfg, tensors


def _layer_norm(x, g, b, eps):
    out = np.empty_like(x)
    for t in range(x.shape[0]):
        mu = x[t].mean()
        var = ((x[t] - mu) ** 2).mean()
        out[t] = (x[t] - mu) / math.sqrt(var + eps) * g + b
    return out


_erf = np.vectorize(math.erf)


def naive_bert(t, cfg, ids, *, type_ids=None, mask=None, head_scale=None, head_weights=None):
    """Float64 BERT forward.

    Parameters
    ----------
    t : dict of torch-layout arrays
    cfg : dict, the config.json contents
    ids : (T,) ints
    type_ids : (T,) ints, default zeros
    mask : (T,) bool, False = padding key
    head_scale : dict {(layer, head): factor} applied to the head's attention output
    head_weights : dict {(layer, head): {"q": (W (H, d_head), b (d_head,)), ...}} replacing
        a head's projections in ``x @ W + b`` form

    Returns
    -------
    hidden (L+1, T, H), att (L, n_head, T, T), pooled (H,)
    """
    g = {k: np.asarray(v, dtype=np.float64) for k, v in t.items()}
    nh, L = cfg["num_attention_heads"], cfg["num_hidden_layers"]
    eps, dh = cfg["layer_norm_eps"], cfg["hidden_size"] // cfg["num_attention_heads"]
    T = len(ids)
    type_ids = np.zeros(T, int) if type_ids is None else np.asarray(type_ids)
    mask = np.ones(T, bool) if mask is None else np.asarray(mask, bool)
    head_scale = head_scale or {}
    head_weights = head_weights or {}
    x = np.stack(
        [
            g["embeddings.word_embeddings.weight"][ids[i]]
            + g["embeddings.position_embeddings.weight"][i]
            + g["embeddings.token_type_embeddings.weight"][type_ids[i]]
            for i in range(T)
        ]
    )
    x = _layer_norm(x, g["embeddings.LayerNorm.weight"], g["embeddings.LayerNorm.bias"], eps)
    hidden, atts = [x], []
    for layer in range(L):
        p = f"encoder.layer.{layer}."
        heads, layer_att = [], []
        for h in range(nh):
            rows = slice(h * dh, (h + 1) * dh)
            proj = {}
            for c, n in zip("qkv", ("query", "key", "value"), strict=True):
                w = g[f"{p}attention.self.{n}.weight"][rows].T  # (H, d_head)
                b = g[f"{p}attention.self.{n}.bias"][rows]
                w, b = head_weights.get((layer, h), {}).get(c, (w, b))
                proj[c] = x @ w + b
            scores = proj["q"] @ proj["k"].T / math.sqrt(dh)
            scores[:, ~mask] = -np.inf
            e = np.exp(scores - scores.max(axis=1, keepdims=True))
            a = e / e.sum(axis=1, keepdims=True)
            layer_att.append(a)
            heads.append(a @ proj["v"] * head_scale.get((layer, h), 1.0))
        ctx = np.concatenate(heads, axis=1)  # (T, H)
        a_out = (
            ctx @ g[f"{p}attention.output.dense.weight"].T + g[f"{p}attention.output.dense.bias"]
        )
        x1 = _layer_norm(
            a_out + x,
            g[f"{p}attention.output.LayerNorm.weight"],
            g[f"{p}attention.output.LayerNorm.bias"],
            eps,
        )
        pre = x1 @ g[f"{p}intermediate.dense.weight"].T + g[f"{p}intermediate.dense.bias"]
        act = 0.5 * pre * (1.0 + _erf(pre / math.sqrt(2.0)))
        ff = act @ g[f"{p}output.dense.weight"].T + g[f"{p}output.dense.bias"]
        x = _layer_norm(
            ff + x1, g[f"{p}output.LayerNorm.weight"], g[f"{p}output.LayerNorm.bias"], eps
        )
        hidden.append(x)
        atts.append(np.stack(layer_att))
    pooled = x[mask].mean(axis=0)
    return np.stack(hidden), np.stack(atts), pooled
