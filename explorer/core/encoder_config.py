"""Reading a BERT encoder's ``config.json`` and ``model.safetensors``, with clear refusals.

Anything we cannot run raises :class:`EncoderError` (a ``ValueError``) whose message names the
file and the problem: another architecture, an activation or position embedding we do not
implement, a size outside :data:`CONFIG_LIMITS`, inconsistent sizes, missing or misshapen
tensors, a model too large for the memory available, or a corrupt file. Files are read through
:mod:`~explorer.core.encoder_files`, which bounds every size before reading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer.core.encoder_files import (
    MAX_CONFIG_BYTES,
    EncoderError,
    check_memory,
    read_json,
    read_safetensors_header,
    reading_safetensors,
    shown,
    tensor_problem,
)

WEIGHTS_FILE = "model.safetensors"
SUPPORTED_MODEL_TYPES = ("bert",)
# Architectures whose encoder weights are a plain BertModel (heads on top are ignored).
BERT_ARCHITECTURES = (
    "BertModel",
    "BertForMaskedLM",
    "BertForPreTraining",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertForQuestionAnswering",
    "BertForMultipleChoice",
    "BertForNextSentencePrediction",
)
SUPPORTED_ACTIVATIONS = ("gelu",)  # exact erf GELU, as BERT uses

#: Largest value accepted for each size in ``config.json``. Far above any published BERT
#: (BERT-large: 24 layers, 16 heads, width 1024, feed-forward 4096, 512 positions; multilingual
#: vocabularies reach 250 000), and small enough that a hostile file fails at once instead of
#: building millions of tensor names. The memory check then bounds their product.
CONFIG_LIMITS = {
    "vocab_size": 1 << 20,  # 1 048 576 tokens
    "hidden_size": 1 << 14,  # 16 384
    "num_hidden_layers": 128,
    "num_attention_heads": 256,
    "intermediate_size": 1 << 16,  # 65 536
    "max_position_embeddings": 1 << 16,  # 65 536 positions
    "type_vocab_size": 1024,
    "pad_token_id": (1 << 20) - 1,
}
#: Layers × heads: every head is a thumbnail in the Model tab (BERT-large has 384).
MAX_TOTAL_HEADS = 4096


@dataclass(frozen=True)
class EncoderConfig:
    """The architecture of a BERT encoder, from ``config.json``."""

    vocab_size: int
    hidden_size: int  # d_model
    num_layers: int
    num_heads: int
    intermediate_size: int  # feed-forward width
    max_positions: int  # longest sequence the position table covers
    type_vocab_size: int
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0

    @property
    def d_head(self) -> int:
        """Width of one head: ``hidden_size // num_heads``."""
        return self.hidden_size // self.num_heads


def _int_field(raw: dict, key: str, source: str, *, default=None, minimum: int = 1) -> int:
    value = raw.get(key, default)
    if value is None:
        raise EncoderError(f"{source}: missing '{key}'")
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise EncoderError(f"{source}: '{key}' must be an integer >= {minimum}, got {shown(value)}")
    if value > CONFIG_LIMITS[key]:
        raise EncoderError(
            f"{source}: '{key}' is {shown(value, 30)}, more than the {CONFIG_LIMITS[key]} "
            "the explorer accepts"
        )
    return value


def _named(value) -> str:
    """A name from config.json for a message: strings as they are (cut at 40), else repr."""
    return shown(value, 40)[1:-1] if isinstance(value, str) else shown(value, 40)


def _eps_field(raw: dict, source: str) -> float:
    """``layer_norm_eps``: a number with 0 < eps < 1 (default 1e-12)."""
    value = raw.get("layer_norm_eps", 1e-12)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EncoderError(f"{source}: 'layer_norm_eps' must be a number, got {shown(value)}")
    try:
        eps = float(value)
    except OverflowError:  # an integer too large for a float
        eps = math.inf
    if not (0.0 < eps < 1.0):
        raise EncoderError(f"{source}: layer_norm_eps {shown(value, 30)} is out of range (0, 1)")
    return eps


def parse_config(raw: dict, source: str = "config.json") -> EncoderConfig:
    """Validate a Hugging Face ``config.json`` dict and return an :class:`EncoderConfig`.

    Parameters
    ----------
    raw : dict
        The parsed JSON.
    source : str
        Name used in error messages.

    Raises
    ------
    EncoderError
        When the model is not a BERT encoder we can run (other architecture, activation,
        position embedding type, a size outside :data:`CONFIG_LIMITS`, or inconsistent
        sizes).
    """
    if not isinstance(raw, dict):
        raise EncoderError(f"{source}: expected a JSON object, got {type(raw).__name__}")
    model_type = raw.get("model_type")
    archs = raw.get("architectures") or []
    if model_type is None and not archs:
        raise EncoderError(f"{source}: no 'model_type' or 'architectures'; cannot tell the model")
    if model_type is not None and model_type not in SUPPORTED_MODEL_TYPES:
        raise EncoderError(
            f"{source}: model_type '{_named(model_type)}' is not supported; "
            f"only BERT encoders ({', '.join(SUPPORTED_MODEL_TYPES)}) can be run"
        )
    if not isinstance(archs, list) or any(a not in BERT_ARCHITECTURES for a in archs):
        raise EncoderError(
            f"{source}: architectures {shown(archs)} are not a BERT encoder; "
            f"supported: {', '.join(BERT_ARCHITECTURES)}"
        )
    act = raw.get("hidden_act", "gelu")
    if act not in SUPPORTED_ACTIVATIONS:
        raise EncoderError(
            f"{source}: hidden_act '{_named(act)}' is not supported (only exact 'gelu')"
        )
    pos_type = raw.get("position_embedding_type", "absolute")
    if pos_type != "absolute":
        raise EncoderError(
            f"{source}: position_embedding_type '{_named(pos_type)}' is not supported "
            "(only 'absolute')"
        )
    if raw.get("is_decoder") or raw.get("add_cross_attention"):
        raise EncoderError(f"{source}: decoder configurations are not supported")
    cfg = EncoderConfig(
        vocab_size=_int_field(raw, "vocab_size", source),
        hidden_size=_int_field(raw, "hidden_size", source),
        num_layers=_int_field(raw, "num_hidden_layers", source),
        num_heads=_int_field(raw, "num_attention_heads", source),
        intermediate_size=_int_field(raw, "intermediate_size", source),
        max_positions=_int_field(raw, "max_position_embeddings", source),
        type_vocab_size=_int_field(raw, "type_vocab_size", source, default=2),
        layer_norm_eps=_eps_field(raw, source),
        pad_token_id=_int_field(raw, "pad_token_id", source, default=0, minimum=0),
    )
    if cfg.num_layers * cfg.num_heads > MAX_TOTAL_HEADS:
        raise EncoderError(
            f"{source}: {cfg.num_layers} layers × {cfg.num_heads} heads make "
            f"{cfg.num_layers * cfg.num_heads} heads, more than the {MAX_TOTAL_HEADS} the "
            "explorer accepts"
        )
    if cfg.hidden_size % cfg.num_heads:
        raise EncoderError(
            f"{source}: hidden_size {cfg.hidden_size} is not divisible by "
            f"num_attention_heads {cfg.num_heads}"
        )
    return cfg


def read_config(folder) -> EncoderConfig:
    """Read and validate ``folder/config.json`` (cheap: no weights are touched).

    The file is refused by size (:data:`~explorer.core.encoder_files.MAX_CONFIG_BYTES`)
    before it is read, and by nesting depth after.
    """
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise EncoderError(f"{folder}: no config.json")
    return parse_config(read_json(path, MAX_CONFIG_BYTES), str(path))


def expected_shapes(cfg: EncoderConfig) -> dict[str, tuple[int, ...]]:
    """Tensor names (without the ``bert.`` prefix) and their ``(out, in)`` shapes."""
    H, inter = cfg.hidden_size, cfg.intermediate_size
    shapes = {
        "embeddings.word_embeddings.weight": (cfg.vocab_size, H),
        "embeddings.position_embeddings.weight": (cfg.max_positions, H),
        "embeddings.token_type_embeddings.weight": (cfg.type_vocab_size, H),
        "embeddings.LayerNorm.weight": (H,),
        "embeddings.LayerNorm.bias": (H,),
    }
    for i in range(cfg.num_layers):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            shapes[f"{p}attention.self.{name}.weight"] = (H, H)
            shapes[f"{p}attention.self.{name}.bias"] = (H,)
        shapes[f"{p}attention.output.dense.weight"] = (H, H)
        shapes[f"{p}attention.output.dense.bias"] = (H,)
        shapes[f"{p}attention.output.LayerNorm.weight"] = (H,)
        shapes[f"{p}attention.output.LayerNorm.bias"] = (H,)
        shapes[f"{p}intermediate.dense.weight"] = (inter, H)
        shapes[f"{p}intermediate.dense.bias"] = (inter,)
        shapes[f"{p}output.dense.weight"] = (H, inter)
        shapes[f"{p}output.dense.bias"] = (H,)
        shapes[f"{p}output.LayerNorm.weight"] = (H,)
        shapes[f"{p}output.LayerNorm.bias"] = (H,)
    return shapes


def parameter_count(cfg: EncoderConfig) -> int:
    """Number of parameters in the tensors the encoder reads (Python int, never overflows)."""
    return sum(math.prod(shape) for shape in expected_shapes(cfg).values())


def check_weights(path: Path, cfg: EncoderConfig) -> str:
    """Check ``model.safetensors`` against ``cfg`` from its header alone, before any reading.

    The memory the model needs must be available, and every tensor the encoder needs must be
    in the header with the shape ``cfg`` implies, a float dtype and a byte range that lies
    inside the file and holds exactly that many values.

    Returns
    -------
    str
        The tensor name prefix: ``"bert."`` for checkpoints saved from a task model
        (``BertForMaskedLM``, ...), else ``""``.
    """
    check_memory(parameter_count(cfg), path.parent / "config.json")
    header, data_len = read_safetensors_header(path)
    shapes = expected_shapes(cfg)
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in header else ""
    missing = [n for n in shapes if prefix + n not in header]
    if missing:
        names = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise EncoderError(
            f"{path}: {len(missing)} tensor(s) missing for a {cfg.num_layers}-layer "
            f"BERT encoder: {names}"
        )
    wrong = []
    for n, shape in shapes.items():
        entry = header[prefix + n]
        got = entry.get("shape") if isinstance(entry, dict) else None
        if isinstance(got, list) and got != list(shape):
            wrong.append(f"{n} is {shown(tuple(got), 40)}, expected {shape}")
    if wrong:
        raise EncoderError(
            f"{path}: tensor shapes do not match config.json: " + "; ".join(wrong[:8])
        )
    for n, shape in shapes.items():
        problem = tensor_problem(n, header[prefix + n], data_len, shape)
        if problem:
            raise EncoderError(f"{path}: {problem}")
    return prefix


def read_tensors(path: Path, cfg: EncoderConfig, prefix: str | None = None) -> dict:
    """Read the tensors the encoder needs as float32, checking names, shapes and dtypes.

    Parameters
    ----------
    path : Path
        The ``model.safetensors`` file.
    cfg : EncoderConfig
    prefix : str, optional
        What :func:`check_weights` returned; it is called when not given.

    Returns
    -------
    dict of str to ndarray
        Names without the prefix; float32 arrays of the shapes :func:`expected_shapes` gives.
    """
    from safetensors import safe_open

    if prefix is None:
        prefix = check_weights(path, cfg)
    shapes = expected_shapes(cfg)
    tensors = {}
    with reading_safetensors(path), safe_open(str(path), framework="numpy") as f:
        for n in shapes:
            a = f.get_tensor(prefix + n)
            if a.dtype.kind != "f":
                raise EncoderError(f"{path}: tensor {n} has dtype {a.dtype}, expected float")
            tensors[n] = np.asarray(a, dtype=np.float32)
    bad = [n for n, a in tensors.items() if not np.isfinite(a).all()]
    if bad:
        raise EncoderError(f"{path}: non-finite values in {', '.join(bad[:8])}")
    return tensors
