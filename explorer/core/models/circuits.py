"""Previous-token and induction heads, found by measurement (Olsson et al. 2022).

"In-context Learning and Induction Heads" (Olsson, Elhage, Nanda et al., 2022) describes a
two-head circuit: a *previous-token head* copies each token's predecessor into its position;
an *induction head* in a later layer then attends from a token ``A`` to the token that came
right after an earlier ``A`` (prefix matching) and raises that token's logit (copying), so
``… A B … A`` predicts ``B``. The three scores here are measured on attention weights and head
outputs; no head is ever named by its index.

* :func:`previous_token_scores`: mean weight on the token just before (query ``i`` to ``i-1``).
* :func:`prefix_matching_scores`: mean weight from a query ``i`` whose token occurred before to
  the positions right after its earlier occurrences.
* :func:`copying_scores`: a direct-logit copying score. Each head's output ``y_h W_O[h]``
  is read through the unembedding (with the final norm's centering and gain, the per-row
  scale dropped), the logits of each query row are standardised (z-scores), and the score is
  the attention-weighted mean z-score of the attended tokens: above 0 when the head raises the
  logits of the tokens it looks at. It stands in for Olsson et al.'s eigenvalue score of the
  OV circuit and needs no vocabulary × vocabulary matrix.
* :func:`find_induction_heads` applies :data:`CIRCUIT_RULES` to the three scores.
* :func:`measure_circuits` runs a decoder on repeated random token spans (the paper's test)
  and returns all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: span length and count of the repeated random sequences :func:`measure_circuits` runs
REPEAT_SPAN = 30
REPEAT_COUNT = 200
#: sequences the copying score (vocabulary-sized logits per head) is measured on
COPYING_SEQUENCES = 20


@dataclass(frozen=True)
class CircuitRules:
    """Thresholds of :func:`find_induction_heads` (documented in docs/small-decoder.md).

    A head is a *previous-token head* when its previous-token score reaches ``previous``
    (the same 0.5 as the head-type rule of :mod:`explorer.core.attention_aggregates`), and an
    *induction head* when its prefix-matching score reaches ``prefix`` and its copying score
    is above ``copying``. Chance prefix matching on two copies of 30 random tokens is about
    1/45 (uniform attention over the ~45 earlier positions).
    """

    previous: float = 0.5
    prefix: float = 0.3
    copying: float = 0.0


CIRCUIT_RULES = CircuitRules()


@dataclass(frozen=True)
class InductionCircuit:
    """Measured scores of every head, ``(n_layer, n_head)`` float64, and the heads they name.

    ``induction`` and ``previous_token`` list ``(layer, head)`` pairs, strongest first.
    """

    previous_token_scores: np.ndarray
    prefix_matching_scores: np.ndarray
    copying_scores: np.ndarray
    induction: tuple[tuple[int, int], ...]
    previous_token: tuple[tuple[int, int], ...]

    def label(self, layer: int, head: int) -> str:
        """ "induction", "previous token" or "" for one head."""
        if (layer, head) in self.induction:
            return "induction"
        if (layer, head) in self.previous_token:
            return "previous token"
        return ""


def _batched(attentions, name: str = "attentions") -> np.ndarray:
    """(L, H, T, T) or (N, L, H, T, T) as (N, L, H, T, T) float64."""
    a = np.asarray(attentions, dtype=np.float64)
    if a.ndim == 4:
        a = a[None]
    if a.ndim != 5 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{name} must have shape (L, H, T, T) or (N, L, H, T, T), got {a.shape}")
    return a


def _batched_ids(ids, n: int, T: int) -> np.ndarray:
    i = np.asarray(ids)
    if i.ndim == 1:
        i = i[None]
    if i.shape != (n, T) or (i.size and i.dtype.kind not in "iu"):
        raise ValueError(f"ids must be integers of shape ({T},) or ({n}, {T}), got {i.shape}")
    return i.astype(np.int64)


def previous_token_scores(attentions) -> np.ndarray:
    """Mean weight from each query ``i ≥ 1`` to key ``i - 1``.

    Parameters
    ----------
    attentions : array_like, shape (L, H, T, T) or (N, L, H, T, T)
        Softmax weights; with N sequences the mean is over all of them.

    Returns
    -------
    ndarray, shape (L, H), float64 in [0, 1]
    """
    a = _batched(attentions)
    T = a.shape[-1]
    if T < 2:
        raise ValueError("previous-token scores need at least 2 tokens")
    i = np.arange(1, T)
    return a[..., i, i - 1].mean(axis=(0, -1))


def _prefix_targets(ids: np.ndarray) -> np.ndarray:
    """(T, T) bool: key ``j`` follows an earlier occurrence of query ``i``'s token (j ≤ i)."""
    T = len(ids)
    same = ids[:, None] == ids[None, :]  # (T, T): ids[i] == ids[k]
    earlier = np.tril(same, k=-1)  # k < i
    targets = np.zeros((T, T), dtype=bool)
    targets[:, 1:] = earlier[:, :-1]  # key j = k + 1
    return targets


def prefix_matching_scores(attentions, ids) -> np.ndarray:
    """Mean weight from a repeated token to the tokens that followed its earlier occurrences.

    Parameters
    ----------
    attentions : array_like, shape (L, H, T, T) or (N, L, H, T, T)
    ids : array_like of int, shape (T,) or (N, T)
        The token ids the attentions were computed on.

    Returns
    -------
    ndarray, shape (L, H), float64 in [0, 1]
        The mean, over every query whose token occurred earlier in its sequence, of the
        weight on the positions right after those earlier occurrences.

    Raises
    ------
    ValueError
        When no token repeats, so there is nothing to match.
    """
    a = _batched(attentions)
    n, T = a.shape[0], a.shape[-1]
    ids = _batched_ids(ids, n, T)
    total = np.zeros(a.shape[1:3])
    count = 0
    for s in range(n):
        targets = _prefix_targets(ids[s])  # (T, T)
        rows = targets.any(axis=1)
        if not rows.any():
            continue
        on = (a[s] * targets).sum(axis=-1)  # (L, H, T)
        total += on[..., rows].sum(axis=-1)
        count += int(rows.sum())
    if count == 0:
        raise ValueError("no token repeats, so there is no prefix to match")
    return total / count


def copying_scores(attentions, head_outputs, ids, w_o, w_u) -> np.ndarray:
    """How much each head raises the logits of the tokens it attends to (direct path).

    Parameters
    ----------
    attentions : array_like, shape (L, H, T, T) or (N, L, H, T, T)
    head_outputs : array_like, shape (L, H, T, d_head) or (N, L, H, T, d_head)
        Each head's ``y = att @ v`` (before the output projection).
    ids : array_like of int, shape (T,) or (N, T)
    w_o : sequence of L arrays, each (H · d_head, d_model)
        The output projection of every layer (``x @ w_o``; bias not included).
    w_u : array_like, shape (d_model, V)
        The unembedding as the residual stream sees it: the final norm's gain folded in
        (``diag(g) @ W_U``). The norm's centering is applied here; its per-row scale, which
        cannot change a z-score, is dropped.

    Returns
    -------
    ndarray, shape (L, H), float64
        Mean over sequences and queries ``i ≥ 1`` of ``Σ_j a_ij z_i[ids_j]``, where ``z_i``
        is the head's direct logit row at query ``i`` standardised to mean 0 and standard
        deviation 1. About 0 for a head whose output is unrelated to what it attends, and
        several units for a head that copies (an induction head).
    """
    a = _batched(attentions)
    y = np.asarray(head_outputs, dtype=np.float64)
    if y.ndim == 4:
        y = y[None]
    N, L, H, T, _ = a.shape
    if y.ndim != 5 or y.shape[:4] != (N, L, H, T):
        raise ValueError(f"head_outputs {y.shape} do not match attentions {a.shape}")
    dh = y.shape[-1]
    ids = _batched_ids(ids, N, T)
    w_u = np.asarray(w_u, dtype=np.float64)
    if len(w_o) != L:
        raise ValueError(f"w_o has {len(w_o)} layers, attentions {L}")
    if T < 2:
        raise ValueError("copying scores need at least 2 tokens")
    out = np.zeros((L, H))
    for layer in range(L):
        wo = np.asarray(w_o[layer], dtype=np.float64)
        if wo.shape != (H * dh, w_u.shape[0]):
            raise ValueError(
                f"w_o[{layer}] has shape {wo.shape}, expected {(H * dh, w_u.shape[0])}"
            )
        for h in range(H):
            c = y[:, layer, h, 1:] @ wo[h * dh : (h + 1) * dh]  # (N, T-1, d)
            c -= c.mean(axis=-1, keepdims=True)  # the final norm's centering
            z = c @ w_u  # (N, T-1, V)
            z -= z.mean(axis=-1, keepdims=True)
            sd = z.std(axis=-1, keepdims=True)
            z = np.divide(z, sd, out=np.zeros_like(z), where=sd > 0)
            # z-score of every key's token at every query: (N, T-1, T)
            zk = np.take_along_axis(z, np.broadcast_to(ids[:, None, :], (N, T - 1, T)), axis=-1)
            out[layer, h] = (a[:, layer, h, 1:] * zk).sum(axis=-1).mean()
    return out


def _ranked(mask: np.ndarray, score: np.ndarray) -> tuple[tuple[int, int], ...]:
    heads = [(int(layer), int(h)) for layer, h in zip(*np.nonzero(mask), strict=True)]
    return tuple(sorted(heads, key=lambda lh: -score[lh]))


def find_induction_heads(
    previous, prefix, copying, rules: CircuitRules = CIRCUIT_RULES
) -> InductionCircuit:
    """Name previous-token and induction heads from their measured scores.

    Parameters
    ----------
    previous, prefix, copying : array_like, shape (L, H)
        :func:`previous_token_scores`, :func:`prefix_matching_scores`, :func:`copying_scores`.
    rules : CircuitRules

    Returns
    -------
    InductionCircuit
    """
    p, m, c = (np.asarray(x, dtype=np.float64) for x in (previous, prefix, copying))
    if not (p.shape == m.shape == c.shape and p.ndim == 2):
        raise ValueError(f"scores must share one (L, H) shape, got {p.shape}, {m.shape}, {c.shape}")
    induction = (m >= rules.prefix) & (c > rules.copying)
    prev = (p >= rules.previous) & ~induction
    return InductionCircuit(p, m, c, _ranked(induction, m), _ranked(prev, p))


def repeated_random_tokens(
    n: int, span: int, vocab_size: int, *, seed: int = 0, low: int = 0, bos: int | None = None
) -> np.ndarray:
    """``n`` sequences of ``span`` random ids in ``[low, vocab_size)``, each written twice.

    Returns
    -------
    ndarray, shape (n, 2 span) or (n, 1 + 2 span) with ``bos`` first, int64
    """
    if n < 1 or span < 1 or not 0 <= low < vocab_size:
        raise ValueError("need n ≥ 1, span ≥ 1 and 0 ≤ low < vocab_size")
    seg = np.random.default_rng(seed).integers(low, vocab_size, size=(n, span))
    parts = [seg, seg] if bos is None else [np.full((n, 1), bos), seg, seg]
    return np.concatenate(parts, axis=1).astype(np.int64)


def bos_id(model) -> int | None:
    """The special token a decoder's tokenizer puts first, if it adds one."""
    tok = getattr(model, "tokenizer", None)
    if tok is None:
        return None
    first = tok.encode("a")
    return int(first.ids[0]) if len(first.ids) and first.special[0] else None


def repeat_inputs(model, n: int = REPEAT_COUNT, span: int = REPEAT_SPAN, seed: int = 0):
    """The paper's test input for ``model``: random non-special tokens, twice, after its BOS."""
    V = model.config.vocab_size
    special = set() if model.tokenizer is None else set(model.tokenizer.special_ids.tolist())
    low = 0
    while low in special and low < V - 1:
        low += 1
    ids = repeated_random_tokens(n, span, V, seed=seed, low=low, bos=bos_id(model))
    if special:  # redraw the rare special ids inside the range
        rng = np.random.default_rng(seed + 1)
        body = ids[:, -2 * span :]
        first = body[:, :span]
        bad = np.isin(first, list(special))
        while bad.any():
            first[bad] = rng.integers(low, V, size=int(bad.sum()))
            bad = np.isin(first, list(special))
        body[:, span:] = first
    return ids


def repeat_accuracy(logits, ids, span: int) -> tuple[float, float]:
    """Next-token accuracy on the first and on the second copy of repeated spans.

    Parameters
    ----------
    logits : array_like, shape (N, T, V)
    ids : array_like of int, shape (N, T), ending in two copies of ``span`` tokens

    Returns
    -------
    (first, second) : float
        Accuracy of predicting tokens 2…span of each copy (the first token of a copy
        follows an unrelated token and is unpredictable in both).
    """
    pred = np.asarray(logits).argmax(axis=-1)[:, :-1]  # predicts ids[:, 1:]
    hit = pred == np.asarray(ids)[:, 1:]
    T = hit.shape[1] + 1
    s1 = T - 2 * span  # position of the first copy's first token
    first = hit[:, s1 : s1 + span - 1]  # targets s1+1 … s1+span-1
    second = hit[:, s1 + span : T - 1]  # targets s1+span+1 … T-1
    return float(first.mean()), float(second.mean())


def run_batch(model, ids, edits=()):
    """Forward every row of ``ids``: attentions (N, L, H, T, T), head outputs, logits."""
    outs = [model.forward(row, edits=edits) for row in ids]
    return (
        np.stack([o.attentions for o in outs]),
        np.stack([o.head_outputs for o in outs]),
        np.stack([o.logits for o in outs]),
    )


def decoder_unembedding(model) -> tuple[list[np.ndarray], np.ndarray]:
    """(w_o per layer, unembedding with the final norm's gain folded in) of a decoder."""
    w = model.weights
    return [lw.w_o for lw in w.layers], w.norm_f_g[:, None].astype(np.float64) * w.w_lm


def measure_circuits(
    model, n: int = REPEAT_COUNT, span: int = REPEAT_SPAN, seed: int = 0,
    rules: CircuitRules = CIRCUIT_RULES,
) -> InductionCircuit:  # fmt: skip
    """Score every head of a decoder on ``n`` repeated random spans and name its circuit.

    Runs ``n`` forward passes of ``1 + 2 span`` tokens; the copying score uses the first
    :data:`COPYING_SEQUENCES` of them.
    """
    if not getattr(model, "is_decoder", False):
        raise ValueError("induction heads are measured on decoders")
    ids = repeat_inputs(model, n, span, seed)
    att, y, _ = run_batch(model, ids)
    w_o, w_u = decoder_unembedding(model)
    k = min(n, COPYING_SEQUENCES)
    return find_induction_heads(
        previous_token_scores(att),
        prefix_matching_scores(att, ids),
        copying_scores(att[:k], y[:k], ids[:k], w_o, w_u),
        rules,
    )
