"""The Examples menu: the sessions shipped in ``resources/examples/``.

They are written by ``scripts/make_examples.py`` and loaded like any session file.
"""

from __future__ import annotations

from pathlib import Path

from explorer.io.session_file import SUFFIX
from explorer.resources import resource_path

TITLES = {
    "bank-two-sentences": "The two “bank” sentences",
    "dog-cat-table": "The dog chased the cat off the table",
    "causal-mask": "Causal language model (masked future)",
    "a-head-that-copies": "A head that copies (built-in decoder)",
    "long-paragraph": "A 300-token paragraph",
    "long-text": "An 8,138-token text (zoom and pan)",
}

#: One line per example: what it demonstrates, and why it sets what it sets.
DESCRIPTIONS = {
    "bank-two-sentences": (
        "One static vector, two meanings: each sentence is read on its own (per-sentence "
        "mask) with identity projections, and τ = 4 spreads attention so each “bank” takes "
        "in “river” or “money” and the two drift apart."
    ),
    "dog-cat-table": (
        "Similar words attend to each other: built-in embeddings with identity projections "
        "make the weights plain similarities, and sinusoidal positions make word order count."
    ),
    "causal-mask": (
        "A language model cannot see the future: the causal mask empties the upper triangle; "
        "head 1 doubles W_Q and W_K (4× the scores) and τ = 0.5 sharpens the rows."
    ),
    "a-head-that-copies": (
        "A language model's induction head: in the Decoder tab (Ctrl+4) the built-in decoder "
        "reads a list of words written twice; the selected head attends from the second "
        "“violin” to what followed the first and predicts it. Ablate it and the guess is gone."
    ),
    "long-paragraph": (
        "Attention over 300 tokens: four heads with random orthogonal projections, each "
        "attending differently; cell values are off because they would not fit."
    ),
    "long-text": (
        "Attention over 8,138 tokens, the paragraph 26 times: each word finds its own copies, "
        "a lattice of stripes in the overview of block maxima. Wheel to zoom, drag to pan, "
        "double-click to see all; exact weights appear once a region is small enough."
    ),
}


def example_description(path: Path) -> str:
    """The one-line description of an example file (its name for unknown files)."""
    stem = path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else path.stem
    return DESCRIPTIONS.get(stem, f"Open the example session {path.name}")


def example_files() -> list[tuple[str, Path]]:
    """(title, path) for every shipped example, in menu order."""
    folder = resource_path("examples")
    files = sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []
    order = list(TITLES)

    def key(p: Path):
        stem = p.name[: -len(SUFFIX)]
        return (order.index(stem) if stem in order else len(order), stem)

    return [
        (TITLES.get(p.name[: -len(SUFFIX)], p.name[: -len(SUFFIX)]), p)
        for p in sorted(files, key=key)
    ]
