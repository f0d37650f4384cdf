"""Write the example sessions in ``resources/examples/`` from Session objects.

The examples are built as :class:`~explorer.core.session.Session` values and written with
:func:`~explorer.io.session_file.save_session`, so they are valid by construction; a test
checks that the shipped files equal what this script writes, byte for byte. That holds on every
machine because no number here goes through BLAS or LAPACK (whose last bits depend on the CPU
kernel): the orthogonal preset is built from NumPy sums. Rerun it after a change to the
Session or the file format::

    python scripts/make_examples.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a source checkout
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from explorer.core.projections import preset_heads  # noqa: E402
from explorer.core.session import (  # noqa: E402
    DecoderRef,
    Head,
    Session,
    ViewOptions,
    identity_heads,
)
from explorer.io.session_file import save_session  # noqa: E402

OUT = ROOT / "resources" / "examples"

# About 300 word pieces: long enough to show how attention behaves on real paragraphs.
PARAGRAPH = (
    "Self-attention lets every word in a sentence look at every other word and decide how much "
    "each one matters for its own meaning. A word starts as a static vector that is the same in "
    "every sentence, so the bank of a river and the bank that holds your money begin identical. "
    "Each vector is projected three times: into a query that asks a question, a key that "
    "advertises what the word offers, and a value that carries what the word will pass on. The "
    "score between two words is the dot product of one word's query with the other word's key. "
    "Scores are divided by the square root of the dimension so that they do not grow with the "
    "size of the vectors, then a softmax turns each row of scores into weights that are positive "
    "and sum to one. The new vector of a word is the weighted sum of all the values, so a word "
    "surrounded by water and fishing drifts towards one meaning while a word surrounded by "
    "deposits and loans drifts towards another. Several heads do this in parallel, each with its "
    "own projections, and each can learn to follow a different relation: the previous word, the "
    "subject of a verb, the noun an adjective describes, or the end of the sentence. A causal "
    "mask hides the future so that a language model can only read what came before, and the "
    "temperature decides whether attention picks one winner or spreads itself thinly across "
    "the whole text. Stacking many such layers, with feed-forward networks and residual "
    "connections between them, gives the transformers that translate, summarise and write."
)


COPY_TEXT = "zebra quilt mango violin harbor. zebra quilt mango violin"


def _copying_head() -> DecoderRef:
    """The built-in decoder with its strongest measured induction head selected."""
    from explorer.core.models import load_model
    from explorer.core.models.catalog import weights_sha256
    from explorer.core.models.circuits import measure_circuits
    from explorer.resources import resource_path

    folder = resource_path("models", "tiny-induction")
    model = load_model(folder, "tiny-induction")
    layer, head = measure_circuits(model).induction[0]
    return DecoderRef("tiny-induction", weights_sha256(folder), layer=layer, head=head)


def build_examples() -> dict[str, Session]:
    """Map file name → Session for every shipped example."""
    return {
        # The article's point: one static vector for "bank", two meanings. Each sentence is
        # read on its own (sentence mask) with identity projections, so the weights are plain
        # similarities of the built-in embeddings; a high temperature lets each "bank" take
        # in its neighbours ("river" in one, "money" in the other), and the contextual
        # similarity of the two "bank"s drops below the static 1.0.
        "bank-two-sentences.attn.json": Session(
            text="I sat by the river bank. I deposited money in the bank.",
            embedding="builtin",
            d_model=8,
            heads=identity_heads(1, 8, 8),
            temperature=4.0,
            sentence_mask=True,
        ),
        # The default sentence with a sinusoidal positional encoding added, so order matters.
        "dog-cat-table.attn.json": Session(
            text="The dog chased the cat off the table.",
            embedding="builtin",
            d_model=8,
            positional="sinusoidal",
            heads=identity_heads(1, 8, 8),
            view=ViewOptions(colormap="cividis"),
        ),
        # A causal (decoder-style) mask: every token sees only itself and earlier tokens.
        "causal-mask.attn.json": Session(
            text="The cat sat on the mat because it was tired.",
            embedding="builtin",
            d_model=12,
            # Head 1 doubles the queries and keys: 4x the scores, visibly sharper rows.
            heads=(*identity_heads(1, 12, 12), Head(2 * np.eye(12), 2 * np.eye(12), np.eye(12))),
            temperature=0.5,
            causal=True,
            view=ViewOptions(colormap="magma"),
        ),
        # "A head that copies": the built-in decoder on a list of unrelated words written
        # twice. Its induction head (found by measurement, not by index) attends from the
        # second "violin" to what followed the first one ("harbor") and predicts it; the
        # Decoder tab shows that head large. Ablating it removes the prediction.
        "a-head-that-copies.attn.json": Session(
            text=COPY_TEXT,
            embedding="builtin",
            d_model=8,
            heads=identity_heads(1, 8, 8),
            causal=True,
            decoder=_copying_head(),
        ),
        # A long text: 300 tokens, four heads with random orthogonal projections.
        "long-paragraph.attn.json": Session(
            text=PARAGRAPH,
            embedding="builtin",
            d_model=16,
            positional="sinusoidal",
            heads=preset_heads("orthogonal", 4, 16, 16, seed=3),
            preset="orthogonal",
            preset_seed=3,
            view=ViewOptions(show_values=False),
        ),
        # A long text: the paragraph 26 times over, 8,138 tokens (the workbench reads
        # up to 8,192). Identity projections and τ = 0.25 make each weight a sharpened
        # similarity of the built-in embeddings: every word attends to its own copies in
        # all 26 repetitions, a lattice of stripes 313 tokens apart in the overview; zoom
        # in (wheel) to read exact weights.
        "long-text.attn.json": Session(
            text=" ".join([PARAGRAPH] * 26),
            embedding="builtin",
            d_model=16,
            heads=identity_heads(1, 16, 16),
            temperature=0.25,
            view=ViewOptions(show_values=False),
        ),
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, session in build_examples().items():
        print(save_session(session, OUT / name))


if __name__ == "__main__":
    main()
