"""Time a decoder's full forward pass (all attentions, hidden states and logits).

A Llama-family model with random weights in the shape of SmolLM-135M (width 576, 30 layers, 9
query heads sharing 3 key/value heads, feed-forward 1536, vocabulary 49 152, tied embeddings:
134.5M parameters) runs on T random token ids (default 64). When torch and transformers are
importable, ``LlamaForCausalLM`` with eager attention and ``output_attentions=True`` runs the
same weights in the same process, interleaved with ours so that both see the same machine
load; the table shows medians and the ratio ``transformers / ours`` (> 1: we are faster), and
the largest logit difference checks that both computed the same thing. ``--unpinned`` adds a
column with NumPy's BLAS left at its default thread count (see
:data:`explorer.core.models.ops.BLAS_THREADS`).

    python benchmarks/bench_models.py [--repeats 7] [--lengths 64] [--unpinned]
    PYTHONPATH=/work/main /tmp/refenv/bin/python benchmarks/bench_models.py   # both columns
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from explorer.core.attention import warm_up
from explorer.core.models import decoder_from_tensors, ops, parse_model_config
from explorer.core.models.families import expected_shapes

SMOLLM_135M = {
    "model_type": "llama",
    "vocab_size": 49152,
    "hidden_size": 576,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "intermediate_size": 1536,
    "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "tie_word_embeddings": True,
    "hidden_act": "silu",
}


def random_tensors(cfg, seed: int = 0) -> dict[str, np.ndarray]:
    """Weights with the init scale of transformers (std 0.02, norms 1), float32."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in expected_shapes(cfg, "model.").items():
        if len(shape) == 1:
            out[name] = np.ones(shape, np.float32)
        else:
            out[name] = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)
    return out


def torch_runner(tensors):
    """A callable running transformers' LlamaForCausalLM on ids, or (None, "") without torch."""
    try:
        import torch
        import transformers
        from transformers import LlamaConfig, LlamaForCausalLM
    except ImportError:
        return None, ""
    conf = {k: v for k, v in SMOLLM_135M.items() if k != "model_type"}
    model = LlamaForCausalLM(LlamaConfig(**conf, attn_implementation="eager")).eval()
    state = {k: torch.from_numpy(v) for k, v in tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    model.tie_weights()

    def run(ids):
        with torch.inference_mode():
            out = model(
                input_ids=torch.from_numpy(ids)[None],
                output_attentions=True,
                output_hidden_states=True,
                use_cache=False,
            )
        return out.logits[0].numpy()

    return run, (
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"transformers {transformers.__version__}"
    )


def timed(fn, arg) -> float:
    t0 = time.perf_counter()
    fn(arg)
    return (time.perf_counter() - t0) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description="decoder forward-pass benchmark")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--lengths", type=int, nargs="+", default=[64])
    ap.add_argument(
        "--unpinned",
        action="store_true",
        help="also time ours with NumPy's BLAS at its default thread count",
    )
    args = ap.parse_args()

    cfg = parse_model_config(SMOLLM_135M, "SmolLM-135M shape")
    tensors = random_tensors(cfg)
    n_params = sum(a.size for a in tensors.values())
    t0 = time.perf_counter()
    model = decoder_from_tensors(cfg, tensors)
    pack_s = time.perf_counter() - t0
    warm_up()
    theirs, versions = torch_runner(tensors)
    print(f"model: random Llama, SmolLM-135M shape, {n_params / 1e6:.1f}M parameters "
          f"(packed in {pack_s:.2f} s)")  # fmt: skip
    print(f"cpus: {os.cpu_count()}, numpy {np.__version__}; {versions or 'torch not importable'}")

    def ours_unpinned(ids):
        ops.BLAS_THREADS = None
        try:
            return model.forward(ids)
        finally:
            ops.BLAS_THREADS = pinned

    pinned = ops.BLAS_THREADS
    runners = {f"ours ({pinned} BLAS thr)": model.forward}
    if args.unpinned:
        runners["ours (BLAS unpinned)"] = ours_unpinned
    if theirs:
        runners["transformers"] = theirs
    rng = np.random.default_rng(1)
    rows = []
    for T in args.lengths:
        ids = rng.integers(0, cfg.vocab_size, T).astype(np.int64)
        ours_logits = model.forward(ids).logits  # warm caches and kernels for this shape
        diff = "-"
        if theirs:
            their_logits = theirs(ids)
            rel = np.abs(ours_logits - their_logits).max() / np.abs(their_logits).max()
            diff = f"{rel:.1e}"
        times = {k: [] for k in runners}
        for _ in range(args.repeats):  # interleaved: all see the same load
            for k, fn in runners.items():
                times[k].append(timed(fn, ids))
        rows.append((T, {k: statistics.median(v) for k, v in times.items()}, diff))

    print()
    names = list(runners)
    head = "".join(f"{k + ' ms':>24}" for k in names)
    ratio = f"{'ratio':>7}" if theirs else ""
    print(f"{'T':>5}{head}{ratio}{'logit diff':>12}")
    for T, med, diff in rows:
        cells = "".join(f"{med[k]:24.1f}" for k in names)
        r = f"{med['transformers'] / med[names[0]]:7.2f}" if theirs else ""
        print(f"{T:5d}{cells}{r}{diff:>12}")
    print(f"medians over {args.repeats} runs, interleaved; ratio = transformers / {names[0]} "
          "(> 1: ours faster);")  # fmt: skip
    print("logit diff = max |ours - transformers| / max |transformers|")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} cpus)")


if __name__ == "__main__":
    main()
