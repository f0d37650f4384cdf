"""Attention Explorer: a desktop workbench that makes self-attention visible and touchable."""

__version__ = "0.1.0"
