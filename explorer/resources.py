"""Locate files shipped in ``resources/``.

In a wheel the folder is installed as ``explorer/resources``; in a source checkout (and an
editable install) it sits beside the package at the repository root.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir() -> Path:
    """Return the folder that holds the shipped resources."""
    installed = _PACKAGE / "resources"
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / "resources"


def resource_path(*parts: str) -> Path:
    """Return the path of a shipped resource, e.g. ``resource_path("embeddings", "x.npz")``."""
    return resource_dir().joinpath(*parts)
