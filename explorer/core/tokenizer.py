"""WordPiece tokenisation exactly as BERT-uncased does it.

Built on the ``tokenizers`` library with the vocabulary shipped in ``resources/vocab.txt``
(the all-MiniLM-L6-v2 / bert-base-uncased vocabulary): text is cleaned of control characters,
lower-cased, stripped of accents, split on whitespace, punctuation and around CJK characters,
and each word is cut greedily into the longest vocabulary pieces (``##`` marks a piece that
continues a word). A word that cannot be cut becomes ``[UNK]``.

Every :class:`Token` keeps its character span in the *original* text, so the window can
highlight it. Sequences are capped at :data:`MAX_TOKENS` tokens counting ``[CLS]`` and
``[SEP]`` (also when they are hidden, so the same words are kept either way);
:class:`Tokenization` says when the cap was hit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from explorer.resources import resource_path

MAX_TOKENS = 512
CLS, SEP, UNK = "[CLS]", "[SEP]", "[UNK]"

# Python strings may hold lone surrogates (e.g. from a clipboard); the Rust tokenizer refuses
# them. Replacing each with U+FFFD keeps every character index, so spans stay valid.
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Token:
    """One WordPiece token.

    Attributes
    ----------
    text : str
        The vocabulary entry, e.g. ``"dog"``, ``"##ble"``, ``"[CLS]"``.
    id : int
        Its row in the vocabulary (and in every embedding table).
    start, end : int
        Character span ``text[start:end]`` in the original input; empty for specials.
    special : bool
        True for ``[CLS]`` and ``[SEP]``.
    """

    text: str
    id: int
    start: int
    end: int
    special: bool = False

    @property
    def is_continuation(self) -> bool:
        """True for a ``##`` piece that continues the previous word."""
        return self.text.startswith("##")

    @property
    def label(self) -> str:
        """Text for axis ticks and chips (the vocabulary entry)."""
        return self.text


@dataclass(frozen=True)
class Tokenization:
    """The tokens of one text.

    Attributes
    ----------
    tokens : tuple of Token
        The visible tokens (with or without ``[CLS]``/``[SEP]``), at most :data:`MAX_TOKENS`.
    full : tuple of Token
        The same window *with* ``[CLS]`` and ``[SEP]``, as a pretrained encoder reads it.
    visible : tuple of int
        ``full[visible[i]] is tokens[i]``.
    n_total : int
        How many word pieces the whole text has (specials not counted).
    truncated : bool
        True when pieces past the cap were dropped.
    """

    tokens: tuple[Token, ...]
    full: tuple[Token, ...]
    visible: tuple[int, ...]
    n_total: int
    truncated: bool

    @property
    def notice(self) -> str:
        """A sentence for the status bar, or ``""`` when nothing was dropped."""
        if not self.truncated:
            return ""
        kept = len(self.full) - 2
        return (
            f"Text truncated: the first {kept} of {self.n_total} tokens are used "
            f"(limit {kept + 2} tokens including [CLS] and [SEP])."
        )

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(t.id for t in self.tokens)


@lru_cache(maxsize=1)
def _backend():
    from tokenizers import BertWordPieceTokenizer

    path = resource_path("vocab.txt")
    if not path.is_file():
        raise FileNotFoundError(f"vocabulary not found at {path}")
    return BertWordPieceTokenizer(
        str(path),
        lowercase=True,
        strip_accents=True,
        clean_text=True,
        handle_chinese_chars=True,
        unk_token=UNK,
        sep_token=SEP,
        cls_token=CLS,
    )


def vocab_size() -> int:
    """Number of vocabulary entries (30522)."""
    return _backend().get_vocab_size(with_added_tokens=True)


def token_to_id(text: str) -> int | None:
    """Vocabulary id of an exact entry such as ``"dog"``, or None."""
    return _backend().token_to_id(text)


def _pieces(text: str) -> list[Token]:
    enc = _backend().encode(text, add_special_tokens=False)
    return [
        Token(t, i, s, e, False)
        for t, i, (s, e) in zip(enc.tokens, enc.ids, enc.offsets, strict=True)
    ]


@lru_cache(maxsize=64)
def tokenize(text: str, show_special: bool = False, max_tokens: int = MAX_TOKENS) -> Tokenization:
    """Cut ``text`` into WordPiece tokens.

    Parameters
    ----------
    text : str
        Any Unicode text; empty or whitespace-only text gives zero tokens (even with
        ``show_special``: there is nothing to frame).
    show_special : bool
        Include ``[CLS]`` first and ``[SEP]`` last in ``tokens``.
    max_tokens : int
        Size of the window, counting ``[CLS]`` and ``[SEP]`` even when they are hidden (the
        encoder always reads them): at most ``max_tokens - 2`` word pieces are kept.

    Returns
    -------
    Tokenization
        Cached per argument triple; the value is immutable.

    Raises
    ------
    ValueError
        If ``text`` is not a string or ``max_tokens`` is too small to hold anything.
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}")
    if max_tokens < 3:
        raise ValueError(f"max_tokens must be at least 3, got {max_tokens}")
    clean = _SURROGATE.sub("\ufffd", text)
    pieces = _pieces(clean) if clean else []
    n_total = len(pieces)
    if n_total == 0:
        return Tokenization((), (), (), 0, False)
    # The window is max_tokens *including* [CLS] and [SEP] whether or not they are shown,
    # because a pretrained encoder always reads them; so at most max_tokens - 2 word pieces.
    kept = pieces[: max_tokens - 2]
    cls = Token(CLS, _backend().token_to_id(CLS), 0, 0, True)
    sep = Token(SEP, _backend().token_to_id(SEP), len(text), len(text), True)
    full = (cls, *kept, sep)
    visible = tuple(range(len(full))) if show_special else tuple(range(1, len(full) - 1))
    tokens = tuple(full[i] for i in visible)
    return Tokenization(tokens, full, visible, n_total, n_total > len(kept))
