"""Hostile model folders, built at test time: every one is refused with one clear EncoderError.

Nothing large is written: big files are sparse (``truncate``), so a refusal "by size, without
reading" is also a refusal within a fraction of a second. Each refusal must name the file at
fault, fit on one line, and leave no other exception type to escape to the window.
"""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from naive_bert import TINY_CONFIG, TINY_VOCAB, tiny_tensors, write_tiny_model

from explorer.core import encoder_files
from explorer.core.encoder import EncoderError, load_encoder
from explorer.core.encoder_config import (
    CONFIG_LIMITS,
    MAX_TOTAL_HEADS,
    expected_shapes,
    parse_config,
)
from explorer.core.encoder_files import (
    MAX_CONFIG_BYTES,
    MAX_HEADER_BYTES,
    MAX_JSON_DEPTH,
    MAX_TOKENIZER_CONFIG_BYTES,
    MAX_TOKENIZER_JSON_BYTES,
    MAX_VOCAB_BYTES,
    rust_failure,
    size_text,
)
from explorer.core.encoder_forward import forward_bytes

GB = 1 << 30


def refused(folder: Path, match: str, *, blame: str) -> str:
    """Load ``folder``, expect an EncoderError matching ``match`` that names ``blame``."""
    with pytest.raises(EncoderError, match=match) as info:
        load_encoder(folder)
    message = str(info.value)
    assert str(folder / blame) in message, message
    assert "\n" not in message and len(message) < 400 + len(str(folder)), message
    return message


def with_config(folder: Path, **change) -> Path:
    write_tiny_model(folder)
    (folder / "config.json").write_text(json.dumps({**TINY_CONFIG, **change}))
    return folder


def sparse(path: Path, size: int, start: bytes = b"") -> Path:
    """A file of ``size`` bytes that starts with ``start`` and occupies almost no disk."""
    with open(path, "wb") as f:
        f.write(start)
        f.truncate(size)
    return path


def write_safetensors(path: Path, header, data_len: int, *, header_len: int | None = None):
    """A safetensors file with this ``header`` and ``data_len`` bytes of (sparse) data."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw) if header_len is None else header_len))
        f.write(raw)
        f.truncate(8 + len(raw) + data_len)
    return path


def consistent_header(cfg: dict, dtype: str = "F16", prefix: str = "") -> tuple[dict, int]:
    """A header declaring every tensor ``cfg`` needs, back to back, and its data length."""
    itemsize = {"F16": 2, "F32": 4}[dtype]
    header, offset = {}, 0
    for name, shape in expected_shapes(parse_config(cfg)).items():
        n = math.prod(shape) * itemsize
        header[prefix + name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [offset, offset + n],
        }
        offset += n
    return header, offset


# ------------------------------------------------------------------ config.json
@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"layer_norm_eps": None}, "'layer_norm_eps' must be a number, got None"),
        ({"layer_norm_eps": "1e-12"}, "'layer_norm_eps' must be a number, got '1e-12'"),
        ({"layer_norm_eps": True}, "'layer_norm_eps' must be a number"),
        ({"layer_norm_eps": [1e-12]}, "'layer_norm_eps' must be a number"),
        ({"layer_norm_eps": 10**400}, "layer_norm_eps .* is out of range"),  # float() overflows
        ({"layer_norm_eps": float("nan")}, "layer_norm_eps nan is out of range"),
        ({"layer_norm_eps": -1e-12}, "out of range"),
        ({"max_position_embeddings": 1e30}, "'max_position_embeddings' must be an integer"),
        ({"max_position_embeddings": 10**30}, "more than the 65536"),
        ({"num_hidden_layers": 1e9}, "'num_hidden_layers' must be an integer"),
        ({"hidden_size": 1 << 40}, "'hidden_size' is 1099511627776, more than the 16384"),
        ({"vocab_size": -5}, "'vocab_size' must be an integer >= 1"),
        ({"num_attention_heads": 10**4000}, "more than the 256"),
        ({"model_type": ["bert"] * 10_000}, "model_type .* is not supported"),
        ({"hidden_act": {"name": "gelu"}}, "hidden_act .* is not supported"),
        ({"architectures": "BertModel"}, "not a BERT encoder"),
    ],
)
def test_bad_config_values_are_encoder_errors(tmp_path, change, match):
    message = refused(with_config(tmp_path / "m", **change), match, blame="config.json")
    assert len(message) < 400  # a huge value is shown cut short


def test_a_billion_layers_fails_at_once(tmp_path):
    folder = with_config(tmp_path / "m", num_hidden_layers=1_000_000_000)
    t0 = time.perf_counter()
    refused(folder, "'num_hidden_layers' is 1000000000, more than the 128", blame="config.json")
    assert time.perf_counter() - t0 < 10.0  # generous for a busy machine; it was 47 s


def test_layers_times_heads_is_bounded():
    cfg = {**TINY_CONFIG, "num_hidden_layers": 128, "num_attention_heads": 32, "hidden_size": 32}
    assert parse_config(cfg).num_layers * parse_config(cfg).num_heads == MAX_TOTAL_HEADS
    cfg["num_attention_heads"] = cfg["hidden_size"] = 64
    with pytest.raises(EncoderError, match="128 layers × 64 heads make 8192 heads, more than"):
        parse_config(cfg)


def test_forward_memory_is_checked_before_allocating(tmp_path, monkeypatch):
    """128 layers × 16 heads of 2048 × 2048 attention weights: 34 GB for one text."""
    cfg = {
        **TINY_CONFIG,
        "num_hidden_layers": 128,
        "num_attention_heads": 16,
        "max_position_embeddings": 2048,
    }
    write_tiny_model(tmp_path / "m", cfg=cfg)
    enc = load_encoder(tmp_path / "m")
    assert forward_bytes(enc.config, 2048) == 4 * (129 * 2048 * 16 + 128 * 16 * 2048 * (2048 + 1))
    monkeypatch.setattr(encoder_files, "available_memory", lambda: 1 << 30)
    t0 = time.perf_counter()
    with pytest.raises(EncoderError, match=r"2048 tokens need about 34\.4 GB .* 1\.1 GB is"):
        enc.forward(np.full(2048, 5))
    assert time.perf_counter() - t0 < 10.0  # generous for a busy machine; it was 47 s
    # a short text stays below the check and runs
    assert enc.forward("the cat").attentions.shape == (128, 16, 4, 4)


@pytest.mark.parametrize("key", sorted(CONFIG_LIMITS))
def test_every_size_limit_is_inclusive(key):
    cfg = {**TINY_CONFIG, key: CONFIG_LIMITS[key]}
    if key == "num_attention_heads":
        cfg["hidden_size"] = 4 * CONFIG_LIMITS[key]  # divisible by the heads
    parse_config(cfg)  # the limit itself is accepted (sizes only: nothing is allocated)
    cfg[key] = CONFIG_LIMITS[key] + 1
    with pytest.raises(EncoderError, match=f"'{key}' is {CONFIG_LIMITS[key] + 1}, more than"):
        parse_config(cfg)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 200, 100_000])
def test_deeply_nested_config(tmp_path, depth):
    """One level over the limit (checked after parsing), and far over (parser recursion)."""
    folder = tmp_path / "m"
    write_tiny_model(folder)
    nested = '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)
    text = json.dumps(TINY_CONFIG)[:-1] + ', "task_specific_params": ' + nested + "}"
    (folder / "config.json").write_text(text)
    refused(folder, "nested too deeply", blame="config.json")


def test_nesting_up_to_the_limit_is_read(tmp_path):
    folder = tmp_path / "m"
    write_tiny_model(folder)
    depth = MAX_JSON_DEPTH - 1  # plus the config object itself
    nested = '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)
    text = json.dumps(TINY_CONFIG)[:-1] + ', "task_specific_params": ' + nested + "}"
    (folder / "config.json").write_text(text)
    assert load_encoder(folder).config.num_layers == 2


def test_integer_beyond_pythons_digit_limit(tmp_path):
    folder = tmp_path / "m"
    write_tiny_model(folder)
    text = json.dumps(TINY_CONFIG).replace('"hidden_size": 16', '"hidden_size": ' + "9" * 5000)
    (folder / "config.json").write_text(text)
    refused(folder, "not readable JSON", blame="config.json")


def test_huge_sparse_config_is_refused_without_reading(tmp_path):
    folder = tmp_path / "m"
    write_tiny_model(folder)
    sparse(folder / "config.json", 8 * GB, json.dumps(TINY_CONFIG).encode())
    t0 = time.perf_counter()
    refused(folder, r"8\.6 GB is more than the 1\.0 MB .* it was not read", blame="config.json")
    assert time.perf_counter() - t0 < 10.0  # generous for a busy machine; it was 47 s


def test_config_just_over_the_limit(tmp_path):
    folder = tmp_path / "m"
    write_tiny_model(folder)
    text = json.dumps({**TINY_CONFIG, "note": ""})
    pad = MAX_CONFIG_BYTES + 1 - len(text)
    (folder / "config.json").write_text(text.replace('"note": ""', '"note": "' + "x" * pad + '"'))
    assert (folder / "config.json").stat().st_size == MAX_CONFIG_BYTES + 1
    refused(folder, "more than the", blame="config.json")


# ------------------------------------------------------------------ tokenizer files
@pytest.mark.parametrize(
    ("name", "limit"),
    [("tokenizer.json", MAX_TOKENIZER_JSON_BYTES), ("vocab.txt", MAX_VOCAB_BYTES)],
)
def test_huge_sparse_tokenizer_files_are_refused_without_reading(tmp_path, name, limit):
    folder = tmp_path / "m"
    write_tiny_model(folder)
    sparse(folder / name, 4 * GB, b"[PAD]\n")
    t0 = time.perf_counter()
    refused(folder, "it was not read", blame=name)
    assert time.perf_counter() - t0 < 10.0  # generous for a busy machine; it was 47 s
    sparse(folder / name, limit + 1, b"[PAD]\n")
    refused(folder, "it was not read", blame=name)


def test_deep_tokenizer_config_is_blamed_on_itself(tmp_path):
    folder = tmp_path / "m"
    write_tiny_model(folder)
    (folder / "tokenizer_config.json").write_text("[" * 100_000 + "]" * 100_000)
    message = refused(folder, "nested too deeply", blame="tokenizer_config.json")
    assert "vocab.txt" not in message


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"{not json", "not readable JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"do_lower_case": "no"}', "'do_lower_case' must be true or false"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_bad_tokenizer_config(tmp_path, content, match):
    folder = tmp_path / "m"
    write_tiny_model(folder)
    (folder / "tokenizer_config.json").write_bytes(content)
    refused(folder, match, blame="tokenizer_config.json")


def test_huge_sparse_tokenizer_config(tmp_path):
    folder = tmp_path / "m"
    write_tiny_model(folder)
    sparse(folder / "tokenizer_config.json", MAX_TOKENIZER_CONFIG_BYTES + 1, b"{}")
    refused(folder, "it was not read", blame="tokenizer_config.json")


def test_tokenizer_config_is_honoured(tmp_path):
    folder = tmp_path / "m"
    write_tiny_model(folder)
    (folder / "tokenizer_config.json").write_text('{"do_lower_case": false}')
    assert "[UNK]" in load_encoder(folder).tokenize("The CAT").tokens
    (folder / "tokenizer_config.json").write_text('{"do_lower_case": true}')
    assert load_encoder(folder).tokenize("The CAT").tokens == ("[CLS]", "the", "cat", "[SEP]")


def test_deep_tokenizer_json_is_blamed_on_itself(tmp_path):
    folder = tmp_path / "m"
    write_tiny_model(folder)
    (folder / "tokenizer.json").write_text('{"model": ' + "[" * 50_000 + "]" * 50_000 + "}")
    refused(folder, "not a readable tokenizer", blame="tokenizer.json")


# ------------------------------------------------------------------ safetensors
def test_header_length_beyond_the_limit(tmp_path):
    folder = tmp_path / "m"
    write_tiny_model(folder)
    write_safetensors(folder / "model.safetensors", {}, 0, header_len=(1 << 64) - 1)
    refused(folder, "header claims .* more than the 16.8 MB allowed", blame="model.safetensors")


def test_header_length_beyond_the_file(tmp_path):
    folder = tmp_path / "m"
    write_tiny_model(folder)
    write_safetensors(folder / "model.safetensors", {}, 0, header_len=1 << 20)
    refused(folder, "but the file has only", blame="model.safetensors")


def test_oversized_sparse_header(tmp_path):
    folder = tmp_path / "m"
    write_tiny_model(folder)
    path = folder / "model.safetensors"
    with open(path, "wb") as f:  # a header of 64 MiB of (sparse) zero bytes
        f.write(struct.pack("<Q", 64 << 20))
        f.truncate(8 + (64 << 20))
    t0 = time.perf_counter()
    refused(folder, "more than the 16.8 MB allowed", blame="model.safetensors")
    assert time.perf_counter() - t0 < 10.0  # generous for a busy machine; it was 47 s
    assert MAX_HEADER_BYTES == 16 << 20


@pytest.mark.parametrize(
    ("header", "match"),
    [
        (b"[1, 2, 3]", "header is not a JSON object"),
        (b"{" + b'"a": {' * 100 + b"}" * 101, "nested too deeply"),
        (b'{"x": [' + b"[" * 100_000, "nested too deeply|not readable JSON"),
        (b"\xff" * 16, "not UTF-8"),
    ],
)
def test_unreadable_headers(tmp_path, header, match):
    folder = tmp_path / "m"
    write_tiny_model(folder)
    write_safetensors(folder / "model.safetensors", header, 0)
    refused(folder, match, blame="model.safetensors")


WORD = "embeddings.word_embeddings.weight"


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        ({"data_offsets": [0, 1 << 40]}, "lies at bytes 0–1099511627776 of a data section"),
        ({"data_offsets": [-8, 0]}, "lies at bytes"),
        ({"data_offsets": [16, 8]}, "lies at bytes"),
        ({"data_offsets": [0, 3]}, "has 3 bytes for 288 float16 values"),
        ({"data_offsets": "0-576"}, "invalid data_offsets"),
        ({"data_offsets": [0.0, 576.0]}, "invalid data_offsets"),
        ({"dtype": "BF16"}, "dtype bfloat16, expected float16, float32 or float64"),
        ({"dtype": "I32"}, "dtype int32, expected float"),
        ({"dtype": "Q4"}, "unknown dtype 'Q4'"),
        ({"shape": [18, -16]}, r"is \(18, -16\), expected \(18, 16\)"),
        ({"shape": "18x16"}, "invalid shape '18x16'"),
        ({"shape": None}, "invalid shape None"),
        ({"shape": [1] * 9}, r"is \(1, 1, 1, 1, 1, 1, 1, 1, 1\), expected \(18, 16\)"),
        ({"shape": [1 << 62, 1 << 62]}, r"is \(4611686018427387904, 461168601842738.*\(18, 16\)"),
        ({"shape": [16, 18]}, r"is \(16, 18\), expected \(18, 16\)"),
    ],
)
def test_inconsistent_headers(tmp_path, damage, match):
    folder = tmp_path / "m"
    write_tiny_model(folder)
    header, data_len = consistent_header(TINY_CONFIG)
    header[WORD] = {**header[WORD], **damage}
    write_safetensors(folder / "model.safetensors", header, data_len)
    refused(folder, match, blame="model.safetensors")


def test_header_entry_that_is_not_an_object(tmp_path):
    folder = tmp_path / "m"
    write_tiny_model(folder)
    header, data_len = consistent_header(TINY_CONFIG)
    header[WORD] = [1, 2]
    write_safetensors(folder / "model.safetensors", header, data_len)
    refused(folder, "has no valid header entry", blame="model.safetensors")


def test_cut_short_file_is_refused_from_its_header(tmp_path):
    folder = tmp_path / "m"
    write_tiny_model(folder)
    path = folder / "model.safetensors"
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 4)
    refused(folder, "the file is cut short or its header is wrong", blame="model.safetensors")


def test_consistent_sparse_file_is_read_as_zeros(tmp_path):
    """The header checks accept a consistent file: a sparse one reads as zero weights."""
    folder = tmp_path / "m"
    write_tiny_model(folder)
    header, data_len = consistent_header(TINY_CONFIG, "F32", prefix="bert.")
    write_safetensors(folder / "model.safetensors", header, data_len)
    enc = load_encoder(folder)
    assert not enc.word_embeddings.any() and enc.word_embeddings.shape == (18, 16)


def test_model_larger_than_the_memory_is_refused_before_reading(tmp_path, monkeypatch):
    folder = tmp_path / "m"
    write_tiny_model(folder)
    monkeypatch.setattr(encoder_files, "available_memory", lambda: 10_000)
    message = refused(folder, "only 10.0 KB is available", blame="config.json")
    # counted independently: every tensor the tiny model was written with, bar position_ids
    n = sum(a.size for k, a in tiny_tensors(TINY_CONFIG).items() if k != "embeddings.position_ids")
    assert f"{n:,} parameters need about {size_text(8 * n)} of memory" in message
    monkeypatch.setattr(encoder_files, "available_memory", lambda: 8 * n)
    assert load_encoder(folder).config.num_layers == 2  # exactly enough is enough


def test_huge_consistent_sparse_model_is_refused_by_memory(tmp_path):
    """A consistent 34 GB model (sparse on disk) is refused for this machine's real memory."""
    cfg = {
        **TINY_CONFIG,
        "vocab_size": CONFIG_LIMITS["vocab_size"],
        "hidden_size": CONFIG_LIMITS["hidden_size"],
        "num_attention_heads": 16,
        "num_hidden_layers": 1,
    }
    header, data_len = consistent_header(cfg, "F16")
    need = 8 * data_len // 2
    free = encoder_files.available_memory()
    if free is None or free >= need:
        pytest.skip("this computer has enough memory for the model; nothing to refuse")
    folder = tmp_path / "m"
    write_tiny_model(folder, cfg=TINY_CONFIG)
    (folder / "config.json").write_text(json.dumps(cfg))
    write_safetensors(folder / "model.safetensors", header, data_len)
    t0 = time.perf_counter()
    refused(folder, r"parameters need about 1[0-9]{2}\.[0-9] GB of memory", blame="config.json")
    assert time.perf_counter() - t0 < 10.0  # generous for a busy machine; it was 47 s


def test_rust_failure_matches_panics_only():
    class PanicException(BaseException):  # the name pyo3 gives its panic type
        pass

    assert rust_failure(PanicException("boom"))
    for exc in (KeyboardInterrupt(), SystemExit(1), GeneratorExit()):
        assert not rust_failure(exc)


_PANIC_SCRIPT = r"""
import resource, sys
from explorer.core import encoder_files
from explorer.core.encoder import EncoderError, load_encoder

def vm_size():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

folder, file_size, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
# room to map the file, not to copy its largest tensor
limit = vm_size() + file_size + (512 << 20)
resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
if mode == "unknown-memory":
    encoder_files.available_memory = lambda: None  # as if the memory could not be measured
try:
    load_encoder(folder)
    print("LOADED")
except EncoderError as exc:
    print("REFUSED " + str(exc))
"""


@pytest.fixture
def gigabyte_model(tmp_path) -> Path:
    """A consistent model whose word embeddings take 1 GiB (sparse on disk)."""
    cfg = {
        **TINY_CONFIG,
        "vocab_size": 1 << 18,
        "hidden_size": 1024,
        "num_attention_heads": 16,
        "num_hidden_layers": 1,
        "intermediate_size": 64,
    }
    folder = tmp_path / "gig"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "vocab.txt").write_text("\n".join(TINY_VOCAB) + "\n")
    header, data_len = consistent_header(cfg, "F32")
    write_safetensors(folder / "model.safetensors", header, data_len)
    return folder


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses RLIMIT_AS and /proc")
@pytest.mark.parametrize("mode", ["measured-memory", "unknown-memory"])
def test_reader_panic_becomes_an_encoder_error(gigabyte_model, mode):
    """Under an address-space limit the copy of a 1 GiB tensor cannot be allocated.

    With the memory measured, the loader refuses before reading. Without (as on a system we
    cannot measure), the Rust reader panics with pyo3's PanicException, a BaseException; it
    must still come out as an EncoderError naming the file.
    """
    size = (gigabyte_model / "model.safetensors").stat().st_size
    out = subprocess.run(
        [sys.executable, "-c", _PANIC_SCRIPT, str(gigabyte_model), str(size), mode],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    line = out.stdout.strip().splitlines()[-1]
    path = str(gigabyte_model / "model.safetensors")
    if mode == "measured-memory":
        assert line.startswith("REFUSED ") and "parameters need about" in line, line
        assert "is available" in line
    else:
        assert line.startswith("REFUSED " + path), line
        assert "the safetensors reader failed on this file" in line
        assert "PanicException" in out.stderr or "panicked" in out.stderr
