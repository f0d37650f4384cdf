"""Benchmark the text-to-vectors pipeline.

Measures, in one run:

1. Cold start in fresh subprocesses (median of several): ``import explorer.core`` with the
   built-in embeddings loaded, the same plus the tokenizer, and ``import
   explorer.core.pipeline`` (which pulls in the attention core).
2. ``compute(session)`` after warm-up on the default Session with a 12-token text, then at
   larger sizes, with the share of each stage.
3. A slider tick: one weight of one head edited, ``compute(edited)`` against
   ``compute(edited, reuse=(session, result))`` (only the edited head recomputed), timed
   interleaved in the same loop, with the ratio.

Usage::

    python benchmarks/bench_pipeline.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

TEXT_12 = "The dog chased the cat off the table by the river."

COLD = {
    "import explorer.core + builtin embeddings": (
        "import explorer.core\n"
        "from explorer.core.embeddings import builtin_table\n"
        "builtin_table().vectors[0]\n"
    ),
    "... + tokenizer (vocab loaded, one text)": (
        "import explorer.core\n"
        "from explorer.core.embeddings import builtin_table\n"
        "from explorer.core.tokenizer import tokenize\n"
        "builtin_table(); tokenize('The dog chased the cat.')\n"
    ),
    "import explorer.core.pipeline (+ attention core)": ("import explorer.core.pipeline\n"),
    "first compute(Session()) incl. imports": (
        "from explorer.core.pipeline import compute\n"
        "from explorer.core.session import Session\n"
        "compute(Session())\n"
    ),
}


def cold_start(code: str, repeats: int) -> float:
    """Median wall time (ms) of running ``code`` in a fresh interpreter, minus bare startup."""
    wrapped = (
        "import time\n_t = time.perf_counter()\n"
        + code
        + "print((time.perf_counter() - _t) * 1e3)\n"
    )
    times = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", wrapped], capture_output=True, text=True, check=True
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def time_compute(session, rounds: int) -> tuple[float, dict[str, float]]:
    """Median ms per compute() and median per-stage timings."""
    from explorer.core.pipeline import compute

    for _ in range(20):
        compute(session)  # warm caches and any JIT specialisation
    totals, stages = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        r = compute(session)
        totals.append((time.perf_counter() - t) * 1e3)
        stages.append(r.timings)
    median_stages = {k: statistics.median(s[k] for s in stages) for k in stages[0]}
    return statistics.median(totals), median_stages


def sized_session(T: int, n_head: int, d: int):
    from explorer.core.projections import conform
    from explorer.core.session import Session

    words = ["dog", "cat", "table", "river", "bank", "money", "king", "queen"]
    text = " ".join(words[i % len(words)] for i in range(T))
    s = Session(text=text, d_model=min(d, 64), preset="orthogonal")
    return conform(s, n_head=n_head, d_head=d)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 7
    rounds = 200 if args.quick else 2000

    print("Cold start (fresh subprocess, median of", repeats, "runs, excludes interpreter startup)")
    print(f"| {'what':52} | {'ms':>8} |")
    print(f"|{'-' * 54}|{'-' * 10}|")
    for name, code in COLD.items():
        print(f"| {name:52} | {cold_start(code, repeats):8.1f} |")

    from explorer.core import attention
    from explorer.core.session import Session

    attention.warm_up()
    s12 = Session(text=TEXT_12)
    from explorer.core.tokenizer import tokenize

    assert len(tokenize(TEXT_12).tokens) == 12
    cases = [("default Session, 12 tokens (1 head, d=8)", s12)]
    for T, h, d in ((64, 1, 64), (128, 4, 32), (128, 12, 64), (512, 12, 64)):
        cases.append((f"T={T}, heads={h}, d_model=d_head={d}", sized_session(T, h, d)))

    print()
    print(f"compute() after warm-up (median of {rounds} calls; stage medians in ms)")
    stages = ["tokenize", "embed", "project", "scores", "attention", "similarity"]
    head = " | ".join(f"{s:>9}" for s in stages)
    print(f"| {'case':42} | {'total ms':>8} | {head} |")
    print(f"|{'-' * 44}|{'-' * 10}|" + "|".join("-" * 11 for _ in stages) + "|")
    for name, session in cases:
        n = rounds if "12 tokens" in name else max(20, rounds // 20)
        total, med = time_compute(session, n)
        cells = " | ".join(f"{med[s]:9.4f}" for s in stages)
        print(f"| {name:42} | {total:8.4f} | {cells} |")

    print()
    print("One weight of head 0 edited: full compute vs reuse of the previous Result (ms;")
    print("sessions with several heads: with one head an edit recomputes everything)")
    print(f"| {'case':42} | {'full':>8} | {'reuse':>8} | {'reuse/full':>10} |")
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 10}|{'-' * 12}|")
    for name, session in cases:
        if session.n_head == 1:
            continue  # editing the only head is a full compute: there is nothing to reuse
        n = rounds if "12 tokens" in name else max(20, rounds // 20)
        full, reuse = time_edit(session, n)
        print(f"| {name:42} | {full:8.4f} | {reuse:8.4f} | {reuse / full:10.2f} |")
    return 0


def time_edit(session, rounds: int) -> tuple[float, float]:
    """Median ms of a full compute and of a reusing compute after a one-weight edit."""
    from explorer.core.pipeline import compute

    before = compute(session)
    edited = session.with_head(0, session.heads[0].with_weight("q", 0, 0, 1.2345))
    full, reuse = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        compute(edited)
        full.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        r = compute(edited, reuse=(session, before))
        reuse.append((time.perf_counter() - t) * 1e3)
    assert "reuse" in r.timings
    return statistics.median(full), statistics.median(reuse)


if __name__ == "__main__":
    raise SystemExit(main())
