"""Benchmark the attention core against NumPy and (when importable) torch, in one run.

Prints:

1. One table for n_head in {1, 12}, d = 64, T in {8, 32, 128, 512, 2048} (and 4096 and 8192
   for one head), float32: the median ms of our core (output buffers reused, and allocating), of a
   float32 NumPy implementation (``softmax(q kᵀ·scale) v`` with matmul, weights materialised),
   of torch with the weights materialised and of torch's SDPA (output only), the ratios, and
   the flop floor (4·h·T²·d + 5·h·T² flops at 360 GFLOP/s, from PERFORMANCE.md). The variants
   are interleaved: each round times every variant once, and the median is over rounds.
   A second table times causal attention: ours with the causal mask (which skips the keys
   above the diagonal) against ours without it, NumPy with a −∞ mask, and torch (weights
   materialised with a mask, and SDPA with ``is_causal``).
   A third table times the long-text pass (:func:`explorer.core.long_attention.long_attention`:
   output, per-row softmax statistics and block overviews, no weights stored) against our
   dense kernel (weights materialised), the same pass in NumPy, and torch's SDPA (output
   only), with the memory the weights would take.
2. First-call compile time (fresh cache folder, fresh process) and the cached load in a
   second fresh process.
3. The latency of one call after 20 ms of idle at h=12 T=128 (the slider case).

``--crossover`` also prints serial against parallel kernel times, hot and after idle, which
is how :data:`explorer.core.attention.PARALLEL_MIN_WORK` was chosen.

Usage::

    python benchmarks/bench_attention.py [--quick] [--crossover]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from explorer.core import attention as A
from explorer.core import numba_config

FLOOR_FLOPS = 360e9
SIZES = [(1, T) for T in (8, 32, 128, 512, 2048, 4096, 8192)]
SIZES += [(12, T) for T in (8, 32, 128, 512, 2048)]
CAUSAL_SIZES = [(12, 512), (12, 2048), (4, 4096), (1, 8192)]
LONG_SIZES = [(1, 2048), (1, 4096), (4, 4096), (1, 8192), (4, 8192)]
D = 64
GAP_S = 0.15  # see interleaved()

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # torch is optional: the columns are left out
    torch = None


def numpy_attention(q, k, v, scale):
    """The float32 NumPy way: batched matmuls and a stable softmax, weights materialised."""
    att = np.matmul(q, k.transpose(0, 2, 1))  # (n_head, T, S)
    att *= scale
    att -= att.max(axis=-1, keepdims=True)
    np.exp(att, out=att)
    att /= att.sum(axis=-1, keepdims=True)
    return np.matmul(att, v), att  # (n_head, T, d_v), (n_head, T, S)


def floor_ms(h, T, d=D):
    return (4 * h * T * T * d + 5 * h * T * T) / FLOOR_FLOPS * 1e3


def variants(h, T):
    rng = np.random.default_rng(T + h)
    q, k, v = (rng.standard_normal((h, T, D)).astype(np.float32) for _ in range(3))
    scale = np.float32(1 / np.sqrt(D))
    y, w = np.empty((h, T, D), np.float32), np.empty((h, T, T), np.float32)
    out = {
        "ours": lambda: A.attention(q, k, v, out=y, weights_out=w),
        "ours+alloc": lambda: A.attention(q, k, v),
        "numpy": lambda: numpy_attention(q, k, v, scale),
    }
    if torch is not None:
        tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))

        def materialised():
            with torch.inference_mode():
                att = torch.softmax((tq @ tk.transpose(-2, -1)) * float(scale), dim=-1)
                return att @ tv, att

        def sdpa():
            with torch.inference_mode():
                return F.scaled_dot_product_attention(tq, tk, tv)

        out["torch"] = materialised
        out["sdpa"] = sdpa
    return out


def interleaved(fns: dict, budget_s: float, gap_s: float = 0.0, max_rounds: int = 41) -> dict:
    """Median seconds per call of each function, timed round-robin.

    ``gap_s`` of sleep, then 10 ms of untimed calls, precede each variant's timed batch, so
    that the previous variant's idle-spinning threads (OpenBLAS spins for about 0.1 s after a
    threaded call) have gone to sleep and do not steal a core from the next variant, and every
    variant is timed in its steady state. (The cost of a call after idle is measured apart.)
    """
    for f in fns.values():  # warm: first touches, allocator, thread pools
        f()
        f()
    t0 = time.perf_counter()
    for f in fns.values():
        f()
    one_round = time.perf_counter() - t0
    reps = max(1, int(5e-3 / max(one_round / len(fns), 1e-7)))  # each sample >= ~5 ms
    rounds = int(min(max_rounds, max(5, budget_s / max(one_round * reps, 1e-6))))
    samples = {name: [] for name in fns}
    for _ in range(rounds):
        for name, f in fns.items():
            if gap_s:
                time.sleep(gap_s)
                warm_until = time.perf_counter() + 0.01  # back to steady state
                while time.perf_counter() < warm_until:
                    f()
            t = time.perf_counter()
            for _ in range(reps):
                f()
            samples[name].append((time.perf_counter() - t) / reps)
    return {name: statistics.median(s) for name, s in samples.items()}


def table(quick: bool):
    cols = ["ours", "ours+alloc", "numpy"] + (["torch", "sdpa"] if torch is not None else [])
    head = f"{'h':>3} {'T':>5} " + " ".join(f"{c:>10}" for c in cols)
    head += f" {'floor':>8} {'/numpy':>7}" + (f" {'/torch':>7}" if torch is not None else "")
    head += f" {'/floor':>7}"
    print("median ms per call, float32, d=64" + ("" if torch else " (torch not importable)"))
    print(head)
    for h, T in SIZES:
        if quick and T > 512:
            continue
        med = interleaved(variants(h, T), 1.0 if quick else 3.0, gap_s=GAP_S, max_rounds=15)
        ms = {k: v * 1e3 for k, v in med.items()}
        line = f"{h:>3} {T:>5} " + " ".join(f"{ms[c]:>10.4f}" for c in cols)
        line += f" {floor_ms(h, T):>8.4f} {ms['ours'] / ms['numpy']:>7.2f}"
        if torch is not None:
            line += f" {ms['ours'] / ms['torch']:>7.2f}"
        line += f" {ms['ours'] / floor_ms(h, T):>7.2f}"
        print(line, flush=True)


def numpy_causal(q, k, v, scale):
    """The float32 NumPy way under a causal mask: −∞ above the diagonal, then softmax."""
    T = q.shape[1]
    att = np.matmul(q, k.transpose(0, 2, 1))  # (n_head, T, T)
    att *= scale
    att[:, ~np.tri(T, dtype=bool)] = -np.inf
    att -= att.max(axis=-1, keepdims=True)
    np.exp(att, out=att)
    att /= att.sum(axis=-1, keepdims=True)
    return np.matmul(att, v), att


def causal_variants(h, T):
    rng = np.random.default_rng(T + h + 1)
    q, k, v = (rng.standard_normal((h, T, D)).astype(np.float32) for _ in range(3))
    scale = np.float32(1 / np.sqrt(D))
    y, w = np.empty((h, T, D), np.float32), np.empty((h, T, T), np.float32)
    out = {
        "causal": lambda: A.attention(q, k, v, causal=True, out=y, weights_out=w),
        "full": lambda: A.attention(q, k, v, out=y, weights_out=w),
        "numpy": lambda: numpy_causal(q, k, v, scale),
    }
    if torch is not None:
        tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
        upper = torch.from_numpy(~np.tri(T, dtype=bool))

        def materialised():
            with torch.inference_mode():
                att = (tq @ tk.transpose(-2, -1)) * float(scale)
                att = torch.softmax(att.masked_fill(upper, float("-inf")), dim=-1)
                return att @ tv, att

        def sdpa():
            with torch.inference_mode():
                return F.scaled_dot_product_attention(tq, tk, tv, is_causal=True)

        out["torch"] = materialised
        out["sdpa"] = sdpa
    return out


def causal_table(quick: bool):
    cols = ["causal", "full", "numpy"] + (["torch", "sdpa"] if torch is not None else [])
    head = f"{'h':>3} {'T':>5} " + " ".join(f"{c:>10}" for c in cols)
    head += f" {'full/causal':>11} {'/numpy':>7}" + (f" {'/torch':>7}" if torch else "")
    print("\ncausal mask: median ms per call, float32, d=64")
    print(head)
    for h, T in CAUSAL_SIZES:
        if quick and T > 512:
            continue
        med = interleaved(causal_variants(h, T), 1.0 if quick else 3.0, gap_s=GAP_S, max_rounds=9)
        ms = {k: v * 1e3 for k, v in med.items()}
        line = f"{h:>3} {T:>5} " + " ".join(f"{ms[c]:>10.3f}" for c in cols)
        line += f" {ms['full'] / ms['causal']:>11.2f} {ms['causal'] / ms['numpy']:>7.2f}"
        if torch is not None:
            line += f" {ms['causal'] / ms['torch']:>7.2f}"
        print(line, flush=True)


def long_variants(h, T):
    from explorer.core.long_attention import long_attention

    rng = np.random.default_rng(T + h + 2)
    q, k, v = (rng.standard_normal((h, T, D)).astype(np.float32) for _ in range(3))
    scale = float(1 / np.sqrt(D))
    out = {
        "long": lambda: long_attention(q, k, v, scale, None),
        "dense": lambda: A.attention(q, k, v, scale=scale),
        "long-numpy": lambda: long_attention(q, k, v, scale, None, use_kernels=False),
    }
    if torch is not None:
        tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))

        def sdpa():
            with torch.inference_mode():
                return F.scaled_dot_product_attention(tq, tk, tv, scale=scale)

        out["sdpa"] = sdpa
    return out


def long_table(quick: bool):
    from explorer.core.long_attention import warm_up as long_warm_up

    long_warm_up()
    cols = ["long", "dense", "long-numpy"] + (["sdpa"] if torch is not None else [])
    head = f"{'h':>3} {'T':>5} " + " ".join(f"{c:>10}" for c in cols)
    head += f" {'/dense':>7} {'/numpy':>7}" + (f" {'/sdpa':>7}" if torch else "")
    head += f" {'weights MiB':>11}"
    print("\nlong texts, no weights stored: median ms per call, float32, d=64, no mask")
    print(head)
    for h, T in LONG_SIZES:
        if quick and T > 2048:
            continue
        med = interleaved(long_variants(h, T), 1.0 if quick else 3.0, gap_s=GAP_S, max_rounds=7)
        ms = {k: v * 1e3 for k, v in med.items()}
        line = f"{h:>3} {T:>5} " + " ".join(f"{ms[c]:>10.2f}" for c in cols)
        line += f" {ms['long'] / ms['dense']:>7.2f} {ms['long'] / ms['long-numpy']:>7.2f}"
        if torch is not None:
            line += f" {ms['long'] / ms['sdpa']:>7.2f}"
        line += f" {h * T * T * 4 / 2**20:>11.0f}"
        print(line, flush=True)


_COLD = """
import time
t0 = time.perf_counter()
import explorer.core.attention as A
t1 = time.perf_counter()
A.warm_up()
t2 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f}")
"""


def compile_times():
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = []
        for _ in range(3):
            res = subprocess.run(
                [sys.executable, "-c", _COLD], env=env, capture_output=True, text=True, check=True
            )
            runs.append([float(x) for x in res.stdout.split()])
    print("\ncompile and load (fresh processes, NUMBA_CACHE_DIR = a new empty folder):")
    print(f"  first run:  import {runs[0][0]:.2f} s, warm_up() compiling {runs[0][1]:.2f} s")
    for r in runs[1:]:
        print(f"  cached run: import {r[0]:.2f} s, warm_up() loading  {r[1]:.2f} s")


def idle_latency(h=12, T=128, idle_s=0.02, n=40):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((h, T, D)).astype(np.float32) for _ in range(3))
    y, w = np.empty((h, T, D), np.float32), np.empty((h, T, T), np.float32)
    A.attention(q, k, v, out=y, weights_out=w)
    times = []
    for _ in range(n):
        time.sleep(idle_s)
        t = time.perf_counter()
        A.attention(q, k, v, out=y, weights_out=w)
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    print(
        f"\none call after {idle_s * 1e3:.0f} ms idle, h={h} T={T}: median {times[n // 2]:.3f}"
        f" ms, p90 {times[int(n * 0.9)]:.3f} ms, max {times[-1]:.3f} ms"
    )


def crossover():
    print(
        "\nserial vs parallel kernel, float32 d=64, median ms (hot: back to back; idle: 20 ms"
        " sleep before each call)"
    )
    print(
        f"{'h':>3} {'T':>5} {'work':>9} {'ser hot':>8} {'par hot':>8} {'ser idle':>9} "
        f"{'par idle':>9}"
    )
    for h, T in [
        (12, 16),
        (12, 32),
        (12, 48),
        (12, 64),
        (12, 96),
        (12, 128),
        (12, 192),
        (1, 128),
        (1, 256),
        (1, 384),
        (1, 512),
        (1, 768),
        (4, 256),
    ]:
        rng = np.random.default_rng(0)
        q, k, v = (rng.standard_normal((h, T, D)).astype(np.float32) for _ in range(3))
        y, w = np.empty((h, T, D), np.float32), np.empty((h, T, T), np.float32)

        def run(parallel, q=q, k=k, v=v, y=y, w=w):
            A._attention(q, k, v, None, False, None, y, w, parallel)

        runs = {p: (lambda p=p: run(p)) for p in (False, True)}
        hot = interleaved({str(p): f for p, f in runs.items()}, 1.0)
        idle = {p: [] for p in runs}
        for _ in range(25):
            for p, f in runs.items():
                time.sleep(0.02)
                t = time.perf_counter()
                f()
                idle[p].append(time.perf_counter() - t)
        print(
            f"{h:>3} {T:>5} {h * T * T * 2 * D:>9.1e} {hot['False'] * 1e3:>8.3f} "
            f"{hot['True'] * 1e3:>8.3f} {statistics.median(idle[False]) * 1e3:>9.3f} "
            f"{statistics.median(idle[True]) * 1e3:>9.3f}",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T <= 512 and shorter rounds")
    parser.add_argument("--crossover", action="store_true", help="serial vs parallel table")
    args = parser.parse_args()
    import threadpoolctl

    t = time.perf_counter()
    A.warm_up()
    print(
        f"warm_up in this process: {time.perf_counter() - t:.2f} s; numba threads "
        f"{numba_config.thread_count()}; PARALLEL_MIN_WORK {A.PARALLEL_MIN_WORK:.1e}"
    )
    print(
        f"  OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}"
    )
    for lib in threadpoolctl.threadpool_info():
        print(
            f"  {lib['user_api']} {lib['prefix']} {lib.get('architecture')} "
            f"threads={lib['num_threads']} {os.path.basename(lib['filepath'])}"
        )
    if torch is not None:
        torch.set_num_threads(numba_config.thread_count())
        print(f"  torch {torch.__version__}, {torch.get_num_threads()} threads")
    table(args.quick)
    causal_table(args.quick)
    long_table(args.quick)
    idle_latency()
    compile_times()
    if args.crossover:
        crossover()


if __name__ == "__main__":
    main()
