"""Tokenizers from ``tokenizer.json``, and token strings made readable.

Byte-level BPE (GPT-2, Llama 3, SmolLM, Qwen2, RoBERTa) stores each byte as a printable
character (space is ``Ġ``, newline ``Ċ``); SentencePiece-style vocabularies (Llama 2,
TinyLlama) mark a leading space with ``▁`` and spell bytes as ``<0x0A>``. :func:`display_token`
shows both the same way: a space as ``·``, a newline as ``↵``, a tab as ``⇥``, and bytes that
are not whole UTF-8 characters in hex.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer.core.encoder_files import (
    MAX_TOKENIZER_JSON_BYTES,
    checked_size,
    one_line,
    rust_failure,
)
from explorer.core.models.config import ModelError


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table from a byte to the printable character that stands for it."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
            *range(ord("®"), ord("ÿ") + 1)]  # fmt: skip
    table, n = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


_BYTE_OF_CHAR = {c: b for b, c in _bytes_to_unicode().items()}
_SPECIAL_CHARS = {" ": "·", "\n": "↵", "\t": "⇥", "\r": "␍"}
_HEX_BYTE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def _readable(text: str) -> str:
    return "".join(_SPECIAL_CHARS.get(c, c) for c in text)


def _bytes_text(raw: bytes) -> str:
    """Bytes as text; bytes that do not form whole UTF-8 characters are shown as ``<e2>``."""
    out, i = [], 0
    while i < len(raw):
        for n in (1, 2, 3, 4):
            try:
                out.append(raw[i : i + n].decode("utf-8"))
                i += n
                break
            except UnicodeDecodeError:
                continue
        else:
            out.append(f"<{raw[i]:02x}>")
            i += 1
    return "".join(out)


def display_token(token: str, byte_level: bool) -> str:
    """A vocabulary entry as a reader should see it.

    Parameters
    ----------
    token : str
        The entry, as the tokenizer's vocabulary spells it.
    byte_level : bool
        The vocabulary is byte-level BPE (every character stands for one byte).

    Examples
    --------
    >>> display_token("Ġthe", True), display_token("Ċ", True), display_token("▁the", False)
    ('·the', '↵', '·the')
    """
    if byte_level and token and all(c in _BYTE_OF_CHAR for c in token):
        return _readable(_bytes_text(bytes(_BYTE_OF_CHAR[c] for c in token)))
    m = _HEX_BYTE.match(token)
    if m:  # SentencePiece byte fallback
        return _readable(_bytes_text(bytes([int(m.group(1), 16)])))
    return _readable(token.replace("▁", " "))


@dataclass(frozen=True, eq=False)
class TextTokens:
    """A tokenized text: ``ids`` (T,) int64, vocabulary strings and readable strings."""

    ids: np.ndarray
    raw: tuple[str, ...]
    tokens: tuple[str, ...]
    special: np.ndarray  # (T,) bool
    truncated: bool = False


class ModelTokenizer:
    """``tokenizers.Tokenizer`` from ``tokenizer.json`` with readable token strings.

    The tokenizer's own post-processor decides the special tokens (BOS for Llama, ``<s>``
    and ``</s>`` for RoBERTa, none for GPT-2); padding is turned off and truncation set to
    ``max_length``.
    """

    def __init__(self, folder: Path, vocab_size: int, max_length: int):
        path = Path(folder) / "tokenizer.json"
        if not path.is_file():
            raise ModelError(f"{folder}: no tokenizer.json")
        checked_size(path, MAX_TOKENIZER_JSON_BYTES)
        from tokenizers import Tokenizer

        try:
            tok = Tokenizer.from_file(str(path))
            tok.no_padding()
            tok.enable_truncation(max_length=max_length)
        except MemoryError:
            raise ModelError(f"{path}: not enough memory to read the tokenizer") from None
        except Exception as exc:  # tokenizers raises plain Exception subclasses
            raise ModelError(f"{path}: not a readable tokenizer ({one_line(exc)})") from None
        except BaseException as exc:
            if not rust_failure(exc):
                raise
            raise ModelError(f"{path}: the tokenizer reader failed on this file") from None
        if tok.get_vocab_size() > vocab_size:
            raise ModelError(
                f"{path}: the tokenizer has {tok.get_vocab_size()} tokens, the model only "
                f"{vocab_size} embeddings"
            )
        self._tok = tok
        self.byte_level = type(tok.decoder).__name__ == "ByteLevel"
        added = tok.get_added_tokens_decoder()  # id -> AddedToken
        #: ids of special tokens (BOS, EOS, padding...), marked when raw ids are run
        self.special_ids = np.array(sorted(i for i, t in added.items() if t.special), np.int64)
        self.vocab_size = vocab_size

    @property
    def raw(self):
        """The wrapped ``tokenizers.Tokenizer`` (vocabulary strings, not readable ones)."""
        return self._tok

    def encode(self, text: str) -> TextTokens:
        if not isinstance(text, str):
            raise ModelError(f"text must be a str, got {type(text).__name__}")
        enc = self._tok.encode(text)
        return TextTokens(
            ids=np.asarray(enc.ids, dtype=np.int64),
            raw=tuple(enc.tokens),
            tokens=tuple(display_token(t, self.byte_level) for t in enc.tokens),
            special=np.asarray(enc.special_tokens_mask, dtype=bool),
            truncated=bool(enc.overflowing),
        )

    def id_to_token(self, i: int) -> str:
        """The readable token of id ``i`` (``<i>`` for an id the vocabulary lacks)."""
        tok = self._tok.id_to_token(int(i))
        return f"<{int(i)}>" if tok is None else display_token(tok, self.byte_level)

    def decode(self, ids) -> str:
        """The text of token ids."""
        return self._tok.decode([int(i) for i in ids])
