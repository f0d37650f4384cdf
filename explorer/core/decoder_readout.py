"""What a decoder predicts: next-token probabilities, the logit lens and generation.

Qt-free; the Decoder tab draws what these functions return.

* :func:`next_tokens`: the ``k`` likeliest next tokens at one position, from the logits of a
  :class:`~explorer.core.models.output.ModelOutput` (softmax in float64).
* :func:`logit_lens`: nostalgebraist (2020), "interpreting GPT: the logit lens". Each layer's
  residual stream is read through the model's final norm and LM head as if it were the last
  layer; row 0 is the embeddings, row ``l + 1`` the stream after layer ``l`` (the last row is
  the model's own prediction).
* :func:`choose_next` and :func:`generate`: greedy decoding, or sampling with a temperature
  among the ``top_k`` likeliest tokens (as Transformer Explainer does), one forward pass per
  token, stoppable between tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

#: rows of vocabulary-sized logits the logit lens computes at once (bounds its memory)
LENS_CHUNK_ROWS = 256


def log_softmax(logits) -> np.ndarray:
    """``log softmax`` over the last axis in float64 (finite for any finite input)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@dataclass(frozen=True)
class NextTokens:
    """The likeliest next tokens after ``position``, most likely first."""

    position: int
    ids: np.ndarray  # (k,) int64
    tokens: tuple[str, ...]
    probs: np.ndarray  # (k,) float64
    entropy: float  # of the whole distribution, in nats


def _token_names(model, ids) -> tuple[str, ...]:
    tok = getattr(model, "tokenizer", None)
    if tok is None:
        return tuple(f"<{int(i)}>" for i in ids)
    return tuple(tok.id_to_token(int(i)) for i in ids)


def _top(logp: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest entries of a 1-D array, largest first (ties by index)."""
    k = min(k, logp.size)
    part = np.argpartition(-logp, k - 1)[:k]
    return part[np.lexsort((part, -logp[part]))]


def next_tokens(model, out, position: int | None = None, k: int = 10) -> NextTokens:
    """The ``k`` likeliest tokens to follow ``position`` (default: the last token).

    Raises
    ------
    ValueError
        The output has no logits (an encoder) or ``position`` is out of range.
    """
    if out.logits is None:
        raise ValueError("this model predicts no next token (it is an encoder)")
    T = out.logits.shape[0]
    pos = T - 1 if position is None else int(position)
    if not 0 <= pos < T:
        raise ValueError(f"position {pos} is outside the {T} tokens")
    logp = log_softmax(out.logits[pos])
    top = _top(logp, max(1, int(k)))
    p = np.exp(logp)
    entropy = float(-(p * logp).sum())
    return NextTokens(pos, top.astype(np.int64), _token_names(model, top), p[top], entropy)


@dataclass(frozen=True)
class LogitLens:
    """Top token of each layer's residual stream at each position.

    ``ids`` and ``probs`` are ``(n_layer + 1, T)``: row 0 reads the embeddings, row ``l + 1``
    the stream after layer ``l``. ``tokens[r][t]`` is the readable token of ``ids[r, t]``.
    ``target_probs[r, t]`` is the probability row ``r`` gives the token that really comes
    next in the text (NaN at the last position, which has no next token).
    """

    ids: np.ndarray
    probs: np.ndarray
    tokens: tuple[tuple[str, ...], ...]
    target_probs: np.ndarray
    source: object = field(default=None, compare=False, repr=False)  # the ModelOutput read

    @property
    def row_names(self) -> tuple[str, ...]:
        n = self.ids.shape[0]
        return ("embeddings", *tuple(f"after layer {i}" for i in range(n - 1)))


def logit_lens(model, out) -> LogitLens:
    """Read every layer's residual stream through the final norm and the LM head.

    Parameters
    ----------
    model : DecoderModel
        Needs ``unembed`` (final norm, then LM head).
    out : ModelOutput
        Its ``hidden_states`` (n_layer + 1, T, d).

    Returns
    -------
    LogitLens
    """
    if out.logits is None or not hasattr(model, "unembed"):
        raise ValueError("the logit lens needs a decoder with an LM head")
    h = np.asarray(out.hidden_states)
    R, T, d = h.shape
    flat = h.reshape(R * T, d)
    nxt = np.asarray(out.ids)[1:]
    ids = np.empty(R * T, dtype=np.int64)
    probs = np.empty(R * T)
    target = np.full(R * T, np.nan)
    for start in range(0, R * T, LENS_CHUNK_ROWS):
        r = np.arange(start, min(start + LENS_CHUNK_ROWS, R * T))  # rows of flat
        logp = log_softmax(model.unembed(flat[r]))  # (rows, vocab)
        j = np.arange(len(r))
        best = logp.argmax(axis=1)
        ids[r] = best
        probs[r] = np.exp(logp[j, best])
        has_next = r % T < T - 1  # the last position has no next token
        target[r[has_next]] = np.exp(logp[j[has_next], nxt[r[has_next] % T]])
    ids, probs, target = ids.reshape(R, T), probs.reshape(R, T), target.reshape(R, T)
    names = tuple(_token_names(model, row) for row in ids)
    return LogitLens(ids, probs, names, target, out)


def choose_next(
    logits, *, sample: bool = False, temperature: float = 1.0, top_k: int = 10, rng=None
) -> int:
    """The next token id from one row of logits.

    Greedy (the argmax, lowest id on ties) unless ``sample``; then drawn from
    ``softmax(logits / temperature)`` restricted to the ``top_k`` likeliest tokens.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if not sample:
        return int(np.argmax(logits))
    if not temperature > 0:
        raise ValueError("the temperature must be positive")
    top = _top(logits, max(1, int(top_k)))
    p = np.exp(log_softmax(logits[top] / temperature))
    rng = np.random.default_rng() if rng is None else rng
    return int(top[rng.choice(top.size, p=p / p.sum())])


class GenerationStopped(Exception):
    """Raised by a ``progress`` callback to stop :func:`generate` between tokens."""


@dataclass(frozen=True)
class Generated:
    """Tokens appended by :func:`generate` and why it stopped early ("" when it did not)."""

    ids: tuple[int, ...]
    text: str
    stopped: str = ""


def generate(
    model,
    text: str,
    n: int,
    *,
    edits=(),
    sample: bool = False,
    temperature: float = 1.0,
    top_k: int = 10,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Generated:
    """Append up to ``n`` tokens to ``text``, one forward pass per token.

    The generator is seeded with ``seed`` plus the text's token count, so the same text and
    settings give the same tokens. Generation stops early at the model's position limit, at
    a special token (end of text) and when ``progress(done, n)`` raises
    :class:`GenerationStopped`.

    Returns
    -------
    Generated
        The new ids and their text (the tokenizer's decoding, to append to ``text``).
    """
    tok = model.tokenize(text)
    ids = [int(i) for i in tok.ids]
    rng = np.random.default_rng([int(seed), len(ids)])
    special = set(np.asarray(getattr(model.tokenizer, "special_ids", ())).tolist())
    limit = model.config.max_positions
    new: list[int] = []
    stopped = ""
    for done in range(n):
        if progress is not None:
            try:
                progress(done, n)
            except GenerationStopped:
                stopped = "stopped"
                break
        if len(ids) >= limit:
            stopped = f"the model reads at most {limit} tokens"
            break
        logits = model.forward(np.array(ids), edits=edits).logits[-1]
        nxt = choose_next(logits, sample=sample, temperature=temperature, top_k=top_k, rng=rng)
        if nxt in special:
            stopped = (
                f"the model predicted the end of the text ({model.tokenizer.id_to_token(nxt)})"
            )
            break
        ids.append(nxt)
        new.append(nxt)
    appended = model.tokenizer.decode(new) if new else ""
    return Generated(tuple(new), appended, stopped)


@dataclass(frozen=True)
class CausalHeadSummary:
    """Where one causal head's weight goes, averaged over its query rows.

    ``first``: share on the first token (the sink of decoders); ``previous``: on the token
    just before (rows 1…T−1); ``self``: on the token itself; ``entropy``: each row's entropy
    as a fraction of the uniform entropy over the keys it can see (rows 1…T−1; 0 when T = 1).
    """

    first: float
    previous: float
    self: float
    entropy: float


def causal_head_summary(weights) -> CausalHeadSummary:
    """Summarise one head's causal attention ``weights`` (T, T) (rows sum to 1)."""
    a = np.asarray(weights, dtype=np.float64)
    T = a.shape[0]
    if a.ndim != 2 or a.shape[1] != T or T == 0:
        raise ValueError(f"weights must be a non-empty square matrix, got {a.shape}")
    rows = np.arange(1, T)
    previous = float(a[rows, rows - 1].mean()) if T > 1 else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(a > 0, a * np.log(a), 0.0)
    if T > 1:
        entropy = float((-plogp[1:].sum(axis=1) / np.log(rows + 1)).mean())
    else:
        entropy = 0.0
    return CausalHeadSummary(
        first=float(a[:, 0].mean()),
        previous=previous,
        self=float(np.diag(a).mean()),
        entropy=entropy,
    )
