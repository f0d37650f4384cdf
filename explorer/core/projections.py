"""Projection presets: the starting values of each head's ``w_q``, ``w_k`` and ``w_v``.

Every matrix has shape ``(d_in, d_head)`` where ``d_in`` is the width of the vectors the
heads read: ``d_model``, or ``2 · d_model`` when a positional encoding is concatenated (see
:func:`explorer.core.positional.input_width`). Presets (``Session.preset``):

``"identity"``
    The (rectangular) identity for all three matrices: queries, keys and values are the
    input vectors themselves (truncated or zero-padded to ``d_head``), so the scores are
    plain dot products of embeddings. This is the default.
``"orthogonal"``
    Random matrices with orthonormal columns (or rows, when ``d_head > d_in``), drawn
    independently for every head and every one of q, k, v from a seeded generator. A head
    then compares the tokens along random directions.
``"scaled"``
    ``gain × identity``: the same comparisons as identity with scores multiplied by
    ``gain²``, i.e. sharper (gain > 1) or flatter (gain < 1) attention.
``"model"``
    A real head of a pretrained encoder. This module holds no model: the encoder registers
    a provider with :func:`register_model_heads`.

:func:`conform` keeps a Session's heads consistent with its dimensions after the user
changes ``d_model``, ``d_head``, the number of heads or the positional mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from explorer.core.positional import input_width
from explorer.core.session import MAX_HEADS, PROJECTION_PRESETS, Head, Session

# fn(model: ModelRef, n_head, d_in, d_head) -> tuple[Head, ...]
ModelHeads = Callable[[object, int, int, int], tuple[Head, ...]]
_model_heads: ModelHeads | None = None


def register_model_heads(provider: ModelHeads | None) -> None:
    """Plug in (or remove, with None) the provider of the ``"model"`` preset.

    ``provider(model_ref, n_head, d_in, d_head)`` returns ``n_head`` :class:`Head` objects
    with matrices of shape ``(d_in, d_head)``, or raises ValueError when that shape does
    not fit the model.
    """
    global _model_heads
    _model_heads = provider


def session_input_width(session: Session) -> int:
    """Width ``d_in`` the session's heads must read (``d_model`` or ``2 · d_model``)."""
    return input_width(session.d_model, session.positional, session.positional_mode)


def _orthonormal_columns(a: np.ndarray) -> np.ndarray:
    """Q factors of a stack of ``(n, m)`` matrices (n >= m), with a positive diagonal in R.

    Parameters
    ----------
    a : ndarray, shape (B, n, m), float64

    Returns
    -------
    ndarray, shape (B, n, m), float64
        Orthonormal columns. For Gaussian ``a`` the positive diagonal makes each draw uniform
        (Haar), free of a sign convention.

    Classical Gram-Schmidt, run twice per column ("twice is enough": orthonormal to
    rounding), from elementwise products and NumPy sums along the last axis, not LAPACK's
    QR: BLAS kernels differ between CPUs in their last bits, while this gives the same bits
    on every machine, whatever ``B``. So a seed always makes the same matrices and files
    written from a preset can be regenerated exactly.
    """
    B, n, m = a.shape
    rows = np.zeros((B, m, n))  # (B, m, n) the orthonormal vectors as rows...
    cols = np.zeros((B, n, m))  # (B, n, m) ...and as columns, so every sum runs along axis -1
    for j in range(m):
        v = a[:, :, j].copy()  # (B, n)
        for _ in range(2):
            c = np.sum(rows[:, :j] * v[:, None, :], axis=2)  # (B, j) components along 0..j-1
            v = v - np.sum(cols[:, :, :j] * c[:, None, :], axis=2)  # (B, n)
        v = v / np.sqrt(np.sum(v * v, axis=1))[:, None]  # (B, n)
        rows[:, j] = v
        cols[:, :, j] = v
    return cols


def preset_heads(
    preset: str,
    n_head: int,
    d_in: int,
    d_head: int,
    seed: int = 0,
    scale: float = 1.0,
    *,
    model=None,
) -> tuple[Head, ...]:
    """Build ``n_head`` heads from a preset.

    Parameters
    ----------
    preset : {"identity", "orthogonal", "scaled", "model"}
    n_head : int
        1 .. MAX_HEADS.
    d_in : int
        Rows of every matrix: the width of the vectors the heads read.
    d_head : int
        Columns of every matrix.
    seed : int
        Seed of ``"orthogonal"`` (head ``h`` gets the ``h``-th draws of one generator, so
        adding a head never changes the earlier ones).
    scale : float
        Gain of ``"scaled"``; finite.
    model : ModelRef or None
        Required by ``"model"``.

    Returns
    -------
    tuple of Head
        Each with ``w_q``, ``w_k``, ``w_v`` of shape ``(d_in, d_head)``, float64.

    Raises
    ------
    ValueError
        Unknown preset, bad sizes, or ``"model"`` without a loaded model.
    """
    if preset not in PROJECTION_PRESETS:
        raise ValueError(f"unknown projection preset {preset!r}; choose from {PROJECTION_PRESETS}")
    if not 1 <= n_head <= MAX_HEADS:
        raise ValueError(f"number of heads must be between 1 and {MAX_HEADS}, got {n_head}")
    if d_in < 1 or d_head < 1:
        raise ValueError(f"input width and head size must be positive, got {d_in} and {d_head}")
    if preset == "identity":
        eye = np.eye(d_in, d_head)
        return tuple(Head(eye, eye, eye) for _ in range(n_head))
    if preset == "scaled":
        if not np.isfinite(scale):
            raise ValueError(f"scale must be finite, got {scale}")
        m = float(scale) * np.eye(d_in, d_head)
        return tuple(Head(m, m, m) for _ in range(n_head))
    if preset == "orthogonal":
        if int(seed) < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        tall = d_in >= d_head
        shape = (d_in, d_head) if tall else (d_head, d_in)  # (n, m), n >= m
        # head h takes draws 3h, 3h+1, 3h+2 (q, k, v) of one generator
        a = np.random.default_rng(int(seed)).standard_normal((3 * n_head, *shape))
        m = _orthonormal_columns(a)  # (3 n_head, n, m)
        if not tall:
            m = m.transpose(0, 2, 1)  # orthonormal rows
        return tuple(Head(m[3 * h], m[3 * h + 1], m[3 * h + 2]) for h in range(n_head))
    # preset == "model"
    if model is None or _model_heads is None:
        raise ValueError("no model loaded: the 'model' preset copies heads of a pretrained encoder")
    heads = tuple(_model_heads(model, n_head, d_in, d_head))
    if len(heads) != n_head or any(h.w_q.shape != (d_in, d_head) for h in heads):
        raise ValueError(f"the model's heads do not fit {n_head} heads of shape {d_in}×{d_head}")
    return heads


def session_preset_heads(session: Session, n_head: int | None = None, d_head: int | None = None):
    """:func:`preset_heads` with the session's preset, seed, scale, model and ``d_in``."""
    return preset_heads(
        session.preset,
        session.n_head if n_head is None else n_head,
        session_input_width(session),
        session.d_head if d_head is None else d_head,
        session.preset_seed,
        session.preset_scale,
        model=session.model,
    )


def conform(session: Session, *, n_head: int | None = None, d_head: int | None = None) -> Session:
    """Make the heads fit the session's dimensions; keep edits where they still fit.

    Call after the user changes ``d_model``, the positional encoding or mode, the number of
    heads or ``d_head`` (pass the new ``n_head`` / ``d_head``; ``d_model`` and the positional
    settings are read from the session).

    * If every head already has shape ``(d_in, d_head)``: heads are kept (edits survive); a
      smaller ``n_head`` drops the last heads, a larger one appends preset heads.
    * Otherwise all heads are rebuilt from the session's preset.
    * The ``"model"`` preset rebuilds through the registered model provider; when no model
      is loaded (or its heads cannot take this shape) the heads fall back to ``"identity"``
      and ``preset`` says so.

    ``selected_head`` is clamped to the new head count.

    Parameters
    ----------
    session : Session
    n_head, d_head : int, optional
        New number of heads / head width; default: unchanged.

    Returns
    -------
    Session
        ``session`` itself when nothing had to change.
    """
    n = session.n_head if n_head is None else int(n_head)
    dh = session.d_head if d_head is None else int(d_head)
    if not 1 <= n <= MAX_HEADS:
        raise ValueError(f"number of heads must be between 1 and {MAX_HEADS}, got {n}")
    if dh < 1:
        raise ValueError(f"d_head must be positive, got {dh}")
    d_in = session_input_width(session)
    fits = all(h.w_q.shape == (d_in, dh) and h.w_v.shape == (d_in, dh) for h in session.heads)
    preset = session.preset
    if fits:
        heads = session.heads[:n]
        if n > len(heads):
            try:
                extra = session_preset_heads(session, n_head=n, d_head=dh)[len(heads) :]
            except ValueError:
                extra = preset_heads("identity", n, d_in, dh)[len(heads) :]
            heads = heads + extra
    else:
        try:
            heads = session_preset_heads(session, n_head=n, d_head=dh)
        except ValueError:
            if preset != "model":
                raise
            preset = "identity"
            heads = preset_heads("identity", n, d_in, dh)
    selected = min(session.selected_head, n - 1)
    if heads == session.heads and selected == session.selected_head and preset == session.preset:
        return session
    return replace(session, heads=heads, preset=preset, selected_head=selected)
