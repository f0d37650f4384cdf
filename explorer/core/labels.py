"""Display labels for tokens: a word that occurs more than once gets a subscript.

"I sat by the river bank. I deposited money in the bank." shows its two banks as
``bank₁`` and ``bank₂`` in every view, hover, equation and export, so a reader can always
tell which one is meant. Words that occur once keep their plain text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def subscript(n: int) -> str:
    """``12`` → ``"₁₂"``."""
    return str(int(n)).translate(_SUBSCRIPT)


def token_labels(texts: Sequence[str]) -> list[str]:
    """Unique display labels for a sequence of token texts.

    Parameters
    ----------
    texts : sequence of str
        Token texts in order (for example ``Result.labels``).

    Returns
    -------
    list of str
        ``texts`` with a 1-based occurrence subscript on every text that occurs more than
        once: ``["the", "bank", "the"]`` → ``["the₁", "bank", "the₂"]``.
    """
    counts = Counter(texts)
    seen: Counter[str] = Counter()
    out = []
    for t in texts:
        if counts[t] > 1:
            seen[t] += 1
            out.append(f"{t}{subscript(seen[t])}")
        else:
            out.append(t)
    # a token may itself end in a subscript ("bank₁" next to two "bank"s): number the later
    # copies further, so labels stay unique (CSV headers rely on it)
    taken: set[str] = set()
    for i, label in enumerate(out):
        unique = label
        while unique in taken:
            unique += "′"  # a prime, not another digit: "bank₁₂" would read as bank 12
        taken.add(unique)
        out[i] = unique
    return out
