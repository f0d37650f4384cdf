"""The BERT forward pass in NumPy float32, with our attention core for every head.

Follows Devlin et al. (2019), "BERT", and Hugging Face ``transformers``' ``BertModel`` (eager
attention, post-LayerNorm): embeddings (word + position + token type, LayerNorm), then per
layer

    q, k, v = x W_qkv + b                      # (n_head, T, d_head) each
    y, att  = attention(q, k, v, 1/√d_head)    # our kernel, padding keys masked
    x1 = LayerNorm(x + concat(y) W_O + b_O)
    x  = LayerNorm(x1 + GELU(x1 W_I + b_I) W_out + b_out)

Head edits act on a head's attention output ``y_h`` before the output projection: ``scale``
multiplies it (0 ablates, like ``head_mask`` in ``transformers``), and replaced projections
recompute that head's q, k or v. Mean pooling over real (unmasked) tokens gives the sentence
embedding, as sentence-transformers' all-MiniLM-L6-v2 does before its final normalisation.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from math import sqrt

import numpy as np

from explorer.core import encoder_files
from explorer.core.attention import attention
from explorer.core.encoder_config import EncoderError
from explorer.core.encoder_edits import checked_edits

#: Outputs smaller than this are allocated without asking how much memory is free.
FORWARD_CHECK_BYTES = 64 << 20


def forward_bytes(cfg, T: int) -> int:
    """Bytes of the arrays one forward pass of ``T`` tokens keeps (float32).

    Hidden states ``(L + 1, T, H)``, attentions ``(L, n_head, T, T)`` and head outputs
    ``(L, n_head, T, d_head)``; the attentions dominate for long texts.
    """
    L, nh, H = cfg.num_layers, cfg.num_heads, cfg.hidden_size
    return 4 * ((L + 1) * T * H + L * nh * T * T + L * nh * T * cfg.d_head)


def _check_forward_memory(cfg, T: int) -> None:
    maps = f"{cfg.num_layers} × {cfg.num_heads} attention maps"
    check_forward_bytes(forward_bytes(cfg, T), T, maps)


def check_forward_bytes(need: int, T: int, what: str, error=EncoderError) -> None:
    """Refuse, with one line, a forward pass of ``T`` tokens whose outputs (``need`` bytes,
    holding ``what``) would not fit in the memory available. Small passes skip the check."""
    if need <= FORWARD_CHECK_BYTES:
        return
    free = encoder_files.available_memory()
    if free is not None and need > free:
        raise error(
            f"{T} tokens need about {encoder_files.size_text(need)} for this model's "
            f"{what}, but only {encoder_files.size_text(free)} is available; shorten the text"
        )


@dataclass(frozen=True, eq=False)
class LayerWeights:
    """One transformer layer, every linear map stored ``(in, out)`` for ``x @ w + b``."""

    w_qkv: np.ndarray  # (H, 3H): columns [q heads | k heads | v heads]
    b_qkv: np.ndarray  # (3H,)
    w_o: np.ndarray  # (H, H)
    b_o: np.ndarray  # (H,)
    ln1_g: np.ndarray  # (H,)
    ln1_b: np.ndarray  # (H,)
    w_i: np.ndarray  # (H, I)
    b_i: np.ndarray  # (I,)
    w_out: np.ndarray  # (I, H)
    b_out: np.ndarray  # (H,)
    ln2_g: np.ndarray  # (H,)
    ln2_b: np.ndarray  # (H,)


@dataclass(frozen=True, eq=False)
class EncoderOutput:
    """Everything one forward pass produced. Arrays are read-only float32.

    Attributes
    ----------
    ids : ndarray, shape (T,), int64
    tokens : tuple of str
    special : ndarray, shape (T,), bool
        [CLS], [SEP] and the like.
    attention_mask : ndarray, shape (T,), bool
        False for padding.
    type_ids : ndarray, shape (T,), int64
    hidden_states : ndarray, shape (n_layer + 1, T, d_model)
        ``hidden_states[0]`` is the embedding output; ``hidden_states[l]`` enters layer l.
    attentions : ndarray, shape (n_layer, n_head, T, T)
        Softmax weights of every head (before any ``scale`` edit).
    head_outputs : ndarray, shape (n_layer, n_head, T, d_head)
        Each head's ``y = att @ v`` after edits, before the output projection.
    pooled : ndarray, shape (d_model,)
        Mean of the last hidden states over unmasked tokens.
    edits : tuple of HeadEdit
    """

    ids: np.ndarray
    tokens: tuple[str, ...]
    special: np.ndarray
    attention_mask: np.ndarray
    type_ids: np.ndarray
    hidden_states: np.ndarray
    attentions: np.ndarray
    head_outputs: np.ndarray
    pooled: np.ndarray
    edits: tuple = field(default=())

    def __post_init__(self):
        for name in ("ids", "special", "attention_mask", "type_ids", "hidden_states",
                     "attentions", "head_outputs", "pooled"):  # fmt: skip
            getattr(self, name).setflags(write=False)

    @property
    def n_tokens(self) -> int:
        return len(self.ids)

    @property
    def last_hidden_state(self) -> np.ndarray:
        """(T, d_model): the encoder's output vectors."""
        return self.hidden_states[-1]

    def layer_input(self, layer: int) -> np.ndarray:
        """(T, d_model) float32: the vectors entering ``layer`` (0 = embedding output)."""
        if not 0 <= layer < self.attentions.shape[0]:
            raise EncoderError(f"layer {layer} out of range [0, {self.attentions.shape[0]})")
        return self.hidden_states[layer]


def cosine(a, b) -> float:
    """Cosine similarity of two vectors in float64 (0 when either is zero)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0


def token_cosine_by_layer(out_a: EncoderOutput, i: int, out_b: EncoderOutput, j: int) -> np.ndarray:
    """Cosine of token ``i`` of ``out_a`` and token ``j`` of ``out_b`` at every layer.

    Returns
    -------
    ndarray, shape (n_layer + 1,), float64
        Entry 0 compares the embedding outputs, entry l the outputs of layer l.
    """
    a = out_a.hidden_states[:, i].astype(np.float64)  # (L+1, H)
    b = out_b.hidden_states[:, j].astype(np.float64)  # (L+1, H)
    num = np.einsum("lh,lh->l", a, b)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _layer_norm(x, g, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = np.mean(xc * xc, axis=-1, keepdims=True)
    return xc / np.sqrt(var + np.float32(eps)) * g + b


# erf(z) ≈ z·P(z²)/Q(z²) on [-4, 4] and ±1 beyond (|erf(4) - 1| < 2e-8): the float32 rational
# approximation of Eigen and XLA, within 1e-7 of erf (float32 ulp level). It vectorises,
# which scipy.special.erf does not: GELU was the costliest step of a layer (1.6 ms at T = 128).
_ERF_P = tuple(
    np.float32(c)
    for c in (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
              -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
              -1.60960333262415e-02)
)  # fmt: skip
_ERF_Q = tuple(
    np.float32(c)
    for c in (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
              -7.37332916720468e-03, -1.42647390514189e-02)
)  # fmt: skip


def _gelu_inplace(h):  # pragma: no cover - compiled in _encoder_kernels
    """Exact (erf) GELU of a contiguous 1-D float32 array, in place."""
    p13, p11, p9, p7, p5, p3, p1 = _ERF_P
    q8, q6, q4, q2, q0 = _ERF_Q
    c = np.float32(0.7071067811865476)  # 1/√2
    lo, hi = np.float32(-4.0), np.float32(4.0)
    for i in range(h.size):
        x = h[i]
        z = x * c
        z = lo if z < lo else (hi if z > hi else z)  # NaN passes through both tests
        z2 = z * z
        p = (((((p13 * z2 + p11) * z2 + p9) * z2 + p7) * z2 + p5) * z2 + p3) * z2 + p1
        q = (((q8 * z2 + q6) * z2 + q4) * z2 + q2) * z2 + q0  # ≤ q0 < 0: never zero
        h[i] = np.float32(0.5) * x * (np.float32(1.0) + z * p / q)


def gelu_(h: np.ndarray) -> np.ndarray:
    """BERT's exact GELU ``x·Φ(x) = x/2·(1 + erf(x/√2))``, in place.

    Parameters
    ----------
    h : ndarray, float32, C-contiguous (any shape)

    Returns
    -------
    ndarray
        ``h`` itself.
    """
    if h.dtype != np.float32 or not h.flags.c_contiguous or not h.flags.writeable:
        raise ValueError("gelu_ needs a writable C-contiguous float32 array")
    _kernels()._gelu(h.reshape(-1))
    return h


def _edited_projection(e, c, x, lw, cfg):
    """``x @ w + b`` (T, d_head) float32 for projection ``c`` ("q", "k" or "v") of the head
    that ``e`` edits: the replacement where ``e`` has one, else the layer's own."""
    H, dh = cfg.hidden_size, cfg.d_head
    j = "qkv".index(c)
    cols = slice(j * H + e.head * dh, j * H + (e.head + 1) * dh)
    w, b = getattr(e, f"w_{c}"), getattr(e, f"b_{c}")
    if w is not None and w.shape[0] == H + 1:
        w, b = w[:H], w[H]
    w = lw.w_qkv[:, cols] if w is None else w.astype(np.float32)  # (H, d_head)
    b = lw.b_qkv[cols] if b is None else b.astype(np.float32)  # (d_head,)
    return x @ w + b


def _replaces(e) -> bool:
    return any(getattr(e, f"{p}_{c}") is not None for p in "wb" for c in "qkv")


def _apply_replacements(q, k, v, x, lw, edits, cfg):
    """Recompute q, k or v of edited heads in place from replacement projections."""
    for e in edits:
        for c, dest in zip("qkv", (q, k, v), strict=True):
            if getattr(e, f"w_{c}") is not None or getattr(e, f"b_{c}") is not None:
                dest[e.head] = _edited_projection(e, c, x, lw, cfg)


class _Scratch:
    """Working arrays of one forward pass, reused by every layer (float32)."""

    def __init__(self, cfg, T: int, n_inner: int):
        H, nh, dh = cfg.hidden_size, cfg.num_heads, cfg.d_head
        self.qkv_rows = np.empty((T, 3 * H), np.float32)  # x @ W_qkv
        self.qkv = np.empty((3, nh, T, dh), np.float32)  # split into heads, bias added
        self.concat = np.empty((T, H), np.float32)  # the heads' outputs side by side
        self.x1 = np.empty((T, H), np.float32)  # after attention's LayerNorm
        self.inner = np.empty((T, n_inner), np.float32)  # the feed-forward block's

    def rows(self, r0: int, r1: int) -> _Scratch:
        """The row-by-row arrays' rows ``r0:r1`` (contiguous views)."""
        part = object.__new__(_Scratch)
        part.concat, part.x1, part.inner = self.concat[r0:r1], self.x1[r0:r1], self.inner[r0:r1]
        return part


def _attend(x, lw, cfg, edits, mask, att_out, y_out, scratch):
    """Every head's attention in one layer: weights into ``att_out``, y into ``y_out``."""
    np.matmul(x, lw.w_qkv, out=scratch.qkv_rows)
    _kernels().split_heads(scratch.qkv_rows, lw.b_qkv, scratch.qkv)
    q, k, v = scratch.qkv  # (n_head, T, d_head) each, contiguous
    if edits:
        _apply_replacements(q, k, v, x, lw, edits, cfg)
    attention(q, k, v, scale=1.0 / sqrt(cfg.d_head), mask=mask, out=y_out, weights_out=att_out)


def _attend_edited_heads(x, lw, cfg, edits, mask, att_out, y_out, base, layer):
    """As :func:`_attend` when ``base`` is the unedited run on the same tokens: heads
    without a replaced projection keep ``base``'s weights and outputs (bit for bit), and
    only the replaced heads are recomputed."""
    att_out[...] = base.attentions[layer]
    y_out[...] = base.head_outputs[layer]
    for e in edits:
        if not _replaces(e):
            continue
        q, k, v = (_edited_projection(e, c, x, lw, cfg)[None] for c in "qkv")  # (1, T, d)
        h = e.head
        attention(q, k, v, scale=1.0 / sqrt(cfg.d_head), mask=mask,
                  out=y_out[h : h + 1], weights_out=att_out[h : h + 1])  # fmt: skip


def _after_attention(x, lw, cfg, edits, y_out, out, scratch):
    """The rest of the layer from the heads' outputs ``y_out``; writes its output into ``out``.

    Every step from here on is token by token, so from :data:`SPLIT_MIN_TOKENS` tokens the
    second half of the rows goes to a helper thread (see :func:`_in_two_halves`).
    """
    for e in edits:
        if e.scale != 1.0:
            y_out[e.head] *= np.float32(e.scale)
    T = x.shape[0]
    if T < SPLIT_MIN_TOKENS:
        _rows_after_attention(x, lw, cfg, y_out, out, scratch)
        return

    def rows(r0, r1):
        _rows_after_attention(x[r0:r1], lw, cfg, np.ascontiguousarray(y_out[:, r0:r1]),
                              out[r0:r1], scratch.rows(r0, r1))  # fmt: skip

    _in_two_halves(rows, T)


#: From this many tokens, the row-by-row half of a layer is shared with a helper thread. Below
#: it the hand-over costs more than the half it saves.
SPLIT_MIN_TOKENS = 64

_helper_jobs = None
_HELPER_LOCK = threading.Lock()


def _helper_loop(jobs):
    while True:
        job = jobs.get()
        job()


def _in_two_halves(rows, T: int) -> None:
    """Run ``rows(0, m)`` here and ``rows(m, T)`` on a helper thread, ``m = T // 2``.

    Each half is claimed once, by whichever thread gets to it first: when the helper is busy
    (another pass's half) or has no core to run on, this thread does both halves, so a loaded
    machine costs at most the serial time. The halves write disjoint rows, and a row's numbers
    do not depend on which thread computed it. NumPy's matrix products and the fused kernels
    release the GIL, so the halves run side by side.
    """
    global _helper_jobs
    if _helper_jobs is None:
        with _HELPER_LOCK:
            if _helper_jobs is None:
                jobs = queue.SimpleQueue()
                threading.Thread(
                    target=_helper_loop, args=(jobs,), name="encoder-rows", daemon=True
                ).start()
                _helper_jobs = jobs
    m = T // 2
    lock, claimed, finished = threading.Lock(), [False], threading.Event()
    failure = []

    def claim() -> bool:
        with lock:
            if claimed[0]:
                return False
            claimed[0] = True
            return True

    def second_half():
        if not claim():
            return
        try:
            rows(m, T)
        except BaseException as exc:  # re-raised in the caller
            failure.append(exc)
        finally:
            finished.set()

    _helper_jobs.put(second_half)
    rows(0, m)
    if claim():
        rows(m, T)
    else:
        finished.wait()
        if failure:
            raise failure[0]


def _rows_after_attention(x, lw, cfg, y_out, out, scratch):
    """:func:`_after_attention` for the rows of ``x``; ``y_out`` (n_head, rows, d_head)."""
    k = _kernels()
    eps = np.float32(cfg.layer_norm_eps)
    k.concat_heads(y_out, scratch.concat)  # (T, H)
    x1 = scratch.x1
    np.matmul(scratch.concat, lw.w_o, out=x1)
    k.add_layer_norm(x1, lw.b_o, x, lw.ln1_g, lw.ln1_b, eps, x1)
    h = scratch.inner
    np.matmul(x1, lw.w_i, out=h)  # (T, I)
    k.bias_gelu(h, lw.b_i)
    np.matmul(h, lw.w_out, out=out)
    k.add_layer_norm(out, lw.b_out, x1, lw.ln2_g, lw.ln2_b, eps, out)


def _layer(x, lw, cfg, edits, mask, att_out, y_out, out=None, scratch=None):
    """One BERT layer on ``x`` (T, H); writes weights into ``att_out``, y into ``y_out`` and
    the layer's output into ``out`` (new when None), which it returns."""
    T = x.shape[0]
    scratch = _Scratch(cfg, T, lw.w_i.shape[1]) if scratch is None else scratch
    out = np.empty((T, cfg.hidden_size), np.float32) if out is None else out
    _attend(x, lw, cfg, edits, mask, att_out, y_out, scratch)
    _after_attention(x, lw, cfg, edits, y_out, out, scratch)
    return out


_kernels_module = None


def _kernels():
    """:mod:`explorer.core._encoder_kernels`, imported on first use: importing Numba when this
    module loads would add about 0.2 s to the window's start-up."""
    global _kernels_module
    if _kernels_module is None:
        from explorer.core import _encoder_kernels

        _kernels_module = _encoder_kernels
    return _kernels_module


def _checked_mask(attention_mask, T):
    if attention_mask is None:
        return np.ones(T, dtype=bool)
    m = np.asarray(attention_mask)
    if m.shape != (T,):
        raise EncoderError(f"attention_mask must have shape ({T},), got {m.shape}")
    if m.dtype != np.bool_:
        if not np.isin(m, (0, 1)).all():
            raise EncoderError("attention_mask must hold only 0/1 or booleans")
        m = m.astype(bool)
    if not m.any():
        raise EncoderError("attention_mask masks every token")
    return m.copy()


def _reuse_base(base, ids, valid, type_ids):
    if not isinstance(base, EncoderOutput):
        raise EncoderError("base must be an EncoderOutput")
    if base.edits:
        raise EncoderError("base must be an unedited forward pass")
    same = (
        np.array_equal(base.ids, ids)
        and np.array_equal(base.attention_mask, valid)
        and np.array_equal(base.type_ids, type_ids)
    )
    if not same:
        raise EncoderError("base was computed for other tokens")


def run_encoder(enc, ids, names, special, *, edits, attention_mask, type_ids, base):
    """The forward pass behind :meth:`Encoder.forward` (see there)."""
    cfg = enc.config
    T, H, L = len(ids), cfg.hidden_size, cfg.num_layers
    nh, dh = cfg.num_heads, cfg.d_head
    if T == 0:
        raise EncoderError("no tokens to encode")
    if T > cfg.max_positions:
        raise EncoderError(f"{T} tokens exceed the model's limit of {cfg.max_positions}")
    valid = _checked_mask(attention_mask, T)
    type_ids = np.zeros(T, np.int64) if type_ids is None else np.asarray(type_ids, np.int64)
    if type_ids.shape != (T,) or type_ids.min() < 0 or type_ids.max() >= cfg.type_vocab_size:
        raise EncoderError(f"type_ids must be ({T},) integers in [0, {cfg.type_vocab_size})")
    by_layer = checked_edits(edits, cfg)
    _check_forward_memory(cfg, T)
    # padding keys are hidden from every query; an unpadded text needs no mask at all
    mask = None if valid.all() else np.ascontiguousarray(np.broadcast_to(valid, (T, T)))

    hidden = np.empty((L + 1, T, H), dtype=np.float32)
    att = np.empty((L, nh, T, T), dtype=np.float32)
    y = np.empty((L, nh, T, dh), dtype=np.float32)
    start = 0
    if base is not None and by_layer:
        _reuse_base(base, ids, valid, type_ids)
        start = min(by_layer)
        hidden[: start + 1] = base.hidden_states[: start + 1]
        att[:start] = base.attentions[:start]
        y[:start] = base.head_outputs[:start]
    else:
        emb = enc.word_embeddings[ids] + enc.token_type_embeddings[type_ids]  # (T, H)
        emb += enc.position_embeddings[:T]
        hidden[0] = _layer_norm(emb, enc.emb_ln_g, enc.emb_ln_b, cfg.layer_norm_eps)
    scratch = _Scratch(cfg, T, enc.layers[0].w_i.shape[1]) if start < L else None
    for layer in range(start, L):
        lw, x = enc.layers[layer], hidden[layer]
        edits_here = by_layer.get(layer, ())
        if base is not None and layer == start and by_layer:
            _attend_edited_heads(x, lw, cfg, edits_here, mask, att[layer], y[layer], base, layer)
        else:
            _attend(x, lw, cfg, edits_here, mask, att[layer], y[layer], scratch)
        _after_attention(x, lw, cfg, edits_here, y[layer], hidden[layer + 1], scratch)

    w = valid.astype(np.float32)  # (T,)
    pooled = (w @ hidden[L]) / w.sum()  # (H,)
    return EncoderOutput(
        ids=np.array(ids, dtype=np.int64),
        tokens=tuple(names),
        special=np.array(special, dtype=bool),
        attention_mask=valid,
        type_ids=type_ids.copy(),
        hidden_states=hidden,
        attentions=att,
        head_outputs=y,
        pooled=pooled.astype(np.float32),
        edits=tuple(edits),
    )
