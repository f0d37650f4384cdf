"""Numbers the explorer writes down must not depend on the BLAS kernel the CPU selects.

OpenBLAS picks a kernel per CPU (Haswell, SkylakeX, ...), and the last bits of matmul and
LAPACK results differ between them. The orthogonal preset feeds saved sessions and the
shipped examples, so it is built without BLAS; these tests run it under every kernel this
CPU can execute (``OPENBLAS_CORETYPE``) and compare the bits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from explorer.core.projections import preset_heads

ROOT = Path(__file__).resolve().parents[2]

# OpenBLAS core type -> the CPU flags its kernels need (x86-64 only).
KERNEL_FLAGS = {
    "Sandybridge": {"avx"},
    "Haswell": {"avx", "avx2", "fma"},
    "SkylakeX": {"avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"},
}

SHAPES = [(12, 64, 64), (4, 16, 16), (3, 5, 9), (2, 128, 7), (1, 1, 1)]  # (n_head, d_in, d_head)

PROBE = """
import hashlib, json, sys
import importlib.util
import threadpoolctl
from explorer.core.projections import preset_heads
from explorer.io.session_file import session_to_json

presets = hashlib.sha256()
for n_head, d_in, d_head in SHAPES:
    for seed in (0, 3, 12345):
        for head in preset_heads("orthogonal", n_head, d_in, d_head, seed=seed):
            for m in (head.w_q, head.w_k, head.w_v):
                presets.update(m.tobytes())
spec = importlib.util.spec_from_file_location("make_examples", ROOT + "/scripts/make_examples.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
examples = hashlib.sha256()
for name, session in sorted(module.build_examples().items()):
    examples.update(session_to_json(session).encode())
blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
kernels = sorted({i["architecture"] for i in blas})
print(json.dumps({"kernels": kernels, "presets": presets.hexdigest(),
                  "examples": examples.hexdigest()}))
"""


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _runnable_kernels() -> list[str]:
    flags = _cpu_flags()
    return [name for name, need in KERNEL_FLAGS.items() if need <= flags]


def _probe(kernel: str) -> dict:
    env = {**os.environ, "OPENBLAS_CORETYPE": kernel}
    code = f"SHAPES = {SHAPES!r}\nROOT = {str(ROOT)!r}\n{PROBE}"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _qr_reference(a: np.ndarray) -> np.ndarray:
    """LAPACK's Q with the signs that make diag(R) positive (float64)."""
    q, r = np.linalg.qr(a)
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


@pytest.mark.parametrize("d_in,d_head", [(8, 8), (16, 5), (5, 16), (64, 64), (128, 32), (1, 3)])
def test_orthogonal_preset_is_the_positive_qr_factor_of_the_seeded_draws(d_in, d_head):
    n_head, seed = 3, 17
    heads = preset_heads("orthogonal", n_head, d_in, d_head, seed=seed)
    tall = d_in >= d_head
    draws = np.random.default_rng(seed).standard_normal(
        (3 * n_head, *((d_in, d_head) if tall else (d_head, d_in)))
    )
    for h, head in enumerate(heads):
        for i, m in enumerate((head.w_q, head.w_k, head.w_v)):
            want = _qr_reference(draws[3 * h + i])
            np.testing.assert_allclose(m, want if tall else want.T, rtol=0, atol=1e-12)


def test_orthogonal_preset_does_not_depend_on_the_number_of_heads():
    few = preset_heads("orthogonal", 2, 16, 16, seed=4)
    many = preset_heads("orthogonal", 12, 16, 16, seed=4)
    for a, b in zip(few, many[:2], strict=True):
        for name in ("w_q", "w_k", "w_v"):
            assert getattr(a, name).tobytes() == getattr(b, name).tobytes()


def test_presets_and_shipped_examples_are_bit_identical_under_every_blas_kernel():
    kernels = _runnable_kernels()
    if len(kernels) < 2:
        pytest.skip("this CPU runs fewer than two OpenBLAS kernels")
    runs = {k: _probe(k) for k in kernels}
    for kernel, run in runs.items():
        assert run["kernels"] == [kernel], f"OPENBLAS_CORETYPE={kernel} ran {run['kernels']}"
    first = next(iter(runs.values()))
    for kernel, run in runs.items():
        assert run["presets"] == first["presets"], f"orthogonal preset differs under {kernel}"
        assert run["examples"] == first["examples"], f"example sessions differ under {kernel}"
