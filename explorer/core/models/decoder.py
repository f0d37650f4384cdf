"""Decoder forward passes (GPT-2, Llama, Qwen2) in NumPy float32 with our attention kernel.

Follows Radford et al. (2019), "GPT-2", and Touvron et al. (2023), "Llama", as Hugging Face
``transformers`` implements them (``GPT2LMHeadModel``, ``LlamaForCausalLM``,
``Qwen2ForCausalLM``, eager attention), with nanoGPT's names. Per layer, pre-norm:

    h = norm(x)                                   # LayerNorm (GPT-2) or RMSNorm (Llama)
    q, k, v = h W_q + b_q, h W_k + b_k, h W_v + b_v
    q, k = rope(q), rope(k)                       # rotary positions (Llama, Qwen2)
    y, att = attention(q, k, v, causal=True)      # k, v shared by groups of query heads
    x = x + concat(y) W_o + b_o
    x = x + mlp(norm(x))                          # GELU-tanh (GPT-2) or SwiGLU (Llama)

then ``logits = final_norm(x) W_emb^T`` (tied) or ``final_norm(x) W_lm``. Every linear map is
stored ``(in, out)`` so that ``x @ w + b`` holds, the workbench's convention.

Head edits act as in the encoder: ``scale`` multiplies the head's output ``y_h`` (0 ablates);
replaced ``w_q`` recomputes that query head. With grouped-query attention one key/value
projection serves :meth:`DecoderModel.kv_group` query heads, so a replaced ``w_k`` or ``w_v``
changes every head of the group.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import sqrt
from pathlib import Path

import numpy as np

from explorer.core.attention import attention
from explorer.core.encoder_edits import HeadEdit, HeadWeights, check_head_edits
from explorer.core.encoder_forward import check_forward_bytes, gelu_
from explorer.core.models.config import ModelConfig, ModelError
from explorer.core.models.ops import (
    apply_rope,
    blas_limited,
    gelu_tanh,
    layer_norm,
    rms_norm,
    rope_tables,
    silu,
)
from explorer.core.models.output import ModelOutput


@dataclass(frozen=True, eq=False)
class DecoderLayer:
    """One decoder layer, every linear map ``(in, out)``; ``b_*`` None when absent."""

    norm1_g: np.ndarray  # (d,)
    norm1_b: np.ndarray | None  # (d,) LayerNorm only
    w_qkv: np.ndarray  # (d, (n_head + 2 n_kv_head) d_head): [q heads | k heads | v heads]
    b_qkv: np.ndarray | None  # ((n_head + 2 n_kv_head) d_head,)
    w_o: np.ndarray  # (n_head d_head, d)
    b_o: np.ndarray | None  # (d,)
    norm2_g: np.ndarray
    norm2_b: np.ndarray | None
    w_up: np.ndarray  # (d, d_ff), or (d, 2 d_ff) = [gate | up] for SwiGLU
    b_up: np.ndarray | None  # (d_ff,)
    w_down: np.ndarray  # (d_ff, d)
    b_down: np.ndarray | None  # (d,)


@dataclass(frozen=True, eq=False)
class DecoderWeights:
    wte: np.ndarray  # (vocab, d)
    wpe: np.ndarray | None  # (max_positions, d), learned positions (GPT-2)
    layers: tuple[DecoderLayer, ...]
    norm_f_g: np.ndarray  # (d,)
    norm_f_b: np.ndarray | None
    w_lm: np.ndarray  # (d, vocab): wte.T when tied (a view, no copy)


def forward_bytes(cfg: ModelConfig, T: int) -> int:
    """Bytes of the float32 arrays one forward pass of ``T`` tokens keeps."""
    L, nh = cfg.n_layer, cfg.n_head
    return 4 * ((L + 1) * T * cfg.d_model + L * nh * T * T + L * nh * T * cfg.d_head
                + T * cfg.vocab_size)  # fmt: skip


def check_forward_memory(cfg: ModelConfig, T: int) -> None:
    """Refuse a pass whose outputs would not fit in the memory available."""
    maps = f"{cfg.n_layer} × {cfg.n_head} attention maps and logits"
    check_forward_bytes(forward_bytes(cfg, T), T, maps, ModelError)


class DecoderModel:
    """A loaded decoder (GPT-2, Llama, Qwen2). Immutable after loading; threads may share it.

    Use :func:`explorer.core.models.load_model`, or
    :func:`~explorer.core.models.loader.decoder_from_tensors` for weights built in memory.
    """

    def __init__(self, cfg: ModelConfig, weights: DecoderWeights, tokenizer=None, *,
                 name: str = "", path: Path | None = None):  # fmt: skip
        self.config = cfg
        self.weights = weights
        self.tokenizer = tokenizer
        self.name = name
        self.path = path

    is_decoder = True

    def __repr__(self) -> str:
        c = self.config
        return (
            f"DecoderModel({self.name!r}, {c.model_type}, layers={c.n_layer}, heads={c.n_head}, "
            f"kv_heads={c.n_kv_head}, d_model={c.d_model})"
        )

    # ---------------------------------------------------------------- heads
    def kv_group(self, head: int) -> list[int]:
        """The query heads that share ``head``'s key/value projection (``head`` included)."""
        c = self.config
        if not 0 <= head < c.n_head:
            raise ModelError(f"no head {head}; the model has {c.n_head} heads")
        g = head // c.group_size
        return list(range(g * c.group_size, (g + 1) * c.group_size))

    def _cols(self, part: str, head: int) -> slice:
        """Columns of ``w_qkv`` holding query head ``head``'s q, or its group's k or v."""
        c, dh = self.config, self.config.d_head
        if part == "q":
            return slice(head * dh, (head + 1) * dh)
        g = head // c.group_size
        start = c.n_head * dh + (0 if part == "k" else c.n_kv_head * dh) + g * dh
        return slice(start, start + dh)

    def head_weights(self, layer: int, head: int) -> HeadWeights:
        """One head's projections ``x @ w + b`` (x is the normed layer input), float64.

        ``w_k`` and ``w_v`` are those of the head's key/value group; q and k are rotated by
        position after the projection in rotary models.
        """
        c = self.config
        if not (0 <= layer < c.n_layer and 0 <= head < c.n_head):
            raise ModelError(
                f"no head ({layer}, {head}); the model has {c.n_layer} layers × {c.n_head} heads"
            )
        lw = self.weights.layers[layer]
        w, b = [], []
        for part in "qkv":
            s = self._cols(part, head)
            w.append(lw.w_qkv[:, s].astype(np.float64))  # (d, d_head)
            b.append(np.zeros(c.d_head) if lw.b_qkv is None else lw.b_qkv[s].astype(np.float64))
        return HeadWeights(layer, head, *w, *b)

    def _checked_edits(self, edits) -> dict[int, list[HeadEdit]]:
        c = self.config
        edits = list(edits)
        by_layer = check_head_edits(edits, c.n_layer, c.n_head, c.d_model, c.d_head, ModelError)
        # grouped-query attention: query heads of one group share their K and V projections
        shared: dict[tuple, int] = {}
        for e in edits:
            for part in "kv":
                if getattr(e, f"w_{part}") is None and getattr(e, f"b_{part}") is None:
                    continue
                key = (e.layer, part, e.head // c.group_size)
                if key in shared:
                    raise ModelError(
                        f"heads ({e.layer}, {shared[key]}) and ({e.layer}, {e.head}) share "
                        f"one {part} projection; replace it in one edit only"
                    )
                shared[key] = e.head
        return by_layer

    # ---------------------------------------------------------------- forward
    def tokenize(self, text: str):
        if self.tokenizer is None:
            raise ModelError("this model has no tokenizer; pass token ids")
        return self.tokenizer.encode(text)

    def _ids(self, inputs):
        if isinstance(inputs, str):
            t = self.tokenize(inputs)
            return t.ids, t.tokens, t.special
        ids = np.asarray(inputs)
        if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
            raise ModelError(f"token ids must be a 1-D integer array, got {ids.dtype} {ids.shape}")
        ids = ids.astype(np.int64)
        V = self.config.vocab_size
        if ids.size and (ids.min() < 0 or ids.max() >= V):
            raise ModelError(f"token ids must lie in [0, {V})")
        if self.tokenizer is None:
            return ids, tuple(f"<{i}>" for i in ids), np.zeros(len(ids), dtype=bool)
        names = tuple(self.tokenizer.id_to_token(i) for i in ids)
        return ids, names, np.isin(ids, self.tokenizer.special_ids)

    def final_norm(self, h: np.ndarray) -> np.ndarray:
        """The norm before the LM head, for residual vectors ``h`` (..., d_model) float32."""
        c, w = self.config, self.weights
        if c.model_type == "gpt2":
            return layer_norm(h, w.norm_f_g, w.norm_f_b, c.norm_eps)
        return rms_norm(h, w.norm_f_g, c.norm_eps)

    def unembed(self, h: np.ndarray) -> np.ndarray:
        """Logits ``final_norm(h) @ W_lm``: (..., d_model) -> (..., vocab_size) float32."""
        return self.final_norm(h) @ self.weights.w_lm

    def forward(self, inputs, edits=()) -> ModelOutput:
        """Run the decoder on a text or on token ids.

        Parameters
        ----------
        inputs : str or array_like of int, shape (T,)
            A text is tokenized (with the BOS its tokenizer adds, if any).
        edits : sequence of HeadEdit

        Returns
        -------
        ModelOutput
            With ``logits`` (T, vocab_size).
        """
        ids, names, special = self._ids(inputs)
        c, W = self.config, self.weights
        T, L, nh, dh = len(ids), c.n_layer, c.n_head, c.d_head
        if T == 0:
            raise ModelError("no tokens to run")
        if T > c.max_positions:
            raise ModelError(f"{T} tokens exceed the model's limit of {c.max_positions}")
        edits = tuple(edits)
        by_layer = self._checked_edits(edits)
        check_forward_memory(c, T)

        hidden = np.empty((L + 1, T, c.d_model), dtype=np.float32)
        att = np.empty((L, nh, T, T), dtype=np.float32)
        y = np.empty((L, nh, T, dh), dtype=np.float32)
        x = W.wte[ids]  # (T, d)
        if W.wpe is not None:
            x = x + W.wpe[:T]  # (T, d)
        hidden[0] = x
        rope = rope_tables(dh, T, c.rope_theta) if c.model_type != "gpt2" else None
        with blas_limited():
            for layer in range(L):
                hidden[layer + 1] = self._layer(
                    hidden[layer], layer, by_layer.get(layer, ()), rope, att[layer], y[layer]
                )
            logits = self.unembed(hidden[L])  # (T, vocab)
        return ModelOutput(
            ids=np.array(ids, dtype=np.int64),
            tokens=tuple(names),
            special=np.array(special, dtype=bool),
            hidden_states=hidden,
            attentions=att,
            head_outputs=y,
            logits=np.ascontiguousarray(logits, dtype=np.float32),
            edits=edits,
        )

    def _norm(self, x, g, b):
        if self.config.model_type == "gpt2":
            return layer_norm(x, g, b, self.config.norm_eps)
        return rms_norm(x, g, self.config.norm_eps)

    def _layer(self, x, layer, edits, rope, att_out, y_out):
        """One pre-norm layer on ``x`` (T, d); weights into ``att_out``, y into ``y_out``."""
        c, lw = self.config, self.weights.layers[layer]
        T, nh, nkv, dh = x.shape[0], c.n_head, c.n_kv_head, c.d_head
        h = self._norm(x, lw.norm1_g, lw.norm1_b)  # (T, d)
        qkv = h @ lw.w_qkv  # (T, (nh + 2 nkv) dh)
        if lw.b_qkv is not None:
            qkv += lw.b_qkv
        q = np.ascontiguousarray(
            qkv[:, : nh * dh].reshape(T, nh, dh).transpose(1, 0, 2)
        )  # (nh, T, dh)
        kv = qkv[:, nh * dh :].reshape(T, 2, nkv, dh).transpose(1, 2, 0, 3)  # (2, nkv, T, dh)
        k, v = np.ascontiguousarray(kv[0]), np.ascontiguousarray(kv[1])  # (nkv, T, dh) each
        for e in edits:
            self._replace(e, h, lw, q, k, v)
        if rope is not None:
            q = apply_rope(q, *rope)  # (nh, T, dh)
            k = apply_rope(k, *rope)  # (nkv, T, dh)
        if nkv != nh:
            k = np.repeat(k, c.group_size, axis=0)  # (nh, T, dh)
            v = np.repeat(v, c.group_size, axis=0)  # (nh, T, dh)
        attention(q, k, v, scale=1.0 / sqrt(dh), causal=True, out=y_out, weights_out=att_out)
        for e in edits:
            if e.scale != 1.0:
                y_out[e.head] *= np.float32(e.scale)
        a = y_out.transpose(1, 0, 2).reshape(T, nh * dh) @ lw.w_o  # (T, d)
        if lw.b_o is not None:
            a += lw.b_o
        x = x + a  # (T, d)
        h = self._norm(x, lw.norm2_g, lw.norm2_b)  # (T, d)
        u = h @ lw.w_up  # (T, d_ff) or (T, 2 d_ff)
        if lw.b_up is not None:
            u += lw.b_up
        if c.activation == "silu":
            u = silu(u[:, : c.d_ff]) * u[:, c.d_ff :]  # (T, d_ff)
        elif c.activation == "gelu":
            u = gelu_(np.ascontiguousarray(u))
        else:
            u = gelu_tanh(u)
        m = u @ lw.w_down  # (T, d)
        if lw.b_down is not None:
            m += lw.b_down
        return x + m

    def _replace(self, e: HeadEdit, h, lw, q, k, v) -> None:
        """Recompute q of head ``e.head`` (or k, v of its group) from replaced projections."""
        c, d = self.config, self.config.d_model
        for part, dest, index in (("q", q, e.head), ("k", k, e.head // c.group_size),
                                  ("v", v, e.head // c.group_size)):  # fmt: skip
            w, b = getattr(e, f"w_{part}"), getattr(e, f"b_{part}")
            if w is None and b is None:
                continue
            s = self._cols(part, e.head)
            if w is not None and w.shape[0] == d + 1:
                w, b = w[:d], w[d]
            w = lw.w_qkv[:, s] if w is None else w.astype(np.float32)  # (d, dh)
            if b is None:
                b = np.zeros(c.d_head, np.float32) if lw.b_qkv is None else lw.b_qkv[s]
            dest[index] = h @ w + np.asarray(b, dtype=np.float32)  # (T, dh)
