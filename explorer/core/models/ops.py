"""The arithmetic decoders share: norms, activations, rotary positions, and BLAS threads.

Each follows its Hugging Face ``transformers`` counterpart (``LayerNorm``, ``LlamaRMSNorm``,
``NewGELUActivation``, ``SiLU``, ``LlamaRotaryEmbedding`` with ``rotate_half``) in float32.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from math import sqrt

import numpy as np

#: Threads NumPy's BLAS may use during a decoder forward pass (None: leave it alone).
#: Measured with ``benchmarks/bench_models.py`` (SmolLM-135M shape, T = 64, 2-core VM shared
#: with other work, load average 8-10): 0.9-1.4 s with one BLAS thread, 3.4-10 s with two,
#: where OpenBLAS's spinning threads and Numba's pool fight for two busy cores. On an idle
#: machine two threads may be faster (not measured); None leaves NumPy's BLAS alone.
BLAS_THREADS: int | None = 1

_blas_lock = threading.Lock()
_blas_state = {"depth": 0, "controller": None, "limiter": None}


@contextmanager
def blas_limited():
    """Hold NumPy's BLAS at :data:`BLAS_THREADS` threads while any forward pass runs."""
    if BLAS_THREADS is None:
        yield
        return
    with _blas_lock:
        if _blas_state["depth"] == 0:
            if _blas_state["controller"] is None:
                from threadpoolctl import ThreadpoolController

                _blas_state["controller"] = ThreadpoolController()
            ctl = _blas_state["controller"]
            _blas_state["limiter"] = ctl.limit(limits=BLAS_THREADS, user_api="blas")
        _blas_state["depth"] += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_state["depth"] -= 1
            if _blas_state["depth"] == 0:
                _blas_state["limiter"].restore_original_limits()
                _blas_state["limiter"] = None


def layer_norm(x, g, b, eps):
    """LayerNorm over the last axis: ``x`` (..., d) float32, gain ``g`` and bias ``b`` (d,)."""
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = np.mean(xc * xc, axis=-1, keepdims=True)
    return xc / np.sqrt(var + np.float32(eps)) * g + b


def rms_norm(x, g, eps):
    """RMSNorm over the last axis (Llama): ``x / rms(x) * g``; ``x`` (..., d), ``g`` (d,)."""
    ms = np.mean(x * x, axis=-1, keepdims=True)  # (..., 1)
    return x / np.sqrt(ms + np.float32(eps)) * g


def gelu_tanh(h):
    """GPT-2's ``gelu_new``: ``x/2·(1 + tanh(√(2/π)·(x + 0.044715 x³)))``."""
    c = np.float32(sqrt(2.0 / np.pi))
    return np.float32(0.5) * h * (np.float32(1.0) + np.tanh(c * (h + np.float32(0.044715) * h**3)))


def silu(h):
    """``x·σ(x)`` with ``σ(x) = (1 + tanh(x/2))/2``, which never overflows."""
    return h * (np.float32(0.5) + np.float32(0.5) * np.tanh(np.float32(0.5) * h))


def rope_tables(d_head: int, T: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of rotary positions 0..T-1: each (T, d_head) float32, halves repeated."""
    inv_freq = 1.0 / theta ** (np.arange(0, d_head, 2, dtype=np.float64) / d_head)  # (d_head/2,)
    ang = np.arange(T, dtype=np.float64)[:, None] * inv_freq[None, :]  # (T, d_head/2)
    ang = np.concatenate([ang, ang], axis=-1)  # (T, d_head)
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


def apply_rope(x, cos, sin):
    """Rotate pairs (i, i + d/2) of ``x`` (n, T, d_head) by position, as Llama does."""
    half = x.shape[-1] // 2
    rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)  # (n, T, d_head)
    return x * cos + rot * sin
