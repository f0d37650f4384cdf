"""Train the small decoder that ships in ``resources/models/tiny-induction/``.

A 2-layer, 4-head decoder trained on English docstrings of Python's standard library (PSF
License) mixed with repeated random token spans, the classic setup in which induction heads
form (Olsson et al. 2022, "In-context Learning and Induction Heads"). By default it has
Llama's arithmetic (Touvron et al. 2023: RMSNorm, rotary positions, SwiGLU, no biases);
``--family gpt2`` trains a GPT-2 instead (learned positions, which in our runs needed far more
steps to form a previous-token head). It writes a Hugging Face-format folder:
``config.json``, ``model.safetensors`` (float32), ``tokenizer.json`` (byte-level BPE with
``<|endoftext|>`` prepended as BOS), ``NOTICE`` (the corpus and its license) and
``training.json`` (the settings, the loss curve and the run time).

torch is NOT a project dependency; run this in a throwaway environment::

    python3 -m venv /tmp/trainenv
    /tmp/trainenv/bin/pip install torch==2.13.0 safetensors tokenizers numpy
    /tmp/trainenv/bin/python scripts/train_small_decoder.py resources/models/tiny-induction

Deterministic: the corpus is read in sorted file order, and every random draw comes from
seeded generators (``--seed``); torch runs on the CPU with deterministic algorithms. The
interpreter's standard library is the corpus, so the same Python version (3.11) gives the
same corpus; its SHA-256 is printed and recorded in the folder's NOTICE.
Run time on 2 shared CPU cores: see docs/small-decoder.md.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import math
import os
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

BOS = "<|endoftext|>"
# parts of the standard library that are not English prose or are tests and vendored code
SKIP_DIRS = {"test", "tests", "idlelib", "lib2to3", "site-packages", "dist-packages",
             "turtledemo", "ensurepip", "pydoc_data", "__pycache__"}  # fmt: skip


# ------------------------------------------------------------------ corpus
def stdlib_docstrings(root: Path, max_chars: int) -> list[str]:
    """Module, class and function docstrings of the standard library, in sorted file order."""
    docs: list[str] = []
    total = 0
    files = sorted(
        p for p in root.rglob("*.py") if not (SKIP_DIRS & set(p.relative_to(root).parts))
    )
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        nodes = [tree, *(n for n in ast.walk(tree) if isinstance(
            n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef))]  # fmt: skip
        for node in nodes:
            doc = ast.get_docstring(node, clean=True)
            if not doc or len(doc) < 40 or not doc.isascii():
                continue
            docs.append(doc)
            total += len(doc)
            if total >= max_chars:
                return docs
    return docs


def psf_license(root: Path) -> str:
    """The PSF License Agreement from the standard library's LICENSE.txt."""
    text = (root / "LICENSE.txt").read_text(encoding="utf-8")
    start = text.index("PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2")
    end = text.index("BEOPEN.COM LICENSE AGREEMENT")
    return text[start:end].strip()


def write_notice(out: Path, summary: dict, license_text: str) -> None:
    notice = f"""tiny-induction: a 2-layer {summary["family"]} decoder trained by
scripts/train_small_decoder.py

Training text: the docstrings (module, class and function documentation strings, ASCII,
at least 40 characters) of the Python {summary["python"]} standard library, excluding tests,
idlelib, lib2to3, turtledemo, ensurepip and pydoc_data: {summary["corpus_docstrings"]}
docstrings, {summary["corpus_chars"]} characters, SHA-256 of the joined text
{summary["corpus_sha256"]}.
Copyright (c) 2001-2023 Python Software Foundation; All Rights Reserved.
They are distributed under the PSF License Agreement, reproduced below.

Summary of the changes (PSF License, clause 3): the docstrings were extracted from the
source files, joined, used to train a byte-level BPE vocabulary (tokenizer.json, whose
entries are fragments of the text) and a language model (model.safetensors, whose weights
are learned from it, mixed with spans of random tokens). No docstring is shipped whole.

The model and tokenizer files are part of Attention Explorer and distributed under the
project's MIT license, subject to the PSF License for the text they derive from.

{license_text}
"""
    (out / "NOTICE").write_text(notice, encoding="utf-8")


def train_tokenizer(docs: list[str], vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[BOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tok.train_from_iterator(docs, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, 0)]
    )
    return tok


# ------------------------------------------------------------------ model (GPT-2's arithmetic)
class Block(torch.nn.Module):
    def __init__(self, d: int, n_head: int, mlp: bool = True):
        super().__init__()
        self.n_head, self.mlp = n_head, mlp
        self.ln_1 = torch.nn.LayerNorm(d, eps=1e-5)
        self.c_attn = torch.nn.Linear(d, 3 * d)
        self.c_proj = torch.nn.Linear(d, d)
        self.ln_2 = torch.nn.LayerNorm(d, eps=1e-5)
        self.c_fc = torch.nn.Linear(d, 4 * d)
        self.mlp_proj = torch.nn.Linear(4 * d, d)

    def forward(self, x):
        B, T, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (t.view(B, T, self.n_head, d // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # scale 1/sqrt(d_head)
        x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, d))
        if not self.mlp:  # attention-only: the MLP's weights stay zero and add nothing
            return x
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(torch.nn.Module):
    def __init__(self, vocab: int, d: int, n_layer: int, n_head: int, n_pos: int,
                 mlp: bool = True):  # fmt: skip
        super().__init__()
        self.wte = torch.nn.Embedding(vocab, d)
        self.wpe = torch.nn.Embedding(n_pos, d)
        self.h = torch.nn.ModuleList(Block(d, n_head, mlp) for _ in range(n_layer))
        self.ln_f = torch.nn.LayerNorm(d, eps=1e-5)
        for name, p in self.named_parameters():
            if name.endswith("weight") and p.dim() == 2:
                torch.nn.init.normal_(p, std=0.02)
            elif name.endswith("bias"):
                torch.nn.init.zeros_(p)
        if not mlp:
            for b in self.h:
                for lin in (b.c_fc, b.mlp_proj):
                    for p in lin.parameters():
                        torch.nn.init.zeros_(p)
                        p.requires_grad_(False)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for block in self.h:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T  # tied LM head


class LlamaBlock(torch.nn.Module):
    """Llama's layer: RMSNorm, rotary positions, no biases, SwiGLU (or no MLP)."""

    def __init__(self, d: int, n_head: int, d_ff: int, mlp: bool, theta: float):
        super().__init__()
        self.n_head, self.mlp, self.dh = n_head, mlp, d // n_head
        self.input_layernorm = torch.nn.RMSNorm(d, eps=1e-5)
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (
            torch.nn.Linear(d, d, bias=False) for _ in range(4)
        )
        self.post_attention_layernorm = torch.nn.RMSNorm(d, eps=1e-5)
        self.gate_proj = torch.nn.Linear(d, d_ff, bias=False)
        self.up_proj = torch.nn.Linear(d, d_ff, bias=False)
        self.down_proj = torch.nn.Linear(d_ff, d, bias=False)
        inv = 1.0 / theta ** (torch.arange(0, self.dh, 2, dtype=torch.float64) / self.dh)
        self.inv_freq = inv

    def rope(self, x):  # x (B, H, T, dh); rotate pairs (i, i + dh/2) as Llama does
        T = x.shape[2]
        ang = torch.arange(T, dtype=torch.float64)[:, None] * self.inv_freq[None]
        ang = torch.cat([ang, ang], dim=-1)
        cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
        half = self.dh // 2
        rot = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rot * sin

    def forward(self, x):
        B, T, d = x.shape
        h = self.input_layernorm(x)
        q, k, v = (p(h).view(B, T, self.n_head, self.dh).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))  # fmt: skip
        y = F.scaled_dot_product_attention(self.rope(q), self.rope(k), v, is_causal=True)
        x = x + self.o_proj(y.transpose(1, 2).reshape(B, T, d))
        if not self.mlp:
            return x
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(torch.nn.Module):
    def __init__(self, vocab, d, n_layer, n_head, d_ff, mlp=True, theta=10000.0):
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(vocab, d)
        self.layers = torch.nn.ModuleList(
            LlamaBlock(d, n_head, d_ff, mlp, theta) for _ in range(n_layer)
        )
        self.norm = torch.nn.RMSNorm(d, eps=1e-5)
        for p in self.parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, std=0.02)
        if not mlp:
            for b in self.layers:
                for lin in (b.gate_proj, b.up_proj, b.down_proj):
                    torch.nn.init.zeros_(lin.weight)
                    lin.weight.requires_grad_(False)

    def forward(self, ids):
        x = self.embed_tokens(ids)
        for block in self.layers:
            x = block(x)
        return self.norm(x) @ self.embed_tokens.weight.T  # tied LM head


def llama_state_dict(model: Llama) -> dict[str, torch.Tensor]:
    """LlamaForCausalLM's checkpoint names (Linear weights stay (out, in))."""
    out = {"model.embed_tokens.weight": model.embed_tokens.weight,
           "model.norm.weight": model.norm.weight}  # fmt: skip
    for i, b in enumerate(model.layers):
        p = f"model.layers.{i}."
        out[p + "input_layernorm.weight"] = b.input_layernorm.weight
        out[p + "post_attention_layernorm.weight"] = b.post_attention_layernorm.weight
        for n in "qkvo":
            out[f"{p}self_attn.{n}_proj.weight"] = getattr(b, f"{n}_proj").weight
        for n in ("gate", "up", "down"):
            out[f"{p}mlp.{n}_proj.weight"] = getattr(b, f"{n}_proj").weight
    return {k: v.detach().to(torch.float32).contiguous().clone() for k, v in out.items()}


def hf_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """GPT-2's checkpoint names; its Conv1D stores (in, out), so Linear weights transpose."""
    out = {
        "transformer.wte.weight": model.wte.weight,
        "transformer.wpe.weight": model.wpe.weight,
        "transformer.ln_f.weight": model.ln_f.weight,
        "transformer.ln_f.bias": model.ln_f.bias,
    }
    for i, b in enumerate(model.h):
        p = f"transformer.h.{i}."
        for ours, theirs in (("ln_1", "ln_1"), ("ln_2", "ln_2")):
            out[p + theirs + ".weight"] = getattr(b, ours).weight
            out[p + theirs + ".bias"] = getattr(b, ours).bias
        for ours, theirs in (("c_attn", "attn.c_attn"), ("c_proj", "attn.c_proj"),
                             ("c_fc", "mlp.c_fc"), ("mlp_proj", "mlp.c_proj")):  # fmt: skip
            out[p + theirs + ".weight"] = getattr(b, ours).weight.T
            out[p + theirs + ".bias"] = getattr(b, ours).bias
    return {k: v.detach().to(torch.float32).contiguous().clone() for k, v in out.items()}


# ------------------------------------------------------------------ data
def make_batch(rng, stream, batch, n_pos, vocab, p_repeat):
    """``batch`` rows of ``n_pos`` tokens: BOS, then a text window; in a share ``p_repeat``
    of the rows a span of 2-40 random tokens (at most half the row) is written twice or more
    at a random place."""
    out = np.empty((batch, n_pos), dtype=np.int64)
    out[:, 0] = 0
    n = n_pos - 1
    starts = rng.integers(0, len(stream) - n, size=batch)
    for r, s in enumerate(starts):
        row = stream[s : s + n].copy()
        if rng.random() < p_repeat:
            span = int(rng.integers(2, min(40, n // 2) + 1))
            times = int(rng.integers(2, max(2, n // span) + 1))
            seg = rng.integers(1, vocab, size=span)
            rep = np.tile(seg, times)[:n]
            at = int(rng.integers(0, n - len(rep) + 1))
            row[at : at + len(rep)] = rep
        out[r, 1:] = row
    return out


def repeat_accuracy(model, rng, vocab, n=200, span=30):
    """Next-token accuracy on the second copy of random spans (the test's measurement)."""
    seg = rng.integers(1, vocab, size=(n, span))
    ids = torch.from_numpy(np.concatenate([np.zeros((n, 1), np.int64), seg, seg], axis=1))
    with torch.no_grad():
        pred = model(ids).argmax(-1)[:, :-1]
    hit = (pred == ids[:, 1:]).float()
    return hit[:, span + 1 :].mean().item(), hit[:, 1:span].mean().item()


def llama_config(args, vocab: int, bos: int) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": args.d_model,
        "intermediate_size": 4 * args.d_model,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.heads,
        "max_position_embeddings": args.context,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": True,
        "bos_token_id": bos,
        "eos_token_id": bos,
        "torch_dtype": "float32",
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="the model folder to write")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--repeat-share", type=float, default=0.9)
    ap.add_argument("--corpus-chars", type=int, default=4_000_000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--attention-only", action="store_true", help="no MLPs (zero weights)")
    ap.add_argument("--family", choices=("gpt2", "llama"), default="llama")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    rng = np.random.default_rng(args.seed)

    root = Path(sysconfig.get_paths()["stdlib"])
    docs = stdlib_docstrings(root, args.corpus_chars)
    corpus_sha = hashlib.sha256("\n\n".join(docs).encode()).hexdigest()
    print(f"corpus: {len(docs)} docstrings, {sum(map(len, docs))} chars from {root} "
          f"(Python {sys.version.split()[0]}), sha256 {corpus_sha}", flush=True)  # fmt: skip

    tok = train_tokenizer(docs, args.vocab)
    vocab = tok.get_vocab_size()
    bos = tok.token_to_id(BOS)
    assert bos == 0, bos
    stream = np.concatenate([np.asarray([*e.ids[1:], bos], np.int64)
                             for e in tok.encode_batch(docs)])  # fmt: skip
    tok.enable_truncation(max_length=args.context)  # for the app; the stream is not cut
    split = int(len(stream) * 0.95)
    stream, held_out = stream[:split], stream[split:]
    print(
        f"tokenizer: {vocab} tokens; corpus {split} training + {len(held_out)} held-out tokens",
        flush=True,
    )

    if args.family == "gpt2":
        model = GPT(vocab, args.d_model, args.layers, args.heads, args.context,
                    mlp=not args.attention_only)  # fmt: skip
    else:
        model = Llama(vocab, args.d_model, args.layers, args.heads, 4 * args.d_model,
                      mlp=not args.attention_only)  # fmt: skip
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    n_params = sum(p.numel() for _, p in trained)
    decay = [p for n, p in trained if p.dim() == 2]
    other = [p for n, p in trained if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                             {"params": other, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98))  # fmt: skip
    warm = max(1, args.steps // 30)

    def lr_at(step):
        if step < warm:
            return args.lr * (step + 1) / warm
        return args.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / (args.steps - warm)))

    print(f"model: {n_params} parameters; training {args.steps} steps", flush=True)
    log = []
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        ids = torch.from_numpy(
            make_batch(rng, stream, args.batch, args.context, vocab, args.repeat_share)
        )
        logits = model(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, vocab), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == args.steps - 1:
            second, first = repeat_accuracy(model, np.random.default_rng(1), vocab, n=64)
            log.append((step, loss.item(), second))
            elapsed = time.perf_counter() - t0
            print(f"step {step:5d}  loss {loss.item():.3f}  repeat acc {second:.3f} "
                  f"(first copy {first:.3f})  {elapsed:.0f} s", flush=True)  # fmt: skip

    # loss on held-out text: the last 5 % of the docstrings, never trained on
    model.eval()
    eval_rng = np.random.default_rng(args.seed + 1)
    with torch.no_grad():
        ids = torch.from_numpy(make_batch(eval_rng, held_out, 256, args.context, vocab, 0.0))
        text_loss = F.cross_entropy(model(ids[:, :-1]).reshape(-1, vocab), ids[:, 1:].reshape(-1))
    second, first = repeat_accuracy(model, np.random.default_rng(2), vocab)
    elapsed = time.perf_counter() - t0

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    state = hf_state_dict(model) if args.family == "gpt2" else llama_state_dict(model)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    tok.save(str(out / "tokenizer.json"))
    config = llama_config(args, vocab, bos) if args.family == "llama" else {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": vocab,
        "n_positions": args.context,
        "n_ctx": args.context,
        "n_embd": args.d_model,
        "n_layer": args.layers,
        "n_head": args.heads,
        "n_inner": None,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "tie_word_embeddings": True,
        "bos_token_id": bos,
        "eos_token_id": bos,
        "torch_dtype": "float32",
    }  # fmt: skip
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    summary = {
        "seed": args.seed,
        "steps": args.steps,
        "batch": args.batch,
        "context": args.context,
        "parameters": n_params,
        "attention_only": args.attention_only,
        "family": args.family,
        "corpus_docstrings": len(docs),
        "corpus_chars": sum(map(len, docs)),
        "corpus_tokens": len(stream),
        "held_out_tokens": len(held_out),
        "corpus_sha256": corpus_sha,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "final_train_loss": round(log[-1][1], 4),
        "text_loss": round(text_loss.item(), 4),
        "repeat_accuracy_second_copy": round(second, 4),
        "repeat_accuracy_first_copy": round(first, 4),
        "seconds": round(elapsed, 1),
        "log": [[s, round(lo, 4), round(a, 4)] for s, lo, a in log],
    }
    (out / "training.json").write_text(json.dumps(summary, indent=1) + "\n")
    write_notice(out, summary, psf_license(root))
    print(json.dumps({k: v for k, v in summary.items() if k != "log"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
