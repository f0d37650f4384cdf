"""Reading checkpoint tensors: one ``model.safetensors`` or shards, float16/32/64 and bfloat16.

Every header is checked before anything large is read, through
:mod:`~explorer.core.encoder_files`: its length against the file's, each tensor's dtype, shape
and byte range, and the memory the model needs against what is available. A sharded
checkpoint (``model.safetensors.index.json``, as ``save_pretrained`` writes above its shard
size) maps each tensor name to a shard file in the same folder; names of shards are plain file
names, never paths.

float16, float32 and float64 tensors are read with ``safetensors``' NumPy API. NumPy has no
bfloat16 (that API refuses it), so bfloat16 tensors are read as their raw ``uint16`` bits from
the byte range the checked header gives and widened by :func:`bf16_to_float32`: a bfloat16
is the top half of a float32, so ``bits << 16`` viewed as float32 is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer.core.encoder_config import WEIGHTS_FILE  # one name for the weights file
from explorer.core.encoder_files import (
    check_memory,
    read_json,
    read_safetensors_header,
    reading_safetensors,
    shown,
    tensor_problem,
)
from explorer.core.models.config import ModelError

INDEX_FILE = "model.safetensors.index.json"
#: ``model.safetensors.index.json``: about 25 KB for a 7B model, 100 KB for the largest.
MAX_INDEX_BYTES = 16 << 20  # 16 MiB
#: Shards of one checkpoint (a 70B model in 5 GB shards has 30).
MAX_SHARDS = 1024


def bf16_to_float32(bits: np.ndarray) -> np.ndarray:
    """Widen bfloat16 values, given as their ``uint16`` bit patterns, to float32 exactly.

    Parameters
    ----------
    bits : ndarray of uint16, any shape

    Returns
    -------
    ndarray of float32, same shape
        NaN payloads, infinities, signed zeros and subnormals are kept bit for bit.
    """
    bits = np.asarray(bits)
    if bits.dtype != np.uint16:
        raise ValueError(f"bfloat16 bits must be uint16, not {bits.dtype}")
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def _problem(name: str, entry, data_len: int, shape: tuple[int, ...]) -> str:
    """:func:`tensor_problem`, also accepting bfloat16 (checked as the same-size float16)."""
    if isinstance(entry, dict) and entry.get("dtype") == "BF16":
        entry = {**entry, "dtype": "F16"}  # same 2-byte item: identical size and range checks
    return tensor_problem(name, entry, data_len, shape)


@dataclass(frozen=True)
class _Shard:
    path: Path
    header: dict
    data_start: int  # file offset of the data section
    data_len: int


class Checkpoint:
    """The tensors of a model folder, from one safetensors file or from shards.

    Only headers are read on construction; :meth:`check` validates the tensors a model needs
    and :meth:`read` reads them as float32.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        single, index = self.folder / WEIGHTS_FILE, self.folder / INDEX_FILE
        self._where: dict[str, _Shard] = {}
        if single.is_file():
            self.source = single
            self._add(single, None)
        elif index.is_file():
            self.source = index
            for shard_name, names in self._read_index(index).items():
                self._add(self.folder / shard_name, names)
        else:
            raise ModelError(
                f"{self.folder}: no {WEIGHTS_FILE} or {INDEX_FILE} (only safetensors weights "
                "are read)"
            )

    @staticmethod
    def _read_index(index: Path) -> dict[str, set[str]]:
        raw = read_json(index, MAX_INDEX_BYTES)
        wmap = raw.get("weight_map") if isinstance(raw, dict) else None
        if not isinstance(wmap, dict) or not wmap:
            raise ModelError(f"{index}: no 'weight_map' of tensor names to shard files")
        shards: dict[str, set[str]] = {}
        for name, shard in wmap.items():
            if (
                not isinstance(shard, str)
                or not shard.endswith(".safetensors")
                or Path(shard).name != shard
                or shard.startswith(".")
            ):
                raise ModelError(f"{index}: shard {shown(shard, 40)} is not a file name here")
            shards.setdefault(shard, set()).add(name)
        if len(shards) > MAX_SHARDS:
            raise ModelError(f"{index}: {len(shards)} shards, more than the {MAX_SHARDS} allowed")
        return shards

    def _add(self, path: Path, names: set[str] | None) -> None:
        if not path.is_file():
            raise ModelError(f"{path}: missing (named in {INDEX_FILE})")
        header, data_len = read_safetensors_header(path)
        shard = _Shard(path, header, path.stat().st_size - data_len, data_len)
        for name in header if names is None else names:
            if name == "__metadata__":
                continue
            if name not in header:
                raise ModelError(f"{path}: tensor {shown(name, 60)} named in the index is missing")
            self._where[name] = shard

    def __contains__(self, name: str) -> bool:
        return name in self._where

    def names(self) -> list[str]:
        """Every tensor name in the checkpoint."""
        return list(self._where)

    def shard_paths(self) -> list[Path]:
        """The safetensors files holding the tensors (one, or the shards)."""
        return sorted({shard.path for shard in self._where.values()})

    def shape(self, name: str) -> tuple | None:
        """The header's shape of ``name`` (None when absent or malformed)."""
        shard = self._where.get(name)
        got = (
            shard.header[name].get("shape")
            if shard and isinstance(shard.header[name], dict)
            else None
        )
        return tuple(got) if isinstance(got, list) else None

    def check(self, shapes: dict[str, tuple[int, ...]], what: str) -> None:
        """Refuse unless every tensor of ``shapes`` is present, well formed and affordable.

        Parameters
        ----------
        shapes : dict of str to tuple of int
            Full tensor names and the shapes the configuration implies.
        what : str
            The model, named in messages (``"2-layer GPT-2"``).
        """
        check_memory(sum(math.prod(s) for s in shapes.values()), self.folder / "config.json")
        missing = [n for n in shapes if n not in self._where]
        if missing:
            names = ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else "")
            raise ModelError(
                f"{self.source}: {len(missing)} tensor(s) missing for a {what}: {names}"
            )
        for n, shape in shapes.items():
            shard = self._where[n]
            problem = _problem(n, shard.header[n], shard.data_len, shape)
            if problem:
                raise ModelError(f"{shard.path}: {problem}")

    def _nbytes(self, name: str) -> int:
        begin, end = self._where[name].header[name]["data_offsets"]
        return int(end) - int(begin)

    def read(self, names, progress=None) -> dict[str, np.ndarray]:
        """Read checked tensors as float32 (C-contiguous); refuse non-finite values.

        ``progress(done_bytes, total_bytes)`` is called before the first tensor and after
        each one; an exception it raises (a cancelled load) stops the reading.
        """
        from safetensors import safe_open

        out: dict[str, np.ndarray] = {}
        by_shard: dict[Path, list[str]] = {}
        for n in names:
            by_shard.setdefault(self._where[n].path, []).append(n)
        total = sum(self._nbytes(n) for group in by_shard.values() for n in group)
        done = 0
        if progress is not None:
            progress(0, total)
        stop = None  # what progress raised: passed on as it is, never as a reading error
        for path, group in by_shard.items():
            with (
                reading_safetensors(path, ModelError),
                safe_open(str(path), framework="numpy") as f,
            ):
                for n in group:
                    out[n] = self._read_one(f, n)
                    done += self._nbytes(n)
                    if progress is not None:
                        try:
                            progress(done, total)
                        except Exception as exc:
                            stop = exc
                            break
            if stop is not None:
                raise stop
        bad = [n for n, a in out.items() if not np.isfinite(a).all()]
        if bad:
            raise ModelError(f"{self.source}: non-finite values in {', '.join(bad[:6])}")
        return out

    def _read_one(self, f, name: str) -> np.ndarray:
        shard = self._where[name]
        entry = shard.header[name]
        if entry["dtype"] != "BF16":
            return np.ascontiguousarray(f.get_tensor(name), dtype=np.float32)
        begin, end = entry["data_offsets"]  # checked by check(): inside the data section
        with open(shard.path, "rb") as fh:
            fh.seek(shard.data_start + begin)
            raw = fh.read(end - begin)
        if len(raw) != end - begin:
            raise ModelError(f"{shard.path}: the file is shorter than its header says")
        bits = np.frombuffer(raw, dtype="<u2").reshape(entry["shape"])
        return bf16_to_float32(bits.astype(np.uint16))
