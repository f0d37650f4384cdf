"""The data behind the "Inside the sum" views, against slow float64 references."""

import re
from dataclasses import replace

import numpy as np
import pytest

from explorer.core.mechanism import (
    default_query,
    equation_text,
    head_lines,
    is_one_hot,
    resolve_query,
    signed_levels,
    vector_panels,
    weighted_sum_terms,
)
from explorer.core.pipeline import compute
from explorer.core.projections import conform
from explorer.core.session import Session
from tests.core.naive import naive_attention

BANK = "I sat by the river bank. I deposited money in the bank."


def _session(text=BANK, n_head=3, **kw):
    s = Session(text=text, preset="orthogonal", preset_seed=3, **kw)
    return conform(s, n_head=n_head)


def _reference(r):
    """y and weights recomputed from the Result's q, k, v by the naive float64 loop."""
    return naive_attention(r.q, r.k, r.v, scale=r.scale, mask=r.allowed)


@pytest.mark.parametrize("causal", [False, True])
def test_terms_add_up_to_y_and_match_reference(causal):
    r = compute(_session(causal=causal, blocked=((5, 4), (5, 3))))
    y_ref, w_ref = _reference(r)
    assert r.dtype == np.float64
    for h in range(r.n_head):
        for i in range(r.T):
            ws = weighted_sum_terms(r, h, i, max_terms=4)
            # the rows drawn above the rule add up to the y drawn under it
            np.testing.assert_allclose(ws.rows().sum(axis=0), ws.y, rtol=0, atol=1e-9)
            np.testing.assert_allclose(ws.scaled.sum(axis=0), ws.y, rtol=0, atol=1e-9)
            np.testing.assert_allclose(ws.y, y_ref[h, i], rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(ws.y, r.y[h, i], rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(ws.weights, w_ref[h, i], rtol=1e-9, atol=1e-12)
            for j in range(r.T):
                np.testing.assert_allclose(
                    ws.scaled[j], w_ref[h, i, j] * r.v[h, j], rtol=1e-9, atol=1e-12
                )
            # heaviest first; shown + rest are exactly the keys with a weight
            assert np.all(np.diff(ws.weights[ws.order]) <= 0)
            assert ws.shown.size <= 4
            assert sorted([*ws.shown, *ws.rest]) == sorted(np.flatnonzero(ws.weights > 0))
            assert ws.weights[ws.shown].sum() + ws.rest_weight == pytest.approx(1.0, abs=1e-12)


def test_masked_keys_have_no_term():
    r = compute(_session(causal=True))
    ws = weighted_sum_terms(r, 0, 2)
    assert set(ws.shown) | set(ws.rest) <= {0, 1, 2}
    assert np.all(ws.weights[3:] == 0)
    assert not ws.allowed[3:].any()


def test_float32_result_terms_match_float64_reference():
    text = " ".join(["the river bank and the money bank"] * 40)  # large: float32 path
    s = conform(Session(text=text, d_model=32, preset="orthogonal"), n_head=12, d_head=32)
    r = compute(s)
    assert r.dtype == np.float32
    y_ref, _ = _reference(r)
    ws = weighted_sum_terms(r, 7, 11)
    np.testing.assert_allclose(ws.rows().sum(axis=0), ws.y, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ws.y, y_ref[7, 11], rtol=1e-4, atol=1e-5)
    assert ws.y.dtype == np.float64


def test_fully_masked_row_is_zero_and_says_so():
    r = compute(_session(n_head=1, blocked=tuple((2, j) for j in range(14))))
    ws = weighted_sum_terms(r, 0, 2)
    assert ws.masked_out
    assert ws.shown.size == 0 and ws.rest.size == 0 and ws.rows().shape == (0, r.v.shape[2])
    np.testing.assert_array_equal(ws.y, 0.0)
    text = equation_text(ws, r.display_labels)
    assert text.startswith("y(by) = 0")
    assert "masked" in text


def test_equation_quotes_live_weights_sorted_and_summarises_the_rest():
    r = compute(_session(n_head=2))
    labels = r.display_labels
    i = labels.index("bank₁")
    ws = weighted_sum_terms(r, 1, i)
    text = equation_text(ws, labels, terms=3)
    assert text.startswith("y(bank₁) = ")
    terms = re.findall(r"([0-9.]+)·v\(([^)]+)\)", text)
    assert len(terms) == 3
    order = np.argsort(-r.weights[1, i], kind="stable")
    for (num, name), j in zip(terms, order[:3], strict=True):
        assert name == labels[j]
        assert float(num) == pytest.approx(r.weights[1, i, j], abs=0.005)
    more = re.search(r"\+ (\d+) more \(Σ = ([0-9.]+)\)$", text)
    n_nonzero = int(np.count_nonzero(r.weights[1, i]))
    assert int(more.group(1)) == n_nonzero - 3
    assert float(more.group(2)) == pytest.approx(r.weights[1, i, order[3:]].sum(), abs=0.005)


def test_equation_without_tail_when_all_terms_fit():
    r = compute(_session(text="river bank", n_head=1))
    ws = weighted_sum_terms(r, 0, 1)
    text = equation_text(ws, r.display_labels, terms=4)
    assert "more" not in text and text.count("·v(") == 2


def test_default_query_skips_cls_and_resolve_falls_back():
    s = _session(n_head=1)
    r = compute(replace(s, view=replace(s.view, show_special=True)))
    assert r.tokens[0].special
    assert default_query(r) == 1
    assert resolve_query(r, None) == 1
    assert resolve_query(r, 4) == 4
    assert resolve_query(r, 999) == 1
    empty = compute(_session(text="", n_head=1))
    assert default_query(empty) == -1 and resolve_query(empty, 0) == -1
    one = compute(_session(text="bank", n_head=1))
    ws = weighted_sum_terms(one, 0, 0)
    np.testing.assert_allclose(ws.weights, [1.0])
    np.testing.assert_allclose(ws.y, one.v[0, 0], atol=1e-12)


def test_bad_indices_raise():
    r = compute(_session(n_head=1))
    with pytest.raises(IndexError):
        weighted_sum_terms(r, 1, 0)
    with pytest.raises(IndexError):
        weighted_sum_terms(r, 0, r.T)


def _naive_lines(w, threshold, query=None, key=None):
    out = []
    for h in range(w.shape[0]):
        for i in range(w.shape[1]):
            for j in range(w.shape[2]):
                if (query is not None and i != query) or (key is not None and j != key):
                    continue
                if w[h, i, j] >= threshold:
                    out.append((h, i, j, w[h, i, j]))
    return out


@pytest.mark.parametrize("query,key", [(None, None), (0, None), (5, None), (None, 2), (7, 2)])
def test_head_lines_match_naive_loop(query, key):
    r = compute(_session(causal=True))
    lines = head_lines(r.weights, 0.05, query=query, key=key)
    ref = _naive_lines(np.asarray(r.weights), 0.05, query, key)
    assert len(ref) > 0
    got = list(zip(lines.head.tolist(), lines.query.tolist(), lines.key.tolist(), strict=True))
    assert got == [line[:3] for line in ref]
    np.testing.assert_allclose(lines.weight, [line[3] for line in ref], rtol=1e-15)
    assert lines.dropped == 0
    one = head_lines(r.weights[1], 0.05)
    assert list(one.head) == [0] * len(one)
    assert len(one) == len(_naive_lines(r.weights[1:2], 0.05))
    assert len(head_lines(r.weights, 0.05, query=r.T)) == 0  # out of range: nothing


def test_head_lines_cap_keeps_heaviest():
    rng = np.random.default_rng(0)
    w = rng.random((2, 30, 30))
    lines = head_lines(w, 0.0, max_lines=100)
    assert len(lines) == 100 and lines.dropped == 2 * 30 * 30 - 100
    assert lines.weight.min() >= np.sort(w.ravel())[-100]
    assert np.all(np.diff(lines.head * 900 + lines.query * 30 + lines.key) > 0)  # in order
    with pytest.raises(ValueError):
        head_lines(np.zeros((3, 4)))
    empty = head_lines(np.zeros((1, 0, 0)))
    assert len(empty) == 0


def test_vector_panels_and_one_hot():
    r = compute(_session(text="the dog and the cat", n_head=2, embedding="one-hot"))
    panels = vector_panels(r, 1)
    assert [p.name for p in panels] == ["X", "Q", "K", "V"]
    np.testing.assert_array_equal(panels[0].matrix, r.x)
    np.testing.assert_array_equal(panels[1].matrix, r.q[1])
    np.testing.assert_array_equal(panels[3].matrix, r.v[1])
    assert panels[0].one_hot and panels[0].columns[:2] == ["x0", "x1"]
    assert all(p.matrix.shape[0] == r.T for p in panels)
    assert not is_one_hot(np.array([[1.0, 1.0]])) and not is_one_hot(np.array([[0.5, 0.0]]))
    assert is_one_hot(np.eye(3))
    empty = vector_panels(compute(_session(text="", n_head=1)), 0)
    assert all(p.matrix.shape[0] == 0 for p in empty)


def test_signed_levels():
    assert signed_levels(np.array([0.5, -2.0]), np.array([1.0])) == (-2.0, 2.0)
    assert signed_levels(np.zeros(3)) == (-1.0, 1.0)
    assert signed_levels(np.array([np.nan, -np.inf, 0.25])) == (-0.25, 0.25)
    assert signed_levels() == (-1.0, 1.0)
