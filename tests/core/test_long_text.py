"""Long texts: only the token window is tokenised, and it matches the whole text's pieces."""

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.core.long_attention import LONG_MAX_TOKENS
from explorer.core.pipeline import compute
from explorer.core.session import MAX_TEXT_CHARS, Session
from explorer.core.tokenizer import MAX_TOKENS, _backend, _window, tokenize


def reference(text: str):
    """The whole text through the Rust tokenizer in one call: (token, id, span) per piece."""
    clean = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    enc = _backend().encode(clean, add_special_tokens=False)
    return list(zip(enc.tokens, enc.ids, enc.offsets, strict=True))


# Pieces of text that stress every place a chunk could be cut: spaces of several kinds,
# ASCII and Unicode punctuation, CJK, accents and combining marks, control characters that
# cleaning deletes (they join their neighbours), long words that become [UNK], Greek sigma.
PARTS = [
    "the", "dog", "unaffable", "bank", " ", "  ", "\t", "\n", "\r\n", "\u3000", "\u00a0",
    "\u2028", ".", ",", "!", "_", "$", "«", "»", "—", "·", "¿", "東", "京", "語", "café",
    "e\u0301", "\u0301", "naïve", "\x00", "\x07", "\x1c", "\x85", "\u200b", "\ufeff", "😀",
    "ΣΑΣ", "x" * 120, "a" * 99, "\ud800", "©", "½", "٣", "ß",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.sampled_from(PARTS), max_size=80),
    n=st.integers(1, 40),
    first=st.integers(1, 24),
)
def test_chunked_window_equals_the_whole_texts_first_pieces(parts, n, first):
    text = "".join(parts)
    pieces, n_read, whole = _window(text, n, chunk=(first, 2 * first))
    ref = reference(text)
    got = [(p.text, p.id, (p.start, p.end)) for p in pieces]
    assert got == ref[:n]
    assert len(pieces) <= n_read <= len(ref)
    if whole:
        assert n_read == len(ref)


def test_a_text_of_the_size_limit_tokenises_only_its_window():
    words = "The dog chased the cat off the table near the river bank. "
    text = (words * (MAX_TEXT_CHARS // len(words) + 1))[:MAX_TEXT_CHARS]
    tracemalloc.start()
    try:
        tok = tokenize(text + " ")  # a new string: not answered from the cache
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the whole text as Python tokens took about 650 bytes per piece (~150 MB here)
    assert peak < 4_000_000, peak
    assert len(tok.tokens) == MAX_TOKENS - 2 and tok.truncated
    assert not tok.n_total_exact and MAX_TOKENS - 1 <= tok.n_total < 20_000
    ref = reference(text[:5000])[: MAX_TOKENS - 2]
    assert [(t.text, t.id, (t.start, t.end)) for t in tok.tokens] == ref
    notice = tok.notice
    assert "first 510 tokens" in notice and "of 1,000,001 characters" in notice
    used = int(notice.split("first ")[2].split(" of")[0].replace(",", ""))
    assert used == tok.tokens[-1].end  # the characters those tokens come from


def test_short_texts_count_every_piece_exactly():
    tok = tokenize("word " * 600)
    assert tok.n_total_exact and tok.n_total == 600
    assert "510 of 600" in tok.notice


@pytest.mark.parametrize(
    "text",
    [
        "x" * 300_000 + " end",  # one long word: read whole, it is one [UNK]
        " " * 200_000 + "late words",  # nothing to keep until the very end
        "東" * 100_000,  # a piece per character, no spaces
        "word " * 3000,
    ],
)
def test_odd_long_texts_agree_with_the_whole_text(text):
    tok = tokenize(text, True)
    ref = reference(text)
    assert [(t.text, t.id, (t.start, t.end)) for t in tok.full[1:-1]] == ref[: MAX_TOKENS - 2]
    assert tok.truncated == (len(ref) > MAX_TOKENS - 2)
    assert tok.n_total <= len(ref)
    if tok.n_total_exact:
        assert tok.n_total == len(ref)


def test_compute_of_a_long_text_reports_its_notice():
    r = compute(Session(text="the river bank. " * 40_000))
    assert r.T == LONG_MAX_TOKENS - 2 and r.truncated  # no model: the long-text window
    assert "640,000 characters" in r.notice
