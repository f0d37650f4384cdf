"""Reading a BERT encoder's ``config.json`` and ``model.safetensors``, with clear refusals.

Anything we cannot run raises :class:`EncoderError` (a ``ValueError``) whose message names the
file and the problem: another architecture, an activation or position embedding we do not
implement, inconsistent sizes, missing or misshapen tensors, or a corrupt file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class EncoderError(ValueError):
    """A model folder or an input that the encoder cannot handle, with a message for the user."""


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
        raise EncoderError(f"{source}: '{key}' must be an integer >= {minimum}, got {value!r}")
    return value


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
        position embedding type, or inconsistent sizes).
    """
    if not isinstance(raw, dict):
        raise EncoderError(f"{source}: expected a JSON object, got {type(raw).__name__}")
    model_type = raw.get("model_type")
    archs = raw.get("architectures") or []
    if model_type is None and not archs:
        raise EncoderError(f"{source}: no 'model_type' or 'architectures'; cannot tell the model")
    if model_type is not None and model_type not in SUPPORTED_MODEL_TYPES:
        raise EncoderError(
            f"{source}: model_type '{model_type}' is not supported; "
            f"only BERT encoders ({', '.join(SUPPORTED_MODEL_TYPES)}) can be run"
        )
    if not isinstance(archs, list) or any(a not in BERT_ARCHITECTURES for a in archs):
        raise EncoderError(
            f"{source}: architectures {archs!r} are not a BERT encoder; "
            f"supported: {', '.join(BERT_ARCHITECTURES)}"
        )
    act = raw.get("hidden_act", "gelu")
    if act not in SUPPORTED_ACTIVATIONS:
        raise EncoderError(f"{source}: hidden_act '{act}' is not supported (only exact 'gelu')")
    pos_type = raw.get("position_embedding_type", "absolute")
    if pos_type != "absolute":
        raise EncoderError(
            f"{source}: position_embedding_type '{pos_type}' is not supported (only 'absolute')"
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
        layer_norm_eps=float(raw.get("layer_norm_eps", 1e-12)),
        pad_token_id=_int_field(raw, "pad_token_id", source, default=0, minimum=0),
    )
    if cfg.hidden_size % cfg.num_heads:
        raise EncoderError(
            f"{source}: hidden_size {cfg.hidden_size} is not divisible by "
            f"num_attention_heads {cfg.num_heads}"
        )
    if not (0.0 < cfg.layer_norm_eps < 1.0):
        raise EncoderError(f"{source}: layer_norm_eps {cfg.layer_norm_eps} is out of range")
    return cfg


def read_config(folder) -> EncoderConfig:
    """Read and validate ``folder/config.json`` (cheap: no weights are touched)."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise EncoderError(f"{folder}: no config.json")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EncoderError(f"{path}: not readable JSON ({exc})") from exc
    return parse_config(raw, str(path))


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


def read_tensors(path: Path, cfg: EncoderConfig) -> dict[str, np.ndarray]:
    """Read the tensors the encoder needs as float32, checking names, shapes and dtypes."""
    from safetensors import safe_open

    shapes = expected_shapes(cfg)
    try:
        with safe_open(str(path), framework="numpy") as f:
            keys = set(f.keys())
            # Checkpoints saved from a task model (BertForMaskedLM, ...) prefix the encoder.
            prefix = "bert." if "bert.embeddings.word_embeddings.weight" in keys else ""
            missing = [n for n in shapes if prefix + n not in keys]
            if missing:
                shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
                raise EncoderError(
                    f"{path}: {len(missing)} tensor(s) missing for a {cfg.num_layers}-layer "
                    f"BERT encoder: {shown}"
                )
            wrong = []
            for n, shape in shapes.items():
                got = tuple(f.get_slice(prefix + n).get_shape())
                if got != shape:
                    wrong.append(f"{n} is {got}, expected {shape}")
            if wrong:
                raise EncoderError(
                    f"{path}: tensor shapes do not match config.json: " + "; ".join(wrong[:8])
                )
            tensors = {}
            for n in shapes:
                a = f.get_tensor(prefix + n)
                if a.dtype.kind != "f":
                    raise EncoderError(f"{path}: tensor {n} has dtype {a.dtype}, expected float")
                tensors[n] = np.asarray(a, dtype=np.float32)
    except EncoderError:
        raise
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise EncoderError(f"{path}: not a readable safetensors file ({exc})") from exc
    bad = [n for n, a in tensors.items() if not np.isfinite(a).all()]
    if bad:
        raise EncoderError(f"{path}: non-finite values in {', '.join(bad[:8])}")
    return tensors
