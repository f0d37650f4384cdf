"""What one forward pass of any model family returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class ModelOutput:
    """Everything one forward pass produced. Arrays are read-only float32.

    Attributes
    ----------
    ids : ndarray, shape (T,), int64
    tokens : tuple of str
        Readable token strings (``·the`` for a byte-level ``Ġthe``).
    special : ndarray, shape (T,), bool
        Tokens the tokenizer added (BOS, [CLS], ``</s>``...).
    hidden_states : ndarray, shape (n_layer + 1, T, d_model)
        ``hidden_states[0]`` is the embedding output and ``hidden_states[l]`` enters layer
        ``l``. For decoders the last entry is the residual stream before the final norm (as
        every entry is, so that a logit lens treats all layers alike); apply the model's
        ``final_norm`` to get what the LM head reads. For encoders it is the last layer's
        output.
    attentions : ndarray, shape (n_layer, n_head, T, T)
        Softmax weights of every query head (before any ``scale`` edit).
    head_outputs : ndarray, shape (n_layer, n_head, T, d_head)
        Each head's ``y = att @ v`` after edits, before the output projection.
    logits : ndarray, shape (T, vocab_size), or None
        Next-token scores of a decoder; None for encoders.
    edits : tuple of HeadEdit
    """

    ids: np.ndarray
    tokens: tuple[str, ...]
    special: np.ndarray
    hidden_states: np.ndarray
    attentions: np.ndarray
    head_outputs: np.ndarray
    logits: np.ndarray | None
    edits: tuple = field(default=())

    def __post_init__(self):
        for name in ("ids", "special", "hidden_states", "attentions", "head_outputs", "logits"):
            a = getattr(self, name)
            if a is not None and a.flags.writeable:
                a.setflags(write=False)

    @property
    def n_tokens(self) -> int:
        return len(self.ids)
