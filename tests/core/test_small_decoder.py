"""The shipped 2-layer GPT-2 shows the induction circuit of Olsson et al. (2022).

Every number comes from our NumPy forward pass (checked here against an independent float64
GPT-2 that reads the safetensors file itself); heads are named by their measured scores.
"""

from __future__ import annotations

import json
from math import sqrt

import numpy as np
import pytest
from numpy.testing import assert_allclose
from safetensors.numpy import load_file

from explorer.core.model_discovery import discover_models
from explorer.core.models import HeadEdit, load_model
from explorer.core.models.circuits import (
    REPEAT_COUNT,
    REPEAT_SPAN,
    measure_circuits,
    repeat_accuracy,
    repeat_inputs,
    run_batch,
)
from explorer.resources import resource_path

NAME = "tiny-induction"
FOLDER = resource_path("models", NAME)


@pytest.fixture(scope="module")
def model():
    return load_model(FOLDER)


@pytest.fixture(scope="module")
def ids(model):
    return repeat_inputs(model, REPEAT_COUNT, REPEAT_SPAN, seed=0)  # (200, 61)


@pytest.fixture(scope="module")
def circuit(model):
    return measure_circuits(model)


def _accuracy(model, ids, edits=()):
    _, _, logits = run_batch(model, ids, edits)
    return repeat_accuracy(logits, ids, REPEAT_SPAN)


def test_shipped_folder(model):
    files = {p.name for p in FOLDER.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "NOTICE"} <= files
    assert sum(p.stat().st_size for p in FOLDER.iterdir()) <= 10 * 1024 * 1024
    cfg = model.config
    assert cfg.model_type in ("gpt2", "llama") and (cfg.n_layer, cfg.n_head) == (2, 4)
    assert 64 <= cfg.d_model <= 128 and 64 <= cfg.max_positions <= 128
    toks = model.tokenize("Return the value.")
    assert toks.special[0] and not toks.special[1:].any()  # BOS first, as in training
    assert "".join(toks.tokens[1:]) == "Return·the·value."


def test_discovered_as_builtin(tmp_path):
    found = discover_models(hf_cache=tmp_path / "no-cache", packages=())
    mine = [m for m in found if m.source == "builtin"]
    assert [(m.name, m.path) for m in mine] == [(NAME, FOLDER)]
    assert mine[0].usable
    assert discover_models(hf_cache=tmp_path / "no-cache", packages=(), builtin=()) == []


# ------------------------------------------------------------------ float64 reference
def _ln(x, g, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * g + b


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def _rms(x, g, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g


def _rope(x, theta):
    """x (H, T, dh): rotate pairs (i, i + dh/2) by angle p · theta^(-2i/dh), in float64."""
    T, dh = x.shape[-2:]
    ang = np.arange(T)[:, None] * theta ** (-2 * np.arange(dh // 2) / dh)  # (T, dh/2)
    c, s = np.cos(ang), np.sin(ang)
    a, b = x[..., : dh // 2], x[..., dh // 2 :]
    return np.concatenate([a * c - b * s, b * c + a * s], axis=-1)


def _causal_softmax(s):
    T = s.shape[-1]
    s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
    a = np.exp(s - s.max(-1, keepdims=True))
    return a / a.sum(-1, keepdims=True)


def naive_llama(t, cfg, ids, ablate=()):
    """Float64 Llama (tied embeddings, no biases) from the checkpoint's tensors."""
    t = {k.removeprefix("model."): v.astype(np.float64) for k, v in t.items()}
    d, H, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["rms_norm_eps"]
    dh, T = d // H, len(ids)
    x = t["embed_tokens.weight"][ids]
    atts = []
    for layer in range(cfg["num_hidden_layers"]):
        p = f"layers.{layer}."
        h = _rms(x, t[p + "input_layernorm.weight"], eps)
        q, k, v = (
            (h @ t[f"{p}self_attn.{n}_proj.weight"].T).reshape(T, H, dh).transpose(1, 0, 2)
            for n in "qkv"
        )
        theta = cfg["rope_theta"]
        a = _causal_softmax(_rope(q, theta) @ _rope(k, theta).transpose(0, 2, 1) / sqrt(dh))
        atts.append(a)
        y = a @ v  # (H, T, dh)
        for lh in ablate:
            if lh[0] == layer:
                y[lh[1]] = 0
        x = x + y.transpose(1, 0, 2).reshape(T, d) @ t[p + "self_attn.o_proj.weight"].T
        h = _rms(x, t[p + "post_attention_layernorm.weight"], eps)
        g = h @ t[p + "mlp.gate_proj.weight"].T
        u = g / (1 + np.exp(-g)) * (h @ t[p + "mlp.up_proj.weight"].T)
        x = x + u @ t[p + "mlp.down_proj.weight"].T
    logits = _rms(x, t["norm.weight"], eps) @ t["embed_tokens.weight"].T
    return np.stack(atts), logits


def naive_gpt2(t, cfg, ids, ablate=()):
    """Float64 GPT-2 from the checkpoint's tensors; ``ablate`` lists (layer, head) to zero."""
    t = {k.removeprefix("transformer."): v.astype(np.float64) for k, v in t.items()}
    d, H = cfg["n_embd"], cfg["n_head"]
    dh, T = d // H, len(ids)
    x = t["wte.weight"][ids] + t["wpe.weight"][:T]
    atts = []
    for layer in range(cfg["n_layer"]):
        p = f"h.{layer}."
        h = _ln(x, t[p + "ln_1.weight"], t[p + "ln_1.bias"])
        qkv = h @ t[p + "attn.c_attn.weight"] + t[p + "attn.c_attn.bias"]
        q, k, v = (
            qkv[:, i * d : (i + 1) * d].reshape(T, H, dh).transpose(1, 0, 2) for i in range(3)
        )
        a = _causal_softmax(q @ k.transpose(0, 2, 1) / sqrt(dh))
        atts.append(a)
        y = a @ v  # (H, T, dh)
        for lh in ablate:
            if lh[0] == layer:
                y[lh[1]] = 0
        x = (
            x
            + y.transpose(1, 0, 2).reshape(T, d) @ t[p + "attn.c_proj.weight"]
            + t[p + "attn.c_proj.bias"]
        )
        h = _ln(x, t[p + "ln_2.weight"], t[p + "ln_2.bias"])
        u = _gelu_tanh(h @ t[p + "mlp.c_fc.weight"] + t[p + "mlp.c_fc.bias"])
        x = x + u @ t[p + "mlp.c_proj.weight"] + t[p + "mlp.c_proj.bias"]
    logits = _ln(x, t["ln_f.weight"], t["ln_f.bias"]) @ t["wte.weight"].T
    return np.stack(atts), logits


def test_forward_matches_float64_reference(model, ids, circuit):
    tensors = load_file(str(FOLDER / "model.safetensors"))
    cfg = json.loads((FOLDER / "config.json").read_text())
    naive = naive_llama if cfg["model_type"] == "llama" else naive_gpt2
    ablate = circuit.induction
    for row in ids[:3]:
        for edits in ((), tuple(HeadEdit.ablate(*lh) for lh in ablate)):
            out = model.forward(row, edits=edits)
            att, logits = naive(tensors, cfg, row, [(e.layer, e.head) for e in edits])
            assert_allclose(out.attentions, att, atol=2e-5)
            assert_allclose(out.logits, logits, atol=2e-4 * np.abs(logits).max())


# ------------------------------------------------------------------ the induction circuit
def test_repeats_are_predicted_only_the_second_time(model, ids):
    first, second = _accuracy(model, ids)
    assert second >= 0.9
    chance = 1 / (model.config.vocab_size - 1)
    assert first < 10 * chance  # random tokens: near chance the first time


def test_heads_are_found_by_their_scores(circuit):
    assert circuit.induction, "no induction head"
    assert circuit.previous_token, "no previous-token head"
    # the circuit composes: a previous-token head sits below an induction head
    assert min(lh[0] for lh in circuit.previous_token) < max(lh[0] for lh in circuit.induction)
    for lh in circuit.induction:
        assert circuit.prefix_matching_scores[lh] >= 0.3 and circuit.copying_scores[lh] > 0
        assert circuit.label(*lh) == "induction"
    for lh in circuit.previous_token:
        assert circuit.previous_token_scores[lh] >= 0.5


def test_ablating_induction_heads_breaks_in_context_copying(model, ids, circuit):
    edits = [HeadEdit.ablate(*lh) for lh in circuit.induction]
    _, second = _accuracy(model, ids, edits)
    assert second < 0.3


def test_ablating_previous_token_heads_breaks_it_too(model, ids, circuit):
    """The induction heads find their keys through the previous-token heads (K-composition)."""
    edits = [HeadEdit.ablate(*lh) for lh in circuit.previous_token]
    _, second = _accuracy(model, ids, edits)
    assert second < 0.3


def test_one_head_at_a_time_shows_which_matter(model, ids, circuit):
    """Ablating a single head that is neither labelled nor needed leaves copying intact."""
    spare = [
        (layer, h)
        for layer in range(model.config.n_layer)
        for h in range(model.config.n_head)
        if not circuit.label(layer, h)
    ]
    kept = [_accuracy(model, ids[:50], [HeadEdit.ablate(*lh)])[1] for lh in spare]
    assert max(kept) >= 0.9  # some unlabelled head is not part of the circuit
