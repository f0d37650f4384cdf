"""Encoders (BERT, RoBERTa, DistilBERT) behind the same interface as the decoders.

All three run through :class:`~explorer.core.encoder.Encoder`: BERT as loaded by
:func:`~explorer.core.encoder.load_encoder`, RoBERTa and DistilBERT from their tensors renamed
to BERT's (:func:`~explorer.core.models.families.bert_tensors`). This adapter turns its
output into a :class:`~explorer.core.models.output.ModelOutput` with readable tokens and no
logits (the masked-LM heads are not read).
"""

from __future__ import annotations

import numpy as np

from explorer.core.encoder import Encoder, Tokens
from explorer.core.encoder_config import EncoderConfig
from explorer.core.encoder_edits import HeadWeights
from explorer.core.models.config import ModelConfig, ModelError
from explorer.core.models.output import ModelOutput
from explorer.core.models.tokens import TextTokens, display_token


def bert_model_config(c: EncoderConfig) -> ModelConfig:
    """The :class:`ModelConfig` of a BERT :class:`EncoderConfig`."""
    return ModelConfig(
        model_type="bert",
        vocab_size=c.vocab_size,
        d_model=c.hidden_size,
        n_layer=c.num_layers,
        n_head=c.num_heads,
        n_kv_head=c.num_heads,
        d_head=c.d_head,
        d_ff=c.intermediate_size,
        max_positions=c.max_positions,
        norm_eps=c.layer_norm_eps,
        activation="gelu",
        type_vocab_size=c.type_vocab_size,
        pad_token_id=c.pad_token_id,
    )


class EncoderModel:
    """An encoder with the model interface: ``forward``, ``kv_group``, ``head_weights``.

    Attributes
    ----------
    encoder : Encoder
        The wrapped encoder, for code written against it.
    config : ModelConfig
    """

    is_decoder = False

    def __init__(self, encoder: Encoder, config: ModelConfig, *, byte_level: bool):
        self.encoder = encoder
        self.config = config
        self.name = encoder.name
        self.path = encoder.path
        self._byte_level = byte_level

    def __repr__(self) -> str:
        c = self.config
        return (
            f"EncoderModel({self.name!r}, {c.model_type}, layers={c.n_layer}, "
            f"heads={c.n_head}, d_model={c.d_model})"
        )

    def kv_group(self, head: int) -> list[int]:
        """Every head has its own keys and values: ``[head]``."""
        if not 0 <= head < self.config.n_head:
            raise ModelError(f"no head {head}; the model has {self.config.n_head} heads")
        return [head]

    def head_weights(self, layer: int, head: int) -> HeadWeights:
        return self.encoder.head_weights(layer, head)

    def _show(self, raw) -> tuple[str, ...]:
        return tuple(display_token(t, self._byte_level) for t in raw)

    def tokenize(self, text: str) -> TextTokens:
        t = self.encoder.tokenize(text)
        return TextTokens(t.ids, t.tokens, self._show(t.tokens), t.special, t.truncated)

    def forward(self, inputs, edits=()) -> ModelOutput:
        """Run the encoder on a text or on token ids (see :meth:`Encoder.forward`).

        Returns
        -------
        ModelOutput
            With ``logits`` None.
        """
        if isinstance(inputs, str):
            inputs = self.encoder.tokenize(inputs)
        elif not isinstance(inputs, Tokens) and self.config.model_type == "roberta":
            ids = np.asarray(inputs)
            if ids.size and ids.dtype.kind in "iu" and (ids == self.config.pad_token_id).any():
                # RoBERTa gives padding its own position; the explorer runs unpadded texts
                raise ModelError(
                    f"token id {self.config.pad_token_id} is RoBERTa's padding; it cannot be "
                    "part of the input"
                )
        out = self.encoder.forward(inputs, edits=tuple(edits))
        return ModelOutput(
            ids=out.ids,
            tokens=self._show(out.tokens),
            special=out.special,
            hidden_states=out.hidden_states,
            attentions=out.attentions,
            head_outputs=out.head_outputs,
            logits=None,
            edits=out.edits,
        )
