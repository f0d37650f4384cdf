"""Summaries across heads and layers, word pooling, filters and head types. No Qt.

* :func:`attention_rollout` follows Abnar & Zuidema (2020), "Quantifying Attention Flow in
  Transformers": each layer's head-mean attention is mixed with the identity (the residual
  connection), rows are renormalised, and the layers are multiplied from the bottom up.
* :func:`pool_words` turns token × token weights into word × word (or sentence × sentence)
  weights that still sum to 1 per row, so WordPiece splits ("deposit", "##ed") read as words.
* :func:`keep_mask` keeps the top-k cells of each row and/or those above a threshold, for
  views that dim the rest.
* :func:`classify_heads` names each head's dominant pattern (Clark et al. 2019, "What Does
  BERT Look At?"): previous token, next token, itself, a [CLS] sink, a [SEP]-or-punctuation
  sink, or broad. The thresholds live in :data:`HEAD_TYPE_RULES` and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PUNCTUATION = frozenset(".,;:!?'\"()-–—…")
SENTENCE_ENDS = frozenset({".", "!", "?"})


def mean_over_heads(attentions) -> np.ndarray:
    """(L, H, T, T) → (L, T, T): each layer's attention averaged over its heads, float64."""
    a = np.asarray(attentions, dtype=np.float64)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"attentions must have shape (L, H, T, T), got {a.shape}")
    return a.mean(axis=1)


def attention_rollout(attentions, residual: float = 0.5) -> np.ndarray:
    """Attention rollout: how much each input token flows into each position, per layer.

    Parameters
    ----------
    attentions : array_like, shape (L, H, T, T)
        Row-stochastic attention weights of every layer and head.
    residual : float in [0, 1]
        Weight of the identity (the residual stream) in each layer's mix.

    Returns
    -------
    ndarray, shape (L, T, T), float64
        ``R[l]``: with Ã_l = residual·I + (1 − residual)·mean_h A_l, rows renormalised,
        R_0 = Ã_0 and R_l = Ã_l · R_{l−1}. Rows of R sum to 1; a fully masked query
        (an all-zero row of A) keeps only its residual share, which renormalises to the
        identity, or stays all zero when ``residual`` is 0.
    """
    if not 0.0 <= residual <= 1.0:
        raise ValueError(f"residual must lie in [0, 1], got {residual}")
    mean = mean_over_heads(attentions)  # (L, T, T)
    L, T = mean.shape[0], mean.shape[-1]
    mixed = residual * np.eye(T) + (1.0 - residual) * mean  # (L, T, T)
    total = mixed.sum(axis=-1, keepdims=True)
    mixed = np.divide(mixed, total, out=np.zeros_like(mixed), where=total > 0)
    out = np.empty_like(mixed)
    for layer in range(L):
        out[layer] = mixed[layer] if layer == 0 else mixed[layer] @ out[layer - 1]
    return out


def pool_words(weights, groups) -> np.ndarray:
    """Pool token × token weights into group × group weights.

    Parameters
    ----------
    weights : array_like, shape (..., T, T)
        Attention weights (rows sum to 1, or to 0 for fully masked rows).
    groups : array_like of int, shape (T,)
        ``groups[t]`` in 0…G−1 assigns token t to a word (or sentence); every group in
        0…G−1 must occur.

    Returns
    -------
    ndarray, shape (..., G, G), float64
        Cell (a, b) is the mean, over the query tokens of group a, of the summed weight on
        the key tokens of group b, so rows keep summing to 1.
    """
    w = np.asarray(weights, dtype=np.float64)
    g = np.asarray(groups)
    if w.ndim < 2 or w.shape[-1] != w.shape[-2]:
        raise ValueError(f"weights must end in a square (T, T), got {w.shape}")
    T = w.shape[-1]
    if g.shape != (T,) or not np.issubdtype(g.dtype, np.integer):
        raise ValueError(f"groups must be {T} integers, got shape {g.shape} of {g.dtype}")
    G = int(g.max()) + 1 if T else 0
    if T and (g.min() < 0 or len(np.unique(g)) != G):
        raise ValueError("groups must use every number 0…G−1 and no other")
    member = np.zeros((T, G))
    member[np.arange(T), g] = 1.0  # (T, G) one-hot membership
    counts = member.sum(axis=0)  # (G,)
    summed_keys = w @ member  # (..., T, G)
    return np.swapaxes(member, 0, 1) @ summed_keys / counts[:, None]  # (..., G, G)


def word_groups(tokens: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Group WordPiece tokens into words.

    A ``##`` piece joins the word before it; [CLS], [SEP], [PAD] and every other token
    start their own group.

    Returns
    -------
    groups : ndarray of int64, shape (T,)
    labels : list of str
        The word each group spells (``"deposited"`` for ``deposit ##ed``).
    """
    groups, labels = [], []
    for t in tokens:
        if t.startswith("##") and labels and not _special(labels[-1]):
            labels[-1] += t[2:]
        else:
            labels.append(t)
        groups.append(len(labels) - 1)
    return np.asarray(groups, dtype=np.int64), labels


def sentence_groups(tokens: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Group tokens into sentences (ended by . ! ?); special tokens get their own groups.

    Returns
    -------
    groups : ndarray of int64, shape (T,)
    labels : list of str
        ``"S1"``, ``"S2"`` … for sentences, the token itself for specials.
    """
    groups, labels = [], []
    open_sentence = False
    n = 0
    for t in tokens:
        if _special(t):
            labels.append(t)
            open_sentence = False
        elif not open_sentence:
            n += 1
            labels.append(f"S{n}")
            open_sentence = True
        groups.append(len(labels) - 1)
        if t in SENTENCE_ENDS:
            open_sentence = False
    return np.asarray(groups, dtype=np.int64), labels


def _special(token: str) -> bool:
    return token.startswith("[") and token.endswith("]") and len(token) > 2


def keep_mask(weights, top_k: int | None = None, threshold: float | None = None) -> np.ndarray:
    """Which cells a filtered view keeps at full strength (the rest are dimmed).

    Parameters
    ----------
    weights : array_like, shape (..., T, S)
    top_k : int or None
        Keep the k largest weights of each row (ties at the k-th value are all kept).
    threshold : float or None
        Keep weights ≥ threshold.

    Returns
    -------
    ndarray of bool, same shape
        Both filters apply together; with neither, every cell is kept. NaN is never kept.
    """
    w = np.asarray(weights, dtype=np.float64)
    keep = ~np.isnan(w)
    if top_k is not None:
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        k = min(int(top_k), w.shape[-1])
        filled = np.where(np.isnan(w), -np.inf, w)
        kth = -np.partition(-filled, k - 1, axis=-1)[..., k - 1 : k]  # (..., 1)
        keep &= filled >= kth
    if threshold is not None:
        keep &= w >= threshold
    return keep


def filter_name(top_k: int | None = None, threshold: float | None = None) -> str:
    """Words for a filtered view's title: ``"top 3 per row, ≥ 0.10"``, or ``""``."""
    parts = []
    if top_k is not None:
        parts.append(f"top {top_k} per row")
    if threshold is not None:
        parts.append(f"≥ {threshold:.2f}")
    return ", ".join(parts)


@dataclass(frozen=True)
class HeadTypeRules:
    """Thresholds for :func:`classify_heads` (the glossary explains them).

    A head takes the first type, in the order below, whose mean share of the weight reaches
    its threshold; with none, a head is "broad" when its mean row entropy is at least
    ``broad_entropy`` of the uniform entropy, else "mixed".
    """

    cls_sink: float = 0.5  # mean weight on [CLS]
    sep_sink: float = 0.5  # mean weight on [SEP] and punctuation together
    previous: float = 0.5  # mean weight on the token just before
    next: float = 0.5  # mean weight on the token just after
    self: float = 0.5  # mean weight on the token itself
    broad_entropy: float = 0.7  # fraction of log(T)


HEAD_TYPE_RULES = HeadTypeRules()
HEAD_TYPES = ("[CLS] sink", "[SEP]/punctuation sink", "previous token", "next token", "self")
HEAD_TYPES_ALL = (*HEAD_TYPES, "broad", "mixed")


def head_type_scores(attentions, tokens: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-head mean shares behind :func:`classify_heads`.

    Parameters
    ----------
    attentions : array_like, shape (L, H, T, T)
    tokens : sequence of str, length T

    Returns
    -------
    dict of str to ndarray, shape (L, H)
        One entry per name in :data:`HEAD_TYPES`, plus ``"entropy"`` as a fraction of
        log T (0 for T = 1).
    """
    a = np.asarray(attentions, dtype=np.float64)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2] or a.shape[-1] != len(tokens):
        raise ValueError(f"attentions {a.shape} do not match {len(tokens)} tokens")
    T = a.shape[-1]
    rows = np.arange(T)
    cls = np.array([t == "[CLS]" for t in tokens], dtype=bool)
    sink = np.array([t == "[SEP]" or t in PUNCTUATION for t in tokens], dtype=bool)

    def diag(offset: int) -> np.ndarray:
        i = rows[max(0, -offset) : T - max(0, offset)]
        return a[..., i, i + offset].sum(axis=-1) / max(T, 1)

    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(a > 0, a * np.log(a), 0.0)
    entropy = -plogp.sum(axis=-1).mean(axis=-1)
    return {
        "[CLS] sink": a[..., cls].sum(axis=-1).mean(axis=-1),
        "[SEP]/punctuation sink": a[..., sink].sum(axis=-1).mean(axis=-1),
        "previous token": diag(-1),
        "next token": diag(1),
        "self": diag(0),
        "entropy": entropy / np.log(T) if T > 1 else np.zeros_like(entropy),
    }


def classify_heads(attentions, tokens: Sequence[str], rules: HeadTypeRules = HEAD_TYPE_RULES):
    """Name every head's type.

    Returns
    -------
    ndarray of str (object), shape (L, H)
        One of :data:`HEAD_TYPES_ALL` per head.
    """
    scores = head_type_scores(attentions, tokens)
    limits = {
        "[CLS] sink": rules.cls_sink,
        "[SEP]/punctuation sink": rules.sep_sink,
        "previous token": rules.previous,
        "next token": rules.next,
        "self": rules.self,
    }
    shape = scores["self"].shape
    out = np.full(shape, "mixed", dtype=object)
    out[scores["entropy"] >= rules.broad_entropy] = "broad"
    decided = np.zeros(shape, dtype=bool)
    for name in HEAD_TYPES:
        hit = (scores[name] >= limits[name]) & ~decided
        out[hit] = name
        decided |= hit
    return out
