"""``compute(session, use_kernels=False)``: the NumPy path the window uses while the kernels
compile gives the kernels' Result, field by field, up to float rounding."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.core.pipeline import compute
from explorer.core.projections import conform
from explorer.core.session import Session
from tests.core.test_pipeline import RESULT_ARRAYS, WORDS, sessions


def assert_same_up_to_rounding(got, want) -> None:
    assert got.tokens == want.tokens and got.scale == want.scale
    assert got.notice == want.notice and got.truncated == want.truncated
    for name in RESULT_ARRAYS:
        a, b = getattr(got, name), getattr(want, name)
        assert a.shape == b.shape and a.dtype == b.dtype, name
        if a.dtype == np.float64:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=name)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5, err_msg=name)
        assert not a.flags.writeable, name
    assert np.all(got.weights[:, ~got.allowed] == 0)  # cut pairs are exactly zero


@settings(max_examples=120, deadline=None)
@given(sessions())
def test_the_numpy_path_gives_the_kernels_result(session):
    assert_same_up_to_rounding(compute(session, use_kernels=False), compute(session))


def test_one_token_causal_and_rows_with_nothing_to_attend():
    for text in ("dog", "the dog chased the cat . the bank of the river"):
        base = Session(text=text, embedding="random", d_model=8)
        base = conform(base, n_head=3, d_head=4)
        blocked = tuple((1, j) for j in range(20))  # query 1 may attend nothing
        for change in ({}, {"causal": True}, {"blocked": blocked}, {"sentence_mask": True}):
            s = replace(base, **change)
            fallback, kernel = compute(s, use_kernels=False), compute(s)
            assert_same_up_to_rounding(fallback, kernel)
            assert fallback.weights.any()
            if change.get("blocked") and fallback.T > 1:
                assert not fallback.weights[:, 1].any() and not fallback.y[:, 1].any()


def test_float32_sessions_match_to_float32_rounding():
    words = " ".join(WORDS[:10] * 30)  # about 300 tokens x 6 heads: the float32 path
    s = Session(text=words, d_model=32, preset="orthogonal", causal=True)
    s = conform(s, n_head=6, d_head=32)
    fallback, kernel = compute(s, use_kernels=False), compute(s)
    assert fallback.dtype == kernel.dtype == np.float32
    assert_same_up_to_rounding(fallback, kernel)


@settings(max_examples=30, deadline=None)
@given(sessions(), st.data())
def test_a_reused_result_from_either_path_matches(session, data):
    """The window's first Results come from NumPy and later edits reuse them with kernels."""
    h = data.draw(st.integers(0, session.n_head - 1))
    head = session.heads[h]
    edited = session.with_head(h, head.with_matrix("q", 1.5 * head.w_q))
    before = compute(session, use_kernels=False)
    after = compute(edited, reuse=(session, before))
    assert_same_up_to_rounding(after, compute(edited))
