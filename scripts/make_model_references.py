"""Build the tiny random models under tests/data/models/ and transformers' outputs on them.

Run it in a throwaway environment, never the project's (torch and transformers are not
dependencies of the explorer)::

    python3 -m venv /tmp/refenv
    /tmp/refenv/bin/pip install torch==2.13.0 transformers safetensors tokenizers numpy
    /tmp/refenv/bin/python scripts/make_model_references.py

For each family it trains a tiny tokenizer with ``tokenizers``, builds a random 2-layer model
with ``transformers``, saves it as a Hugging Face folder (``config.json``, safetensors weights,
``tokenizer.json``) and stores, in ``reference.npz``, the eager attentions, hidden states and
logits of the model reloaded in float32 from that folder (so the reference sees exactly the
stored, rounded weights). One model is stored in bfloat16, one in float16 and one sharded.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "models"
CORPUS = [
    "The bank of the river was steep, and the boat drifted past the old mill.",
    "She went to the bank to deposit her cheque before the bank closed.",
    "The dog chased the cat across the table; the cat jumped onto the shelf.",
    "Attention lets every token look at every other token and take what it needs.",
    "A naïve café owner said: «déjà vu» — twice!\nThen\tshe left at 10:45.",
    "def forward(self, x):\n    return self.proj(x) + x  # residual",
    "Queries ask, keys answer, values are what gets passed along.",
] * 4
TEXTS = {
    "plain": "The bank of the river.",
    "mixed": "A naïve café by the bank:\n\tdeposit 10 cheques — now!",
}


def byte_level_tokenizer(vocab_size: int, specials: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def wordpiece_tokenizer(vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=specials, show_progress=False
    )
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = processors.BertProcessing(
        ("[SEP]", tok.token_to_id("[SEP]")), ("[CLS]", tok.token_to_id("[CLS]"))
    )
    return tok


def randomise(model: torch.nn.Module, seed: int) -> None:
    """Weights large enough that attention patterns and logits differ visibly from uniform."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            lname = name.lower()
            if p.ndim == 1 and ("norm" in lname or "ln_" in lname):
                p.copy_(1.0 + 0.2 * noise) if name.endswith("weight") else p.copy_(0.1 * noise)
            elif p.ndim == 1:
                p.copy_(0.1 * noise)  # biases
            else:
                p.copy_(0.2 * noise)


def build(name: str, model_cls, config, tok: Tokenizer, *, dtype, shard: str | None, seed: int):
    folder = OUT / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    randomise(model, seed)
    model = model.to(dtype)
    kwargs = {"max_shard_size": shard} if shard else {}
    model.save_pretrained(folder, safe_serialization=True, **kwargs)
    for extra in ("generation_config.json",):
        (folder / extra).unlink(missing_ok=True)
    tok.save(str(folder / "tokenizer.json"))

    # the reference runs the stored (rounded) weights in float32, with eager attention
    ref_model = model_cls.from_pretrained(
        folder, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    arrays = {}
    for key, text in TEXTS.items():
        ids = tok.encode(text).ids
        with torch.no_grad():
            out = ref_model(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
        arrays[f"{key}_ids"] = np.array(ids, dtype=np.int64)
        arrays[f"{key}_attentions"] = torch.stack(out.attentions)[:, 0].numpy()  # (L, H, T, T)
        arrays[f"{key}_hidden_states"] = torch.stack(out.hidden_states)[:, 0].numpy()
        if getattr(out, "logits", None) is not None and name in ("gpt2", "llama", "qwen2"):
            arrays[f"{key}_logits"] = out.logits[0].numpy()  # (T, vocab)
    np.savez_compressed(folder / "reference.npz", **arrays)
    sizes = sum(f.stat().st_size for f in folder.iterdir())
    print(f"{name:10s} {sum(p.numel() for p in model.parameters()):8d} parameters, "
          f"{sizes / 1e3:7.1f} KB, {sorted(f.name for f in folder.iterdir())}")  # fmt: skip


def main() -> int:
    T = transformers
    bl = byte_level_tokenizer(400, ["<|endoftext|>"])
    build(
        "gpt2",
        T.GPT2LMHeadModel,
        T.GPT2Config(
            vocab_size=bl.get_vocab_size(),
            n_embd=32,
            n_layer=2,
            n_head=4,
            n_positions=64,
            bos_token_id=0,
            eos_token_id=0,
        ),
        bl,
        dtype=torch.float16,
        shard=None,
        seed=1,
    )

    llama_tok = byte_level_tokenizer(500, ["<s>", "</s>", "<unk>"])
    llama_tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 0)]
    )
    build(
        "llama",
        T.LlamaForCausalLM,
        T.LlamaConfig(
            vocab_size=llama_tok.get_vocab_size(),
            hidden_size=64,
            intermediate_size=96,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=128,
            rope_theta=500.0,
            rms_norm_eps=1e-5,
            tie_word_embeddings=False,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=None,
        ),
        llama_tok,
        dtype=torch.bfloat16,
        shard=None,
        seed=2,
    )

    qwen_tok = byte_level_tokenizer(450, ["<|endoftext|>"])
    build(
        "qwen2",
        T.Qwen2ForCausalLM,
        T.Qwen2Config(
            vocab_size=qwen_tok.get_vocab_size(),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=1,
            max_position_embeddings=128,
            rope_theta=1e6,
            rms_norm_eps=1e-6,
            tie_word_embeddings=True,
            use_sliding_window=False,
            bos_token_id=0,
            eos_token_id=0,
        ),
        qwen_tok,
        dtype=torch.float32,
        shard="40KB",
        seed=3,
    )

    wp = wordpiece_tokenizer(300)
    build(
        "distilbert",
        T.DistilBertForMaskedLM,
        T.DistilBertConfig(
            vocab_size=wp.get_vocab_size(),
            dim=32,
            n_layers=2,
            n_heads=4,
            hidden_dim=64,
            max_position_embeddings=64,
            pad_token_id=0,
        ),
        wp,
        dtype=torch.float16,
        shard=None,
        seed=4,
    )

    rb = byte_level_tokenizer(400, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    rb.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    build(
        "roberta",
        T.RobertaForMaskedLM,
        T.RobertaConfig(
            vocab_size=rb.get_vocab_size(),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            max_position_embeddings=66,
            type_vocab_size=1,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            layer_norm_eps=1e-5,
        ),
        rb,
        dtype=torch.float16,
        shard=None,
        seed=5,
    )
    meta = {"transformers": T.__version__, "torch": torch.__version__, "texts": TEXTS}
    (OUT / "references.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"total {total / 1e6:.2f} MB in {OUT}")
    return 0 if total <= 3_000_000 else 1


if __name__ == "__main__":
    sys.exit(main())
