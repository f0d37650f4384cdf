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

Only what the window uses is tokenised: the text is read in chunks that end where BERT
starts a new word anyway (before whitespace, punctuation or a CJK character), so each chunk
cuts exactly as the whole text would, and reading stops once the window is full. A 1,000,000
character text thus costs about as much as its first few thousand characters; the token
count of the unread rest is not known, and :attr:`Tokenization.n_total_exact` says so.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from explorer.resources import resource_path

MAX_TOKENS = 512
CLS, SEP, UNK = "[CLS]", "[SEP]", "[UNK]"

# Python strings may hold lone surrogates (e.g. from a clipboard); the Rust tokenizer refuses
# them. Replacing each with U+FFFD keeps every character index, so spans stay valid.
_SURROGATE = re.compile("[\ud800-\udfff]")

#: Characters read per tokeniser call while filling the window: the first chunk, and the
#: most a chunk grows to when a text has few word pieces per character. A chunk of 16,384
#: characters takes about 15 ms, so the worker never holds the interpreter lock for long.
CHUNK_CHARS = (4096, 16384)

_CJK = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)  # fmt: skip
# every character that may start a word is one of these (a fast first filter)
_MAYBE_STARTS_WORD = re.compile(
    r"[\W_\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]"
)


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
        How many word pieces the text has (specials not counted). When the window filled
        before the end of the text was read, this is a lower bound (the pieces read so far)
        and ``n_total_exact`` is False.
    truncated : bool
        True when pieces past the cap were dropped.
    n_total_exact : bool
        False when ``n_total`` only counts the part of the text that was read.
    n_chars : int
        Length of the whole text in characters.
    """

    tokens: tuple[Token, ...]
    full: tuple[Token, ...]
    visible: tuple[int, ...]
    n_total: int
    truncated: bool
    n_total_exact: bool = True
    n_chars: int = 0

    @property
    def notice(self) -> str:
        """A sentence for the status bar, or ``""`` when nothing was dropped."""
        if not self.truncated:
            return ""
        kept = len(self.full) - 2
        limit = f"(limit {kept + 2} tokens including [CLS] and [SEP])"
        if self.n_total_exact:
            return f"Text truncated: the first {kept} of {self.n_total} tokens are used {limit}."
        used = self.full[-2].end if kept else 0
        return (
            f"Text truncated: the first {kept} tokens are used, read from the first "
            f"{used:,} of {self.n_chars:,} characters {limit}."
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


def _pieces(text: str, offset: int = 0, limit: int | None = None) -> tuple[list[Token], int]:
    """Word pieces of ``text`` (at most ``limit``), spans shifted by ``offset``, and how
    many pieces ``text`` has in all."""
    enc = _backend().encode(text, add_special_tokens=False)
    n = len(enc)
    if limit is not None and n > limit:
        enc.truncate(limit)  # in Rust: only the kept pieces become Python objects
    pieces = [
        Token(t, i, s + offset, e + offset, False)
        for t, i, (s, e) in zip(enc.tokens, enc.ids, enc.offsets, strict=True)
    ]
    return pieces, n


def _starts_word(ch: str) -> bool:
    """True when BERT always starts a new word at ``ch``, whatever comes before it:
    whitespace (not a control character, which cleaning deletes, joining its neighbours),
    punctuation, or a CJK character."""
    if ch in " \t\n\r":
        return True
    cat = unicodedata.category(ch)
    if cat[0] == "P" or (cat[0] == "Z" and ch.isspace()):
        return True
    o = ord(ch)
    if o < 128:
        return not ch.isalnum() and 33 <= o <= 126  # BERT counts every ASCII symbol
    return any(lo <= o <= hi for lo, hi in _CJK)


def _cut(text: str, start: int, end: int) -> int:
    """Where to end a chunk that starts at ``start``: the last position in ``(start, end]``
    just before a character that starts a word (or the end of the text), so the chunk
    tokenises exactly as it does inside the whole text. A single word longer than the chunk
    is read to its end."""
    if end >= len(text):
        return len(text)
    for p in range(end, start, -1):
        if _starts_word(text[p]):
            return p
    # no place to cut: one long word (it becomes one [UNK]); find where it ends
    for m in _MAYBE_STARTS_WORD.finditer(text, end + 1):
        if _starts_word(m.group()):
            return m.start()
    return len(text)


def _window(text: str, n_pieces: int, chunk: tuple[int, int] = CHUNK_CHARS):
    """The first ``n_pieces`` word pieces of ``text``, reading it chunk by chunk.

    Returns the pieces, how many pieces the chunks read hold in all (at least
    ``len(pieces)``), and whether the whole text was read (then that count is exact).
    """
    pieces: list[Token] = []
    n_read = 0
    start, size = 0, chunk[0]
    while start < len(text) and len(pieces) < n_pieces:
        end = _cut(text, start, start + size)
        part = _SURROGATE.sub("\ufffd", text[start:end])
        got, n = _pieces(part, start, n_pieces - len(pieces))
        pieces.extend(got)
        n_read += n
        start = end
        # few pieces per character (long words, runs of spaces): read more at once
        if n < size // 8:
            size = min(2 * size, chunk[1])
    return pieces, n_read, start >= len(text)


@lru_cache(maxsize=64)
def _tokenize_short(text: str, show_special: bool, max_tokens: int) -> Tokenization:
    return _tokenize(text, show_special, max_tokens)


@lru_cache(maxsize=4)
def _tokenize_long(text: str, show_special: bool, max_tokens: int) -> Tokenization:
    return _tokenize(text, show_special, max_tokens)


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
        Cached per argument triple (a few entries for texts beyond one chunk, so that
        long texts are not held in memory); the value is immutable.

    Raises
    ------
    ValueError
        If ``text`` is not a string or ``max_tokens`` is too small to hold anything.
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}")
    if max_tokens < 3:
        raise ValueError(f"max_tokens must be at least 3, got {max_tokens}")
    cached = _tokenize_short if len(text) <= CHUNK_CHARS[0] else _tokenize_long
    return cached(text, bool(show_special), int(max_tokens))


def _tokenize(text: str, show_special: bool, max_tokens: int) -> Tokenization:
    # The window is max_tokens *including* [CLS] and [SEP] whether or not they are shown,
    # because a pretrained encoder always reads them; so at most max_tokens - 2 word pieces.
    # One piece more than the window tells whether anything was dropped.
    pieces, n_total, whole = _window(text, max_tokens - 1)
    if n_total == 0:
        return Tokenization((), (), (), 0, False, True, len(text))
    kept = pieces[: max_tokens - 2]
    cls = Token(CLS, _backend().token_to_id(CLS), 0, 0, True)
    sep = Token(SEP, _backend().token_to_id(SEP), len(text), len(text), True)
    full = (cls, *kept, sep)
    visible = tuple(range(len(full))) if show_special else tuple(range(1, len(full) - 1))
    tokens = tuple(full[i] for i in visible)
    truncated = n_total > len(kept)
    return Tokenization(tokens, full, visible, n_total, truncated, whole, len(text))
