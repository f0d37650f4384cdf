"""The NumPy path (``attention_numpy``) against the kernels and the naive reference.

The window computes with it until the kernels are compiled, so it must give the kernels'
numbers: the same contract (dtype, causal alignment, empty rows, NaN rows), up to rounding.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings

from explorer.core import attention_numpy as N
from tests.core.naive import naive_attention
from tests.core.test_attention import DTYPES, PATHS, problems, random_qkv, run, tol


@settings(max_examples=300, deadline=None)
@given(problems())
def test_numpy_path_matches_the_kernels_and_the_naive_reference(p):
    q, k, v, mask, causal, scale = p["q"], p["k"], p["v"], p["mask"], p["causal"], p["scale"]
    kw = dict(scale=scale, causal=causal, mask=mask)
    y, w = N.attention_numpy(q, k, v, **kw)
    yk, wk = run(q, k, v, parallel=p["parallel"], **kw)
    y0, w0 = naive_attention(q, k, v, **kw)
    rtol, atol = tol(q.dtype)
    assert y.dtype == w.dtype == q.dtype
    np.testing.assert_allclose(w, wk, rtol=rtol, atol=atol)
    np.testing.assert_allclose(y, yk, rtol=rtol, atol=10 * atol)
    np.testing.assert_allclose(w, w0, rtol=rtol, atol=atol)
    np.testing.assert_allclose(y, y0, rtol=rtol, atol=10 * atol)
    # exactly zero on masked keys and rows that see nothing, as the kernels
    _, T, S = w.shape
    allowed = np.ones(w.shape, bool) if mask is None else np.broadcast_to(mask, w.shape)
    if causal:
        allowed = allowed & (np.arange(S)[None, :] <= np.arange(T)[:, None] + (S - T))
    assert np.all(w[~allowed] == 0) and np.all(wk[~allowed] == 0)
    empty = ~allowed.any(axis=-1)
    assert np.all(y[empty] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("parallel", PATHS)
def test_one_token_and_causal_rows_match_the_kernels(dtype, parallel):
    for n_head, T, S in [(1, 1, 1), (3, 1, 1), (2, 1, 5), (2, 6, 3), (4, 40, 40)]:
        q, k, v = random_qkv(n_head, T, S, 7, 5, dtype, seed=T + S)
        for causal in (False, True):
            y, w = N.attention_numpy(q, k, v, causal=causal)
            yk, wk = run(q, k, v, causal=causal, parallel=parallel)
            rtol, atol = tol(dtype)
            np.testing.assert_allclose(w, wk, rtol=rtol, atol=atol)
            np.testing.assert_allclose(y, yk, rtol=rtol, atol=10 * atol)
            if causal:
                above = np.arange(S)[None, :] > np.arange(T)[:, None] + (S - T)
                assert np.all(w[:, above] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_rows_are_zero_even_with_nan_values_and_a_zero_scale(dtype):
    q, k, v = random_qkv(2, 4, 6, 3, dtype=dtype)
    v[:, 2] = np.nan
    mask = np.ones((2, 4, 6), bool)
    mask[0, 1] = False  # head 0, query 1: nothing allowed
    mask[1, :] = False  # head 1: nothing at all
    for scale in (None, 0.0):
        y, w = N.attention_numpy(q, k, v, mask=mask, scale=scale)
        yk, wk = run(q, k, v, mask=mask, scale=scale, parallel=False)
        assert np.all(w[0, 1] == 0) and np.all(y[0, 1] == 0)
        assert np.all(w[1] == 0) and np.all(y[1] == 0)
        assert not np.isnan(w).any()
        np.testing.assert_allclose(w, wk, *tol(dtype))
        np.testing.assert_array_equal(np.isnan(y), np.isnan(yk))
    y, w = N.attention_numpy(q, k, v, mask=mask, scale=0.0)  # a flat softmax
    np.testing.assert_allclose(w[0, 0], 1 / 6)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_make_the_same_rows_nan(bad):
    q, k, v = random_qkv(2, 5, 5, 4)
    q[0, 1, 2] = bad
    k[1, 3, 0] = bad
    mask = np.ones((2, 5, 5), bool)
    mask[1, 0, 3] = False
    y, w = N.attention_numpy(q, k, v, mask=mask)
    yk, wk = run(q, k, v, mask=mask, parallel=False)
    np.testing.assert_array_equal(np.isnan(w), np.isnan(wk))
    np.testing.assert_array_equal(np.isnan(y), np.isnan(yk))
    np.testing.assert_allclose(w, wk, rtol=1e-4, atol=2e-5)  # NaN compares equal here


def test_many_row_blocks_and_output_buffers(monkeypatch):
    monkeypatch.setattr(N, "_NUMPY_BLOCK_BYTES", 256)  # 8 rows per block at S = 8 in float32
    q, k, v = random_qkv(3, 37, 8, 6, 4, np.float32, seed=3)
    mask = np.random.default_rng(1).random((37, 8)) < 0.7
    out, wout = np.full((3, 37, 4), np.nan, np.float32), np.full((3, 37, 8), np.nan, np.float32)
    y, w = N.attention_numpy(q, k, v, mask=mask, causal=True, out=out, weights_out=wout)
    assert y is out and w is wout and not np.isnan(w).any()
    yk, wk = run(q, k, v, mask=mask, causal=True, parallel=False)
    np.testing.assert_allclose(w, wk, *tol(np.float32))
    np.testing.assert_allclose(y, yk, rtol=1e-4, atol=2e-4)
    with pytest.raises(ValueError, match="C-contiguous"):
        N.attention_numpy(q, k, v, out=q[:, :, :4])
    with pytest.raises(ValueError, match="3-D"):
        N.attention_numpy(q[0], k, v)


def test_the_numpy_path_needs_no_numba():
    """Start-up computes its first Result before Numba (about 0.25 s to import) is loaded."""
    code = (
        "import sys\n"
        "from explorer.core.pipeline import compute\n"
        "from explorer.core.session import Session\n"
        "import explorer.core.encoder\n"
        "r = compute(Session(causal=True), use_kernels=False)\n"
        "assert r.T > 1 and r.weights.any()\n"
        "loaded = [m for m in ('numba', 'llvmlite', 'scipy.linalg') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
