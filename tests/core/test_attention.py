"""The attention core against a naive float64 reference, its properties, and every edge case."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.core import attention as A
from explorer.core import numba_config
from tests.core.naive import naive_attention

DTYPES = (np.float32, np.float64)
PATHS = (False, True)  # serial, parallel


def tol(dtype):
    """(rtol, atol) for results of magnitude about 1."""
    return (1e-4, 2e-5) if dtype == np.float32 else (1e-10, 1e-12)


def run(q, k, v, *, parallel, prefill=True, **kw):
    """Call one path explicitly, with NaN-filled output buffers to catch unwritten elements."""
    n_head, T = np.shape(q)[0], np.shape(q)[1]
    S, d_v = np.shape(v)[1], np.shape(v)[2]
    dtype = np.asarray(q).dtype
    out = wout = None
    if prefill:
        out = np.full((n_head, T, d_v), np.nan, dtype)
        wout = np.full((n_head, T, S), np.nan, dtype)
    y, w = A._attention(
        q, k, v, kw.get("scale"), kw.get("causal", False), kw.get("mask"), out, wout, parallel
    )
    if prefill:
        assert y is out and w is wout
    return y, w


@st.composite
def problems(draw):
    n_head = draw(st.integers(1, 4))
    T = draw(st.integers(1, 20))
    S = draw(st.sampled_from([T, draw(st.integers(1, 20))]))
    d = draw(st.integers(1, 12))
    d_v = draw(st.integers(1, 9))
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    spread = draw(st.sampled_from([0.1, 1.0, 4.0]))
    q = (rng.standard_normal((n_head, T, d)) * spread).astype(dtype)
    k = (rng.standard_normal((n_head, S, d)) * spread).astype(dtype)
    v = rng.standard_normal((n_head, S, d_v)).astype(dtype)
    mask_kind = draw(st.sampled_from(["none", "shared", "per_head"]))
    mask = None
    if mask_kind != "none":
        shape = (T, S) if mask_kind == "shared" else (n_head, T, S)
        mask = rng.random(shape) < draw(st.sampled_from([0.2, 0.6, 0.95]))
    return dict(
        q=q, k=k, v=v, mask=mask,
        causal=draw(st.booleans()),
        scale=draw(st.one_of(st.none(), st.floats(0.0, 3.0))),
        parallel=draw(st.booleans()),
    )  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(problems())
def test_kernel_matches_naive_reference(p):
    q, k, v, mask, causal, scale = p["q"], p["k"], p["v"], p["mask"], p["causal"], p["scale"]
    y, w = run(q, k, v, scale=scale, causal=causal, mask=mask, parallel=p["parallel"])
    y0, w0 = naive_attention(q, k, v, scale=scale, causal=causal, mask=mask)
    rtol, atol = tol(q.dtype)
    assert y.dtype == q.dtype and w.dtype == q.dtype
    np.testing.assert_allclose(w, w0, rtol=rtol, atol=atol)
    np.testing.assert_allclose(y, y0, rtol=rtol, atol=10 * atol)
    # the public reference obeys the same contract
    yr, wr = A.attention_reference(q, k, v, scale=scale, causal=causal, mask=mask)
    np.testing.assert_allclose(wr, w0, rtol=rtol, atol=atol)
    np.testing.assert_allclose(yr, y0, rtol=rtol, atol=10 * atol)
    # rows sum to one, or to zero when nothing may be attended
    n_head, T, S = w.shape
    allowed = np.ones((n_head, T, S), bool) if mask is None else np.broadcast_to(mask, w.shape)
    if causal:
        above = np.arange(S)[None, :] > np.arange(T)[:, None] + (S - T)  # (T, S)
        assert np.all(w[:, above] == 0)  # exactly zero, not just small
        allowed = allowed & ~above
    assert np.all(w[~allowed] == 0)
    sums = w.sum(axis=-1)
    has_any = allowed.any(axis=-1)
    np.testing.assert_allclose(sums[has_any], 1.0, rtol=0, atol=1e-5)
    assert np.all(sums[~has_any] == 0) and np.all(y[~has_any] == 0)


@settings(max_examples=100, deadline=None)
@given(problems(), st.randoms(use_true_random=False))
def test_permutation_equivariance(p, random):
    q, k, v, mask, scale = p["q"], p["k"], p["v"], p["mask"], p["scale"]
    n_head, T, S = q.shape[0], q.shape[1], k.shape[1]
    mask3 = None if mask is None else np.broadcast_to(mask, (n_head, T, S))
    pt, ps = random.sample(range(T), T), random.sample(range(S), S)
    y, w = run(q, k, v, scale=scale, mask=mask3, parallel=p["parallel"])
    y2, w2 = run(
        q[:, pt],
        k[:, ps],
        v[:, ps],
        scale=scale,
        mask=None if mask3 is None else mask3[:, pt][:, :, ps],
        parallel=p["parallel"],
    )
    rtol, atol = tol(q.dtype)
    np.testing.assert_allclose(w2, w[:, pt][:, :, ps], rtol=rtol, atol=atol)
    np.testing.assert_allclose(y2, y[:, pt], rtol=rtol, atol=10 * atol)


@settings(max_examples=100, deadline=None)
@given(problems(), st.integers(0, 2**32 - 1))
def test_adding_a_constant_per_query_row_changes_nothing(p, seed):
    q, k, v, mask, causal = p["q"], p["k"], p["v"], p["mask"], p["causal"]
    n_head, T, S = q.shape[0], q.shape[1], k.shape[1]
    scale = 0.7
    c = np.random.default_rng(seed).uniform(-20, 20, (n_head, T, 1)).astype(q.dtype)
    # an extra feature adds c[h, i] to every score of query row i: (q, c)·(k, 1) = q·k + c
    q2 = np.concatenate([q, c / scale], axis=2)  # (n_head, T, d + 1)
    k2 = np.concatenate([k, np.ones((n_head, S, 1), q.dtype)], axis=2)  # (n_head, S, d + 1)
    y, w = run(q, k, v, scale=scale, causal=causal, mask=mask, parallel=p["parallel"])
    y2, w2 = run(q2, k2, v, scale=scale, causal=causal, mask=mask, parallel=p["parallel"])
    rtol, atol = (2e-3, 2e-4) if q.dtype == np.float32 else (1e-8, 1e-10)
    np.testing.assert_allclose(w2, w, rtol=rtol, atol=atol)
    np.testing.assert_allclose(y2, y, rtol=rtol, atol=10 * atol)


def random_qkv(n_head, T, S, d, d_v=None, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((n_head, T, d)).astype(dtype),
        rng.standard_normal((n_head, S, d)).astype(dtype),
        rng.standard_normal((n_head, S, d if d_v is None else d_v)).astype(dtype),
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
def test_many_blocks_both_paths_write_everything(dtype, causal, monkeypatch):
    # a small cache budget forces 16-row blocks, the last one partial (T = 300)
    monkeypatch.setattr(A, "_BLOCK_BYTES", 16)
    q, k, v = random_qkv(3, 300, 290, 24, 40, dtype, seed=3)
    mask = np.random.default_rng(4).random((3, 300, 290)) < 0.7
    y0, w0 = naive_attention(q, k, v, causal=causal, mask=mask)
    rtol, atol = tol(dtype)
    for parallel in PATHS:
        y, w = run(q, k, v, causal=causal, mask=mask, parallel=parallel)
        np.testing.assert_allclose(w, w0, rtol=rtol, atol=atol)
        np.testing.assert_allclose(y, y0, rtol=rtol, atol=10 * atol)


def test_public_function_picks_the_path_by_size(monkeypatch):
    calls = []
    for name in ("attention_serial", "attention_parallel"):
        original = getattr(A._k, name)
        monkeypatch.setattr(A._k, name, lambda *a, _f=original, _n=name: (calls.append(_n), _f(*a)))
    small, large = random_qkv(1, 4, 4, 4), random_qkv(12, 128, 128, 64)
    A.attention(*small)
    A.attention(*large)
    assert calls == [
        "attention_serial",
        "attention_parallel" if A.thread_count() > 1 else "attention_serial",
    ]


@pytest.mark.parametrize("parallel", PATHS)
def test_t1_d1_and_s_differs_from_t(parallel):
    for shape in [(2, 1, 7, 1), (1, 5, 1, 3), (3, 9, 4, 1), (2, 4, 11, 5)]:
        q, k, v = random_qkv(*shape, d_v=2, dtype=np.float64, seed=sum(shape))
        for causal in (False, True):
            y, w = run(q, k, v, causal=causal, parallel=parallel)
            y0, w0 = naive_attention(q, k, v, causal=causal)
            np.testing.assert_allclose(w, w0, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(y, y0, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("parallel", PATHS)
def test_causal_alignment_with_more_keys_and_more_queries(parallel):
    q, k, v = random_qkv(1, 2, 5, 3, dtype=np.float64)
    _, w = run(q, k, v, causal=True, parallel=parallel)
    # the last query is aligned with the last key: query 0 sees keys 0..3, query 1 all five
    assert np.count_nonzero(w[0, 0]) == 4 and w[0, 0, 4] == 0
    assert np.count_nonzero(w[0, 1]) == 5
    q, k, v = random_qkv(1, 5, 2, 3, dtype=np.float64)
    y, w = run(q, k, v, causal=True, parallel=parallel)
    # T > S: the first T - S queries precede every key
    assert np.all(w[0, :3] == 0) and np.all(y[0, :3] == 0)
    np.testing.assert_allclose(w[0, 3:].sum(axis=-1), 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("parallel", PATHS)
def test_rows_with_nothing_to_attend_are_zero_even_with_nan_values(dtype, parallel):
    q, k, v = random_qkv(2, 4, 6, 3, dtype=dtype)
    v[:, 2] = np.nan
    mask = np.ones((2, 4, 6), bool)
    mask[0, 1] = False  # head 0, query 1: nothing allowed
    mask[1, :] = False  # head 1: nothing at all
    y, w = run(q, k, v, mask=mask, parallel=parallel)
    assert np.all(w[0, 1] == 0) and np.all(y[0, 1] == 0)
    assert np.all(w[1] == 0) and np.all(y[1] == 0)
    assert not np.isnan(w).any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("parallel", PATHS)
def test_huge_logits_stay_finite_and_exact(dtype, parallel):
    # small integers: every score is exact in float32, so the answer is known exactly
    rng = np.random.default_rng(7)
    q = rng.integers(-3, 4, (2, 6, 4)).astype(dtype)
    k = rng.integers(-3, 4, (2, 9, 4)).astype(dtype)
    v = rng.standard_normal((2, 9, 3)).astype(dtype)
    y, w = run(q, k, v, scale=1e4, parallel=parallel)
    s = np.einsum("htd,hsd->hts", q.astype(np.int64), k.astype(np.int64))
    winners = s == s.max(axis=-1, keepdims=True)  # ties share the weight equally
    expected = winners / winners.sum(axis=-1, keepdims=True)
    assert np.isfinite(w).all() and np.isfinite(y).all()
    np.testing.assert_allclose(w, expected, rtol=1e-6, atol=0)
    np.testing.assert_allclose(y, expected @ v.astype(np.float64), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("parallel", PATHS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_gives_nan_in_the_affected_rows_only(parallel, bad):
    q, k, v = random_qkv(2, 5, 5, 4)
    q[0, 1, 2] = bad  # row 1 of head 0
    k[1, 3, 0] = bad  # key 3 of head 1: every head-1 row that may attend it
    mask = np.ones((2, 5, 5), bool)
    mask[1, 0, 3] = False  # ...but head 1, query 0 may not
    y, w = run(q, k, v, mask=mask, parallel=parallel)
    assert np.isnan(w[0, 1]).all() and np.isnan(y[0, 1]).all()
    assert np.isnan(w[1, 1:]).all() and np.isnan(y[1, 1:]).all()
    clean = [(0, 0), (0, 2), (0, 3), (0, 4), (1, 0)]
    y0, w0 = naive_attention(q, k, v, mask=mask)
    for h, i in clean:
        np.testing.assert_allclose(w[h, i], w0[h, i], rtol=1e-4, atol=2e-5)
        np.testing.assert_allclose(y[h, i], y0[h, i], rtol=1e-4, atol=2e-4)
    _, wr = A.attention_reference(q, k, v, mask=mask)
    np.testing.assert_array_equal(np.isnan(wr), np.isnan(w))


def test_nan_in_values_reaches_rows_that_attend_it():
    q, k, v = random_qkv(1, 4, 4, 3)
    v[0, 2, 1] = np.nan
    y, w = A.attention(q, k, v, causal=True)
    assert not np.isnan(w).any()
    assert np.isnan(y[0, 2:, 1]).all()  # rows 2 and 3 attend key 2
    assert not np.isnan(y[0, :, [0, 2]]).any()


def test_dtype_rules():
    q, k, v = random_qkv(1, 3, 3, 2, dtype=np.float64)
    for dt, expected in [
        (np.float16, np.float32),
        (np.int32, np.float64),
        (bool, np.float64),
        (np.uint8, np.float64),
        (np.float32, np.float32),
    ]:
        y, w = A.attention(q.astype(dt), k, v)
        assert y.dtype == expected and w.dtype == expected
        _, w0 = naive_attention(q.astype(dt), k.astype(expected), v.astype(expected))
        np.testing.assert_allclose(w, w0, rtol=1e-5, atol=1e-6)
    # mixed: k and v follow q, whichever way round
    y32, _ = A.attention(q.astype(np.float32), k, v)
    y64, _ = A.attention(q, k.astype(np.float32), v.astype(np.float32))
    assert y32.dtype == np.float32 and y64.dtype == np.float64
    np.testing.assert_array_equal(
        y32, A.attention(q.astype(np.float32), k.astype(np.float32), v.astype(np.float32))[0]
    )


def test_non_contiguous_and_read_only_inputs_are_copied_not_misread():
    q, k, v = random_qkv(2, 6, 5, 4, dtype=np.float64, seed=11)
    qt = np.ascontiguousarray(q.transpose(0, 2, 1)).transpose(0, 2, 1)  # F-ordered view
    kr = np.repeat(k, 2, axis=1)[:, ::2]  # strided view
    vr = v.copy()
    vr.flags.writeable = False
    y, w = A.attention(qt, kr, vr, causal=True)
    y0, w0 = naive_attention(q, k, v, causal=True)
    np.testing.assert_allclose(w, w0, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(y, y0, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "args, message",
    [
        (lambda q, k, v: (q[0], k, v), "3-D"),
        (lambda q, k, v: (q, k[:1], v), "same number of heads"),
        (lambda q, k, v: (q, k[:, :, :2], v), "d="),
        (lambda q, k, v: (q, k, v[:, :2]), "S="),
        (lambda q, k, v: (q.astype(complex), k, v), "real"),
        (lambda q, k, v: (q.astype(object), k, v), "real"),
        (lambda q, k, v: (q.astype(str), k, v), "real"),
        (lambda q, k, v: (q, k.astype(complex), v), "real"),
        (lambda q, k, v: (q[:, :, :0], k[:, :, :0], v), "d >= 1"),
        (lambda q, k, v: ([[[1.0], [2.0, 3.0]]], k, v), "array"),
    ],
)
def test_bad_inputs_raise_value_error(args, message):
    with pytest.raises(ValueError, match=message):
        A.attention(*args(*random_qkv(2, 3, 3, 3)))


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(mask=np.ones((3, 3), int)), "boolean"),
        (dict(mask=np.ones((3, 4), bool)), "shape"),
        (dict(mask=np.ones((3, 3, 3), bool)), "shape"),
        (dict(scale=-1.0), ">= 0"),
        (dict(scale=float("nan")), "finite"),
        (dict(scale=True), "real number"),
        (dict(scale="2"), "real number"),
        (dict(out=np.zeros((2, 3, 4), np.float32)), "shape"),
        (dict(out=np.zeros((2, 3, 3), np.float64)), "dtype"),
        (dict(out=np.zeros((2, 3, 6), np.float32)[:, :, ::2]), "C-contiguous"),
        (dict(weights_out=np.zeros((2, 3, 3), np.float32).transpose(0, 2, 1)), "C-contiguous"),
        (dict(weights_out=[[0.0]]), "NumPy array"),
    ],
)
def test_bad_options_raise_value_error(kw, message):
    with pytest.raises(ValueError, match=message):
        A.attention(*random_qkv(2, 3, 3, 3), **kw)


def test_output_buffers_must_not_overlap_inputs_and_are_returned():
    q, k, v = random_qkv(2, 3, 3, 3)
    with pytest.raises(ValueError, match="overlap"):
        A.attention(q, k, v, out=v)
    buf = np.zeros(23, np.float32)
    with pytest.raises(ValueError, match="overlap"):  # out and weights_out share memory
        A.attention(q, k, v, out=buf[:18].reshape(2, 3, 3), weights_out=buf[5:].reshape(2, 3, 3))
    ro = np.zeros((2, 3, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        A.attention(q, k, v, out=ro)
    out, wout = np.full((2, 3, 3), np.nan, np.float32), np.full((2, 3, 3), np.nan, np.float32)
    y, w = A.attention(q, k, v, out=out, weights_out=wout)
    assert y is out and w is wout and np.isfinite(out).all() and np.isfinite(wout).all()


@pytest.mark.parametrize(
    "shape", [(0, 3, 3, 2, 2), (2, 0, 3, 2, 2), (2, 3, 0, 2, 2), (2, 3, 3, 2, 0)]
)
def test_empty_dimensions(shape):
    n_head, T, S, d, d_v = shape
    q, k, v = np.ones((n_head, T, d)), np.ones((n_head, S, d)), np.ones((n_head, S, d_v))
    y, w = A.attention(q, k, v)
    assert y.shape == (n_head, T, d_v) and w.shape == (n_head, T, S)
    if S == 0:
        assert not w.any() and not y.any()
    else:
        np.testing.assert_allclose(w.sum(axis=-1), 1.0)


def test_no_recompilation_when_only_values_change():
    A.warm_up()
    kernels = (A._k.attention_serial, A._k.attention_parallel)
    before = [len(f.signatures) for f in kernels]
    assert before == [2, 2]  # float32 and float64, nothing else
    rng = np.random.default_rng(5)
    for dtype in DTYPES:
        for n_head, T, S in [(1, 1, 1), (3, 17, 9), (12, 70, 70)]:
            q, k, v = random_qkv(n_head, T, S, 8, 5, dtype, seed=T)
            mask = rng.random((T, S)) < 0.5
            kf = np.asfortranarray(k)
            kf.flags.writeable = False
            for parallel in PATHS:
                run(q, kf, v, mask=mask, causal=True, scale=0.3, parallel=parallel)
                run(q, k, v, parallel=parallel, prefill=False)
    assert [len(f.signatures) for f in kernels] == before
    assert A.warm_up() < 1.0  # nothing left to compile


def test_blas_pinned_and_cache_writable(tmp_path):
    from threadpoolctl import threadpool_info

    libraries = numba_config.configure_blas()
    assert libraries and all(lib["num_threads"] == 1 for lib in libraries)
    pinned = {lib["filepath"] for lib in libraries}
    assert any(i["filepath"] not in pinned for i in threadpool_info() if i["user_api"] == "blas"), (
        "NumPy's own BLAS must not be pinned"
    )
    assert numba_config._writable(tmp_path / "cache")
    (tmp_path / "file").write_text("x")
    assert not numba_config._writable(tmp_path / "file" / "cache")
    assert numba_config.FASTMATH.isdisjoint({"nnan", "ninf", "fast"})


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux CPU sets")
def test_parallel_calls_leave_the_callers_cpu_set_alone():
    before = os.sched_getaffinity(0)
    q, k, v = random_qkv(4, 64, 64, 16)
    run(q, k, v, parallel=True)
    assert os.sched_getaffinity(0) == before
    seen = []
    worker = threading.Thread(
        target=lambda: (run(q, k, v, parallel=True), seen.append(os.sched_getaffinity(0)))
    )
    worker.start()
    worker.join()
    assert seen == [before]  # threads created later are not confined either
