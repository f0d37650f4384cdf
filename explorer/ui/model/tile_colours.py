"""Colouring the Model grid's tiles: values through a colour map's 256 colours into packed RGBA,
with a filter's white veil and a tile's opacity, as pyqtgraph's ``ImageItem`` colours an image.
A Numba kernel (compiled off the GUI thread by :func:`warm_up`) and the same in NumPy."""

from __future__ import annotations

import numpy as np

VEIL = 200  # how far a filtered-out cell is washed towards white (of 255), as in HeatmapView

compiled = []  # colour_tiles compiled by Numba, once warm_up has run


def warm_up() -> None:
    """Compile :func:`colour_tiles` once; call it off the GUI thread (the model view's worker
    does, before its first pass). Until then the grid colours with NumPy: the same colours,
    a few times slower. Numba is imported here, not with this module, to keep it out of the
    window's start-up."""
    if compiled:
        return
    import explorer.core.numba_config  # noqa: F401, I001  (first: a writable cache folder)
    from numba import njit

    kernel = njit(cache=True, error_model="numpy")(colour_tiles)
    mosaic = np.zeros((1, 1), np.uint32)
    one = np.zeros((1, 1, 1), np.float32)
    for keep in (np.ones((1, 1, 1), bool), np.ones((0, 0, 0), bool)):
        kernel(one, np.zeros(1, np.int64), np.zeros((1, 2), np.int64), np.float32(0),
               np.float32(256), _GREY, keep, np.full(1, 255, np.uint32), mosaic)  # fmt: skip
    compiled.append(kernel)


_GREY = np.arange(256, dtype=np.uint32) * 0x010101 | 0xFF000000


def colour_tiles(data, which, origins, lo, scale, lut, keep, alpha, mosaic):
    """Colour tiles into the mosaic in one pass, as ``ImageItem`` would with a lookup table
    (plain Python: :func:`warm_up` compiles it; :func:`colour_tiles_numpy` is the same in
    NumPy).

    Parameters
    ----------
    data : ndarray, (n, h, w) float32
        Every tile's values; NaN and infinities are drawn as 0.
    which : ndarray, (k,) int64
        The tiles to colour.
    origins : ndarray, (k, 2) int64
        Their top-left (x, y) in the mosaic.
    lo, scale : float32
        A value v gets colour ``lut[clip((v - lo) · scale, 0, 255)]``.
    lut : ndarray, (256,) uint32
        RGBA bytes packed little-endian (alpha in the top byte).
    keep : ndarray, (k, h, w) bool, or empty for no filter
        False washes the cell towards white (a filter left it out).
    alpha : ndarray, (k,) uint32
        Each tile's opacity, 0…255.
    mosaic : ndarray, (H, W) uint32, written in place
    """
    h, w = data.shape[1], data.shape[2]
    filtered = keep.shape[0] > 0
    zero = min(max((np.float32(0.0) - lo) * scale, np.float32(0.0)), np.float32(255.0))
    for t in range(which.shape[0]):
        x0, y0 = origins[t, 0], origins[t, 1]
        a = alpha[t] << 24
        tile = data[which[t]]
        for i in range(h):
            row = mosaic[y0 + i]
            for j in range(w):
                f = (tile[i, j] - lo) * scale
                f = min(max(f, np.float32(0.0)), np.float32(255.0))
                if not np.isfinite(tile[i, j]):
                    f = zero
                c = lut[np.int64(f)]
                if filtered and not keep[t, i, j]:
                    r = (c & 0xFF) * (255 - VEIL) // 255 + VEIL
                    g = ((c >> 8) & 0xFF) * (255 - VEIL) // 255 + VEIL
                    b = ((c >> 16) & 0xFF) * (255 - VEIL) // 255 + VEIL
                    c = r | (g << 8) | (b << 16)
                row[x0 + j] = (c & 0xFFFFFF) | a


def colour_tiles_numpy(data, which, origins, lo, scale, lut, keep, alpha, mosaic):
    """:func:`colour_tiles` in NumPy (the same arguments and colours)."""
    tiles = data[which]  # (k, h, w)
    with np.errstate(invalid="ignore", over="ignore"):
        f = (tiles - lo) * scale
    f = np.where(np.isfinite(tiles), f, (np.float32(0.0) - lo) * scale)
    np.clip(f, 0, 255, out=f)
    c = lut.take(f.astype(np.uint8)).astype(np.uint32)  # (k, h, w)
    if keep.shape[0]:
        off = ~keep
        rgb = [(c[off] >> s) & 0xFF for s in (0, 8, 16)]
        r, g, b = ((x * (255 - VEIL)) // 255 + VEIL for x in rgb)
        c[off] = r | (g << 8) | (b << 16)
    c = (c & 0xFFFFFF) | (alpha.astype(np.uint32)[:, None, None] << 24)
    h, w = tiles.shape[1:]
    for tile, (x, y) in zip(c, origins, strict=True):
        mosaic[y : y + h, x : x + w] = tile
