"""Positional encodings: how a token's place in the sequence reaches its vector.

``Session.positional``:

``"none"``
    Attention is blind to order: permuting the tokens permutes the results.
``"sinusoidal"``
    Vaswani et al. (2017), section 3.5: ``PE[pos, 2i] = sin(pos / 10000^(2i/d))`` and
    ``PE[pos, 2i+1] = cos(pos / 10000^(2i/d))``. ``pos`` counts the *visible* tokens from 0,
    so the first token the user sees sits at position 0.
``"learned"``
    The learned position table of a pretrained encoder; the encoder registers a provider
    with :func:`register_learned_positions` (positions are then the encoder's own, counting
    ``[CLS]`` as 0).

``Session.positional_mode``:

``"add"``
    ``x = e + p``: the input width stays ``d_model``.
``"concat"``
    ``x = [e, p]``: the positional part has the same width as the embedding, so the heads
    read ``2 · d_model`` numbers (see :func:`input_width`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# fn(session, tokenization, width) -> ndarray (T, width): rows for tokenization.tokens
LearnedPositions = Callable[[object, object, int], np.ndarray]
_learned: LearnedPositions | None = None


def input_width(d_model: int, positional: str, mode: str) -> int:
    """Width of the vectors the heads read.

    ``2 · d_model`` when a positional encoding is concatenated, else ``d_model``.
    """
    if positional != "none" and mode == "concat":
        return 2 * d_model
    return d_model


def sinusoidal(T: int, d: int) -> np.ndarray:
    """The sinusoidal encoding of "Attention Is All You Need".

    Parameters
    ----------
    T : int
        Number of positions (0 .. T-1).
    d : int
        Width; an odd width drops the last cosine column.

    Returns
    -------
    ndarray, shape (T, d), float64
    """
    if T < 0 or d < 1:
        raise ValueError(f"need T >= 0 and d >= 1, got T={T}, d={d}")
    pos = np.arange(T, dtype=np.float64)[:, None]  # (T, 1)
    freq = 10000.0 ** (-np.arange(0, d, 2, dtype=np.float64) / d)  # (ceil(d/2),)
    angle = pos * freq  # (T, ceil(d/2))
    pe = np.empty((T, d))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : d // 2])
    return pe


def register_learned_positions(provider: LearnedPositions | None) -> None:
    """Plug in (or remove, with None) the provider of ``"learned"`` positions.

    ``provider(session, tokenization, width)`` returns shape
    ``(len(tokenization.tokens), width)``.
    """
    global _learned
    _learned = provider


def positions(session, tokenization, width: int) -> np.ndarray | None:
    """Positional vectors of the visible tokens, or None for ``"none"``.

    Parameters
    ----------
    session : Session
    tokenization : Tokenization
    width : int
        Width of the embeddings they go with.

    Returns
    -------
    ndarray, shape (T, width), float64, or None

    Raises
    ------
    ValueError
        Unknown encoding, or ``"learned"`` without a loaded model.
    """
    kind = session.positional
    T = len(tokenization.tokens)
    if kind == "none":
        return None
    if kind == "sinusoidal":
        return sinusoidal(T, width)
    if kind == "learned":
        if session.model is None or _learned is None:
            raise ValueError("no model loaded: learned positions come from a pretrained encoder")
        p = np.array(_learned(session, tokenization, width), dtype=np.float64)  # own copy
        if p.shape != (T, width):
            raise ValueError(f"learned positions have shape {p.shape}, expected ({T}, {width})")
        return p
    raise ValueError(f"unknown positional encoding {kind!r}")


def combine(e: np.ndarray, p: np.ndarray | None, mode: str) -> np.ndarray:
    """Join embeddings and positions.

    Parameters
    ----------
    e : ndarray, shape (T, d)
    p : ndarray, shape (T, d), or None
    mode : {"add", "concat"}

    Returns
    -------
    ndarray, shape (T, d) for "add" or no positions, (T, 2d) for "concat"
    """
    if mode not in ("add", "concat"):
        raise ValueError(f"unknown positional mode {mode!r}")
    if p is None:
        return e
    if mode == "add":
        return e + p
    return np.concatenate([e, p], axis=1)  # (T, 2d)
