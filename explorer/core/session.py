"""The Session: everything a user can set, as one immutable value.

Every edit produces a new Session through :func:`dataclasses.replace`; undo and redo are a
stack of Sessions, and ``compute(session)`` turns one into a Result. Arrays inside a Session
are read-only copies, so a Session can be shared between the GUI thread and the worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

EMBEDDING_SOURCES = ("one-hot", "builtin", "random", "model")
POSITIONAL_ENCODINGS = ("none", "sinusoidal", "learned")
POSITIONAL_MODES = ("add", "concat")
PROJECTION_PRESETS = ("identity", "orthogonal", "scaled", "model")
COLORMAPS = ("viridis", "cividis", "magma", "inferno")  # sequential maps for weights
SCORE_COLORMAPS = ("CET-D1A", "CET-CBD1")  # diverging maps for signed scores

DEFAULT_TEXT = "The dog chased the cat off the table."
D_MODEL_RANGE = (2, 64)
MAX_HEADS = 12
TEMPERATURE_RANGE = (0.05, 20.0)
GENERATE_TEMPERATURE_RANGE = (0.05, 5.0)  # sampling temperature of the Decoder tab
MAX_TEXT_CHARS = 1_000_000  # longest text a session may hold (about 200k word pieces)


#: The largest weight magnitude attention is computed with. Far beyond anything useful
#: (sliders span ±3), yet small enough that scores stay finite in float32 for every input
#: the explorer builds, so attention never silently turns into NaN.
MAX_ABS_WEIGHT = 1e6


def check_weights(a: np.ndarray, name: str) -> None:
    """ValueError unless every entry of ``a`` is finite and within ±:data:`MAX_ABS_WEIGHT`."""
    big = float(np.abs(a).max()) if a.size else 0.0  # NaN when any entry is NaN
    if not np.isfinite(big):
        raise ValueError(f"{name} holds NaN or infinite weights")
    if big > MAX_ABS_WEIGHT:
        raise ValueError(
            f"{name} holds a weight of magnitude {big:.3g}, beyond ±{MAX_ABS_WEIGHT:g}"
        )


def _frozen(a, name: str) -> np.ndarray:
    """Return a read-only float64 C-contiguous copy of ``a``."""
    arr = np.array(a, dtype=np.float64, order="C", copy=True)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {arr.shape}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Head:
    """One attention head's projections.

    Parameters
    ----------
    w_q, w_k : ndarray, shape (d_model, d_head), float64
        Query and key projections.
    w_v : ndarray, shape (d_model, d_v), float64
        Value projection (``d_v == d_head`` everywhere in the explorer).

    Any finite weights are stored (session files keep them bit for bit); :func:`compute
    <explorer.core.pipeline.compute>` refuses weights beyond :data:`MAX_ABS_WEIGHT`.
    """

    w_q: np.ndarray
    w_k: np.ndarray
    w_v: np.ndarray

    def __post_init__(self):
        for name in ("w_q", "w_k", "w_v"):
            object.__setattr__(self, name, _frozen(getattr(self, name), name))
        if self.w_q.shape != self.w_k.shape:
            raise ValueError(f"w_q {self.w_q.shape} and w_k {self.w_k.shape} differ in shape")
        if self.w_v.shape[0] != self.w_q.shape[0]:
            raise ValueError("w_v must have d_model rows like w_q")

    @property
    def d_model(self) -> int:
        return self.w_q.shape[0]

    @property
    def d_head(self) -> int:
        return self.w_q.shape[1]

    def matrix(self, which: str) -> np.ndarray:
        """Return ``w_q``, ``w_k`` or ``w_v`` for ``which`` in ``"qkv"``."""
        return {"q": self.w_q, "k": self.w_k, "v": self.w_v}[which]

    def with_matrix(self, which: str, value) -> Head:
        """Return a copy with one matrix replaced."""
        return replace(self, **{f"w_{which}": value})

    def with_weight(self, which: str, row: int, col: int, value: float) -> Head:
        """Return a copy with one weight changed."""
        m = np.array(self.matrix(which))
        m[row, col] = value
        return self.with_matrix(which, m)

    def __eq__(self, other):
        if not isinstance(other, Head):
            return NotImplemented
        return all(
            np.array_equal(a, b)
            for a, b in ((self.w_q, other.w_q), (self.w_k, other.w_k), (self.w_v, other.w_v))
        )

    __hash__ = None


def identity_heads(n_head: int, d_model: int, d_head: int) -> tuple[Head, ...]:
    """Heads whose projections are the (rectangular) identity."""
    eye = np.eye(d_model, d_head)
    return tuple(Head(eye, eye, eye) for _ in range(n_head))


@dataclass(frozen=True)
class ViewOptions:
    """How results are drawn. Only ``show_special`` (which adds tokens) reruns attention."""

    colormap: str = "viridis"  # weights colour map (COLORMAPS)
    score_colormap: str = "CET-D1A"  # diverging map for signed scores (SCORE_COLORMAPS)
    show_values: bool = True  # write the value in each cell when there is room
    show_special: bool = False  # show [CLS] and [SEP] as tokens


@dataclass(frozen=True)
class ModelRef:
    """A pretrained encoder a session refers to.

    ``sha256`` identifies the weights file; ``layer`` is the layer whose input vectors feed
    the workbench when the embedding source is ``"model"``.
    """

    name: str
    sha256: str = ""
    layer: int = 0
    head: int = 0


@dataclass(frozen=True, eq=False)
class HeadScale:
    """An edit of a pretrained model's head made in the Model tab.

    The output of head ``head`` in layer ``layer`` is multiplied by ``scale`` before the
    layer's output projection; ``scale = 0`` ablates the head. ``w_q``, ``w_k``, ``w_v``
    (shape (d_model, d_head), float64), when set, replace the head's projections (its biases
    are kept); ``sha256`` names the weights file they were edited on.
    """

    layer: int
    head: int
    scale: float = 0.0
    w_q: np.ndarray | None = None
    w_k: np.ndarray | None = None
    w_v: np.ndarray | None = None
    sha256: str = ""

    def __post_init__(self):
        for name in ("w_q", "w_k", "w_v"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _frozen(getattr(self, name), name))

    def __eq__(self, other):
        if not isinstance(other, HeadScale):
            return NotImplemented
        same = (self.layer, self.head, self.scale, self.sha256) == (
            other.layer,
            other.head,
            other.scale,
            other.sha256,
        )
        return same and all(
            (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
            for a, b in ((self.w_q, other.w_q), (self.w_k, other.w_k), (self.w_v, other.w_v))
        )

    __hash__ = None


@dataclass(frozen=True)
class DecoderEdit:
    """Scale one head's output in the Decoder tab's decoder (``scale = 0`` ablates it)."""

    layer: int
    head: int
    scale: float = 0.0


@dataclass(frozen=True)
class DecoderRef:
    """The decoder the Decoder tab shows, with its head edits and generation settings.

    ``layer``/``head`` is the head drawn large; ``position`` the token whose next-token
    prediction is shown (None: the last). ``edits`` scale (0 ablates) heads of this decoder
    and take effect in every Decoder view. Generation appends tokens to the session's text:
    greedily, or (``sample``) drawn with ``temperature`` among the ``top_k`` likeliest, from a
    generator seeded with ``seed`` plus the text's token count (so a step can be repeated).
    """

    name: str
    sha256: str = ""
    layer: int = 0
    head: int = 0
    position: int | None = None
    edits: tuple[DecoderEdit, ...] = ()
    sample: bool = False
    temperature: float = 1.0
    top_k: int = 10
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.edits, tuple):
            object.__setattr__(self, "edits", tuple(self.edits))


@dataclass(frozen=True)
class Session:
    """Everything a user can set in the explorer.

    ``Session()`` is the default session: the dog/cat/table sentence on built-in embeddings
    with ``d_model = d_head = 8``, one head, identity projections.
    """

    text: str = DEFAULT_TEXT
    embedding: str = "builtin"  # one of EMBEDDING_SOURCES
    d_model: int = 8  # 2..64 for builtin; the vector size the heads read
    embedding_seed: int = 0  # seed of the "random" source
    positional: str = "none"  # one of POSITIONAL_ENCODINGS
    positional_mode: str = "add"  # "add" to the embedding, or "concat" after it
    heads: tuple[Head, ...] = field(default_factory=lambda: identity_heads(1, 8, 8))
    preset: str = "identity"  # preset the sliders reset to (PROJECTION_PRESETS)
    preset_seed: int = 0  # seed of the "orthogonal" preset
    preset_scale: float = 1.0  # gain of the "scaled" preset
    temperature: float = 1.0  # τ: scale = 1/(√d_head · τ)
    causal: bool = False  # query i may attend only to keys j ≤ i
    sentence_mask: bool = False  # tokens attend only within their own sentence
    blocked: tuple[tuple[int, int], ...] = ()  # custom mask: (query, key) pairs that are cut
    selected_head: int = 0
    selected_query: int | None = None
    model: ModelRef | None = None
    model_edits: tuple[HeadScale, ...] = ()  # Model-tab head edits of the shown model
    decoder: DecoderRef | None = None  # the Decoder tab's model, edits and settings
    view: ViewOptions = field(default_factory=ViewOptions)

    def __post_init__(self):
        if not isinstance(self.heads, tuple):
            object.__setattr__(self, "heads", tuple(self.heads))
        if not self.heads:
            raise ValueError("a session needs at least one head")
        if not isinstance(self.blocked, tuple):
            object.__setattr__(self, "blocked", tuple(tuple(p) for p in self.blocked))
        if not isinstance(self.model_edits, tuple):
            object.__setattr__(self, "model_edits", tuple(self.model_edits))

    @property
    def n_head(self) -> int:
        return len(self.heads)

    @property
    def d_in(self) -> int:
        """Width of the vectors the heads read: ``2 · d_model`` when a positional encoding
        is concatenated, else ``d_model`` (see ``explorer.core.positional``)."""
        concat = self.positional != "none" and self.positional_mode == "concat"
        return 2 * self.d_model if concat else self.d_model

    @property
    def d_head(self) -> int:
        return self.heads[0].d_head

    @property
    def head(self) -> Head:
        """The selected head."""
        return self.heads[min(self.selected_head, self.n_head - 1)]

    def with_head(self, index: int, head: Head) -> Session:
        """Return a copy with head ``index`` replaced."""
        heads = list(self.heads)
        heads[index] = head
        return replace(self, heads=tuple(heads))

    def evolve(self, **changes) -> Session:
        """Shorthand for :func:`dataclasses.replace`."""
        return replace(self, **changes)
