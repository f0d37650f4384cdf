"""Per-head summaries of a real encoder's attention, for the layer × head grid.

Clark et al. (2019), "What Does BERT Look At?", found that many BERT heads put most of their
weight on [CLS] or [SEP], on the previous or the next token, or spread it broadly. The numbers
here let a user see that at a glance: the mean entropy of each head's rows and the mean
weight each head gives to those targets. :func:`without_special` drops [CLS]/[SEP] and
renormalises the remaining weights, which reveals what a head does among the words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.core.encoder_config import EncoderError
from explorer.core.encoder_forward import EncoderOutput


@dataclass(frozen=True, eq=False)
class HeadSummary:
    """Per-head statistics, each an array of shape (n_layer, n_head), float64.

    Attributes
    ----------
    entropy : mean over query rows of ``-Σ w log w`` (nats; 0 = one-hot, log T = uniform)
    to_cls, to_sep : mean weight on [CLS] / on [SEP] tokens
    to_prev, to_next, to_self : mean weight on the token before / after / itself
    """

    entropy: np.ndarray
    to_cls: np.ndarray
    to_sep: np.ndarray
    to_prev: np.ndarray
    to_next: np.ndarray
    to_self: np.ndarray


def head_summary(out: EncoderOutput) -> HeadSummary:
    """Summarise every head of a forward pass over its real (unpadded) query rows.

    Parameters
    ----------
    out : EncoderOutput

    Returns
    -------
    HeadSummary
    """
    valid = out.attention_mask  # (T,)
    att = out.attentions[:, :, valid][..., valid].astype(np.float64)  # (L, n_head, T', T')
    tokens = [t for t, ok in zip(out.tokens, valid, strict=True) if ok]
    T = att.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(att > 0, att * np.log(att), 0.0)
    entropy = -plogp.sum(axis=-1).mean(axis=-1)  # (L, n_head)
    cls = np.array([t == "[CLS]" for t in tokens])
    sep = np.array([t == "[SEP]" for t in tokens])
    rows = np.arange(T)

    def mean_diag(offset: int) -> np.ndarray:
        # rows without a neighbour (first for prev, last for next) count as 0
        i = rows[max(0, -offset) : T - max(0, offset)]
        total = att[..., i, i + offset].sum(axis=-1)
        return total / T

    return HeadSummary(
        entropy=entropy,
        to_cls=att[..., cls].sum(axis=-1).mean(axis=-1),
        to_sep=att[..., sep].sum(axis=-1).mean(axis=-1),
        to_prev=mean_diag(-1),
        to_next=mean_diag(1),
        to_self=mean_diag(0),
    )


def without_special(weights, special) -> tuple[np.ndarray, np.ndarray]:
    """Drop special tokens' rows and columns and renormalise each row to sum to 1.

    Parameters
    ----------
    weights : ndarray, shape (..., T, T)
        Attention weights (rows sum to 1).
    special : ndarray, shape (T,), bool
        True for tokens to hide ([CLS], [SEP], padding ...).

    Returns
    -------
    weights : ndarray, shape (..., T', T'), same dtype
        Rows that put all their weight on hidden tokens become all zeros.
    kept : ndarray, shape (T',), int64
        Indices of the tokens that remain.
    """
    w = np.asarray(weights)
    special = np.asarray(special, dtype=bool)
    if w.ndim < 2 or w.shape[-1] != w.shape[-2] or special.shape != (w.shape[-1],):
        raise EncoderError(f"weights {w.shape} and special {special.shape} do not match")
    kept = np.flatnonzero(~special)
    sub = w[..., kept[:, None], kept[None, :]]  # (..., T', T')
    total = sub.sum(axis=-1, keepdims=True)
    safe = np.where(total > 0, total, 1)
    return np.where(total > 0, sub / safe, 0).astype(w.dtype, copy=False), kept
