"""Projection presets and conform()."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.core import projections
from explorer.core.projections import conform, preset_heads, session_input_width
from explorer.core.session import Head, ModelRef, Session


def test_identity_preset_is_the_rectangular_identity():
    for d_in, d_head in ((8, 8), (8, 4), (4, 8)):
        (h,) = preset_heads("identity", 1, d_in, d_head)
        for m in (h.w_q, h.w_k, h.w_v):
            assert m.shape == (d_in, d_head)
            np.testing.assert_array_equal(m, np.eye(d_in, d_head))


def test_scaled_preset_is_gain_times_identity():
    heads = preset_heads("scaled", 3, 6, 6, scale=2.5)
    assert len(heads) == 3
    for h in heads:
        np.testing.assert_array_equal(h.w_k, 2.5 * np.eye(6))
    with pytest.raises(ValueError, match="finite"):
        preset_heads("scaled", 1, 4, 4, scale=float("nan"))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 20), st.integers(1, 20), st.integers(0, 10_000))
def test_orthogonal_preset_has_orthonormal_columns_or_rows(n_head, d_in, d_head, seed):
    heads = preset_heads("orthogonal", n_head, d_in, d_head, seed=seed)
    assert len(heads) == n_head
    for h in heads:
        for m in (h.w_q, h.w_k, h.w_v):
            assert m.shape == (d_in, d_head)
            gram = m.T @ m if d_head <= d_in else m @ m.T
            np.testing.assert_allclose(gram, np.eye(min(d_in, d_head)), atol=1e-10)


def test_orthogonal_preset_is_seeded_and_heads_differ():
    a = preset_heads("orthogonal", 3, 8, 8, seed=5)
    b = preset_heads("orthogonal", 3, 8, 8, seed=5)
    c = preset_heads("orthogonal", 3, 8, 8, seed=6)
    assert a == b and a != c
    assert not np.allclose(a[0].w_q, a[1].w_q) and not np.allclose(a[0].w_q, a[0].w_k)
    # adding heads keeps the earlier ones
    assert preset_heads("orthogonal", 5, 8, 8, seed=5)[:3] == a


def test_bad_presets_and_sizes():
    with pytest.raises(ValueError, match="unknown projection preset"):
        preset_heads("random-ish", 1, 4, 4)
    with pytest.raises(ValueError, match="heads"):
        preset_heads("identity", 0, 4, 4)
    with pytest.raises(ValueError, match="heads"):
        preset_heads("identity", 13, 4, 4)
    with pytest.raises(ValueError, match="positive"):
        preset_heads("identity", 1, 0, 4)
    with pytest.raises(ValueError, match="no model loaded"):
        preset_heads("model", 1, 4, 4)
    with pytest.raises(ValueError, match="no model loaded"):
        preset_heads("model", 1, 4, 4, model=ModelRef("m"))  # no provider registered


def test_model_preset_goes_through_the_registered_provider():
    calls = []

    def provider(model, n_head, d_in, d_head):
        calls.append((model.name, n_head, d_in, d_head))
        rng = np.random.default_rng(0)
        return tuple(
            Head(*(rng.standard_normal((d_in, d_head)) for _ in range(3))) for _ in range(n_head)
        )

    projections.register_model_heads(provider)
    try:
        heads = preset_heads("model", 2, 8, 4, model=ModelRef("minilm"))
        assert len(heads) == 2 and heads[0].w_q.shape == (8, 4)
        assert calls == [("minilm", 2, 8, 4)]
        projections.register_model_heads(
            lambda m, n, d_in, d_head: preset_heads("identity", 1, 3, 3)
        )
        with pytest.raises(ValueError, match="do not fit"):
            preset_heads("model", 2, 8, 4, model=ModelRef("minilm"))
    finally:
        projections.register_model_heads(None)


def test_conform_leaves_a_fitting_session_alone():
    s = Session()
    assert conform(s) is s
    edited = s.with_head(0, s.head.with_weight("q", 0, 1, 0.5))
    assert conform(edited) is edited


def test_conform_rebuilds_after_d_model_or_positional_changes():
    s = Session().evolve(d_model=12)
    c = conform(s)
    assert c.heads[0].w_q.shape == (12, 8)
    np.testing.assert_array_equal(c.heads[0].w_q, np.eye(12, 8))
    s = Session().evolve(positional="sinusoidal", positional_mode="concat")
    c = conform(s, d_head=16)
    assert session_input_width(c) == c.d_in == 16
    assert c.heads[0].w_v.shape == (16, 16)
    s = Session(preset="orthogonal", preset_seed=3).evolve(d_model=5)
    c = conform(s, n_head=2, d_head=3)
    assert c.heads == preset_heads("orthogonal", 2, 5, 3, seed=3)


def test_conform_keeps_edits_when_only_the_head_count_changes():
    s = Session()
    edited = s.with_head(0, s.head.with_weight("k", 2, 3, -1.5))
    more = conform(edited, n_head=3)
    assert more.n_head == 3 and more.heads[0] == edited.heads[0]
    assert more.heads[1] == preset_heads("identity", 1, 8, 8)[0]
    fewer = conform(more.evolve(selected_head=2), n_head=1)
    assert fewer.n_head == 1 and fewer.selected_head == 0
    assert fewer.heads[0] == edited.heads[0]


def test_conform_falls_back_to_identity_when_the_model_is_gone():
    s = Session(preset="model").evolve(d_model=6)
    c = conform(s)
    assert c.preset == "identity" and c.heads[0].w_q.shape == (6, 8)
    with pytest.raises(ValueError, match="heads"):
        conform(Session(), n_head=0)
