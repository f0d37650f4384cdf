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
    "long-paragraph": "A 300-token paragraph",
}


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
