"""Long-text attention: exact cells recomputed from row statistics, and block overviews,
against an independent float64 NumPy reference (every (T, T) array built whole)."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.core.attention import attention_reference
from explorer.core.long_attention import (
    LazyCosine,
    block_reduce,
    lazy_stages,
    long_attention,
    long_attention_numpy,
    overview_block,
)

IMPLS = {
    "numpy": lambda *a: long_attention_numpy(*a),
    "kernel": lambda *a: long_attention(*a, use_kernels=True),
}


def _inputs(seed, n_head, T, d, dtype, spread=1.0):
    rng = np.random.default_rng(seed)
    q = (rng.standard_normal((n_head, T, d)) * spread).astype(dtype)
    k = (rng.standard_normal((n_head, T, d)) * spread).astype(dtype)
    v = rng.standard_normal((n_head, T, d)).astype(dtype)
    return q, k, v


def _ref_blocks(m: np.ndarray, b: int, how: str) -> np.ndarray:
    """Loop reference of block_reduce."""
    nr, nc = -(-m.shape[0] // b), -(-m.shape[1] // b)
    out = np.empty((nr, nc))
    for r in range(nr):
        for c in range(nc):
            blk = m[r * b : (r + 1) * b, c * b : (c + 1) * b].ravel()
            if np.isnan(blk).any():
                out[r, c] = np.nan
            elif how == "max":
                out[r, c] = blk.max()
            else:
                vals = blk[blk != -np.inf]
                out[r, c] = -np.inf if vals.size == 0 else vals[np.argmax(np.abs(vals))]
    return out


@pytest.mark.parametrize("how", ["max", "extreme"])
@pytest.mark.parametrize("shape,b", [((7, 7), 1), ((10, 9), 3), ((16, 16), 4), ((5, 13), 8)])
def test_block_reduce_matches_loops(how, shape, b):
    rng = np.random.default_rng(3)
    m = rng.standard_normal(shape)
    m[rng.random(shape) < 0.2] = -np.inf
    m[0, 0] = np.nan
    got = block_reduce(m, b, how)
    want = _ref_blocks(m, b, how)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-6)


def _mask(T, seed, kind):
    if kind == "none":
        return None
    allowed = np.tri(T, dtype=bool) if kind == "causal" else np.ones((T, T), bool)
    rng = np.random.default_rng(seed)
    allowed &= rng.random((T, T)) > 0.3
    allowed[min(2, T - 1)] = False  # a fully masked row
    return allowed


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "T,mask_kind", [(1, "none"), (37, "causal"), (130, "random"), (300, "none")]
)
def test_long_pass_matches_reference(impl, dtype, T, mask_kind):
    n_head, d = 3, 8
    q, k, v = _inputs(T, n_head, T, d, dtype)
    scale = 0.7
    allowed = _mask(T, T, mask_kind)
    y, stats, ov = IMPLS[impl](q, k, v, scale, allowed)
    y_ref, w_ref = attention_reference(
        q.astype(np.float64),
        k.astype(np.float64),
        v.astype(np.float64),
        scale=scale,
        mask=allowed,
    )
    tol = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(y, y_ref, atol=tol * 10, rtol=tol * 10)
    stages = lazy_stages(q, k, scale, allowed, stats, ov)
    s_ref = np.einsum("htd,hsd->hts", q.astype(np.float64), k.astype(np.float64))
    for h in range(n_head):
        np.testing.assert_allclose(np.asarray(stages["weights"][h]), w_ref[h], atol=tol, rtol=tol)
        np.testing.assert_allclose(np.asarray(stages["scores"][h]), s_ref[h], rtol=tol, atol=tol)
        masked = np.asarray(stages["masked"][h])
        if allowed is not None:
            assert np.isneginf(masked[~allowed]).all()
        # the overview is the reduction of the exact matrices (stored in float32)
        b = ov.block
        otol = max(tol * 10, 1e-6)
        assert b == overview_block(T)
        np.testing.assert_allclose(
            ov.weights[h], _ref_blocks(w_ref[h], b, "max"), atol=otol, rtol=otol
        )
        np.testing.assert_allclose(
            ov.scores[h], _ref_blocks(s_ref[h], b, "extreme"), rtol=otol, atol=otol
        )
        allowed_s = s_ref[h] if allowed is None else np.where(allowed, s_ref[h], -np.inf)
        np.testing.assert_allclose(
            ov.allowed[h], _ref_blocks(allowed_s, b, "extreme"), rtol=otol, atol=otol
        )


@pytest.mark.parametrize("impl", list(IMPLS))
def test_overview_blocks_at_long_lengths(impl):
    """T = 2,500: blocks of 5 cells; rows, cells and windows exact."""
    n_head, T, d = 2, 2500, 16
    q, k, v = _inputs(1, n_head, T, d, np.float32, spread=0.5)
    allowed = np.tri(T, dtype=bool)
    y, stats, ov = IMPLS[impl](q, k, v, 0.25, allowed)
    assert ov.block == 5 and len(ov.weights) == n_head and ov.weights[0].shape == (500, 500)
    w = lazy_stages(q, k, 0.25, allowed, stats, ov)["weights"]
    rng = np.random.default_rng(0)
    for i in rng.integers(0, T, 5):
        s = q[1, i].astype(np.float64) @ k[1, : i + 1].T.astype(np.float64) * 0.25
        e = np.exp(s - s.max())
        want = np.zeros(T)
        want[: i + 1] = e / e.sum()
        np.testing.assert_allclose(w[1, i], want, atol=2e-6)
        np.testing.assert_allclose(w[1][i], want, atol=2e-6)
        assert w[1, i].sum() == pytest.approx(1.0, abs=1e-4)
        j = int(rng.integers(0, i + 1))
        assert float(w[1, i, j]) == pytest.approx(want[j], abs=2e-6)
    win = w[1].window(1000, 1010, 990, 1003)
    full_rows = np.stack([w[1, i] for i in range(1000, 1010)])
    np.testing.assert_allclose(win, full_rows[:, 990:1003], atol=1e-7)
    # y of a row equals its exact weights times v
    np.testing.assert_allclose(y[0, 1234], w[0, 1234] @ v[0].astype(np.float64), atol=1e-4)


@pytest.mark.parametrize("impl", list(IMPLS))
def test_edge_rows_nan_huge_and_empty(impl):
    n_head, T, d = 1, 40, 4
    q, k, v = _inputs(5, n_head, T, d, np.float32)
    q[0, 3, 0] = np.nan  # NaN in one query: its row is NaN
    q[0, 7] *= 1e4  # huge logits: still a valid softmax (one-hot-ish)
    allowed = np.ones((T, T), bool)
    allowed[11] = False  # nothing allowed: weights and output 0
    y, stats, ov = IMPLS[impl](q, k, v, 1.0, allowed)
    w = lazy_stages(q, k, 1.0, allowed, stats, ov)["weights"]
    assert np.isnan(w[0, 3]).all() and np.isnan(y[0, 3]).all()
    assert np.isfinite(w[0, 7]).all() and w[0, 7].sum() == pytest.approx(1.0, abs=1e-5)
    assert not w[0, 11].any() and not y[0, 11].any()
    assert np.isfinite(y[0, [0, 7, 20]]).all()


def test_lazy_cosine_matches_dense():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((1500, 6))
    a[4] = 0.0  # a zero row: cosine 0
    c = LazyCosine(a)
    unit = a / np.where(np.linalg.norm(a, axis=1) > 0, np.linalg.norm(a, axis=1), 1)[:, None]
    ref = np.clip(unit @ unit.T, -1, 1)
    np.testing.assert_allclose(np.asarray(c), ref, atol=1e-12)
    np.testing.assert_allclose(c[10], ref[10], atol=1e-12)
    assert float(c[3, 9]) == pytest.approx(ref[3, 9])
    image, b = c.overview()
    assert b == 3 and image.shape == (500, 500)
    np.testing.assert_allclose(image, _ref_blocks(ref, b, "extreme"), atol=1e-6)


@pytest.mark.parametrize("use_kernels", [False, True])
def test_a_head_edit_of_a_long_text_recomputes_that_head_only(use_kernels):
    from dataclasses import replace

    from explorer.core import long_attention as la
    from explorer.core.pipeline import compute, is_long
    from explorer.core.projections import conform
    from explorer.core.session import Session

    if use_kernels:
        la.warm_up()
    words = "the river bank was steep and the old bank held money".split()
    text = " ".join(words[i % len(words)] for i in range(1100))
    s = conform(Session(text=text, d_model=8, preset="orthogonal", causal=True), n_head=2)
    before = compute(s, use_kernels=use_kernels)
    head = s.heads[1]
    edited = replace(s, heads=(s.heads[0], replace(head, w_q=head.w_q * 1.5)))
    reused = compute(edited, reuse=(s, before), use_kernels=use_kernels)
    full = compute(edited, use_kernels=use_kernels)
    assert is_long(reused) and reused.T == 1100
    # the unedited head is taken over as it was
    assert np.array_equal(reused.weights[0].overview()[0], before.weights[0].overview()[0])
    for h in range(2):
        np.testing.assert_allclose(reused.y[h], full.y[h], atol=1e-5)
        for stage in ("scores", "masked", "weights"):
            got, want = getattr(reused, stage)[h], getattr(full, stage)[h]
            np.testing.assert_allclose(got.overview()[0], want.overview()[0], atol=1e-5)
            np.testing.assert_allclose(got[777], want[777], atol=1e-6)
    assert not np.allclose(reused.weights[1, 777], before.weights[1, 777], atol=1e-3)
