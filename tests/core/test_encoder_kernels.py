"""The fused steps of a BERT layer (:mod:`explorer.core._encoder_kernels`) against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

K = pytest.importorskip("explorer.core._encoder_kernels")


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def test_split_and_concat_heads_move_every_value():
    rng = np.random.default_rng(0)
    T, nh, dh = 7, 3, 4
    rows, b = _rand(rng, T, 3 * nh * dh), _rand(rng, 3 * nh * dh)
    out = np.full((3, nh, T, dh), np.nan, np.float32)
    K.split_heads(rows, b, out)
    assert_array_equal(out, (rows + b).reshape(T, 3, nh, dh).transpose(1, 2, 0, 3))
    cat = np.full((T, nh * dh), np.nan, np.float32)
    K.concat_heads(out[1], cat)
    assert_array_equal(cat, out[1].transpose(1, 0, 2).reshape(T, nh * dh))


@pytest.mark.parametrize("in_place", [False, True])
def test_add_layer_norm_matches_float64(in_place):
    rng = np.random.default_rng(1)
    T, H = 5, 384
    a, res, bias, g, beta = (_rand(rng, T, H), _rand(rng, T, H), _rand(rng, H), _rand(rng, H),
                             _rand(rng, H))  # fmt: skip
    z = a.astype(np.float64) + bias + res
    mu = z.mean(axis=1, keepdims=True)
    want = (z - mu) / np.sqrt(((z - mu) ** 2).mean(axis=1, keepdims=True) + 1e-12) * g + beta
    out = a if in_place else np.full_like(a, np.nan)
    K.add_layer_norm(a, bias, res, g, beta, np.float32(1e-12), out)
    assert_allclose(out, want, rtol=0, atol=2e-5)


def test_bias_gelu_is_bias_then_gelu():
    from explorer.core.encoder_forward import gelu_

    rng = np.random.default_rng(2)
    h, b = _rand(rng, 6, 10) * 3, _rand(rng, 10)
    want = gelu_((h + b).copy())
    K.bias_gelu(h, b)
    assert_array_equal(h, want)


def test_a_pass_split_between_two_threads_gives_the_serial_numbers(tmp_path, monkeypatch):
    from naive_bert import TINY_CONFIG, write_tiny_model

    from explorer.core import encoder_forward
    from explorer.core.encoder import HeadEdit, load_encoder

    write_tiny_model(tmp_path, cfg={**TINY_CONFIG, "num_hidden_layers": 3})
    enc = load_encoder(tmp_path)
    rng = np.random.default_rng(3)
    ids = np.r_[2, rng.integers(5, enc.config.vocab_size, 15), 3].astype(np.int64)
    edits = (HeadEdit.scaled(1, 0, 0.5),)
    monkeypatch.setattr(encoder_forward, "SPLIT_MIN_TOKENS", 10**9)
    serial = enc.forward(ids, edits=edits)
    monkeypatch.setattr(encoder_forward, "SPLIT_MIN_TOKENS", 2)
    for _ in range(3):  # the helper thread is started once and reused
        split = enc.forward(ids, edits=edits)
        # each half's float32 matrix products have other row counts, which an OpenBLAS
        # kernel may block and round differently (Haswell: 3.5e-6 after three layers);
        # a wrong split (rows dropped, doubled or swapped) is off by far more
        assert_allclose(split.hidden_states, serial.hidden_states, rtol=2e-5, atol=2e-5)
        assert_allclose(split.attentions, serial.attentions, rtol=0, atol=2e-6)


def test_a_failure_in_the_helper_half_reaches_the_caller():
    from explorer.core.encoder_forward import _in_two_halves

    done = []

    def rows(r0, r1):
        if r0 > 0:
            raise ValueError("second half")
        done.append((r0, r1))

    with pytest.raises(ValueError, match="second half"):
        _in_two_halves(rows, 10)
    assert done == [(0, 5)]
