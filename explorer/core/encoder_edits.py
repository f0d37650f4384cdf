"""A real head's projections in the workbench's convention, and edits to heads.

``torch.nn.Linear`` stores ``(out, in)`` and computes ``x @ W.T + b``; here every projection is
``(d_model, d_head)`` with ``q = x @ w_q + b_q``, as in the workbench's ``Head``. The workbench
has no bias, so :meth:`HeadWeights.augmented` appends the bias as an extra weight row to be
used with :func:`with_ones` (the layer input plus a column of ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import isfinite

import numpy as np

from explorer.core.encoder_config import EncoderError


def with_ones(x) -> np.ndarray:
    """Append a column of ones: ``(T, d_model) -> (T, d_model + 1)`` float64.

    With :meth:`HeadWeights.augmented`, ``with_ones(x) @ w_aug == x @ w + b`` exactly, so a
    bias-free workbench head reproduces a real head.
    """
    x = np.asarray(x, dtype=np.float64)
    return np.concatenate([x, np.ones((*x.shape[:-1], 1))], axis=-1)


@dataclass(frozen=True, eq=False)
class HeadWeights:
    """A real head's projections: ``q = x @ w_q + b_q`` and likewise for k and v.

    Attributes
    ----------
    layer, head : int
    w_q, w_k, w_v : ndarray, shape (d_model, d_head), float64
    b_q, b_k, b_v : ndarray, shape (d_head,), float64

    Notes
    -----
    ``b_k`` never changes the attention weights (it adds ``q·b_k`` to a whole row of scores,
    and softmax ignores a per-row shift); ``b_q`` does; ``b_v`` shifts every output row by
    ``b_v`` because each weight row sums to 1.
    """

    layer: int
    head: int
    w_q: np.ndarray
    w_k: np.ndarray
    w_v: np.ndarray
    b_q: np.ndarray
    b_k: np.ndarray
    b_v: np.ndarray

    def augmented(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(w_q, w_k, w_v)`` with the bias as an extra last row: (d_model + 1, d_head) each.

        Feed them with :func:`with_ones` (layer input plus a column of ones) to a workbench
        head that has no bias.
        """
        return tuple(
            np.vstack([w, b[None, :]])
            for w, b in ((self.w_q, self.b_q), (self.w_k, self.b_k), (self.w_v, self.b_v))
        )

    def project(self, x) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``q, k, v`` of shape (T, d_head) for layer input ``x`` (T, d_model), float64."""
        x = np.asarray(x, dtype=np.float64)
        return x @ self.w_q + self.b_q, x @ self.w_k + self.b_k, x @ self.w_v + self.b_v


def _matrix_or_none(value, name: str):
    if value is None:
        return None
    arr = np.array(value, dtype=np.float64, copy=True)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class HeadEdit:
    """A change to one head for :meth:`Encoder.forward`.

    Attributes
    ----------
    layer, head : int
    scale : float
        Multiplies the head's attention output ``y_h``; 0 ablates the head.
    w_q, w_k, w_v : ndarray, optional
        Replacement projections, shape (d_model, d_head) (the model's bias is kept), or
        (d_model + 1, d_head) with the bias as the last row (as from
        :meth:`HeadWeights.augmented`). None keeps the model's matrix.
    b_q, b_k, b_v : ndarray, shape (d_head,), optional
        Replacement biases (only with a (d_model, d_head) matrix or alone).
    """

    layer: int
    head: int
    scale: float = 1.0
    w_q: np.ndarray | None = None
    w_k: np.ndarray | None = None
    w_v: np.ndarray | None = None
    b_q: np.ndarray | None = None
    b_k: np.ndarray | None = None
    b_v: np.ndarray | None = None

    def __post_init__(self):
        for name in ("w_q", "w_k", "w_v", "b_q", "b_k", "b_v"):
            object.__setattr__(self, name, _matrix_or_none(getattr(self, name), name))

    @classmethod
    def ablate(cls, layer: int, head: int) -> HeadEdit:
        """Zero the head's attention output."""
        return cls(layer, head, scale=0.0)

    @classmethod
    def scaled(cls, layer: int, head: int, factor: float) -> HeadEdit:
        """Multiply the head's attention output by ``factor``."""
        return cls(layer, head, scale=float(factor))

    @property
    def replaces(self) -> str:
        """Which of ``"qkv"`` this edit recomputes."""
        return "".join(
            c
            for c in "qkv"
            if getattr(self, f"w_{c}") is not None or getattr(self, f"b_{c}") is not None
        )

    def to_dict(self) -> dict:
        """A JSON-ready dict (matrices as nested lists)."""
        d = {"layer": int(self.layer), "head": int(self.head), "scale": float(self.scale)}
        for name in ("w_q", "w_k", "w_v", "b_q", "b_k", "b_v"):
            value = getattr(self, name)
            if value is not None:
                d[name] = value.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> HeadEdit:
        """Inverse of :meth:`to_dict`; shapes are checked when the edit is used."""
        if not isinstance(d, dict) or "layer" not in d or "head" not in d:
            raise EncoderError(f"a head edit needs 'layer' and 'head', got {d!r:.80}")
        allowed = {"layer", "head", "scale", "w_q", "w_k", "w_v", "b_q", "b_k", "b_v"}
        unknown = set(d) - allowed
        if unknown:
            raise EncoderError(f"unknown head edit fields: {', '.join(sorted(unknown))}")
        try:
            return cls(**d)
        except (TypeError, ValueError) as exc:
            raise EncoderError(f"bad head edit: {exc}") from exc


def checked_edits(edits, cfg) -> dict[int, list[HeadEdit]]:
    """Validate edits against the encoder; group them by layer."""
    return check_head_edits(
        edits, cfg.num_layers, cfg.num_heads, cfg.hidden_size, cfg.d_head, EncoderError
    )


def check_head_edits(edits, n_layer, n_head, d_model, d_head, error=EncoderError):
    """Validate head edits for a model of the given sizes; group them by layer.

    Parameters
    ----------
    edits : iterable of HeadEdit
    n_layer, n_head, d_model, d_head : int
        The model's sizes; replaced projections are (d_model, d_head), or (d_model + 1,
        d_head) with the bias as the last row.
    error : type of Exception
        Raised, with one line, for the first problem (EncoderError or a subclass).

    Returns
    -------
    dict of int to list of HeadEdit
    """
    by_layer: dict[int, list[HeadEdit]] = {}
    seen = set()
    H, dh = d_model, d_head
    for e in edits:
        if not isinstance(e, HeadEdit):
            raise error(f"edits must be HeadEdit objects, got {type(e).__name__}")
        if not (0 <= e.layer < n_layer and 0 <= e.head < n_head):
            raise error(
                f"edit names head ({e.layer}, {e.head}); the model has "
                f"{n_layer} layers × {n_head} heads"
            )
        if (e.layer, e.head) in seen:
            raise error(f"head ({e.layer}, {e.head}) is edited twice; combine the edits")
        seen.add((e.layer, e.head))
        if not isfinite(e.scale):
            raise error(f"head ({e.layer}, {e.head}): scale must be finite")
        for c in "qkv":
            w, b = getattr(e, f"w_{c}"), getattr(e, f"b_{c}")
            if w is not None and w.shape not in ((H, dh), (H + 1, dh)):
                raise error(
                    f"head ({e.layer}, {e.head}): w_{c} has shape {w.shape}, expected "
                    f"({H}, {dh}) or ({H + 1}, {dh}) with the bias as last row"
                )
            if w is not None and w.shape[0] == H + 1 and b is not None:
                raise error(f"head ({e.layer}, {e.head}): b_{c} given twice")
            if b is not None and b.shape != (dh,):
                raise error(f"head ({e.layer}, {e.head}): b_{c} must have shape ({dh},)")
            for a in (w, b):
                if a is not None and not np.isfinite(a).all():
                    raise error(f"head ({e.layer}, {e.head}): non-finite values in {c}")
        by_layer.setdefault(e.layer, []).append(e)
    return by_layer
