"""The matrix codec: 2-D float64 matrices as readable rows of numbers or as base64 bytes.

Small matrices are written as arrays of rows, so hand-written and diffed sessions stay
readable; large ones (the heads of a pretrained model) as the base64 of their little-endian
float64 bytes, which takes about half the space and reads back bit for bit. See
``docs/session-format.md``.
"""

from __future__ import annotations

import base64
import math

import numpy as np

from explorer.io.codecs import (
    MAX_COLS,
    MAX_ROWS,
    Codec,
    SessionFileError,
    _check_keys,
    _join,
    _kind,
    _show,
)

#: Matrices with at most this many numbers are written as readable rows of numbers; larger
#: ones as base64 float64 bytes. 8192 = 2 · 64 · 64 is the largest matrix a session on the
#: built-in sources can have (d_model ≤ 64, concatenated positions, d_head ≤ 64), so those
#: sessions stay readable and diffable; only model-width heads are stored compactly.
READABLE_MAX_NUMBERS = 8192
COMPACT_DTYPE = "<f8"  # little-endian IEEE 754 float64
COMPACT_KEYS = ("dtype", "shape", "data")


def base64_length(n_bytes: int) -> int:
    """Characters of standard padded base64 for ``n_bytes`` bytes."""
    return 4 * ((n_bytes + 2) // 3)


class MatrixCodec(Codec):
    """A 2-D float64 matrix, stored in one of two forms.

    * readable: an array of rows of finite numbers. Python's ``json`` writes floats with
      ``repr``, the shortest text that reads back as the same float64.
    * compact: ``{"dtype": "<f8", "shape": [rows, cols], "data": "<base64>"}``, the row-major
      little-endian float64 bytes in standard padded base64 (about 10.7 characters a number
      instead of about 21).

    Both round-trip bit for bit. ``encode`` writes matrices of more than ``readable_max``
    numbers compactly; ``decode`` accepts either form at any allowed size. Decoding returns a
    read-only C-contiguous ``ndarray`` of shape (rows, cols), float64.
    """

    def __init__(
        self,
        max_rows: int = MAX_ROWS,
        max_cols: int = MAX_COLS,
        readable_max: int = READABLE_MAX_NUMBERS,
    ):
        self.max_rows, self.max_cols, self.readable_max = max_rows, max_cols, readable_max

    def is_compact(self, shape: tuple[int, int]) -> bool:
        """Whether a matrix of ``shape`` is written in the compact form."""
        return shape[0] * shape[1] > self.readable_max

    def min_encoded_chars(self, shape: tuple[int, int]) -> int:
        """A lower bound of the characters ``encode`` writes for a matrix of ``shape``.

        Exact for the compact form; for readable rows, 1 digit per number.
        """
        n = shape[0] * shape[1]
        return base64_length(8 * n) if self.is_compact(shape) else n

    def encode(self, value, where):
        arr = np.asarray(value)
        if arr.ndim != 2 or arr.dtype != np.float64:
            raise SessionFileError(f"expected a 2-D float64 matrix, got {arr.dtype}", where=where)
        self._check_shape(*arr.shape, where)
        if not np.isfinite(arr).all():
            raise SessionFileError("matrix holds NaN or infinity", where=where)
        if not self.is_compact(arr.shape):
            return arr.tolist()  # Python floats: json writes their exact shortest repr
        raw = np.ascontiguousarray(arr, dtype=COMPACT_DTYPE).tobytes()  # row-major, LE
        return {
            "dtype": COMPACT_DTYPE,
            "shape": [int(arr.shape[0]), int(arr.shape[1])],
            "data": base64.b64encode(raw).decode("ascii"),
        }

    def _check_shape(self, rows: int, cols: int, where: str) -> None:
        if rows < 1:
            raise SessionFileError("matrix has no rows", where=where)
        if rows > self.max_rows:
            raise SessionFileError(f"matrix has more than {self.max_rows} rows", where=where)
        if not 1 <= cols <= self.max_cols:
            raise SessionFileError(f"rows must have 1 to {self.max_cols} numbers", where=where)

    def decode(self, data, where):
        if type(data) is dict:
            return self._decode_compact(data, where)
        if type(data) is not list:
            raise SessionFileError(f"expected a matrix (array of rows), got {_kind(data)}", where)
        if not data:
            raise SessionFileError("matrix has no rows", where=where)
        if len(data) > self.max_rows:
            raise SessionFileError(f"matrix has more than {self.max_rows} rows", where=where)
        cols = None
        for i, row in enumerate(data):
            if type(row) is not list:
                raise SessionFileError(f"expected a row (array), got {_kind(row)}", f"{where}[{i}]")
            if cols is None:
                cols = len(row)
                if not 1 <= cols <= self.max_cols:
                    raise SessionFileError(f"rows must have 1 to {self.max_cols} numbers", where)
            elif len(row) != cols:
                raise SessionFileError(
                    f"ragged matrix: row {i} has {len(row)} numbers, row 0 has {cols}", where
                )
            for j, x in enumerate(row):
                t = type(x)
                if t is not float and t is not int:
                    raise SessionFileError(
                        f"expected a number, got {_kind(x)}", where=f"{where}[{i}][{j}]"
                    )
        try:
            arr = np.array(data, dtype=np.float64)  # (rows, cols)
        except OverflowError:  # a JSON integer too large for float64
            arr = None
        if arr is None or not np.isfinite(arr).all():
            bad = _first_nonfinite(data)
            raise SessionFileError(
                f"{_show(data[bad[0]][bad[1]])} is not a finite number",
                where=f"{where}[{bad[0]}][{bad[1]}]",
            )
        arr.setflags(write=False)
        return arr

    def _decode_compact(self, obj: dict, where: str) -> np.ndarray:
        _check_keys(obj, COMPACT_KEYS, COMPACT_KEYS, where)
        if obj["dtype"] != COMPACT_DTYPE:
            raise SessionFileError(
                f"{_show(obj['dtype'])} is not a stored matrix type; expected {COMPACT_DTYPE!r}",
                where=_join(where, "dtype"),
            )
        shape = obj["shape"]
        if type(shape) is not list or len(shape) != 2 or any(type(n) is not int for n in shape):
            raise SessionFileError("expected [rows, columns], two integers", _join(where, "shape"))
        rows, cols = shape
        self._check_shape(rows, cols, _join(where, "shape"))
        text = obj["data"]
        if type(text) is not str:
            raise SessionFileError(
                f"expected a base64 string, got {_kind(text)}", where=_join(where, "data")
            )
        need = base64_length(8 * rows * cols)
        if len(text) != need:  # checked before decoding anything
            raise SessionFileError(
                f"{len(text)} base64 characters, but {rows} × {cols} float64 numbers take {need}",
                where=_join(where, "data"),
            )
        try:
            raw = base64.b64decode(text, validate=True)
        except ValueError:  # binascii.Error, or characters outside ASCII
            raise SessionFileError("not valid base64", where=_join(where, "data")) from None
        if len(raw) != 8 * rows * cols:  # padding inside the text
            raise SessionFileError("not valid base64", where=_join(where, "data"))
        # frombuffer over immutable bytes gives a read-only view; astype copies only on
        # big-endian machines
        arr = np.frombuffer(raw, dtype=COMPACT_DTYPE).astype(np.float64, copy=False)
        arr = arr.reshape(rows, cols)  # (rows, cols), C order
        finite = np.isfinite(arr)
        if not finite.all():
            i, j = (int(k) for k in np.argwhere(~finite)[0])
            raise SessionFileError(
                f"{float(arr[i, j])!r} is not a finite number", where=f"{where}[{i}][{j}]"
            )
        arr.setflags(write=False)
        return arr


def _first_nonfinite(rows) -> tuple[int, int]:
    for i, row in enumerate(rows):
        for j, x in enumerate(row):
            try:
                if not math.isfinite(float(x)):
                    return i, j
            except OverflowError:
                return i, j
    raise AssertionError("unreachable: every number is finite")
