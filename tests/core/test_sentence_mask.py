"""The sentence mask: each token attends only within its own sentence."""

import numpy as np

from explorer.core.pipeline import compute, sentence_ids
from explorer.core.session import Session, ViewOptions, identity_heads

BANK = "I sat by the river bank. I deposited money in the bank."


def test_sentence_ids_follow_sentence_ends():
    r = compute(Session(text=BANK, view=ViewOptions(show_special=True)))
    texts = [t.text for t in r.tokens]
    ids = sentence_ids(r.tokens)
    first_end = texts.index(".")
    assert texts[0] == "[CLS]" and ids[0] == 0
    assert set(ids[: first_end + 1]) == {0}
    assert set(ids[first_end + 1 :]) == {1}  # [SEP] joins the last sentence


def test_no_attention_across_sentences_and_rows_sum_to_one():
    s = Session(text=BANK, sentence_mask=True, d_model=8, heads=identity_heads(2, 8, 8))
    r = compute(s)
    texts = [t.text for t in r.tokens]
    cut = texts.index(".") + 1
    w = r.weights
    assert np.all(w[:, :cut, cut:] == 0) and np.all(w[:, cut:, :cut] == 0)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-6)
    # within a sentence the weights are the ordinary softmax over that sentence alone
    alone = compute(Session(text=BANK[: BANK.index(".") + 1], d_model=8, heads=s.heads))
    np.testing.assert_allclose(w[:, :cut, :cut], alone.weights, rtol=1e-6, atol=1e-9)


def test_sentence_mask_separates_the_two_banks():
    s = Session(text=BANK, sentence_mask=True, temperature=4.0)
    r = compute(s)
    texts = [t.text for t in r.tokens]
    b1, b2 = (i for i, t in enumerate(texts) if t == "bank")
    assert r.static_similarity[b1, b2] > 0.999
    assert r.contextual_similarity[b1, b2] < 0.97
    river, money = texts.index("river"), texts.index("money")
    assert r.weights[0, b1, river] > 0.1 and r.weights[0, b1, money] == 0
    assert r.weights[0, b2, money] > 0.1 and r.weights[0, b2, river] == 0
    # without the mask both "bank"s read the same two sentences and end up closer
    both = compute(Session(text=BANK, temperature=4.0))
    assert both.contextual_similarity[b1, b2] > r.contextual_similarity[b1, b2]
