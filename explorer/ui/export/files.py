"""Matrices out of the explorer (CSV with token headers, NPY), and atomic file writes.

No Qt here: :mod:`explorer.ui.export.figures` re-exports everything for the window's menus.
"""

from __future__ import annotations

import base64
import csv
import io
import math
import os
from collections.abc import Sequence
from html import escape
from pathlib import Path

import numpy as np

from explorer.core.long_attention import is_lazy
from explorer.io.atomic import atomic_write as _atomic_write
from explorer.io.atomic import os_reason

__all__ = [
    "MATRIX_SUFFIXES",
    "ExportError",
    "atomic_write",
    "check_number",
    "export_matrix",
    "result_matrices",
    "svg_with_png",
]

MATRIX_SUFFIXES = (".csv", ".npy")


class ExportError(OSError, ValueError):
    """An export that cannot be done: a bad suffix or size, or a file that cannot be written.

    It is both an :class:`OSError` and a :class:`ValueError`, so callers may catch either.
    """


# ------------------------------------------------------------------ files
def atomic_write(path: Path, data) -> None:
    """Write ``data`` to ``path`` atomically; :class:`ExportError` says why it failed."""
    try:
        _atomic_write(path, data)
    except ExportError:
        raise  # a streamed export that stopped (cancelled): its own message
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {os_reason(exc)}") from None


def check_number(name: str, value, lo: float, hi: float, *, integer: bool = False):
    """``value`` as a number in ``[lo, hi]`` (an int if ``integer``); ExportError if not."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ExportError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number) or not lo <= number <= hi:
        raise ExportError(f"{name} must be between {lo:g} and {hi:g}, got {value!r}")
    if integer:
        if number != int(number):
            raise ExportError(f"{name} must be a whole number, got {value!r}")
        return int(number)
    return number


def svg_with_png(png: bytes, width: int, height: int, *, dpi: float, title: str) -> bytes:
    """An SVG document that is one embedded PNG picture.

    Parameters
    ----------
    png : bytes
        The encoded picture (any pixel size; it is stretched over the page).
    width, height : int
        Logical size of the page (its ``viewBox``); the physical size is ``width / dpi`` inches.
    dpi : float
        Logical pixels per inch.
    title : str
        Document title.
    """
    data = base64.b64encode(png).decode("ascii")
    text = (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        f'<svg width="{width * 25.4 / dpi:.3f}mm" height="{height * 25.4 / dpi:.3f}mm" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1">\n'
        f"<title>{escape(title)}</title>\n"
        "<desc>Attention Explorer window (embedded image)</desc>\n"
        f'<image x="0" y="0" width="{width}" height="{height}" preserveAspectRatio="none" '
        f'xlink:href="data:image/png;base64,{data}"/>\n</svg>\n'
    )
    return text.encode("utf-8")


# ---------------------------------------------------------------- matrices
def export_matrix(
    matrix,
    path: str | os.PathLike,
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    progress=None,
) -> Path:
    """Write a 2-D matrix as CSV (with token headers) or NPY, chosen by suffix.

    A lazy matrix (a long text, :class:`~explorer.core.long_attention.LazyMatrix`) is
    computed and written a block of rows at a time, straight to the file: an 8,192-token CSV
    is about 1 GB and is never held in memory whole.

    Parameters
    ----------
    matrix : array_like, shape (rows, cols)
        Real numbers; ``-inf`` (masked scores) and NaN are written as ``-inf`` / ``nan``.
    path : str or path-like
        ``.csv``: UTF-8 text; the header row is an empty corner cell then ``col_labels``, and
        each line starts with its row label. Tokens with commas, quotes or line breaks are
        quoted by :mod:`csv`. Numbers use ``repr`` so they read back to the same float64.
        ``.npy``: :func:`numpy.save` without pickles; labels are not stored.
    row_labels, col_labels : sequence of str, optional
        Default ``0 .. rows-1`` and ``0 .. cols-1``.
    progress : callable, optional
        Called with the share written (0 to 1) after each block of rows of a lazy matrix;
        returning False cancels the export (:class:`ExportError`, nothing is written).

    Returns
    -------
    Path

    Raises
    ------
    ExportError
        Not a 2-D real matrix, labels of the wrong length, unknown suffix, or the file
        cannot be written (an existing file is left intact).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MATRIX_SUFFIXES:
        raise ExportError(
            f"cannot export a matrix as '{path.suffix or path.name}': use .csv or .npy"
        )
    if is_lazy(matrix):
        return _export_lazy(matrix, path, suffix, row_labels, col_labels, progress)
    try:
        a = np.asarray(matrix)
    except (TypeError, ValueError) as exc:
        raise ExportError(f"not a matrix: {exc}") from None
    if a.ndim != 2:
        raise ExportError(f"a matrix must be 2-D, got shape {a.shape}")
    if a.dtype == bool or not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise ExportError(f"a matrix must hold real numbers, got dtype {a.dtype}")
    rows, cols = a.shape
    rows_l = _labels(row_labels, rows, "row")
    cols_l = _labels(col_labels, cols, "column")
    if suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
        data = buf.getvalue()
    else:
        text = io.StringIO(newline="")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["", *cols_l])
        for label, row in zip(rows_l, a.tolist(), strict=True):
            writer.writerow([label, *(repr(float(v)) for v in row)])
        data = text.getvalue().encode("utf-8")
    atomic_write(path, data)
    return path


ROWS_PER_BLOCK = 256  # rows of a lazy matrix computed and written at a time


def _export_lazy(matrix, path: Path, suffix: str, row_labels, col_labels, progress) -> Path:
    """:func:`export_matrix` for a lazy matrix, streamed a block of rows at a time."""
    rows, cols = matrix.shape
    rows_l = _labels(row_labels, rows, "row")
    cols_l = _labels(col_labels, cols, "column")
    dtype = np.dtype(matrix.dtype)

    def write(f) -> None:
        if suffix == ".npy":
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                      "shape": (rows, cols)}  # fmt: skip
            np.lib.format.write_array_header_1_0(f, header)
        else:
            text = io.TextIOWrapper(f, encoding="utf-8", newline="", write_through=True)
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(["", *cols_l])
        for r0 in range(0, rows, ROWS_PER_BLOCK):
            block = np.ascontiguousarray(matrix.window(r0, r0 + ROWS_PER_BLOCK, 0, cols))
            if suffix == ".npy":
                f.write(block.astype(dtype, copy=False).tobytes())
            else:
                for label, row in zip(rows_l[r0 : r0 + len(block)], block.tolist(), strict=True):
                    writer.writerow([label, *(repr(float(v)) for v in row)])
            if progress is not None and progress(min(1.0, (r0 + len(block)) / rows)) is False:
                raise ExportError("export cancelled: nothing was written")
        if suffix != ".npy":
            text.detach()  # the file stays open for atomic_write to flush and sync

    atomic_write(path, write)
    return path


def _labels(labels: Sequence[str] | None, n: int, what: str) -> list[str]:
    if labels is None:
        return [str(i) for i in range(n)]
    labels = [str(t) for t in labels]
    if len(labels) != n:
        raise ExportError(f"{len(labels)} {what} labels for {n} {what}s")
    return labels


def result_matrices(result, head: int) -> dict[str, tuple[np.ndarray, list[str], list[str]]]:
    """Every matrix of one head of a Result, with its axis labels, for Export Matrix.

    Parameters
    ----------
    result : Result
        From :func:`explorer.core.pipeline.compute`.
    head : int
        Head for the per-head matrices.

    Returns
    -------
    dict of str to (ndarray, list of str, list of str)
        ``name -> (matrix, row_labels, col_labels)``, in menu order:
        ``weights``, ``scores``, ``scaled``, ``masked`` (T, T); ``Q``, ``K`` (T, d_head);
        ``V``, ``y`` (T, d_v); ``x`` (T, d_in); ``static similarity``,
        ``contextual similarity`` (T, T). Rows are tokens (display labels: a repeated word
        gets a subscript, so every header is unique); vector columns are named
        ``q0 ..``, ``k0 ..``, ``v0 ..``, ``y0 ..``, ``x0 ..``.

    Raises
    ------
    ValueError
        ``head`` is not a head of ``result``.
    """
    n_head = result.weights.shape[0]
    if isinstance(head, bool) or not isinstance(head, (int, np.integer)) or not 0 <= head < n_head:
        raise ValueError(f"head {head} does not exist: " + _heads_phrase(n_head))
    tokens = result.display_labels  # unique headers, as on screen: bank₁, bank₂

    def cols(prefix: str, a: np.ndarray) -> list[str]:
        return [f"{prefix}{j}" for j in range(a.shape[1])]

    h = int(head)
    out: dict[str, tuple[np.ndarray, list[str], list[str]]] = {}
    for name in ("weights", "scores", "scaled", "masked"):
        out[name] = (getattr(result, name)[h], tokens, tokens)  # (T, T)
    for name, attr, prefix in (("Q", "q", "q"), ("K", "k", "k"), ("V", "v", "v"), ("y", "y", "y")):
        a = getattr(result, attr)[h]  # (T, d_head) or (T, d_v)
        out[name] = (a, tokens, cols(prefix, a))
    out["x"] = (result.x, tokens, cols("x", result.x))  # (T, d_in)
    out["static similarity"] = (result.static_similarity, tokens, tokens)
    out["contextual similarity"] = (result.contextual_similarity, tokens, tokens)
    return out


def _heads_phrase(n_head: int) -> str:
    return "there is only head 0" if n_head == 1 else f"the heads are 0..{n_head - 1}"
