"""Readability choices: label thinning, value-space similarity, colour range, pinned pair."""

import numpy as np
import pytest

from explorer.core.labels import token_labels
from explorer.core.pipeline import compute
from explorer.core.readability import (
    MAX_UNTHINNED,
    contrast_range,
    cosine,
    label_plan,
    nice_step,
    pair_readout,
    pinned_pair,
    value_space_similarity,
)
from explorer.io.session_file import load_session
from explorer.resources import resource_path


def naive_cosine(x):
    """Row by row, in float64, zero vectors give 0."""
    x = np.asarray(x, dtype=np.float64)
    T = x.shape[0]
    out = np.zeros((T, T))
    for i in range(T):
        for j in range(T):
            ni, nj = np.linalg.norm(x[i]), np.linalg.norm(x[j])
            if ni > 0 and nj > 0:
                out[i, j] = float(np.dot(x[i], x[j])) / (ni * nj)
    return out


# ------------------------------------------------------------------ labels
def test_nice_steps_follow_1_2_5():
    assert [nice_step(k) for k in (0, 1, 1.5, 2, 3, 5, 6, 11, 21, 51, 101)] == [
        1, 1, 2, 2, 5, 5, 10, 20, 50, 100, 200,
    ]  # fmt: skip


@pytest.mark.parametrize("n", [1, 9, 40, MAX_UNTHINNED])
def test_up_to_64_tokens_every_label_is_drawn_even_in_tiny_cells(n):
    plan = label_plan(n, cell_px=2.0, min_px=8.0, selected=3)
    assert plan.indices == tuple(range(n)) and plan.step == 1


def test_small_multiples_may_thin_tiny_cells_but_not_roomy_ones():
    assert label_plan(9, cell_px=12.0, min_px=8.0, thin_small_cells=True).step == 1
    plan = label_plan(9, cell_px=3.0, min_px=8.0, thin_small_cells=True)
    assert plan.step == 5 and plan.indices == (0, 5)
    assert plan.centres == (4.0, 16.5)  # label 0 moved inwards to stay inside the axis


def test_past_64_every_kth_label_from_the_count():
    plan = label_plan(200, cell_px=20.0, min_px=8.0)  # roomy cells: k from the count alone
    assert plan.step == 5  # ceil(200 / 64) = 4, rounded up to the 1-2-5 series
    assert plan.indices == tuple(range(0, 200, 5))
    assert len(label_plan(65, cell_px=20.0, min_px=8.0).indices) == 33  # k = 2
    # tiny cells: k also keeps the labels a line apart
    plan = label_plan(200, cell_px=1.0, min_px=8.0)
    assert plan.step == 10 and plan.indices == tuple(range(10, 200, 10))
    assert plan.centres == tuple(i + 0.5 for i in range(10, 200, 10))
    # 0 would have to move inwards to 4 px and crowd 10: it gives way


@pytest.mark.parametrize("n, cell", [(1, 3.0), (9, 4.0), (64, 1.0), (200, 1.5), (1000, 0.3)])
def test_labels_stay_inside_the_axis(n, cell):
    min_px = 8.0
    plan = label_plan(n, cell_px=cell, min_px=min_px, thin_small_cells=True)
    length = n * cell
    for c in plan.centres:
        assert min(min_px, length) / 2 - 1e-9 <= c <= length - min(min_px, length) / 2 + 1e-9


@pytest.mark.parametrize("selected", [0, 7, 42, 199])
def test_the_selected_query_is_always_labelled_and_legible(selected):
    cell, min_px = 2.0, 9.0
    plan = label_plan(200, cell_px=cell, min_px=min_px, selected=selected)
    assert selected in plan.indices
    assert list(plan.indices) == sorted(set(plan.indices))
    assert (np.diff(np.array(plan.centres)) >= min_px - 1e-9).all()  # nothing crowds it
    others = [i for i in plan.indices if i != selected]
    assert all(i % plan.step == 0 for i in others)  # the rest stay on the grid


# -------------------------------------------------------------- similarity
def test_cosine_matches_a_naive_reference_and_zero_rows_give_zero():
    x = np.random.default_rng(0).normal(size=(7, 5))
    x[3] = 0.0
    got = cosine(x)
    np.testing.assert_allclose(got, naive_cosine(x), atol=1e-12)
    assert got.dtype == np.float64 and (got[3] == 0).all()


def test_value_space_similarity_is_cos_of_v_and_of_y():
    rng = np.random.default_rng(1)
    v, y = rng.normal(size=(2, 6, 4)), rng.normal(size=(2, 6, 4))
    s, c = value_space_similarity(v[1], y[1])
    np.testing.assert_allclose(s, naive_cosine(v[1]), atol=1e-12)
    np.testing.assert_allclose(c, naive_cosine(y[1]), atol=1e-12)
    s, c = value_space_similarity(v, y)  # all heads: concatenated per token
    cat_v = np.concatenate([v[0], v[1]], axis=1)
    cat_y = np.concatenate([y[0], y[1]], axis=1)
    np.testing.assert_allclose(s, naive_cosine(cat_v), atol=1e-12)
    np.testing.assert_allclose(c, naive_cosine(cat_y), atol=1e-12)
    with pytest.raises(ValueError, match="one shape"):
        value_space_similarity(v[0], y)


def test_contrast_range_spans_the_off_diagonal_data():
    sim = np.array([[1.0, 0.94, 0.37], [0.94, 1.0, 0.81], [0.37, 0.81, 1.0]])
    assert contrast_range(sim) == pytest.approx((0.35, 0.95))
    lo, hi = contrast_range(np.array([[1.0, -0.42], [-0.42, 1.0]]))
    assert (lo, hi) == pytest.approx((-0.45, -0.4))
    assert contrast_range(np.ones((1, 1))) == pytest.approx((0.95, 1.0))  # one token
    assert contrast_range(np.zeros((0, 0))) == (-1.0, 1.0)
    flat = np.full((3, 3), 0.5)
    lo, hi = contrast_range(flat)
    assert lo <= 0.5 <= hi and hi - lo == pytest.approx(0.05)


def test_contrast_range_stays_within_minus_one_and_one():
    sim = np.array([[1.0, -1.0], [-1.0, 1.0]])
    assert contrast_range(sim) == pytest.approx((-1.0, -0.95))
    rng = np.random.default_rng(2)
    for _ in range(50):
        sim = cosine(rng.normal(size=(6, 3)))
        lo, hi = contrast_range(sim)
        off = sim[~np.eye(6, dtype=bool)]
        assert -1.0 <= lo <= off.min() + 1e-12 and off.max() - 1e-12 <= hi <= 1.0


# ----------------------------------------------------------------- pinned
def bank():
    s = load_session(resource_path("examples", "bank-two-sentences.attn.json"))
    return s, compute(s)


def test_bank_example_pins_bank1_bank2_in_value_space():
    s, r = bank()
    static, contextual = value_space_similarity(r.v[0], r.y[0])
    np.testing.assert_allclose(static, naive_cosine(r.v[0]), atol=1e-9)
    np.testing.assert_allclose(contextual, naive_cosine(r.y[0]), atol=1e-9)
    pair = pinned_pair(r.labels, static, contextual, s.selected_query)
    labels = token_labels(r.labels)
    assert (labels[pair[0]], labels[pair[1]]) == ("bank₁", "bank₂")
    text = pair_readout(labels, pair, static, contextual)
    want_s, want_c = naive_cosine(r.v[0])[pair], naive_cosine(r.y[0])[pair]
    assert text == f"cos(bank₁, bank₂): static {want_s:.2f} → contextual {want_c:.2f}"
    assert text == "cos(bank₁, bank₂): static 1.00 → contextual 0.94"


def test_pinned_pair_prefers_the_content_word_that_changed_most():
    texts = ["the", "cat", "saw", "the", "cat", "and", "dog", "dog"]
    static = np.eye(8)
    contextual = np.eye(8)
    static[1, 4] = static[6, 7] = 1.0
    contextual[1, 4], contextual[6, 7] = 0.9, 0.5  # dog moved more than cat
    static[0, 3], contextual[0, 3] = 1.0, -1.0  # "the" moved most, but is a stop word
    assert pinned_pair(texts, static, contextual) == (6, 7)


def test_without_a_repeated_word_the_selected_query_and_its_nearest_token():
    texts = ["a", "dog", "chased", "cats", "."]
    contextual = cosine(np.random.default_rng(3).normal(size=(5, 4)))
    static = np.eye(5)
    for q in (0, 2, 4):
        i, j = pinned_pair(texts, static, contextual, selected_query=q)
        others = [k for k in range(5) if k != q]
        assert i == q and j == max(others, key=lambda k: contextual[q, k])
    i, j = pinned_pair(texts, static, contextual)  # nothing selected: first content word
    assert i == 1 and j != 1
    assert pinned_pair(["x"], np.eye(1), np.eye(1)) is None


def test_pinned_pair_ties_go_to_the_earliest_pair_and_match_a_loop():
    texts = ["cat", "dog", "cat", "dog", "cat"]
    static, contextual = np.eye(5), np.eye(5)
    assert pinned_pair(texts, static, contextual) == (0, 2)  # no change anywhere: first pair
    rng = np.random.default_rng(4)
    for _ in range(20):
        texts = list(rng.choice(["cat", "dog", "the", "bank"], size=9))
        static, contextual = cosine(rng.normal(size=(9, 3))), cosine(rng.normal(size=(9, 3)))
        pairs = [
            (i, j)
            for i in range(9)
            for j in range(i + 1, 9)
            if texts[i] == texts[j] and texts[i] != "the"
        ]
        if not pairs:
            continue
        want = max(pairs, key=lambda p: (abs(static[p] - contextual[p]), -p[0], -p[1]))
        assert pinned_pair(texts, static, contextual) == want


def test_pinned_pair_with_no_finite_similarity_picks_another_token():
    nan = np.full((3, 3), np.nan)
    assert pinned_pair(["the", "dog", "ran"], nan, nan, selected_query=0) == (0, 1)
    assert pinned_pair(["the", "dog", "ran"], nan, nan, selected_query=2) == (2, 0)
