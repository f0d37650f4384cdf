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


def test_align_tokens_and_compare_runs(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from naive_bert import write_tiny_model

    from explorer.core.encoder import HeadEdit, load_encoder
    from explorer.core.model_bridge import ModelBridge
    from explorer.core.model_compare import align_tokens, compare_texts

    ia, ib = align_tokens(["[CLS]", "a", "b", "c", "[SEP]"], ["[CLS]", "x", "b", "c", "y", "[SEP]"])
    assert ia.tolist() == [0, 2, 3, 4] and ib.tolist() == [0, 2, 3, 5]

    write_tiny_model(tmp_path / "tiny")
    enc = load_encoder(tmp_path / "tiny")
    bridge = ModelBridge(packages=())
    text_a, text_b = "the cat sat on the mat", "the dog sat on the mat"
    c = compare_texts(bridge, enc, text_a, text_b)
    out_a, out_b = bridge.run(enc, text_a)[1], bridge.run(enc, text_b)[1]
    assert [out_a.tokens[i] for i in c.index_a] == [out_b.tokens[i] for i in c.index_b] == c.labels
    assert c.labels[0] == "[CLS]" and c.labels[-1] == "[SEP]"
    a = out_a.attentions.astype(np.float64)
    b = out_b.attentions.astype(np.float64)
    want = a[:, :, c.index_a][:, :, :, c.index_a] - b[:, :, c.index_b][:, :, :, c.index_b]
    np.testing.assert_allclose(c.difference, want, atol=1e-12)

    def entropy(att):  # mean row entropy as a fraction of log T, in float64
        p = att.astype(np.float64)
        h = -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)).sum(-1).mean(-1)
        return h / np.log(att.shape[-1])

    np.testing.assert_allclose(
        c.entropy, entropy(out_a.attentions) - entropy(out_b.attentions), atol=1e-9
    )
    same = compare_texts(bridge, enc, text_a, text_a)
    assert not same.difference.any() and not same.entropy.any()
    edited = compare_texts(bridge, enc, text_a, text_b, (HeadEdit(0, 1, scale=0.0),))
    assert not np.allclose(edited.difference[1], c.difference[1])


def test_summaries_do_not_keep_a_run_alive(tmp_path):
    import gc
    import sys
    import weakref
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from naive_bert import write_tiny_model

    from explorer.core import model_analysis
    from explorer.core.encoder import load_encoder

    write_tiny_model(tmp_path / "tiny")
    enc = load_encoder(tmp_path / "tiny")
    out = enc.forward("the cat sat on the mat")
    summary = model_analysis._cached_summary(out)
    types = model_analysis._cached_types(out)
    assert model_analysis._cached_summary(out) is summary  # computed once per run
    assert model_analysis._cached_types(out) is types
    kept = {kind: len(runs) for kind, runs in model_analysis._SUMMARIES.items()}
    alive = weakref.ref(out)
    del out
    gc.collect()
    assert alive() is None  # the cache let go of the run
    assert {kind: len(runs) + 1 for kind, runs in model_analysis._SUMMARIES.items()} == kept
    assert summary.entropy.shape == types.shape  # what was computed stays usable


def test_word_curve_stops_for_a_newer_request(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from naive_bert import write_tiny_model

    from explorer.core.encoder import HeadEdit, load_encoder
    from explorer.core.model_analysis import Superseded, curve_data, word_curve
    from explorer.core.model_bridge import ModelBridge

    write_tiny_model(tmp_path / "tiny")
    enc = load_encoder(tmp_path / "tiny")
    bridge = ModelBridge(packages=())
    texts = ("cat", "the cat sat", "a cat ran")
    edits = (HeadEdit(0, 1, scale=0.0),)
    plain = word_curve(bridge, enc, *texts, edits)
    same = word_curve(bridge, enc, *texts, edits, should_stop=lambda: False)
    np.testing.assert_array_equal(same.edited, plain.edited)
    asked = []

    def second_time():  # a newer request arrives between the two texts' passes
        asked.append(1)
        return len(asked) > 1

    with pytest.raises(Superseded):
        word_curve(bridge, enc, *texts, edits, should_stop=second_time)
    with pytest.raises(Superseded):
        curve_data(bridge, enc, texts, edits, compare=True, should_stop=lambda: True)
