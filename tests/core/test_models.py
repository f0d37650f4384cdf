"""load_model for every family, checked against transformers and a float64 NumPy decoder.

The folders under tests/data/models/ and their ``reference.npz`` (eager attentions, hidden
states and logits of ``transformers``) come from ``scripts/make_model_references.py``.
"""

from __future__ import annotations

import json
import math
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from naive_bert import naive_bert, write_tiny_model
from numpy.testing import assert_allclose

from explorer.core import encoder_files
from explorer.core.encoder_files import EncoderError
from explorer.core.models import (
    HeadEdit,
    ModelError,
    bf16_to_float32,
    display_token,
    load_model,
    parse_model_config,
    read_model_config,
)
from explorer.core.models.weights import Checkpoint

DATA = Path(__file__).resolve().parent.parent / "data" / "models"
FAMILIES = ["gpt2", "llama", "qwen2", "distilbert", "roberta"]
DECODERS = ["gpt2", "llama", "qwen2"]
TEXTS = json.loads((DATA / "references.json").read_text(encoding="utf-8"))["texts"]


@pytest.fixture(scope="module")
def models():
    return {name: load_model(DATA / name) for name in FAMILIES}


def _ref(name):
    return np.load(DATA / name / "reference.npz")


def _one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert msg and "\n" not in msg and "Traceback" not in msg
    return msg


# ------------------------------------------------------------------ golden references
@pytest.mark.parametrize("key", sorted(TEXTS))
@pytest.mark.parametrize("name", FAMILIES)
def test_matches_transformers(models, name, key):
    model, ref = models[name], _ref(name)
    toks = model.tokenize(TEXTS[key])
    assert_allclose(toks.ids, ref[f"{key}_ids"])  # the same tokenizer.json, read by us
    out = model.forward(TEXTS[key])
    T = len(toks.ids)
    c = model.config
    assert out.attentions.shape == (c.n_layer, c.n_head, T, T)
    assert out.hidden_states.shape == (c.n_layer + 1, T, c.d_model)
    assert_allclose(out.attentions, ref[f"{key}_attentions"], rtol=0, atol=1e-5)
    hs = ref[f"{key}_hidden_states"]
    scale = np.abs(hs).max()
    assert scale > 0.5  # not a degenerate all-zero comparison
    if model.is_decoder:
        # transformers' last hidden state is after the final norm; ours is the residual stream
        assert_allclose(out.hidden_states[:-1], hs[:-1], rtol=1e-4, atol=1e-5 * scale)
        assert_allclose(model.final_norm(out.hidden_states[-1]), hs[-1], rtol=1e-4,
                        atol=1e-5 * scale)  # fmt: skip
        logits = ref[f"{key}_logits"]
        assert out.logits.shape == (T, c.vocab_size)
        # within 1e-4 relative to the largest logit
        assert_allclose(out.logits, logits, rtol=1e-4, atol=1e-4 * np.abs(logits).max())
        # the same product in another call: float32 rounding may differ with the BLAS kernel
        big = np.abs(out.logits).max()
        assert_allclose(model.unembed(out.hidden_states[-1]), out.logits, rtol=0, atol=1e-6 * big)
        above = np.triu(np.ones((T, T), dtype=bool), 1)
        assert np.all(out.attentions[:, :, above] == 0)  # causal
    else:
        assert out.logits is None
        assert_allclose(out.hidden_states, hs, rtol=1e-4, atol=1e-5 * scale)
    # attention is far from uniform: the comparison has something to catch
    assert out.attentions.max() > 5.0 / T


def test_reference_folders_cover_dtypes_and_shards():
    def dtypes(name):
        ck = Checkpoint(DATA / name)
        return {ck._where[n].header[n]["dtype"] for n in ck.names()}

    assert dtypes("llama") == {"BF16"}
    assert dtypes("gpt2") == {"F16"}
    assert (DATA / "qwen2" / "model.safetensors.index.json").is_file()
    assert not (DATA / "qwen2" / "model.safetensors").exists()
    assert len(list((DATA / "qwen2").glob("model-*.safetensors"))) > 1
    total = sum(f.stat().st_size for f in DATA.rglob("*") if f.is_file())
    assert total <= 3_000_000


def test_readable_tokens(models):
    out = models["gpt2"].forward("The bank of the river.")
    assert out.tokens[1] == "·bank"
    mixed = models["llama"].forward("a bank\n\tcafé")
    assert mixed.tokens[0] == "<s>" and mixed.special[0]
    assert "↵" in "".join(mixed.tokens) and "⇥" in "".join(mixed.tokens)
    assert "".join(mixed.tokens[1:]).replace("·", " ").replace("↵", "\n").replace("⇥", "\t") == (
        "a bank\n\tcafé"
    )
    ids = models["llama"].tokenize("a bank").ids
    assert models["llama"].forward(ids).special.tolist() == [True] + [False] * (len(ids) - 1)
    assert models["distilbert"].forward("the bank").tokens == ("[CLS]", "the", "bank", "[SEP]")
    rob = models["roberta"].forward("the bank")
    assert rob.tokens[0] == "<s>" and rob.tokens[-1] == "</s>" and "·bank" in rob.tokens


def test_display_token():
    assert display_token("Ġthe", True) == "·the"
    assert display_token("Ċ", True) == "↵"
    assert display_token("ĉ", True) == "⇥"
    assert display_token("Ã©", True) == "é"  # two bytes of one character
    assert display_token("âĢ", True) == "<e2><80>"  # an incomplete character
    assert display_token("▁the", False) == "·the"
    assert display_token("<0x0A>", False) == "↵"
    assert display_token("##ing", False) == "##ing"
    assert display_token("[CLS]", True) == "[CLS]"  # not byte characters: shown as is


# ------------------------------------------------------------------ bfloat16
def _bf16_reference(bits: int) -> float:
    """bfloat16 -> float from sign, exponent and fraction, as IEEE 754 defines them."""
    sign = -1.0 if bits >> 15 else 1.0
    exp, frac = (bits >> 7) & 0xFF, bits & 0x7F
    if exp == 0xFF:
        return sign * math.inf if frac == 0 else math.nan
    if exp == 0:
        return sign * frac / 128 * 2.0**-126  # subnormal (and signed zero)
    return sign * (1 + frac / 128) * 2.0 ** (exp - 127)


def test_bf16_conversion_exhaustive():
    bits = np.arange(1 << 16, dtype=np.uint16)
    got = bf16_to_float32(bits)
    assert got.dtype == np.float32 and got.shape == (1 << 16,)
    with np.errstate(invalid="ignore"):  # signalling NaNs become quiet ones in float64
        got64 = got.astype(np.float64)
    for b in range(1 << 16):
        want = _bf16_reference(b)
        # struct reads the 4 bytes a float32 with these top 16 bits has, independently of NumPy
        (packed,) = struct.unpack(">f", struct.pack(">H", b) + b"\x00\x00")
        if math.isnan(want):
            assert math.isnan(got64[b]) and math.isnan(packed)
            # the NaN payload and sign survive
            assert got[b : b + 1].view(np.uint32)[0] == b << 16
        else:
            assert got64[b] == want == packed, hex(b)
            assert math.copysign(1.0, got64[b]) == math.copysign(1.0, want)
    assert np.isposinf(got[0x7F80]) and np.isneginf(got[0xFF80])
    assert got[0x0001] == np.float32(2.0**-133)  # the smallest subnormal
    with pytest.raises(ValueError):
        bf16_to_float32(np.zeros(3, np.int16))


def test_bf16_checkpoint_values(models):
    """The llama weights equal the file's bfloat16 bits decoded one by one with struct."""
    ck = Checkpoint(DATA / "llama")
    shard = ck._where["model.embed_tokens.weight"]
    entry = shard.header["model.embed_tokens.weight"]
    begin, _ = entry["data_offsets"]
    with open(shard.path, "rb") as f:
        f.seek(shard.data_start + begin)
        raw = f.read(2 * 64)
    first = [struct.unpack("<f", b"\x00\x00" + raw[i : i + 2])[0] for i in range(0, 128, 2)]
    assert_allclose(models["llama"].weights.wte[0], first, rtol=0, atol=0)


# ------------------------------------------------------------------ edits
def _original(model, layer, head, augmented=False):
    hw = model.head_weights(layer, head)
    if augmented:
        wq, wk, wv = hw.augmented()
        return HeadEdit(layer, head, w_q=wq, w_k=wk, w_v=wv)
    return HeadEdit(layer, head, w_q=hw.w_q, w_k=hw.w_k, w_v=hw.w_v, b_q=hw.b_q, b_k=hw.b_k,
                    b_v=hw.b_v)  # fmt: skip


@pytest.mark.parametrize("name", FAMILIES)
def test_replace_with_original_weights_reproduces_the_run(models, name):
    model = models[name]
    text = TEXTS["mixed"]
    base = model.forward(text)
    for layer, head, aug in ((0, 1, False), (1, model.config.n_head - 1, True)):
        out = model.forward(text, edits=[_original(model, layer, head, aug)])
        assert_allclose(out.attentions, base.attentions, rtol=0, atol=1e-5)
        assert_allclose(out.hidden_states, base.hidden_states, rtol=1e-5, atol=1e-5)
        if base.logits is not None:
            assert_allclose(out.logits, base.logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", FAMILIES)
def test_ablate_changes_only_layers_at_and_above(models, name):
    model = models[name]
    text = TEXTS["mixed"]
    base = model.forward(text)
    out = model.forward(text, edits=[HeadEdit.ablate(1, 2)])
    assert np.array_equal(out.attentions[0], base.attentions[0])
    assert np.array_equal(out.hidden_states[:2], base.hidden_states[:2])
    assert np.array_equal(out.attentions[1], base.attentions[1])  # weights are pre-scale
    assert not np.allclose(out.hidden_states[2], base.hidden_states[2], atol=1e-3)
    assert np.all(out.head_outputs[1, 2] == 0)
    others = [h for h in range(model.config.n_head) if h != 2]
    assert np.array_equal(out.head_outputs[1, others], base.head_outputs[1, others])
    if model.is_decoder:
        assert not np.allclose(out.logits, base.logits, atol=1e-3)
    scaled = model.forward(text, edits=[HeadEdit.scaled(0, 1, 2.5)])
    assert_allclose(scaled.head_outputs[0, 1], 2.5 * base.head_outputs[0, 1], rtol=1e-6)
    assert not np.allclose(scaled.attentions[1], base.attentions[1], atol=1e-4)


def test_kv_group(models):
    llama, qwen, gpt2 = models["llama"], models["qwen2"], models["gpt2"]
    assert (llama.config.n_head, llama.config.n_kv_head) == (4, 2)
    assert [llama.kv_group(h) for h in range(4)] == [[0, 1], [0, 1], [2, 3], [2, 3]]
    assert qwen.kv_group(3) == [0, 1, 2, 3]
    assert gpt2.kv_group(2) == [2]
    assert models["roberta"].kv_group(1) == [1]
    with pytest.raises(ModelError) as e:
        llama.kv_group(4)
    _one_line(e)


def test_shared_key_edit_affects_its_whole_group(models):
    llama = models["llama"]
    text = TEXTS["mixed"]
    base = llama.forward(text)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 16)) * 0.5
    out = llama.forward(text, edits=[HeadEdit(1, 3, w_k=w)])  # head 3 shares k with head 2
    changed = [not np.allclose(out.attentions[1, h], base.attentions[1, h], atol=1e-4)
               for h in range(4)]  # fmt: skip
    assert changed == [False, False, True, True]
    assert np.array_equal(out.attentions[0], base.attentions[0])
    # a new query changes only its own head
    outq = llama.forward(text, edits=[HeadEdit(1, 0, w_q=w)])
    changed = [not np.allclose(outq.attentions[1, h], base.attentions[1, h], atol=1e-4)
               for h in range(4)]  # fmt: skip
    assert changed == [True, False, False, False]
    with pytest.raises(ModelError) as e:
        llama.forward(text, edits=[HeadEdit(1, 2, w_k=w), HeadEdit(1, 3, w_k=w)])
    assert "share" in _one_line(e)


# ------------------------------------------------------------------ float64 NumPy decoder
def _rms(x, g, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g


def _rope(x, theta):
    """x (T, d_head): rotate pairs (i, i + d/2) by position · theta^(-2i/d)."""
    T, d = x.shape
    out = x.copy()
    for p in range(T):
        for i in range(d // 2):
            a = p * theta ** (-2 * i / d)
            c, s = math.cos(a), math.sin(a)
            out[p, i] = x[p, i] * c - x[p, i + d // 2] * s
            out[p, i + d // 2] = x[p, i + d // 2] * c + x[p, i] * s
    return out


def naive_llama(t, cfg, ids, *, scale=None, k_replace=None):
    """Float64 Llama in torch layout; ``scale`` {(l, h): s}, ``k_replace`` {(l, g): (d, dh)}."""
    scale, k_replace = scale or {}, k_replace or {}
    nh, nkv, dh = cfg["num_attention_heads"], cfg["num_key_value_heads"], 16
    theta, eps = cfg["rope_parameters"]["rope_theta"], cfg["rms_norm_eps"]
    W = {k: v.astype(np.float64) for k, v in t.items()}
    x = W["model.embed_tokens.weight"][ids]
    T = len(ids)
    atts = []
    for li in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{li}."
        h = _rms(x, W[p + "input_layernorm.weight"], eps)
        q = (h @ W[p + "self_attn.q_proj.weight"].T).reshape(T, nh, dh)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).reshape(T, nkv, dh)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).reshape(T, nkv, dh)
        for (lj, g), w in k_replace.items():
            if lj == li:
                k[:, g] = h @ w
        ys, att = [], np.zeros((nh, T, T))
        for hh in range(nh):
            g = hh // (nh // nkv)
            s = _rope(q[:, hh], theta) @ _rope(k[:, g], theta).T / math.sqrt(dh)
            s[np.triu_indices(T, 1)] = -np.inf
            e = np.exp(s - s.max(-1, keepdims=True))
            att[hh] = e / e.sum(-1, keepdims=True)
            ys.append(att[hh] @ v[:, g] * scale.get((li, hh), 1.0))
        atts.append(att)
        x = x + np.concatenate(ys, axis=-1) @ W[p + "self_attn.o_proj.weight"].T
        h = _rms(x, W[p + "post_attention_layernorm.weight"], eps)
        gate = h @ W[p + "mlp.gate_proj.weight"].T
        x = (
            x
            + (gate / (1 + np.exp(-gate)) * (h @ W[p + "mlp.up_proj.weight"].T))
            @ W[p + "mlp.down_proj.weight"].T
        )
    logits = _rms(x, W["model.norm.weight"], eps) @ W["lm_head.weight"].T
    return np.array(atts), logits


def test_llama_edits_match_float64_reference(models):
    llama = models["llama"]
    cfg = json.loads((DATA / "llama" / "config.json").read_text())
    ck = Checkpoint(DATA / "llama")
    t = ck.read(ck.names())
    ids = _ref("llama")["mixed_ids"]
    w = np.random.default_rng(3).standard_normal((64, 16)) * 0.5
    for edits, kw in (
        ((), {}),
        ((HeadEdit.ablate(0, 1), HeadEdit.scaled(1, 3, 0.5)), {"scale": {(0, 1): 0, (1, 3): 0.5}}),
        ((HeadEdit(0, 2, w_k=w),), {"k_replace": {(0, 1): w}}),
    ):
        out = llama.forward(ids, edits=edits)
        att, logits = naive_llama(t, cfg, ids, **kw)
        assert_allclose(out.attentions, att, rtol=0, atol=1e-5)
        assert_allclose(out.logits, logits, rtol=1e-4, atol=1e-4 * np.abs(logits).max())


def test_bert_through_load_model(tmp_path):
    cfg, t = write_tiny_model(tmp_path / "bert")
    model = load_model(tmp_path / "bert")
    assert model.config.model_type == "bert" and not model.is_decoder
    ids = np.array([2, 5, 6, 7, 3])
    out = model.forward(ids)
    hidden, att, _ = naive_bert(t, cfg, ids)
    assert_allclose(out.attentions, att, rtol=0, atol=1e-5)
    assert_allclose(out.hidden_states, hidden, rtol=1e-4, atol=1e-4)
    assert out.logits is None and model.kv_group(0) == [0]
    assert read_model_config(tmp_path / "bert").n_layer == cfg["num_hidden_layers"]
    # old BERT checkpoints name only the architecture, as load_encoder accepts
    raw = json.loads((tmp_path / "bert" / "config.json").read_text())
    del raw["model_type"]
    (tmp_path / "bert" / "config.json").write_text(json.dumps(raw))
    assert load_model(tmp_path / "bert").config.model_type == "bert"


# ------------------------------------------------------------------ refusals
def _copy(tmp_path, name) -> Path:
    dst = tmp_path / name
    shutil.copytree(DATA / name, dst)
    return dst


def _edit_config(folder: Path, **changes):
    path = folder / "config.json"
    raw = json.loads(path.read_text())
    for k, v in changes.items():
        if v is None:
            raw.pop(k, None)
        else:
            raw[k] = v
    path.write_text(json.dumps(raw))


@pytest.mark.parametrize(
    ("name", "changes", "words"),
    [
        ("gpt2", {"model_type": "mamba"}, "model_type 'mamba' is not supported"),
        ("gpt2", {"model_type": None}, "no 'model_type'"),
        ("gpt2", {"n_embd": -4}, "'n_embd' must be an integer >= 1"),
        ("gpt2", {"n_embd": 10**30}, "more than the 16384"),
        ("gpt2", {"n_layer": "2"}, "'n_layer' must be an integer"),
        ("gpt2", {"n_head": 5}, "not divisible"),
        ("gpt2", {"n_layer": 100, "n_head": 64, "n_embd": 64}, "more than the 4096"),
        ("gpt2", {"activation_function": "relu"}, "activation_function 'relu'"),
        ("llama", {"num_key_value_heads": 3}, "not a multiple"),
        ("llama", {"rope_parameters": {"rope_type": "yarn", "rope_theta": 1e4}}, "yarn"),
        ("llama", {"rope_parameters": {"rope_type": "default", "rope_theta": -1}}, "rope_theta"),
        ("llama", {"rms_norm_eps": float("nan")}, "rms_norm_eps"),
        ("llama", {"hidden_act": "gelu"}, "hidden_act 'gelu'"),
        ("llama", {"hidden_size": 128}, "expected"),
        ("llama", {"vocab_size": 100}, "expected"),
        ("qwen2", {"use_sliding_window": True}, "sliding-window"),
        ("qwen2", {"layer_types": ["full_attention", "sliding_attention"]}, "layer_types"),
        ("roberta", {"max_position_embeddings": 2}, "no position after"),
        ("distilbert", {"n_heads": 0}, "'n_heads' must be an integer >= 1"),
    ],
)
def test_refused_configs(tmp_path, name, changes, words):
    folder = _copy(tmp_path, name)
    _edit_config(folder, **changes)
    with pytest.raises(EncoderError) as e:
        load_model(folder)
    msg = _one_line(e)
    assert words in msg, msg
    assert "config.json" in msg or ".safetensors" in msg


def test_refused_files(tmp_path, monkeypatch):
    with pytest.raises(ModelError) as e:
        load_model(tmp_path / "nothing")
    assert "not a folder" in _one_line(e)

    gpt2 = _copy(tmp_path, "gpt2")
    data = (gpt2 / "model.safetensors").read_bytes()
    (gpt2 / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError) as e:
        load_model(gpt2)
    assert "cut short" in _one_line(e)

    (gpt2 / "model.safetensors").write_bytes(b"\xff" * 8 + data[8:100])
    with pytest.raises(EncoderError) as e:
        load_model(gpt2)
    assert "safetensors header claims" in _one_line(e)

    qwen = _copy(tmp_path, "qwen2")
    index = json.loads((qwen / "model.safetensors.index.json").read_text())
    first = next(iter(index["weight_map"]))
    index["weight_map"][first] = "../escape.safetensors"
    (qwen / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ModelError) as e:
        load_model(qwen)
    assert "not a file name here" in _one_line(e)

    qwen = _copy(tmp_path / "b", "qwen2")
    next(qwen.glob("model-00002-*.safetensors")).unlink()
    with pytest.raises(ModelError) as e:
        load_model(qwen)
    assert "missing" in _one_line(e)

    llama = _copy(tmp_path, "llama")
    (llama / "tokenizer.json").write_text("{not json")
    with pytest.raises(ModelError) as e:
        load_model(llama)
    assert "not a readable tokenizer" in _one_line(e)

    monkeypatch.setattr(encoder_files, "available_memory", lambda: 1000)
    with pytest.raises(EncoderError) as e:
        load_model(DATA / "gpt2")
    assert "is available" in _one_line(e)


def test_non_finite_bf16_weight_refused(tmp_path):
    llama = _copy(tmp_path, "llama")
    ck = Checkpoint(llama)
    shard = ck._where["model.norm.weight"]
    begin, _ = shard.header["model.norm.weight"]["data_offsets"]
    with open(shard.path, "r+b") as f:
        f.seek(shard.data_start + begin)
        f.write(struct.pack("<H", 0x7FC0))  # a bfloat16 NaN
    with pytest.raises(ModelError) as e:
        load_model(llama)
    assert "non-finite values in model.norm.weight" in _one_line(e)


def test_refused_inputs(models):
    gpt2, llama = models["gpt2"], models["llama"]
    for bad, words in (
        (np.arange(65) % 10, "exceed the model's limit of 64"),
        (np.array([0, 10_000]), "must lie in"),
        (np.zeros((2, 2), int), "1-D integer"),
        (np.array([], dtype=int), "no tokens"),
    ):
        with pytest.raises(ModelError) as e:
            gpt2.forward(bad)
        assert words in _one_line(e)
    for edit, words in (
        (HeadEdit.ablate(2, 0), "the model has 2 layers"),
        (HeadEdit(0, 0, w_q=np.zeros((3, 3))), "expected (64, 16)"),
        (HeadEdit(0, 0, scale=math.inf), "finite"),
    ):
        with pytest.raises(ModelError) as e:
            llama.forward("a bank", edits=[edit])
        assert words in _one_line(e)
    with pytest.raises(ModelError) as e:
        models["roberta"].forward(np.array([0, 1, 2]))
    assert "padding" in _one_line(e)


def test_parse_model_config_defaults():
    cfg = parse_model_config({"model_type": "gpt2", "vocab_size": 50, "n_embd": 8, "n_layer": 1,
                              "n_head": 2})  # fmt: skip
    assert (cfg.d_ff, cfg.max_positions, cfg.activation, cfg.tie_embeddings) == (
        32, 1024, "gelu_tanh", True)  # fmt: skip
    cfg = parse_model_config({"model_type": "llama", "vocab_size": 50, "hidden_size": 8,
                              "num_hidden_layers": 1, "num_attention_heads": 2,
                              "intermediate_size": 16, "rope_theta": 1e6})  # fmt: skip
    assert (cfg.n_kv_head, cfg.d_head, cfg.rope_theta, cfg.qkv_bias) == (2, 4, 1e6, False)
    assert cfg.is_decoder and cfg.group_size == 1


def test_blas_threads_restored(models, monkeypatch):
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    models["gpt2"].forward("a bank")
    assert blas_threads() == before

    def boom(*args):
        raise MemoryError

    monkeypatch.setattr(models["llama"], "_layer", boom)
    with pytest.raises(MemoryError):
        models["llama"].forward("a bank")
    assert blas_threads() == before


def test_decoder_from_tensors_copies(models):
    from explorer.core.models import decoder_from_tensors

    ck = Checkpoint(DATA / "llama")
    t = ck.read(ck.names())
    model = decoder_from_tensors(models["llama"].config, t)
    assert all(a.flags.writeable for a in t.values())
    ids = _ref("llama")["plain_ids"]
    want = models["llama"].forward(ids).logits
    assert_allclose(model.forward(ids).logits, want, rtol=0, atol=1e-6 * np.abs(want).max())
    del t["model.norm.weight"]
    with pytest.raises(ModelError):
        decoder_from_tensors(models["llama"].config, t)
