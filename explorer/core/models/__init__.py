"""Every model family behind one loader: :func:`load_model`.

Families: ``bert``, ``distilbert``, ``roberta`` (encoders) and ``gpt2``, ``llama``, ``qwen2``
(decoders; Llama covers SmolLM and TinyLlama). ``model.forward(text_or_ids, edits=())``
returns a :class:`ModelOutput` with ``attentions`` (L, H, T, T), ``hidden_states``
(L + 1, T, d), ``logits`` (T, vocab) for decoders (None for encoders) and readable
``tokens``. Edits are the encoder's :class:`HeadEdit`; ``model.kv_group(head)`` lists the query
heads that share a key/value projection under grouped-query attention.
"""

from explorer.core.encoder_edits import HeadEdit, HeadWeights
from explorer.core.models.config import ModelConfig, ModelError, parse_model_config
from explorer.core.models.decoder import DecoderModel
from explorer.core.models.encoders import EncoderModel
from explorer.core.models.loader import decoder_from_tensors, load_model, read_model_config
from explorer.core.models.output import ModelOutput
from explorer.core.models.tokens import display_token
from explorer.core.models.weights import bf16_to_float32

__all__ = [
    "DecoderModel",
    "EncoderModel",
    "HeadEdit",
    "HeadWeights",
    "ModelConfig",
    "ModelError",
    "ModelOutput",
    "bf16_to_float32",
    "decoder_from_tensors",
    "display_token",
    "load_model",
    "parse_model_config",
    "read_model_config",
]
