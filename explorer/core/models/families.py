"""Tensor names and shapes of each family's checkpoint, and packing them for the forward pass.

Names are those ``transformers`` writes. A task model's prefix (``transformer.`` for
``GPT2LMHeadModel``, ``model.`` for ``LlamaForCausalLM``, ``roberta.`` and ``distilbert.``) is
found from the checkpoint; a bare base model has none. ``torch.nn.Linear`` stores ``(out, in)``
and is transposed here to ``(in, out)``; GPT-2's ``Conv1D`` already stores ``(in, out)``.

DistilBERT and RoBERTa are BERT's arithmetic under other names, so their tensors are renamed
to BERT's and run by :class:`~explorer.core.encoder.Encoder`.
"""

from __future__ import annotations

import numpy as np

from explorer.core.encoder_config import EncoderConfig
from explorer.core.models.config import ModelConfig
from explorer.core.models.decoder import DecoderLayer, DecoderWeights
from explorer.core.models.weights import Checkpoint

_PREFIXES = {
    "gpt2": ("transformer.", ""),
    "llama": ("model.", ""),
    "qwen2": ("model.", ""),
    "roberta": ("roberta.", ""),
    "distilbert": ("distilbert.", ""),
}
_EMBEDDING = {
    "gpt2": "wte.weight",
    "llama": "embed_tokens.weight",
    "qwen2": "embed_tokens.weight",
    "roberta": "embeddings.word_embeddings.weight",
    "distilbert": "embeddings.word_embeddings.weight",
}


def prefix_of(cfg: ModelConfig, ckpt: Checkpoint) -> str:
    """The name prefix of the model body in ``ckpt`` ("" for a bare base model)."""
    for p in _PREFIXES[cfg.model_type]:
        if p + _EMBEDDING[cfg.model_type] in ckpt:
            return p
    return _PREFIXES[cfg.model_type][0]  # the check then names the missing tensors


def expected_shapes(cfg: ModelConfig, prefix: str) -> dict[str, tuple[int, ...]]:
    """Full tensor names the forward pass reads, with their stored shapes."""
    d, ff, V, L = cfg.d_model, cfg.d_ff, cfg.vocab_size, cfg.n_layer
    qd, kd = cfg.n_head * cfg.d_head, cfg.n_kv_head * cfg.d_head
    s: dict[str, tuple[int, ...]] = {}
    p = prefix
    if cfg.model_type == "gpt2":
        s[p + "wte.weight"] = (V, d)
        s[p + "wpe.weight"] = (cfg.max_positions, d)
        for i in range(L):
            h = f"{p}h.{i}."
            for n, shape in (("ln_1", (d,)), ("ln_2", (d,))):
                s[h + n + ".weight"], s[h + n + ".bias"] = shape, shape
            s[h + "attn.c_attn.weight"], s[h + "attn.c_attn.bias"] = (d, 3 * d), (3 * d,)
            s[h + "attn.c_proj.weight"], s[h + "attn.c_proj.bias"] = (d, d), (d,)
            s[h + "mlp.c_fc.weight"], s[h + "mlp.c_fc.bias"] = (d, ff), (ff,)
            s[h + "mlp.c_proj.weight"], s[h + "mlp.c_proj.bias"] = (ff, d), (d,)
        s[p + "ln_f.weight"], s[p + "ln_f.bias"] = (d,), (d,)
    elif cfg.model_type in ("llama", "qwen2"):
        s[p + "embed_tokens.weight"] = (V, d)
        for i in range(L):
            h = f"{p}layers.{i}."
            s[h + "input_layernorm.weight"] = (d,)
            s[h + "post_attention_layernorm.weight"] = (d,)
            for n, rows in (("q", qd), ("k", kd), ("v", kd)):
                s[f"{h}self_attn.{n}_proj.weight"] = (rows, d)
                if cfg.qkv_bias:
                    s[f"{h}self_attn.{n}_proj.bias"] = (rows,)
            s[h + "self_attn.o_proj.weight"] = (d, qd)
            if cfg.o_bias:
                s[h + "self_attn.o_proj.bias"] = (d,)
            s[h + "mlp.gate_proj.weight"] = (ff, d)
            s[h + "mlp.up_proj.weight"] = (ff, d)
            s[h + "mlp.down_proj.weight"] = (d, ff)
        s[p + "norm.weight"] = (d,)
    elif cfg.model_type == "roberta":
        for old, new in _bert_names(cfg, p).items():
            s[old] = _bert_shape(new, cfg)
        s[p + "embeddings.token_type_embeddings.weight"] = (cfg.type_vocab_size, d)
    elif cfg.model_type == "distilbert":
        for old, new in _distilbert_names(cfg, p).items():
            s[old] = _bert_shape(new, cfg)
    if cfg.is_decoder and not cfg.tie_embeddings:
        s["lm_head.weight"] = (V, d)
    return s


# ------------------------------------------------------------------ decoders
def _t(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.T)


def pack_decoder(cfg: ModelConfig, t: dict[str, np.ndarray], prefix: str) -> DecoderWeights:
    """Build :class:`DecoderWeights` from tensors named as :func:`expected_shapes` names them."""
    p = prefix
    layers = []
    if cfg.model_type == "gpt2":
        for i in range(cfg.n_layer):
            h = f"{p}h.{i}."
            layers.append(DecoderLayer(
                norm1_g=t[h + "ln_1.weight"], norm1_b=t[h + "ln_1.bias"],
                w_qkv=t[h + "attn.c_attn.weight"], b_qkv=t[h + "attn.c_attn.bias"],  # (d, 3d)
                w_o=t[h + "attn.c_proj.weight"], b_o=t[h + "attn.c_proj.bias"],
                norm2_g=t[h + "ln_2.weight"], norm2_b=t[h + "ln_2.bias"],
                w_up=t[h + "mlp.c_fc.weight"], b_up=t[h + "mlp.c_fc.bias"],  # (d, d_ff)
                w_down=t[h + "mlp.c_proj.weight"], b_down=t[h + "mlp.c_proj.bias"],
            ))  # fmt: skip
        wte, wpe = t[p + "wte.weight"], t[p + "wpe.weight"]
        norm_f = (t[p + "ln_f.weight"], t[p + "ln_f.bias"])
    else:
        for i in range(cfg.n_layer):
            h = f"{p}layers.{i}.self_attn."
            m = f"{p}layers.{i}.mlp."
            w_qkv = np.concatenate([t[f"{h}{n}_proj.weight"] for n in "qkv"]).T  # (d, (nh+2nkv)dh)
            b_qkv = (np.concatenate([t[f"{h}{n}_proj.bias"] for n in "qkv"])
                     if cfg.qkv_bias else None)  # fmt: skip
            w_gu = np.concatenate(
                [t[m + "gate_proj.weight"], t[m + "up_proj.weight"]]
            ).T  # (d, 2ff)
            layers.append(DecoderLayer(
                norm1_g=t[f"{p}layers.{i}.input_layernorm.weight"], norm1_b=None,
                w_qkv=np.ascontiguousarray(w_qkv), b_qkv=b_qkv,
                w_o=_t(t[h + "o_proj.weight"]),  # (nh dh, d)
                b_o=t[h + "o_proj.bias"] if cfg.o_bias else None,
                norm2_g=t[f"{p}layers.{i}.post_attention_layernorm.weight"], norm2_b=None,
                w_up=np.ascontiguousarray(w_gu), b_up=None,
                w_down=_t(t[m + "down_proj.weight"]), b_down=None,  # (d_ff, d)
            ))  # fmt: skip
        wte, wpe = t[p + "embed_tokens.weight"], None
        norm_f = (t[p + "norm.weight"], None)
    w_lm = wte.T if cfg.tie_embeddings else _t(t["lm_head.weight"])  # (d, vocab)
    for lw in layers:
        for a in vars(lw).values():
            if a is not None:
                a.setflags(write=False)
    return DecoderWeights(wte, wpe, tuple(layers), *norm_f, w_lm)


# ------------------------------------------------------------------ encoders
_BERT_PARTS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "attention.output.LayerNorm",
    "intermediate.dense",
    "output.dense",
    "output.LayerNorm",
)
_DISTIL_PARTS = {
    "attention.q_lin": "attention.self.query",
    "attention.k_lin": "attention.self.key",
    "attention.v_lin": "attention.self.value",
    "attention.out_lin": "attention.output.dense",
    "sa_layer_norm": "attention.output.LayerNorm",
    "ffn.lin1": "intermediate.dense",
    "ffn.lin2": "output.dense",
    "output_layer_norm": "output.LayerNorm",
}


def _renamed(cfg: ModelConfig, p: str, layers: str, parts: dict[str, str]) -> dict[str, str]:
    """Checkpoint name -> BERT name for the embeddings and every layer's ``parts`` (their
    names under ``p + layers`` -> BERT's); token types are handled separately."""
    names = {}
    for n in ("word_embeddings", "position_embeddings"):
        names[f"{p}embeddings.{n}.weight"] = f"embeddings.{n}.weight"
    for n in ("weight", "bias"):
        names[f"{p}embeddings.LayerNorm.{n}"] = f"embeddings.LayerNorm.{n}"
    for i in range(cfg.n_layer):
        for old, new in parts.items():
            for n in ("weight", "bias"):
                names[f"{p}{layers}.{i}.{old}.{n}"] = f"encoder.layer.{i}.{new}.{n}"
    return names


def _bert_names(cfg: ModelConfig, p: str) -> dict[str, str]:
    """RoBERTa name -> BERT name (the same names under RoBERTa's prefix)."""
    return _renamed(cfg, p, "encoder.layer", {part: part for part in _BERT_PARTS})


def _distilbert_names(cfg: ModelConfig, p: str) -> dict[str, str]:
    return _renamed(cfg, p, "transformer.layer", _DISTIL_PARTS)


def _bert_shape(name: str, cfg: ModelConfig) -> tuple[int, ...]:
    d, ff = cfg.d_model, cfg.d_ff
    if name == "embeddings.word_embeddings.weight":
        return (cfg.vocab_size, d)
    if name == "embeddings.position_embeddings.weight":
        return (cfg.max_positions, d)
    if name.endswith("intermediate.dense.weight"):
        return (ff, d)
    if name.endswith("intermediate.dense.bias"):
        return (ff,)
    if name.endswith("output.dense.weight") and "attention" not in name:
        return (d, ff)
    if name.endswith(".weight") and "LayerNorm" not in name:
        return (d, d)
    return (d,)


def encoder_config(cfg: ModelConfig) -> EncoderConfig:
    """The BERT configuration that runs a RoBERTa or DistilBERT model.

    RoBERTa's positions start at ``pad_token_id + 1``: its position table is cut to the rows
    from there (see :func:`bert_tensors`), which leaves ``max_positions - pad_token_id - 1``.
    """
    n_pos = cfg.max_positions
    if cfg.model_type == "roberta":
        n_pos -= cfg.pad_token_id + 1
    return EncoderConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.d_model,
        num_layers=cfg.n_layer,
        num_heads=cfg.n_head,
        intermediate_size=cfg.d_ff,
        max_positions=n_pos,
        type_vocab_size=cfg.type_vocab_size,
        layer_norm_eps=cfg.norm_eps,
        pad_token_id=cfg.pad_token_id,
    )


def bert_tensors(cfg: ModelConfig, t: dict[str, np.ndarray], prefix: str) -> dict:
    """RoBERTa or DistilBERT tensors under BERT's names, ready for ``Encoder``."""
    if cfg.model_type == "roberta":
        out = {new: t[old] for old, new in _bert_names(cfg, prefix).items()}
        pos = "embeddings.position_embeddings.weight"
        out[pos] = np.ascontiguousarray(out[pos][cfg.pad_token_id + 1 :])  # (n_pos - pad - 1, d)
        out["embeddings.token_type_embeddings.weight"] = t[
            prefix + "embeddings.token_type_embeddings.weight"
        ]
    else:
        out = {new: t[old] for old, new in _distilbert_names(cfg, prefix).items()}
        # DistilBERT has no segments: one all-zero token type adds nothing
        out["embeddings.token_type_embeddings.weight"] = np.zeros((1, cfg.d_model), np.float32)
    return out
