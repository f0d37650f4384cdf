"""Two texts through one model, compared head by head (the Model tab's "Two sentences").

The tokens the texts share are found with :mod:`difflib` (a longest matching, in order), and
each head's attention on text A minus text B is taken between them; the per-head entropy
difference summarises heads where few tokens align.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.core.encoder import Encoder, EncoderError, EncoderOutput
from explorer.core.model_analysis import head_edits, one_blas_thread
from explorer.core.session import HeadScale


@dataclass(frozen=True, eq=False)
class TextComparison:
    """Every head on two texts, compared where their tokens align.

    Attributes
    ----------
    tokens_a, tokens_b : tuple of str
    index_a, index_b : ndarray of int, shape (K,)
        Positions of the tokens the two texts share, in order (a longest matching of the
        token sequences; [CLS] and [SEP] always match).
    labels : list of str
        Those K tokens.
    difference : ndarray, shape (n_layer, n_head, K, K), float64
        Attention of text a minus text b between the shared tokens (rows need not sum to 1:
        the weight on tokens only one text has is left out).
    entropy : ndarray, shape (n_layer, n_head), float64
        Per head, the mean row entropy (a fraction of uniform) of text a minus that of b: a
        summary that needs no alignment.
    """

    tokens_a: tuple
    tokens_b: tuple
    index_a: np.ndarray
    index_b: np.ndarray
    labels: list
    difference: np.ndarray
    entropy: np.ndarray


def align_tokens(tokens_a, tokens_b) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the tokens two sequences share, in order (difflib's matching blocks)."""
    from difflib import SequenceMatcher

    blocks = SequenceMatcher(None, list(tokens_a), list(tokens_b), autojunk=False)
    ia, ib = [], []
    for block in blocks.get_matching_blocks():
        ia.extend(range(block.a, block.a + block.size))
        ib.extend(range(block.b, block.b + block.size))
    return np.asarray(ia, dtype=np.int64), np.asarray(ib, dtype=np.int64)


def compare_runs(out_a: EncoderOutput, out_b: EncoderOutput) -> TextComparison:
    """Compare two runs of one model head by head (see :class:`TextComparison`)."""
    from explorer.core.attention_aggregates import head_type_scores

    ia, ib = align_tokens(out_a.tokens, out_b.tokens)
    a = out_a.attentions.astype(np.float64)[:, :, ia][:, :, :, ia]  # (L, H, K, K)
    b = out_b.attentions.astype(np.float64)[:, :, ib][:, :, :, ib]  # (L, H, K, K)
    ent_a = head_type_scores(out_a.attentions, out_a.tokens)["entropy"]
    ent_b = head_type_scores(out_b.attentions, out_b.tokens)["entropy"]
    return TextComparison(
        tokens_a=tuple(out_a.tokens),
        tokens_b=tuple(out_b.tokens),
        index_a=ia,
        index_b=ib,
        labels=[out_a.tokens[i] for i in ia],
        difference=a - b,
        entropy=ent_a - ent_b,
    )


def compare_texts(bridge, enc: Encoder, text_a: str, text_b: str, edits=()) -> TextComparison:
    """Run ``enc`` (with ``edits``, HeadEdit or the Session's HeadScale) on two texts and
    compare them head by head.

    Raises
    ------
    EncoderError
        A text is empty or too long.
    """
    if any(isinstance(e, HeadScale) for e in edits):
        edits = head_edits(edits, enc)
    runs = []
    with one_blas_thread():
        for text in (text_a, text_b):
            if not text.strip():
                raise EncoderError("type two texts to compare")
            _, out = bridge.run(enc, text)
            if edits:
                out = enc.forward(out.ids, edits=edits, type_ids=out.type_ids, base=out)
            runs.append(out)
    return compare_runs(*runs)
