"""The encoder refuses what it cannot run with a clear EncoderError (a ValueError)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from naive_bert import TINY_CONFIG, tiny_tensors, write_tiny_model

from explorer.core.encoder import EncoderError, HeadEdit, load_encoder, parse_config


@pytest.fixture
def folder(tmp_path):
    f = tmp_path / "m"
    write_tiny_model(f)
    return f


@pytest.fixture
def enc(folder):
    return load_encoder(folder)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model_type": "gpt2"}, "model_type 'gpt2' is not supported"),
        ({"architectures": ["GPT2LMHeadModel"]}, "not a BERT encoder"),
        ({"model_type": None, "architectures": None}, "cannot tell the model"),
        ({"hidden_act": "relu"}, "hidden_act 'relu'"),
        ({"hidden_act": "gelu_new"}, "hidden_act 'gelu_new'"),
        ({"position_embedding_type": "relative_key"}, "position_embedding_type"),
        ({"is_decoder": True}, "decoder"),
        ({"hidden_size": 18}, "not divisible"),
        ({"num_hidden_layers": 0}, "'num_hidden_layers' must be an integer >= 1"),
        ({"vocab_size": "many"}, "'vocab_size' must be an integer"),
        ({"num_attention_heads": None}, "missing 'num_attention_heads'"),
        ({"layer_norm_eps": 2.0}, "layer_norm_eps"),
    ],
)
def test_config_refusals(folder, change, message):
    cfg = {**TINY_CONFIG, **change}
    cfg = {k: v for k, v in cfg.items() if v is not None}
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(EncoderError, match=message) as info:
        load_encoder(folder)
    assert isinstance(info.value, ValueError)
    assert "config.json" in str(info.value)


def test_config_must_be_an_object():
    with pytest.raises(EncoderError, match="expected a JSON object"):
        parse_config([1, 2])


def test_task_heads_on_bert_are_accepted(tmp_path):
    cfg = {**TINY_CONFIG, "architectures": ["BertForMaskedLM"]}
    write_tiny_model(tmp_path / "mlm", cfg=cfg, prefix="bert.")
    assert load_encoder(tmp_path / "mlm").config.num_layers == 2


def test_corrupt_json(folder):
    (folder / "config.json").write_text('{"model_type": "bert", ')
    with pytest.raises(EncoderError, match="not readable JSON"):
        load_encoder(folder)


def test_missing_config(folder):
    (folder / "config.json").unlink()
    with pytest.raises(EncoderError, match=r"no config\.json"):
        load_encoder(folder)


def test_missing_folder(tmp_path):
    with pytest.raises(EncoderError, match="not a folder"):
        load_encoder(tmp_path / "nowhere")


def test_missing_tensor_is_named(tmp_path):
    t = tiny_tensors(TINY_CONFIG)
    del t["encoder.layer.1.intermediate.dense.weight"]
    del t["embeddings.LayerNorm.bias"]
    write_tiny_model(tmp_path / "m", tensors=t)
    with pytest.raises(EncoderError, match="2 tensor\\(s\\) missing") as info:
        load_encoder(tmp_path / "m")
    assert "encoder.layer.1.intermediate.dense.weight" in str(info.value)
    assert "embeddings.LayerNorm.bias" in str(info.value)


def test_wrong_shape_is_named(tmp_path):
    t = tiny_tensors(TINY_CONFIG)
    t["encoder.layer.0.attention.self.key.weight"] = np.ones((16, 8), np.float32)
    write_tiny_model(tmp_path / "m", tensors=t)
    with pytest.raises(EncoderError, match=r"key.weight is \(16, 8\), expected \(16, 16\)"):
        load_encoder(tmp_path / "m")


def test_config_and_weights_disagree(tmp_path):
    write_tiny_model(tmp_path / "m")
    cfg = {**TINY_CONFIG, "num_hidden_layers": 3}
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(EncoderError, match=r"encoder\.layer\.2"):
        load_encoder(tmp_path / "m")


def test_integer_and_non_finite_tensors(tmp_path):
    t = tiny_tensors(TINY_CONFIG)
    t["embeddings.LayerNorm.weight"] = np.ones(16, np.int32)
    write_tiny_model(tmp_path / "a", tensors=t)
    with pytest.raises(EncoderError, match="dtype int32"):
        load_encoder(tmp_path / "a")
    t = tiny_tensors(TINY_CONFIG)
    t["encoder.layer.0.output.dense.bias"][3] = np.nan
    write_tiny_model(tmp_path / "b", tensors=t)
    with pytest.raises(
        EncoderError, match=r"non-finite values in encoder\.layer\.0\.output\.dense"
    ):
        load_encoder(tmp_path / "b")


def test_float16_weights_are_widened(tmp_path):
    t = {
        k: v.astype(np.float16) if v.dtype == np.float32 else v
        for k, v in tiny_tensors(TINY_CONFIG).items()
    }
    write_tiny_model(tmp_path / "h", tensors=t)
    enc = load_encoder(tmp_path / "h")
    assert enc.word_embeddings.dtype == np.float32
    assert np.isfinite(enc.forward("the cat").pooled).all()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "missing"])
def test_corrupt_safetensors(folder, damage):
    path = folder / "model.safetensors"
    if damage == "garbage":
        path.write_bytes(b"\x07" * 64)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    match = "no model.safetensors" if damage == "missing" else "safetensors"
    with pytest.raises(EncoderError, match=match):
        load_encoder(folder)


def test_missing_vocab(folder):
    (folder / "vocab.txt").unlink()
    with pytest.raises(EncoderError, match=r"no tokenizer\.json or vocab\.txt"):
        load_encoder(folder)


def test_corrupt_tokenizer_json(folder):
    (folder / "tokenizer.json").write_text("{not json")
    with pytest.raises(EncoderError, match="not a readable tokenizer"):
        load_encoder(folder)


def test_vocab_larger_than_embeddings(folder):
    words = (folder / "vocab.txt").read_text().split()
    (folder / "vocab.txt").write_text("\n".join([*words, "extra1", "extra2"]))
    with pytest.raises(EncoderError, match="tokenizer has 20 tokens"):
        load_encoder(folder)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"inputs": [0, 99]}, r"token ids must lie in \[0, 18\)"),
        ({"inputs": [-1, 2]}, "token ids must lie"),
        ({"inputs": [[2, 3]]}, "1-D integer array"),
        ({"inputs": [2.0, 3.0]}, "1-D integer array"),
        ({"inputs": []}, "no tokens"),
        ({"inputs": [2] * 21}, "21 tokens exceed the model's limit of 20"),
        ({"inputs": [2, 3], "attention_mask": [0, 0]}, "masks every token"),
        ({"inputs": [2, 3], "attention_mask": [1, 1, 1]}, "attention_mask must have shape"),
        ({"inputs": [2, 3], "attention_mask": [1, 5]}, "only 0/1"),
        ({"inputs": [2, 3], "type_ids": [0, 2]}, "type_ids"),
        ({"inputs": 42}, "1-D integer array"),
    ],
)
def test_bad_inputs(enc, kwargs, message):
    with pytest.raises(EncoderError, match=message):
        enc.forward(kwargs.pop("inputs"), **kwargs)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (HeadEdit.ablate(2, 0), r"head \(2, 0\); the model has 2 layers × 4 heads"),
        (HeadEdit.ablate(0, 4), r"head \(0, 4\)"),
        (HeadEdit.scaled(0, 0, float("nan")), "scale must be finite"),
        (HeadEdit(0, 0, w_q=np.ones((16, 5))), r"w_q has shape \(16, 5\)"),
        (HeadEdit(0, 0, w_k=np.ones((17, 4)), b_k=np.ones(4)), "b_k given twice"),
        (HeadEdit(0, 0, b_v=np.ones(3)), r"b_v must have shape \(4,\)"),
        (HeadEdit(0, 0, w_v=np.full((16, 4), np.inf)), "non-finite"),
        ("ablate", "HeadEdit objects"),
    ],
)
def test_bad_edits(enc, edit, message):
    with pytest.raises(EncoderError, match=message):
        enc.forward("the cat", edits=[edit])


def test_duplicate_edit(enc):
    with pytest.raises(EncoderError, match="edited twice"):
        enc.forward("the cat", edits=[HeadEdit.ablate(1, 1), HeadEdit.scaled(1, 1, 2.0)])


def test_bad_base(enc):
    base = enc.forward("the cat")
    edited = enc.forward("the cat", edits=[HeadEdit.ablate(0, 0)])
    with pytest.raises(EncoderError, match="other tokens"):
        enc.forward("the dog", edits=[HeadEdit.ablate(1, 0)], base=base)
    with pytest.raises(EncoderError, match="unedited"):
        enc.forward("the cat", edits=[HeadEdit.ablate(1, 0)], base=edited)


def test_bad_head_lookups(enc):
    with pytest.raises(EncoderError, match="no head"):
        enc.head_weights(0, 9)
    with pytest.raises(EncoderError, match="layer 5 out of range"):
        enc.forward("the cat").layer_input(5)
    with pytest.raises(EncoderError, match="must be a str"):
        enc.tokenize(b"bytes")
    with pytest.raises(EncoderError, match="unknown head edit fields"):
        HeadEdit.from_dict({"layer": 0, "head": 0, "bias": 1})
    with pytest.raises(EncoderError, match="needs 'layer' and 'head'"):
        HeadEdit.from_dict({"scale": 1})


def test_outputs_are_read_only(enc):
    out = enc.forward("the cat")
    with pytest.raises(ValueError, match="read-only"):
        out.attentions[0, 0, 0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        enc.layers[0].w_qkv[0, 0] = 1.0
