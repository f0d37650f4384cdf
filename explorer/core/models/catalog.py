"""Models on this computer with what they cost: size on disk and memory to run.

:func:`model_catalog` lists what :func:`~explorer.core.model_discovery.discover_models`
finds (every family), and for each usable folder reads only ``config.json`` and the
safetensors headers: the number of parameters, the bytes of its weight files, and an estimate
of the memory loading and running it needs, compared with what is available now. Nothing is
loaded and nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from pathlib import Path

from explorer.core.encoder_files import (
    LOAD_BYTES_PER_PARAMETER,
    EncoderError,
    available_memory,
    size_text,
)
from explorer.core.model_discovery import ModelInfo, discover_models
from explorer.core.models.config import ModelConfig
from explorer.core.models.decoder import forward_bytes
from explorer.core.models.loader import read_model_config
from explorer.core.models.weights import Checkpoint

#: tokens of the forward pass the memory estimate includes (or the model's limit if smaller)
ESTIMATE_TOKENS = 512


@dataclass(frozen=True)
class CatalogEntry:
    """One model folder with its family and costs (zeros when ``info.problem`` is set)."""

    info: ModelInfo
    family: str = ""
    is_decoder: bool = False
    n_layer: int = 0
    n_head: int = 0
    n_params: int = 0
    disk_bytes: int = 0
    memory_bytes: int = 0  # load peak plus one forward pass of ESTIMATE_TOKENS
    available_bytes: int | None = None

    @property
    def fits(self) -> bool:
        return self.available_bytes is None or self.memory_bytes <= self.available_bytes

    @property
    def problem(self) -> str:
        if self.info.problem:
            return self.info.problem
        if not self.fits:
            return (
                f"needs about {size_text(self.memory_bytes)} of memory; "
                f"{size_text(self.available_bytes)} is available"
            )
        return ""

    def describe(self) -> str:
        """``Llama · 2 × 4 heads · 0.7 M parameters · 2.6 MB on disk · needs ~12 MB``."""
        if self.info.problem:
            return self.info.problem
        text = (
            f"{self.family} · {self.n_layer} layers × {self.n_head} heads · "
            f"{self.n_params / 1e6:.1f} M parameters · {size_text(self.disk_bytes)} on disk · "
            f"needs about {size_text(self.memory_bytes)}"
        )
        return text if self.fits else f"{text} — cannot be loaded: {self.problem}"


def estimate_memory(cfg: ModelConfig, n_params: int) -> int:
    """Peak bytes to load a model of ``n_params`` and run one pass of up to 512 tokens."""
    T = min(cfg.max_positions, ESTIMATE_TOKENS)
    run = forward_bytes(cfg, T) if cfg.is_decoder else 4 * cfg.n_layer * cfg.n_head * T * T
    return n_params * LOAD_BYTES_PER_PARAMETER + run


def describe_folder(info: ModelInfo, available: int | None = None) -> CatalogEntry:
    """A :class:`CatalogEntry` for one discovered folder; never raises."""
    if info.problem:
        return CatalogEntry(info)
    try:
        cfg = read_model_config(info.path)
        ckpt = Checkpoint(info.path)
        n_params = sum(math.prod(ckpt.shape(n) or ()) for n in ckpt.names())
        shards = {p for p in ckpt.shard_paths()}
        disk = sum(p.stat().st_size for p in shards)
    except (EncoderError, OSError, ValueError) as exc:
        return CatalogEntry(replace(info, problem=str(exc) or type(exc).__name__))
    return CatalogEntry(
        info,
        family=cfg.model_type,
        is_decoder=cfg.is_decoder,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        n_params=int(n_params),
        disk_bytes=int(disk),
        memory_bytes=estimate_memory(cfg, int(n_params)),
        available_bytes=available,
    )


def model_catalog(extra_folders=(), *, decoders_only: bool = True, **kwargs) -> list[CatalogEntry]:
    """Every model folder found, described (decoders only by default).

    ``kwargs`` go to :func:`~explorer.core.model_discovery.discover_models` (``hf_cache``,
    ``packages``, ``builtin``). Unusable folders are listed with their problem.
    """
    free = available_memory()
    found = discover_models(extra_folders, include_unusable=True, any_family=True, **kwargs)
    entries = [describe_folder(info, free) for info in found]
    if decoders_only:
        entries = [e for e in entries if e.is_decoder or (e.problem and e.info.source == "user")]
    return entries


def weights_sha256(folder) -> str:
    """Hex SHA-256 of a model's weights: of ``model.safetensors``, or of its shards in name
    order (read in 1 MB chunks; about 0.1 s per 90 MB)."""
    h = hashlib.sha256()
    for path in Checkpoint(Path(folder)).shard_paths():
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()
