"""The Model tab's aggregate and pooled heatmaps, against plain NumPy float64 references."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.core.model_analysis import aggregate, pooled


def row_stochastic(rng, *shape):
    a = rng.random(shape) ** 3
    return a / a.sum(axis=-1, keepdims=True)


def rollout_reference(att, residual):
    R = None
    for layer in range(att.shape[0]):
        m = residual * np.eye(att.shape[-1]) + (1 - residual) * att[layer].mean(axis=0)
        m = m / m.sum(axis=1, keepdims=True)
        R = m if R is None else m @ R
    return R


@pytest.mark.parametrize("layer", [0, 2, 3])
def test_aggregate_layers_match_references(layer):
    rng = np.random.default_rng(layer)
    att = row_stochastic(rng, 4, 3, 7, 7)
    np.testing.assert_allclose(
        aggregate(att, "rollout", layer), rollout_reference(att[: layer + 1], 0.5), atol=1e-12
    )
    np.testing.assert_allclose(
        aggregate(att, "rollout", layer, residual=0.2),
        rollout_reference(att[: layer + 1], 0.2),
        atol=1e-12,
    )
    np.testing.assert_allclose(
        aggregate(att, "mean over heads", layer), att[layer].mean(axis=0), atol=1e-12
    )
    with pytest.raises(ValueError):
        aggregate(att, "rollout", 4)
    with pytest.raises(ValueError):
        aggregate(att, "max", 0)


def test_pooled_levels():
    tokens = ["[CLS]", "i", "deposit", "##ed", "money", ".", "the", "bank", "!", "[SEP]"]
    rng = np.random.default_rng(9)
    w = row_stochastic(rng, 2, 10, 10)
    same, labels = pooled(w, tokens, "tokens")
    assert same is w and labels == tokens
    words, labels = pooled(w, tokens, "words")
    assert labels == ["[CLS]", "i", "deposited", "money", ".", "the", "bank", "!", "[SEP]"]
    # 'deposited' (pieces 2, 3): mean over its query rows of the summed weight on its keys
    want = (w[:, 2, 2] + w[:, 2, 3] + w[:, 3, 2] + w[:, 3, 3]) / 2
    np.testing.assert_allclose(words[:, 2, 2], want, atol=1e-12)
    np.testing.assert_allclose(words.sum(axis=-1), 1.0, atol=1e-12)
    sentences, labels = pooled(w, tokens, "sentences")
    assert labels == ["[CLS]", "S1", "S2", "[SEP]"]
    np.testing.assert_allclose(sentences[:, 1, 2], w[:, 1:6, 6:9].sum(axis=-1).mean(axis=-1))
    with pytest.raises(ValueError):
        pooled(w, tokens, "letters")
