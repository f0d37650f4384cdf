"""Circuit scores on constructed attention patterns, against plain float64 loops."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from explorer.core.models.circuits import (
    CIRCUIT_RULES,
    CircuitRules,
    copying_scores,
    find_induction_heads,
    prefix_matching_scores,
    previous_token_scores,
    repeat_accuracy,
    repeated_random_tokens,
)

SPAN = 6


def _random_causal(rng, L, H, T):
    a = np.tril(rng.random((L, H, T, T)) ** 4)
    return a / a.sum(axis=-1, keepdims=True)


def _pattern(T, key_of_row):
    """(T, T) with all weight of row i on key_of_row(i) (or on 0 when that is None)."""
    a = np.zeros((T, T))
    for i in range(T):
        j = key_of_row(i)
        a[i, 0 if j is None else j] = 1.0
    return a


def _ids():
    return np.array([0, 7, 3, 9, 1, 4, 8, 7, 3, 9, 1, 4, 8])  # BOS, then SPAN tokens twice


def _heads(ids):
    """head 0: previous token; head 1: induction (i → i - SPAN + 1); head 2: BOS sink."""
    T = len(ids)
    prev = _pattern(T, lambda i: i - 1 if i else 0)
    induction = _pattern(T, lambda i: i - SPAN + 1 if i > SPAN else None)
    sink = _pattern(T, lambda i: 0)
    return np.stack([prev, induction, sink])[None]  # (1, 3, T, T)


def test_repeated_random_tokens_layout():
    ids = repeated_random_tokens(4, SPAN, 20, seed=1, low=2, bos=1)
    assert ids.shape == (4, 1 + 2 * SPAN) and ids.dtype == np.int64
    assert (ids[:, 0] == 1).all()
    assert_allclose(ids[:, 1 : 1 + SPAN], ids[:, 1 + SPAN :])
    assert ids[:, 1:].min() >= 2 and ids.max() < 20
    assert repeated_random_tokens(2, 3, 9, seed=0).shape == (2, 6)
    with pytest.raises(ValueError):
        repeated_random_tokens(1, 3, 5, low=5)


def test_previous_token_scores_on_patterns():
    ids = _ids()
    s = previous_token_scores(_heads(ids))
    assert s.shape == (1, 3)
    assert_allclose(s[0, 0], 1.0)  # every row i ≥ 1 puts all weight on i - 1
    assert_allclose(s[0, 2], 1 / (len(ids) - 1))  # only row 1 hits i - 1 = 0


def test_previous_token_scores_match_a_loop():
    rng = np.random.default_rng(0)
    a = _random_causal(rng, 2, 3, 9)
    want = np.zeros((2, 3))
    for layer in range(2):
        for h in range(3):
            want[layer, h] = np.mean([a[layer, h, i, i - 1] for i in range(1, 9)])
    assert_allclose(previous_token_scores(a), want, rtol=1e-12)
    # a batch of sequences is the mean over all of them
    b = _random_causal(rng, 2, 3, 9)
    both = previous_token_scores(np.stack([a, b]))
    assert_allclose(both, (previous_token_scores(a) + previous_token_scores(b)) / 2, rtol=1e-12)


def test_prefix_matching_on_patterns():
    ids = _ids()
    assert len(set(ids[1 : 1 + SPAN].tolist())) == SPAN  # distinct: one earlier match each
    s = prefix_matching_scores(_heads(ids), ids)
    assert_allclose(s[0], [0.0, 1.0, 0.0], atol=1e-12)


def test_prefix_matching_matches_a_loop_with_many_repeats():
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 4, size=(3, 12))  # small vocabulary: tokens repeat often
    a = np.stack([_random_causal(rng, 2, 2, 12) for _ in range(3)])
    total, count = np.zeros((2, 2)), 0
    for s in range(3):
        for i in range(12):
            keys = {k + 1 for k in range(i) if ids[s, k] == ids[s, i]}
            if keys:
                total += sum(a[s, :, :, i, j] for j in keys)
                count += 1
    assert_allclose(prefix_matching_scores(a, ids), total / count, rtol=1e-12)


def test_prefix_matching_needs_a_repeat():
    ids = np.arange(5)
    with pytest.raises(ValueError, match="no token repeats"):
        prefix_matching_scores(np.ones((1, 1, 5, 5)) / 5, ids)
    with pytest.raises(ValueError, match="ids"):
        prefix_matching_scores(np.ones((1, 1, 5, 5)) / 5, np.arange(4))


def _copying_loop(a, y, ids, w_o, w_u):
    """Independent reference: one query at a time."""
    N, L, H, T, dh = y.shape
    out = np.zeros((L, H))
    for layer in range(L):
        for h in range(H):
            vals = []
            for s in range(N):
                for i in range(1, T):
                    c = y[s, layer, h, i] @ w_o[layer][h * dh : (h + 1) * dh]
                    c = c - c.mean()
                    logit = c @ w_u
                    z = (logit - logit.mean()) / logit.std()
                    vals.append(sum(a[s, layer, h, i, j] * z[ids[s, j]] for j in range(T)))
            out[layer, h] = np.mean(vals)
    return out


def test_copying_scores_sign_on_constructed_heads():
    V = d = dh = 16
    rng = np.random.default_rng(2)
    ids = repeated_random_tokens(4, SPAN, V, seed=4)  # (4, 2 SPAN)
    T = ids.shape[1]
    a = np.stack([_random_causal(rng, 1, 3, T)[0] for _ in range(4)])[:, None]  # (4,1,3,T,T)
    onehot = np.eye(V)[ids]  # (4, T, V): the value of a token is its one-hot vector
    y = np.einsum("nhij,njv->nhiv", a[:, 0], onehot)[:, None]  # (4, 1, 3, T, dh)
    w_u = np.eye(d)
    w_o = np.concatenate([np.eye(dh), -np.eye(dh), rng.standard_normal((dh, d))])  # (3 dh, d)
    s = copying_scores(a, y, ids, [w_o], w_u)
    assert s[0, 0] > 1.0  # writes the attended token's own direction: copies
    assert s[0, 1] < -1.0  # writes its negative: suppresses
    assert abs(s[0, 2]) < abs(s[0, 0]) / 2
    assert_allclose(s, _copying_loop(a, y, ids, [w_o], w_u), rtol=1e-9, atol=1e-12)


def test_copying_scores_match_a_loop_on_random_data():
    rng = np.random.default_rng(5)
    N, L, H, T, dh, d, V = 2, 2, 2, 7, 3, 5, 11
    a = np.stack([_random_causal(rng, L, H, T) for _ in range(N)])
    y = rng.standard_normal((N, L, H, T, dh))
    ids = rng.integers(0, V, size=(N, T))
    w_o = [rng.standard_normal((H * dh, d)) for _ in range(L)]
    w_u = rng.standard_normal((d, V))
    assert_allclose(copying_scores(a, y, ids, w_o, w_u), _copying_loop(a, y, ids, w_o, w_u),
                    rtol=1e-9, atol=1e-12)  # fmt: skip
    with pytest.raises(ValueError, match="w_o"):
        copying_scores(a, y, ids, w_o[:1], w_u)
    with pytest.raises(ValueError, match="head_outputs"):
        copying_scores(a, y[:, :, :1], ids, w_o, w_u)


def test_find_induction_heads_applies_the_rules():
    prev = np.array([[0.9, 0.1, 0.6], [0.2, 0.1, 0.0]])
    prefix = np.array([[0.0, 0.05, 0.0], [0.8, 0.45, 0.9]])
    copy = np.array([[0.1, 0.0, 0.0], [3.0, 2.0, -1.0]])
    c = find_induction_heads(prev, prefix, copy)
    # (1, 2) matches prefixes but lowers the attended logits: not an induction head
    assert c.induction == ((1, 0), (1, 1))
    assert c.previous_token == ((0, 0), (0, 2))
    assert c.label(1, 0) == "induction" and c.label(0, 2) == "previous token"
    assert c.label(1, 2) == ""
    strict = find_induction_heads(prev, prefix, copy, CircuitRules(previous=0.7, prefix=0.5))
    assert strict.induction == ((1, 0),) and strict.previous_token == ((0, 0),)
    assert CIRCUIT_RULES.prefix > 1 / 45  # above chance on two copies of 30 random tokens
    with pytest.raises(ValueError, match="shape"):
        find_induction_heads(prev, prefix[:1], copy)


def test_circuit_found_on_constructed_patterns():
    """The whole chain on the three constructed heads: each is named for what it does."""
    ids = _ids()
    a = _heads(ids)  # (1, 3, T, T)
    V = dh = 50
    y = np.einsum("hij,jv->hiv", a[0], np.eye(V)[ids])[None]  # one-hot values
    w_o = np.concatenate([np.eye(dh)] * 3)
    c = find_induction_heads(
        previous_token_scores(a),
        prefix_matching_scores(a, ids),
        copying_scores(a, y, ids, [w_o], np.eye(V)),
    )
    assert c.induction == ((0, 1),)
    assert c.previous_token == ((0, 0),)


def test_repeat_accuracy_counts_each_copy():
    ids = repeated_random_tokens(2, 4, 10, seed=0, bos=0)  # (2, 9)
    logits = np.zeros((2, 9, 10))
    # predict perfectly everywhere, then break one first-copy and one second-copy prediction
    logits[np.arange(2)[:, None], np.arange(8)[None], ids[:, 1:]] = 1.0
    assert repeat_accuracy(logits, ids, 4) == (1.0, 1.0)
    logits[0, 1] = 0
    logits[0, 1, (ids[0, 2] + 1) % 10] = 1.0  # wrong at target 2 (first copy)
    logits[1, 6] = 0
    logits[1, 6, (ids[1, 7] + 1) % 10] = 1.0  # wrong at target 7 (second copy)
    first, second = repeat_accuracy(logits, ids, 4)
    assert_allclose([first, second], [5 / 6, 5 / 6])
