"""Reading a model folder's files with every size bounded before anything is allocated.

A model folder comes from anywhere (a Hugging Face cache, a download, a colleague), so each
file is treated as hostile until checked:

* JSON files (``config.json``, ``tokenizer_config.json``, the safetensors header) are refused
  by their size on disk before a byte is read, read with a bounded ``read``, and refused when
  nested deeper than :data:`MAX_JSON_DEPTH`.
* Tokenizer files read by the Rust ``tokenizers`` library are refused by size first.
* The safetensors header is parsed here, not by the Rust reader: every tensor the encoder needs
  must have a known dtype, a shape that matches ``config.json`` and a byte range inside the
  file, so that a file that lies about its contents is refused before it is mapped.
* The memory a model needs is compared with the memory this process can still get.
* The Rust readers (``safetensors``, ``tokenizers``) can raise pyo3's ``PanicException``, which
  derives from ``BaseException``; :func:`rust_failure` recognises it so that callers turn it
  into an :class:`EncoderError` while ``KeyboardInterrupt`` and ``SystemExit`` pass.

Every refusal is an :class:`EncoderError` whose message is one line naming the file.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class EncoderError(ValueError):
    """A model folder or an input that the encoder cannot handle, with a message for the user."""


# ------------------------------------------------------------------ limits
#: ``config.json``: real ones are 0.5–40 KB (an ``id2label`` table makes the big ones).
MAX_CONFIG_BYTES = 1 << 20  # 1 MiB
#: ``tokenizer_config.json``: usually under 10 KB; a long list of added tokens makes more.
MAX_TOKENIZER_CONFIG_BYTES = 4 << 20  # 4 MiB
#: ``tokenizer.json``: 0.7 MB for BERT, about 17 MB for the largest multilingual vocabularies.
MAX_TOKENIZER_JSON_BYTES = 64 << 20  # 64 MiB
#: ``vocab.txt``: 0.23 MB for BERT, under 2 MB for multilingual BERT.
MAX_VOCAB_BYTES = 16 << 20  # 16 MiB
#: The safetensors JSON header: about 20 KB for MiniLM, 50 KB for BERT-large.
MAX_HEADER_BYTES = 16 << 20  # 16 MiB
#: Nesting of any JSON file we parse; Hugging Face files use at most 4 or 5 levels.
MAX_JSON_DEPTH = 32
#: Dimensions of one tensor in the safetensors header (BERT's have 1 or 2).
MAX_TENSOR_DIMS = 8
#: Peak bytes per parameter while loading: the float32 tensors read from the file plus the
#: packed copies the forward pass uses (``(in, out)`` layout, fused q/k/v).
LOAD_BYTES_PER_PARAMETER = 8

# safetensors dtype codes: (NumPy name for messages, bytes per element)
SAFETENSORS_DTYPES = {
    "BOOL": ("bool", 1),
    "U8": ("uint8", 1),
    "I8": ("int8", 1),
    "F8_E5M2": ("float8_e5m2", 1),
    "F8_E4M3": ("float8_e4m3", 1),
    "I16": ("int16", 2),
    "U16": ("uint16", 2),
    "F16": ("float16", 2),
    "BF16": ("bfloat16", 2),
    "I32": ("int32", 4),
    "U32": ("uint32", 4),
    "F32": ("float32", 4),
    "I64": ("int64", 8),
    "U64": ("uint64", 8),
    "F64": ("float64", 8),
}
#: dtypes NumPy reads and the encoder widens to float32
FLOAT_DTYPES = ("F16", "F32", "F64")


# ------------------------------------------------------------------ helpers
def size_text(n: int) -> str:
    """``n`` bytes for a message: ``'512 bytes'``, ``'3.2 MB'``, ``'4.0 GB'``."""
    if n < 1000:
        return f"{n} bytes"
    for unit, scale in (("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12)):
        if n < scale * 1000 or unit == "TB":
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"  # pragma: no cover - the loop always returns


def shown(value, n: int = 60) -> str:
    """``repr(value)`` on one line and at most ``n`` characters, for a message."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # deep nesting; ints past the digit limit
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def one_line(text: str, n: int = 200) -> str:
    """A foreign error message (tokenizers, safetensors) on one line of at most ``n`` chars."""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def checked_size(path: Path, limit: int) -> int:
    """The size of the regular file ``path``, refused above ``limit`` bytes without reading.

    Raises
    ------
    EncoderError
        ``path`` is not a regular file, cannot be examined, or is larger than ``limit``.
    """
    try:
        st = path.stat()
    except OSError as exc:
        raise EncoderError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not path.is_file():
        raise EncoderError(f"{path}: not a regular file")
    if st.st_size > limit:
        raise EncoderError(
            f"{path}: {size_text(st.st_size)} is more than the {size_text(limit)} such a file "
            "may have; it was not read"
        )
    return st.st_size


def json_depth_exceeds(value, limit: int) -> bool:
    """True when ``value`` (parsed JSON) nests lists and dicts deeper than ``limit``."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            items = v.values()
        elif isinstance(v, list):
            items = v
        else:
            continue
        if depth > limit:
            return True
        stack.extend((x, depth + 1) for x in items if isinstance(x, dict | list))
    return False


def parse_json(data: bytes, source) -> object:
    """Parse UTF-8 JSON ``data`` nested at most :data:`MAX_JSON_DEPTH` deep."""
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise EncoderError(f"{source}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise EncoderError(f"{source}: not readable JSON ({exc})") from None
    except RecursionError:
        raise EncoderError(
            f"{source}: JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)"
        ) from None
    except ValueError as exc:  # an integer with more digits than Python converts
        raise EncoderError(f"{source}: not readable JSON ({one_line(exc, 80)})") from None
    if json_depth_exceeds(value, MAX_JSON_DEPTH):
        raise EncoderError(f"{source}: JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    return value


def read_json(path: Path, limit: int) -> object:
    """Read the JSON file ``path``, refusing it by size (``limit`` bytes) before reading.

    Raises
    ------
    EncoderError
        Too large, unreadable, not JSON, or nested deeper than :data:`MAX_JSON_DEPTH`.
    """
    checked_size(path, limit)
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)  # the file may have grown since stat
    except OSError as exc:
        raise EncoderError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise EncoderError(f"{path}: more than the {size_text(limit)} such a file may have")
    return parse_json(data, path)


# ------------------------------------------------------------------ memory
def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _address_space_left() -> int | None:
    """Room left under an address-space limit (``ulimit -v``), or None without one."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        return None
    if soft == resource.RLIM_INFINITY:
        return None
    used = 0
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    used = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return max(0, soft - used)


def available_memory() -> int | None:
    """Bytes of memory this process can still allocate, or None when unknown.

    The smaller of the system's available memory (``MemAvailable`` in ``/proc/meminfo``, else
    ``os.sysconf``) and the room left under an address-space limit.
    """
    known = [m for m in (_meminfo_available(), _address_space_left()) if m is not None]
    return min(known) if known else None


def check_memory(n_parameters: int, source) -> None:
    """Refuse a model whose loading would need more memory than is available.

    Parameters
    ----------
    n_parameters : int
        Parameters of the tensors the encoder reads.
    source : str or Path
        Named in the message (the config file the sizes come from).
    """
    needed = n_parameters * LOAD_BYTES_PER_PARAMETER
    free = available_memory()
    if free is not None and needed > free:
        raise EncoderError(
            f"{source}: {n_parameters:,} parameters need about {size_text(needed)} of memory "
            f"to load, but only {size_text(free)} is available"
        )


# ------------------------------------------------------------------ safetensors
def read_safetensors_header(path: Path) -> tuple[dict, int]:
    """The JSON header of a safetensors file and the length of its data section.

    The file starts with the header's length (8 bytes, little-endian), then the header, then
    the data; ``data_offsets`` count from the start of the data.

    Returns
    -------
    header : dict
        Tensor name -> ``{"dtype", "shape", "data_offsets"}`` (and ``"__metadata__"``).
    data_len : int
        Bytes after the header.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise EncoderError(f"{path}: not a safetensors file ({size_text(size)}, too short)")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES:
                raise EncoderError(
                    f"{path}: the safetensors header claims {size_text(n)}, more than the "
                    f"{size_text(MAX_HEADER_BYTES)} allowed"
                )
            if 8 + n > size:
                raise EncoderError(
                    f"{path}: the safetensors header claims {size_text(n)}, but the file has "
                    f"only {size_text(size)}"
                )
            data = f.read(n)
    except OSError as exc:
        raise EncoderError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) < n:
        raise EncoderError(f"{path}: the file is shorter than its safetensors header says")
    header = parse_json(data, path)
    if not isinstance(header, dict):
        raise EncoderError(f"{path}: the safetensors header is not a JSON object")
    return header, size - 8 - n


def tensor_problem(name: str, entry, data_len: int, shape: tuple[int, ...]) -> str:
    """Why one header ``entry`` cannot be read as a float tensor of ``shape`` ("" if it can)."""
    if not isinstance(entry, dict):
        return f"tensor {name} has no valid header entry"
    dtype, got, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in SAFETENSORS_DTYPES:
        return f"tensor {name} has unknown dtype {shown(dtype, 20)}"
    if (
        not isinstance(got, list)
        or len(got) > MAX_TENSOR_DIMS
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in got)
    ):
        return f"tensor {name} has an invalid shape {shown(got, 40)}"
    if tuple(got) != shape:
        return f"{name} is {tuple(got)}, expected {shape}"
    np_name, itemsize = SAFETENSORS_DTYPES[dtype]
    if dtype not in FLOAT_DTYPES:
        return f"tensor {name} has dtype {np_name}, expected float16, float32 or float64"
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
    ):
        return f"tensor {name} has invalid data_offsets {shown(offsets, 40)}"
    begin, end = offsets
    if not 0 <= begin <= end <= data_len:
        return (
            f"tensor {name} lies at bytes {begin}–{end} of a data section of {data_len} "
            "bytes (the file is cut short or its header is wrong)"
        )
    if end - begin != math.prod(shape) * itemsize:
        return (
            f"tensor {name} has {end - begin} bytes for {math.prod(shape)} {np_name} values "
            f"({math.prod(shape) * itemsize} bytes)"
        )
    return ""


@contextmanager
def reading_safetensors(path, error: type[EncoderError] = EncoderError) -> Iterator[None]:
    """Turn whatever the safetensors reader raises inside the block into one ``error`` line
    about ``path``: corrupt files, running out of memory, and Rust panics (see
    :func:`rust_failure`). Errors of our own pass through unchanged."""
    try:
        yield
    except EncoderError:
        raise
    except MemoryError:
        raise error(f"{path}: not enough memory to read the weights") from None
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise error(f"{path}: not a readable safetensors file ({one_line(exc)})") from None
    except BaseException as exc:
        if not rust_failure(exc):
            raise
        # the Rust reader panics, for example, when it cannot allocate a tensor's buffer
        raise error(
            f"{path}: the safetensors reader failed on this file (damaged, or too large "
            "for the memory available)"
        ) from None


def rust_failure(exc: BaseException) -> bool:
    """True for the panic of a Rust extension (pyo3's ``PanicException``).

    pyo3 raises it when Rust code panics, for example when a buffer cannot be allocated. It
    derives from ``BaseException``, so ``except Exception`` misses it; this test lets a caller
    catch it and nothing else (``KeyboardInterrupt`` and ``SystemExit`` are never matched).
    """
    if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
        return False
    t = type(exc)
    return t.__name__ == "PanicException" or t.__module__ == "pyo3_runtime"
