"""One word in two texts: static versus contextual similarity (the seed's "bank" example).

A static embedding gives "bank" one vector, whether it sits by a river or holds money, so
the static similarity of the two occurrences is exactly 1. Self-attention rebuilds each
token as a weighted sum of the tokens around it; :func:`compare_word` measures how far the
two contexts pulled the two "bank"s apart and names the neighbours that did it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.core.pipeline import Result, compute
from explorer.core.session import Session
from explorer.core.tokenizer import tokenize

BANK_TEXTS = ("I sat by the river bank", "I deposited money in the bank")


@dataclass(frozen=True)
class Neighbour:
    """A token the word attends to."""

    index: int  # token index in its text
    text: str
    weight: float  # attention weight from the word (selected head)


@dataclass(frozen=True, eq=False)
class WordInContext:
    """The word as it appears in one text.

    Attributes
    ----------
    text : str
    indices : tuple of int
        Token indices of the word's pieces (one index for a single-piece word).
    static : ndarray, shape (d_model,)
        Static vector (mean over pieces).
    contextual : ndarray, shape (n_head · d_v,)
        Contextual vector (mean over pieces).
    weights : ndarray, shape (T,)
        Attention of the word over all tokens, selected head (mean over pieces).
    neighbours : tuple of Neighbour
        The other tokens, by falling weight.
    result : Result
        The full computation for this text.
    """

    text: str
    indices: tuple[int, ...]
    static: np.ndarray
    contextual: np.ndarray
    weights: np.ndarray
    neighbours: tuple[Neighbour, ...]
    result: Result

    def weight_on(self, token_text: str) -> float:
        """Total weight the word gives to tokens spelled ``token_text`` (0 if absent)."""
        return float(sum(n.weight for n in self.neighbours if n.text == token_text))


@dataclass(frozen=True, eq=False)
class WordComparison:
    """Result of :func:`compare_word`."""

    word: str
    a: WordInContext
    b: WordInContext
    static_similarity: float  # cosine of the static vectors (1.0 for the same pieces)
    contextual_similarity: float  # cosine of the contextual vectors


def _cos(u: np.ndarray, w: np.ndarray) -> float:
    nu, nw = np.linalg.norm(u), np.linalg.norm(w)
    if nu == 0 or nw == 0:
        return 0.0
    return float(np.clip(u @ w / (nu * nw), -1.0, 1.0))


def _find(ids: tuple[int, ...], pieces: tuple[int, ...], occurrence: int) -> tuple[int, ...]:
    starts = [i for i in range(len(ids) - len(pieces) + 1) if ids[i : i + len(pieces)] == pieces]
    if not starts:
        raise IndexError
    s = starts[occurrence]
    return tuple(range(s, s + len(pieces)))


def locate(session: Session, text: str, word: str, occurrence: int = 0) -> WordInContext:
    """Compute ``text`` with the session's settings and pick out ``word``.

    Parameters
    ----------
    session : Session
        Every setting but the text is used.
    text : str
    word : str
        A word; it is tokenized like the text, and its pieces must appear contiguously.
    occurrence : int
        Which occurrence (0 = first, -1 = last).

    Raises
    ------
    ValueError
        If the word is empty or does not occur in the text.
    """
    pieces = tokenize(word).ids
    if not pieces:
        raise ValueError(f"{word!r} has no tokens")
    result = compute(session.evolve(text=text))
    ids = tuple(t.id for t in result.tokens)
    try:
        idx = _find(ids, pieces, occurrence)
    except IndexError:
        raise ValueError(f"{word!r} (occurrence {occurrence}) is not in {text!r}") from None
    head = min(session.selected_head, result.n_head - 1)
    sel = list(idx)
    weights = result.weights[head, sel].mean(axis=0)  # (T,)
    order = np.argsort(-weights, kind="stable")
    neighbours = tuple(
        Neighbour(int(j), result.tokens[j].text, float(weights[j])) for j in order if j not in idx
    )
    return WordInContext(
        text=text,
        indices=idx,
        static=result.embedded[sel].mean(axis=0),
        contextual=result.contextual[sel].mean(axis=0),
        weights=weights,
        neighbours=neighbours,
        result=result,
    )


def compare_word(
    session: Session,
    text_a: str = BANK_TEXTS[0],
    text_b: str = BANK_TEXTS[1],
    word: str = "bank",
    occurrence: int = 0,
) -> WordComparison:
    """Compare one word across two texts.

    Parameters
    ----------
    session : Session
        Embedding, positional, heads, temperature and masks to use (its text is ignored).
    text_a, text_b : str
        The two contexts (default: the seed's river-bank and money-bank sentences).
    word : str
    occurrence : int
        Which occurrence in each text.

    Raises
    ------
    ValueError
        For the one-hot source, or when the word is missing from a text.

    Returns
    -------
    WordComparison
        ``static_similarity`` is 1.0 whenever the two occurrences have the same pieces and
        no position enters the static vector; ``contextual_similarity`` shows how much the
        contexts moved them. ``a.neighbours`` / ``b.neighbours`` name who pulled.
    """
    if session.embedding == "one-hot":
        # one-hot axes are numbered per text (order of first appearance), so axis 5 of one
        # text and axis 5 of another are different words: the comparison would be noise
        raise ValueError(
            "one-hot axes are numbered within each text, so a word cannot be compared across "
            "two texts; use the built-in or random embeddings"
        )
    a = locate(session, text_a, word, occurrence)
    b = locate(session, text_b, word, occurrence)
    return WordComparison(
        word=word,
        a=a,
        b=b,
        static_similarity=_cos(a.static, b.static),
        contextual_similarity=_cos(a.contextual, b.contextual),
    )
