"""The default Session and what compute() makes of it."""

import dataclasses

import numpy as np
import pytest

from explorer.core.pipeline import compute
from explorer.core.projections import conform, session_input_width
from explorer.core.session import DEFAULT_TEXT, Head, Session


def test_defaults():
    s = Session()
    assert s.text == DEFAULT_TEXT == "The dog chased the cat off the table."
    assert s.embedding == "builtin" and s.d_model == 8 and s.d_head == 8 and s.n_head == 1
    assert s.positional == "none" and s.positional_mode == "add" and s.preset == "identity"
    assert s.temperature == 1.0 and not s.causal and s.blocked == () and s.model is None
    assert not s.view.show_special
    np.testing.assert_array_equal(s.head.w_q, np.eye(8))
    assert s.d_in == session_input_width(s) == 8
    assert conform(s) is s  # the default is already consistent


def test_default_session_computes():
    r = compute(Session())
    assert r.T == 9 and r.x.shape == (9, 8) and r.q.shape == (1, 9, 8)
    assert r.scale == pytest.approx(1 / np.sqrt(8))
    # identity projections: q = k = v = x
    np.testing.assert_array_equal(r.q[0], r.x)
    np.testing.assert_array_equal(r.v[0], r.x)


def test_sessions_are_immutable_values():
    s = Session()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.text = "x"
    with pytest.raises(ValueError):
        s.head.w_q[0, 0] = 2.0
    t = s.evolve(text="hello")
    assert s.text == DEFAULT_TEXT and t.text == "hello"
    assert compute(s).T == 9 and compute(t).T == 1


def test_compute_is_pure():
    s = Session(causal=True, blocked=((3, 1),))
    a, b = compute(s), compute(s)
    for name in ("x", "scores", "weights", "y", "contextual_similarity"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_edited_weight_changes_the_result():
    s = Session()
    edited = s.with_head(0, Head(s.head.w_q * 3.0, s.head.w_k, s.head.w_v))
    assert not np.allclose(compute(edited).weights, compute(s).weights)
    np.testing.assert_allclose(compute(edited).scores, 3.0 * compute(s).scores)
