"""Next-token probabilities, the logit lens, generation, the model catalog and cancellable
loading, checked against plain NumPy float64 references on the shipped decoder."""

from __future__ import annotations

import hashlib
import itertools
import shutil

import numpy as np
import pytest

from explorer.core.decoder_readout import (
    GenerationStopped,
    choose_next,
    generate,
    logit_lens,
    next_tokens,
)
from explorer.core.model_discovery import discover_models
from explorer.core.models import HeadEdit, load_model
from explorer.core.models.catalog import model_catalog, weights_sha256
from explorer.resources import resource_path

FOLDER = resource_path("models", "tiny-induction")
COPY_TEXT = "zebra quilt mango violin harbor. zebra quilt mango violin"


@pytest.fixture(scope="module")
def model():
    return load_model(FOLDER, "tiny-induction")


def softmax64(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def unembed64(model, h):
    """Final RMSNorm and tied LM head in float64, written out independently."""
    w = model.weights
    h = np.asarray(h, dtype=np.float64)
    normed = h / np.sqrt((h * h).mean(axis=-1, keepdims=True) + model.config.norm_eps)
    return (normed * w.norm_f_g.astype(np.float64)) @ w.wte.astype(np.float64).T


def test_next_tokens_match_a_float64_softmax(model):
    out = model.forward(COPY_TEXT)
    for pos in (0, 3, None):
        nxt = next_tokens(model, out, pos, k=10)
        row = out.n_tokens - 1 if pos is None else pos
        p = softmax64(out.logits[row])
        order = np.argsort(-p, kind="stable")[:10]
        assert nxt.position == row
        np.testing.assert_array_equal(nxt.ids, order)
        np.testing.assert_allclose(nxt.probs, p[order], rtol=1e-12)
        assert nxt.tokens == tuple(model.tokenizer.id_to_token(int(i)) for i in order)
        assert nxt.entropy == pytest.approx(-(p * np.log(p)).sum(), rel=1e-9)
        assert np.all(np.diff(nxt.probs) <= 0)


def test_next_tokens_refuse_bad_positions_and_encoders(model):
    out = model.forward("a b c")
    with pytest.raises(ValueError, match="outside"):
        next_tokens(model, out, out.n_tokens)

    class EncoderOut:
        logits = None

    with pytest.raises(ValueError, match="encoder"):
        next_tokens(model, EncoderOut())


def test_the_induction_head_predicts_the_repeat_and_ablation_removes_it(model):
    # the measured behaviour of the shipped model: "... violin harbor. ... violin" → " h..."
    out = model.forward(COPY_TEXT)
    top = next_tokens(model, out)
    assert top.tokens[0] == "·h" and top.probs[0] > 0.3
    ablated = model.forward(COPY_TEXT, edits=[HeadEdit(1, h, scale=0.0) for h in range(4)])
    assert next_tokens(model, ablated).tokens[0] != "·h"


def test_logit_lens_matches_a_float64_reference(model):
    out = model.forward(COPY_TEXT)
    lens = logit_lens(model, out)
    R, T = model.config.n_layer + 1, out.n_tokens
    assert lens.ids.shape == lens.probs.shape == lens.target_probs.shape == (R, T)
    assert lens.row_names[0] == "embeddings" and len(lens.row_names) == R
    for r in range(R):
        p = softmax64(unembed64(model, out.hidden_states[r]))  # (T, vocab)
        best = p.argmax(axis=1)
        # float32 forward vs float64 reference: the top token agrees unless two are nearly tied
        sure = np.sort(p, axis=1)[:, -1] - np.sort(p, axis=1)[:, -2] > 1e-4
        np.testing.assert_array_equal(lens.ids[r][sure], best[sure])
        np.testing.assert_allclose(lens.probs[r], p[np.arange(T), lens.ids[r]], atol=1e-5)
        target = p[np.arange(T - 1), out.ids[1:]]
        np.testing.assert_allclose(lens.target_probs[r, :-1], target, atol=1e-5)
        assert np.isnan(lens.target_probs[r, -1])
        assert lens.tokens[r] == tuple(model.tokenizer.id_to_token(int(i)) for i in lens.ids[r])
    # the last row is the model's own prediction
    np.testing.assert_array_equal(lens.ids[-1], out.logits.argmax(axis=1))


def test_choose_next_greedy_and_sampled():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal(50) * 3
    assert choose_next(logits) == int(np.argmax(logits))
    assert choose_next(logits, sample=True, top_k=1, rng=rng) == int(np.argmax(logits))
    top5 = set(np.argsort(-logits)[:5].tolist())
    draws = [choose_next(logits, sample=True, top_k=5, rng=rng) for _ in range(400)]
    assert set(draws) <= top5 and len(set(draws)) > 1
    # frequencies follow the renormalised top-5 softmax at temperature 2
    t = 2.0
    idx = np.argsort(-logits)[:5]
    p = softmax64(logits[idx] / t)
    draws = [choose_next(logits, sample=True, top_k=5, temperature=t, rng=rng) for _ in range(4000)]
    freq = np.array([draws.count(int(i)) for i in idx]) / len(draws)
    np.testing.assert_allclose(freq, p, atol=0.03)
    with pytest.raises(ValueError):
        choose_next(logits, sample=True, temperature=0.0)


def test_generate_greedy_equals_a_manual_loop(model):
    gen = generate(model, COPY_TEXT, 4)
    ids = list(model.tokenize(COPY_TEXT).ids)
    manual = []
    for _ in range(4):
        nxt = int(np.argmax(model.forward(np.array(ids)).logits[-1]))
        ids.append(nxt)
        manual.append(nxt)
    assert list(gen.ids) == manual and not gen.stopped
    assert gen.text == model.tokenizer.decode(manual)
    assert gen.text.startswith(" harb")  # it copies the word that followed "violin"


def test_generate_sampling_repeats_with_the_seed(model):
    a = generate(model, COPY_TEXT, 5, sample=True, temperature=1.5, top_k=20, seed=7)
    b = generate(model, COPY_TEXT, 5, sample=True, temperature=1.5, top_k=20, seed=7)
    c = [generate(model, COPY_TEXT, 5, sample=True, temperature=1.5, top_k=20, seed=s).ids
         for s in range(8)]  # fmt: skip
    assert a == b and len(set(c)) > 1


def test_generate_stops_at_the_position_limit_and_on_request(model):
    limit = model.config.max_positions
    n_text = len(model.tokenize(COPY_TEXT).ids)
    gen = generate(model, COPY_TEXT, limit)
    assert len(gen.ids) <= limit - n_text
    assert gen.stopped  # the limit, or the end-of-text token
    calls = []

    def progress(done, total):
        calls.append((done, total))
        if done == 2:
            raise GenerationStopped()

    gen = generate(model, COPY_TEXT, 5, progress=progress)
    assert len(gen.ids) == 2 and gen.stopped == "stopped"
    assert calls == [(0, 5), (1, 5), (2, 5)]


def test_catalog_lists_the_builtin_decoder_with_its_costs(model):
    entries = model_catalog(hf_cache="/nonexistent", packages=())
    e = next(e for e in entries if e.info.name == "tiny-induction")
    c = model.config
    per_layer = 2 * c.d_model + 4 * c.d_model * c.d_model + 3 * c.d_model * c.d_ff
    assert e.n_params == c.vocab_size * c.d_model + c.n_layer * per_layer + c.d_model
    assert e.disk_bytes == (FOLDER / "model.safetensors").stat().st_size
    assert e.is_decoder and e.family == "llama" and e.fits and not e.problem
    assert e.memory_bytes >= e.n_params * 4
    assert "2 layers × 4 heads" in e.describe() and "on disk" in e.describe()


def test_catalog_refuses_a_decoder_that_does_not_fit(monkeypatch):
    monkeypatch.setattr("explorer.core.models.catalog.available_memory", lambda: 1 << 20)
    e = next(e for e in model_catalog(hf_cache="/nonexistent", packages=()) if e.is_decoder)
    assert not e.fits and "memory" in e.problem and "available" in e.problem


def test_hf_cache_decoders_are_found_only_when_every_family_is_asked_for(tmp_path):
    snap = tmp_path / "models--org--tiny" / "snapshots" / "abc123"
    shutil.copytree(FOLDER, snap)
    (tmp_path / "models--org--tiny" / "refs").mkdir()
    (tmp_path / "models--org--tiny" / "refs" / "main").write_text("abc123")
    names = [i.name for i in discover_models(hf_cache=tmp_path, packages=(), builtin=())]
    assert "org/tiny" not in names  # the encoder-only list (Model tab) leaves it out
    entries = model_catalog(hf_cache=tmp_path, packages=(), builtin=())
    assert [(e.info.name, e.info.source, e.is_decoder) for e in entries] == [
        ("org/tiny", "hf-cache", True)
    ]


def test_weights_hash_is_the_file_digest():
    digest = hashlib.sha256((FOLDER / "model.safetensors").read_bytes()).hexdigest()
    assert weights_sha256(FOLDER) == digest


def test_loading_reports_progress_and_can_be_cancelled(tmp_path):
    seen = []
    model = load_model(FOLDER, progress=lambda done, total: seen.append((done, total)))
    assert model.is_decoder
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1] > 0
    assert all(b[0] >= a[0] for a, b in itertools.pairwise(seen))

    class Cancelled(Exception):
        pass

    def cancel(done, total):
        if done > 0:
            raise Cancelled()

    with pytest.raises(Cancelled):
        load_model(FOLDER, progress=cancel)


def test_sharded_decoder_folders_are_listed(tmp_path):
    from safetensors.numpy import load_file, save_file

    folder = tmp_path / "sharded"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(FOLDER / name, folder / name)
    tensors = load_file(str(FOLDER / "model.safetensors"))
    names = sorted(tensors)
    half = len(names) // 2
    parts = {"model-00001-of-00002.safetensors": names[:half],
             "model-00002-of-00002.safetensors": names[half:]}  # fmt: skip
    for shard, keys in parts.items():
        save_file({k: tensors[k] for k in keys}, str(folder / shard))
    import json

    index = {"weight_map": {k: s for s, keys in parts.items() for k in keys}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    entries = model_catalog([folder], hf_cache="/nonexistent", packages=(), builtin=())
    assert len(entries) == 1 and not entries[0].problem
    assert entries[0].disk_bytes == sum((folder / s).stat().st_size for s in parts)
    assert len(weights_sha256(folder)) == 64


def test_causal_head_summary_matches_a_loop_reference():
    from explorer.core.decoder_readout import causal_head_summary

    rng = np.random.default_rng(3)
    T = 9
    a = np.tril(rng.random((T, T)) + 0.01)
    a /= a.sum(axis=1, keepdims=True)
    s = causal_head_summary(a)
    assert s.first == pytest.approx(sum(a[i, 0] for i in range(T)) / T)
    assert s.previous == pytest.approx(sum(a[i, i - 1] for i in range(1, T)) / (T - 1))
    assert s.self == pytest.approx(sum(a[i, i] for i in range(T)) / T)
    ent = [-sum(p * np.log(p) for p in a[i, : i + 1]) / np.log(i + 1) for i in range(1, T)]
    assert s.entropy == pytest.approx(np.mean(ent))
    uniform = np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]
    assert causal_head_summary(uniform).entropy == pytest.approx(1.0)
    one = causal_head_summary(np.ones((1, 1)))
    assert (one.first, one.previous, one.self, one.entropy) == (1.0, 0.0, 1.0, 0.0)
    with pytest.raises(ValueError):
        causal_head_summary(np.ones((2, 3)))
