"""``config.json`` of every supported family, validated into one :class:`ModelConfig`.

Each family spells its sizes differently (GPT-2's ``n_embd`` is Llama's ``hidden_size`` and
DistilBERT's ``dim``); :func:`parse_model_config` reads ``model_type`` and maps the family's
fields onto one dataclass, refusing, with one line naming the file, any size outside
:data:`LIMITS`, inconsistent sizes, and any option whose arithmetic is not implemented (rope
scaling, sliding windows, other activations). BERT itself is parsed by
:func:`~explorer.core.encoder_config.parse_config`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from explorer.core.encoder_config import BERT_ARCHITECTURES, CONFIG_LIMITS, MAX_TOTAL_HEADS
from explorer.core.encoder_files import EncoderError, shown


class ModelError(EncoderError):
    """A model folder or an input that the explorer cannot run, with a one-line message."""


DECODER_TYPES = ("gpt2", "llama", "qwen2")
ENCODER_TYPES = ("bert", "distilbert", "roberta")
MODEL_TYPES = ENCODER_TYPES + DECODER_TYPES

#: Largest accepted value of each size; the BERT limits plus those only decoders have.
LIMITS = {
    "vocab_size": CONFIG_LIMITS["vocab_size"],  # 1 048 576 tokens
    "d_model": CONFIG_LIMITS["hidden_size"],  # 16 384
    "n_layer": CONFIG_LIMITS["num_hidden_layers"],  # 128
    "n_head": CONFIG_LIMITS["num_attention_heads"],  # 256
    "n_kv_head": CONFIG_LIMITS["num_attention_heads"],  # 256
    "d_head": 1024,
    "d_ff": CONFIG_LIMITS["intermediate_size"],  # 65 536
    "max_positions": 1 << 20,  # 1 048 576 (rotary models state a limit, not a table size)
    "type_vocab_size": CONFIG_LIMITS["type_vocab_size"],  # 1024
    "pad_token_id": CONFIG_LIMITS["pad_token_id"],
}
#: ``rope_theta``: 1e4 (Llama 2, SmolLM) to 1e6 (Qwen2) and 5e5 (Llama 3); far beyond is wrong.
MAX_ROPE_THETA = 1e9


@dataclass(frozen=True)
class ModelConfig:
    """The architecture of a transformer, whatever the family calls its sizes."""

    model_type: str  # one of MODEL_TYPES
    vocab_size: int
    d_model: int  # width of the residual stream
    n_layer: int
    n_head: int  # query heads
    n_kv_head: int  # key/value heads; fewer than n_head is grouped-query attention
    d_head: int
    d_ff: int  # feed-forward width
    max_positions: int
    norm_eps: float
    activation: str  # "gelu", "gelu_tanh" or "silu"
    tie_embeddings: bool = True  # the LM head reuses the token embeddings
    qkv_bias: bool = True
    o_bias: bool = True
    rope_theta: float = 10000.0  # rotary base (llama, qwen2)
    type_vocab_size: int = 1  # segment embeddings (bert, roberta)
    pad_token_id: int = 0

    @property
    def is_decoder(self) -> bool:
        return self.model_type in DECODER_TYPES

    @property
    def group_size(self) -> int:
        """Query heads per key/value head."""
        return self.n_head // self.n_kv_head

    # the names encoder_edits.checked_edits and encoder_forward use
    @property
    def hidden_size(self) -> int:
        return self.d_model

    @property
    def num_layers(self) -> int:
        return self.n_layer

    @property
    def num_heads(self) -> int:
        return self.n_head


def named(value) -> str:
    """A value from config.json for a message: strings as they are (cut at 40), else repr."""
    return shown(value, 40)[1:-1] if isinstance(value, str) else shown(value, 40)


class _Fields:
    """Typed, bounded reads of one config dict, every refusal naming ``source``."""

    def __init__(self, raw: dict, source: str):
        self.raw, self.source = raw, source

    def int(self, key: str, limit: str, *, default=None, minimum: int = 1) -> int:
        value = self.raw.get(key, default)
        if value is None:
            raise ModelError(f"{self.source}: missing '{key}'")
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ModelError(
                f"{self.source}: '{key}' must be an integer >= {minimum}, got {shown(value)}"
            )
        if value > LIMITS[limit]:
            raise ModelError(
                f"{self.source}: '{key}' is {shown(value, 30)}, more than the {LIMITS[limit]} "
                "the explorer accepts"
            )
        return value

    def float(self, key: str, default: float, low: float, high: float) -> float:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ModelError(f"{self.source}: '{key}' must be a number, got {shown(value)}")
        try:
            x = float(value)
        except OverflowError:
            x = math.inf
        if not (low < x <= high):
            raise ModelError(f"{self.source}: '{key}' {shown(value, 30)} is out of range")
        return x

    def bool(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ModelError(f"{self.source}: '{key}' must be true or false, got {shown(value)}")
        return value

    def choice(self, key: str, default, allowed: dict):
        value = self.raw.get(key, default)
        if not isinstance(value, str) or value not in allowed:
            raise ModelError(
                f"{self.source}: {key} '{named(value)}' is not supported "
                f"(supported: {', '.join(allowed)})"
            )
        return allowed[value]


def _rope_theta(f: _Fields) -> float:
    """``rope_theta``, refusing rope scaling (its arithmetic is not implemented)."""
    params = f.raw.get("rope_parameters")
    scaling = f.raw.get("rope_scaling")
    theta_source = f
    if isinstance(params, dict):  # newer transformers nest the rotary settings
        scaling, theta_source = params, _Fields(params, f.source)
    elif params is not None:
        raise ModelError(f"{f.source}: 'rope_parameters' must be an object")
    if scaling is not None:
        kind = (
            scaling.get("rope_type", scaling.get("type")) if isinstance(scaling, dict) else scaling
        )
        if kind != "default":
            raise ModelError(
                f"{f.source}: rope scaling '{named(kind)}' is not supported (only plain rotary "
                "positions)"
            )
    return theta_source.float("rope_theta", 10000.0, 1.0, MAX_ROPE_THETA)


def _gpt2(f: _Fields) -> ModelConfig:
    d = f.int("n_embd", "d_model")
    n_head = f.int("n_head", "n_head")
    n_inner = f.raw.get("n_inner")
    if f.bool("scale_attn_by_inverse_layer_idx", False):
        raise ModelError(f"{f.source}: scale_attn_by_inverse_layer_idx is not supported")
    if not f.bool("scale_attn_weights", True):
        raise ModelError(f"{f.source}: scale_attn_weights false is not supported")
    return ModelConfig(
        model_type="gpt2",
        vocab_size=f.int("vocab_size", "vocab_size"),
        d_model=d,
        n_layer=f.int("n_layer", "n_layer"),
        n_head=n_head,
        n_kv_head=n_head,
        d_head=d // n_head,
        d_ff=4 * d if n_inner is None else f.int("n_inner", "d_ff"),
        max_positions=f.int("n_positions", "max_positions", default=1024),
        norm_eps=f.float("layer_norm_epsilon", 1e-5, 0.0, 0.5),
        activation=f.choice(
            "activation_function",
            "gelu_new",
            {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu"},
        ),
        tie_embeddings=f.bool("tie_word_embeddings", True),
    )


def _llama(f: _Fields, qwen2: bool) -> ModelConfig:
    d = f.int("hidden_size", "d_model")
    n_head = f.int("num_attention_heads", "n_head")
    n_kv = f.int("num_key_value_heads", "n_kv_head", default=n_head)
    if n_head % n_kv:
        raise ModelError(
            f"{f.source}: num_attention_heads {n_head} is not a multiple of "
            f"num_key_value_heads {n_kv}"
        )
    default_dh = d // n_head if d % n_head == 0 else None
    dh = f.int("head_dim", "d_head", default=default_dh)
    if dh % 2:
        raise ModelError(f"{f.source}: head_dim {dh} is odd; rotary positions need pairs")
    if f.bool("mlp_bias", False):
        raise ModelError(f"{f.source}: mlp_bias is not supported")
    if qwen2 and f.bool("use_sliding_window", False):
        raise ModelError(f"{f.source}: sliding-window attention is not supported")
    layer_types = f.raw.get("layer_types")
    if layer_types is not None and (
        not isinstance(layer_types, list) or any(t != "full_attention" for t in layer_types)
    ):
        raise ModelError(
            f"{f.source}: layer_types {shown(layer_types)} are not supported (only "
            "'full_attention')"
        )
    bias = True if qwen2 else f.bool("attention_bias", False)
    return ModelConfig(
        model_type="qwen2" if qwen2 else "llama",
        vocab_size=f.int("vocab_size", "vocab_size"),
        d_model=d,
        n_layer=f.int("num_hidden_layers", "n_layer"),
        n_head=n_head,
        n_kv_head=n_kv,
        d_head=dh,
        d_ff=f.int("intermediate_size", "d_ff"),
        max_positions=f.int("max_position_embeddings", "max_positions", default=2048),
        norm_eps=f.float("rms_norm_eps", 1e-6, 0.0, 0.5),
        activation=f.choice("hidden_act", "silu", {"silu": "silu"}),
        tie_embeddings=f.bool("tie_word_embeddings", False),
        qkv_bias=bias,
        o_bias=bias and not qwen2,
        rope_theta=_rope_theta(f),
    )


def _distilbert(f: _Fields) -> ModelConfig:
    d = f.int("dim", "d_model")
    n_head = f.int("n_heads", "n_head")
    return ModelConfig(
        model_type="distilbert",
        vocab_size=f.int("vocab_size", "vocab_size"),
        d_model=d,
        n_layer=f.int("n_layers", "n_layer"),
        n_head=n_head,
        n_kv_head=n_head,
        d_head=d // n_head,
        d_ff=f.int("hidden_dim", "d_ff"),
        max_positions=f.int("max_position_embeddings", "max_positions", default=512),
        norm_eps=1e-12,  # fixed in DistilBERT's code
        activation=f.choice("activation", "gelu", {"gelu": "gelu"}),
        pad_token_id=f.int("pad_token_id", "pad_token_id", default=0, minimum=0),
    )


def _roberta(f: _Fields) -> ModelConfig:
    d = f.int("hidden_size", "d_model")
    n_head = f.int("num_attention_heads", "n_head")
    pos_type = f.raw.get("position_embedding_type", "absolute")
    if pos_type != "absolute":
        raise ModelError(
            f"{f.source}: position_embedding_type '{named(pos_type)}' is not supported "
            "(only 'absolute')"
        )
    if f.bool("is_decoder", False) or f.bool("add_cross_attention", False):
        raise ModelError(f"{f.source}: decoder configurations of RoBERTa are not supported")
    pad = f.int("pad_token_id", "pad_token_id", default=1, minimum=0)
    n_pos = f.int("max_position_embeddings", "max_positions", default=514)
    if n_pos <= pad + 1:
        raise ModelError(
            f"{f.source}: max_position_embeddings {n_pos} leaves no position after "
            f"pad_token_id {pad} (RoBERTa positions start at pad_token_id + 1)"
        )
    return ModelConfig(
        model_type="roberta",
        vocab_size=f.int("vocab_size", "vocab_size"),
        d_model=d,
        n_layer=f.int("num_hidden_layers", "n_layer"),
        n_head=n_head,
        n_kv_head=n_head,
        d_head=d // n_head,
        d_ff=f.int("intermediate_size", "d_ff"),
        max_positions=n_pos,
        norm_eps=f.float("layer_norm_eps", 1e-12, 0.0, 0.5),
        activation=f.choice("hidden_act", "gelu", {"gelu": "gelu"}),
        type_vocab_size=f.int("type_vocab_size", "type_vocab_size", default=1),
        pad_token_id=pad,
    )


def model_type_of(raw, source: str) -> str:
    """``model_type`` of a parsed ``config.json``, refused unless it is supported."""
    if not isinstance(raw, dict):
        raise ModelError(f"{source}: expected a JSON object, got {type(raw).__name__}")
    model_type = raw.get("model_type")
    if model_type is None:
        archs = raw.get("architectures")
        if isinstance(archs, list) and archs and all(a in BERT_ARCHITECTURES for a in archs):
            return "bert"  # old BERT checkpoints name only the architecture
        raise ModelError(f"{source}: no 'model_type'; cannot tell the model family")
    if model_type not in MODEL_TYPES:
        raise ModelError(
            f"{source}: model_type '{named(model_type)}' is not supported "
            f"(supported: {', '.join(MODEL_TYPES)})"
        )
    return model_type


def parse_model_config(raw, source: str = "config.json") -> ModelConfig:
    """Validate a ``config.json`` dict of any family except BERT (see the module docstring).

    Raises
    ------
    ModelError
        One line naming ``source``: unknown family, a size out of range, inconsistent sizes,
        or an option that is not implemented.
    """
    model_type = model_type_of(raw, source)
    f = _Fields(raw, source)
    if model_type == "gpt2":
        cfg = _gpt2(f)
    elif model_type in ("llama", "qwen2"):
        cfg = _llama(f, qwen2=model_type == "qwen2")
    elif model_type == "distilbert":
        cfg = _distilbert(f)
    elif model_type == "roberta":
        cfg = _roberta(f)
    else:
        raise ModelError(f"{source}: BERT configurations are read by the encoder")
    if cfg.n_layer * cfg.n_head > MAX_TOTAL_HEADS:
        raise ModelError(
            f"{source}: {cfg.n_layer} layers × {cfg.n_head} heads make "
            f"{cfg.n_layer * cfg.n_head} heads, more than the {MAX_TOTAL_HEADS} the explorer "
            "accepts"
        )
    if cfg.model_type not in ("llama", "qwen2") and cfg.d_model % cfg.n_head:
        raise ModelError(
            f"{source}: width {cfg.d_model} is not divisible by {cfg.n_head} attention heads"
        )
    return cfg
