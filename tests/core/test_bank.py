"""The seed's "bank" example as data: one static vector, two contextual ones."""

import itertools

import numpy as np
import pytest

from explorer.core.projections import conform
from explorer.core.session import Session
from explorer.core.word_context import BANK_TEXTS, compare_word, locate


def _session(d, tau=1.0, positional="none"):
    return conform(Session(d_model=d, temperature=tau, positional=positional), d_head=d)


def test_default_bank_comparison():
    c = compare_word(Session())
    assert (c.a.text, c.b.text) == BANK_TEXTS and c.word == "bank"
    # a static embedding gives "bank" one vector in every context
    assert c.static_similarity == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_array_equal(c.a.static, c.b.static)
    # attention moves them apart
    assert c.contextual_similarity < 1.0 - 1e-4
    assert c.a.neighbours[0].text == "river"
    assert c.b.neighbours[0].text == "money"


@pytest.mark.parametrize("d", [2, 4, 8, 16, 32, 64])
@pytest.mark.parametrize("tau", [1.0, 2.0, 5.0])
@pytest.mark.parametrize("positional", ["none", "sinusoidal"])
def test_river_pulls_one_bank_and_money_the_other(d, tau, positional):
    """Identity projections on the built-in embeddings, at every width and temperature."""
    c = compare_word(_session(d, tau, positional))
    a_top, b_top = c.a.neighbours[0], c.b.neighbours[0]
    assert a_top.text == "river" and b_top.text == "money"
    # "bank" by the river gives "river" more than the money-bank gives it, and vice versa
    assert c.a.weight_on("river") > c.b.weight_on("river") == 0.0
    assert c.b.weight_on("money") > c.a.weight_on("money") == 0.0
    assert c.static_similarity == pytest.approx(1.0, abs=1e-12)
    assert c.contextual_similarity < 1.0


def test_warmer_attention_pulls_further_apart():
    sims = [compare_word(_session(8, tau)).contextual_similarity for tau in (0.5, 1.0, 2.0, 5.0)]
    assert all(a > b for a, b in itertools.pairwise(sims))


def test_neighbours_and_weights_are_consistent():
    w = locate(Session(), "I sat by the river bank", "bank")
    assert w.indices == (5,)
    assert w.weights.sum() == pytest.approx(1.0)
    assert sum(n.weight for n in w.neighbours) == pytest.approx(1.0 - w.weights[5])
    assert all(n.index != 5 for n in w.neighbours)
    weights = [n.weight for n in w.neighbours]
    assert weights == sorted(weights, reverse=True)
    np.testing.assert_array_equal(w.contextual, w.result.contextual[5])


def test_multi_piece_words_and_occurrences():
    w = locate(Session(), "an unaffable cat and an unaffable dog", "unaffable", occurrence=-1)
    assert len(w.indices) == 3 and w.indices[0] > 3
    assert w.static.shape == (8,)
    with pytest.raises(ValueError, match="not in"):
        locate(Session(), "no such word here", "bank")
    with pytest.raises(ValueError, match="no tokens"):
        locate(Session(), "anything", "   ")


def test_one_hot_refuses_cross_text_comparison():
    """One-hot axes are per text: "river" in one text and "money" in the other share axis 4."""
    s = conform(Session(embedding="one-hot", d_model=16))
    with pytest.raises(ValueError, match="one-hot"):
        compare_word(s)


def test_random_embeddings_also_separate_the_contexts():
    s = Session(embedding="random", embedding_seed=3)
    c = compare_word(s)
    assert c.static_similarity == pytest.approx(1.0, abs=1e-12)
    assert c.contextual_similarity < 1.0
