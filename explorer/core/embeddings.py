"""Token vectors: the static embeddings that attention starts from.

Sources (``Session.embedding``):

``"one-hot"``
    Each distinct token of the text gets its own axis, in order of first appearance, so
    every pair of different tokens has cosine 0 (the seed's first step). The vectors live
    in ``d_model`` dimensions like every other source, because the heads have a fixed
    width; when the text has more distinct tokens than ``d_model`` the extra tokens get the
    zero vector (no axis is left for them) and a notice names them. Repeated tokens share
    their axis.
``"builtin"``
    Real pretrained vectors: the token embedding matrix of all-MiniLM-L6-v2 reduced by PCA
    to 64 components (``resources/embeddings/minilm_pca64.npz``, built by
    ``scripts/build_embeddings.py``). ``d_model`` keeps the first, largest components. The
    stored coordinates are divided by one global factor (their RMS over whole words), so a
    typical coordinate is about 1 and every cosine is exactly that of the PCA coordinates.
``"random"``
    A standard Gaussian vector per vocabulary id, seeded by ``(embedding_seed, id)``: the
    same word gets the same vector in every text, and growing ``d_model`` only appends
    coordinates.
``"model"``
    The input vectors of one layer of a pretrained encoder. This module holds no model; the
    encoder registers a provider with :func:`register_model_embeddings`.

All sources return float64 arrays of shape ``(T, width)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from explorer.core.session import D_MODEL_RANGE
from explorer.resources import resource_path

BUILTIN_FILE = ("embeddings", "minilm_pca64.npz")
MAX_COMPONENTS = 64

# fn(session, tokenization) -> ndarray (T, width): rows for tokenization.tokens
ModelEmbeddings = Callable[[object, object], np.ndarray]
_model_embeddings: ModelEmbeddings | None = None


@dataclass(frozen=True, eq=False)
class BuiltinTable:
    """The shipped PCA table; load it with :func:`builtin_table`.

    Attributes
    ----------
    vectors : ndarray, shape (30522, 64), float16
        Row ``id`` is the vector of vocabulary entry ``id``; columns by falling variance.
    explained_ratio : ndarray, shape (64,), float64
        Share of the whole-word variance each component explains.
    rms : float
        The factor divided out of the PCA coordinates.
    """

    vectors: np.ndarray
    explained_ratio: np.ndarray
    rms: float
    _vocab_bytes: np.ndarray

    @cached_property
    def vocab(self) -> tuple[str, ...]:
        """Vocabulary entries; ``vocab[id]`` names row ``id``."""
        return tuple(self._vocab_bytes.tobytes().decode("utf-8").split("\n"))

    @cached_property
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.vocab)}

    def rows(self, ids, d: int) -> np.ndarray:
        """Vectors of ``ids`` in ``d`` components, float64, shape ``(len(ids), d)``."""
        _check_width(d)
        return self.vectors[np.asarray(ids, dtype=np.intp), :d].astype(np.float64)

    def word(self, entry: str, d: int = MAX_COMPONENTS) -> np.ndarray:
        """Vector of one vocabulary entry, e.g. ``"dog"``; ValueError if absent."""
        if entry not in self.index:
            raise ValueError(f"{entry!r} is not a vocabulary entry")
        return self.rows([self.index[entry]], d)[0]


@lru_cache(maxsize=1)
def builtin_table() -> BuiltinTable:
    """Load (once) the built-in embedding table from ``resources/``."""
    path = resource_path(*BUILTIN_FILE)
    if not path.is_file():
        raise FileNotFoundError(
            f"built-in embeddings not found at {path}; run scripts/build_embeddings.py"
        )
    with np.load(path, allow_pickle=False) as data:
        vectors = data["vectors"]
        vectors.setflags(write=False)
        return BuiltinTable(
            vectors=vectors,
            explained_ratio=data["explained_ratio"],
            rms=float(data["rms"]),
            _vocab_bytes=data["vocab"],
        )


def _check_width(d: int) -> None:
    lo, hi = D_MODEL_RANGE
    if not lo <= d <= hi:
        raise ValueError(f"d_model must be between {lo} and {hi}, got {d}")


def one_hot(tokens, d_model: int) -> tuple[np.ndarray, str]:
    """One axis per distinct token.

    Parameters
    ----------
    tokens : sequence of Token
    d_model : int
        Number of axes available.

    Returns
    -------
    x : ndarray, shape (T, d_model), float64
        ``x[t, a] = 1`` where ``a`` is the axis of token ``t``'s id (order of first
        appearance); all zeros for tokens beyond the first ``d_model`` distinct ones.
    notice : str
        Non-empty when some tokens had no axis.
    """
    _check_width(d_model)
    axis: dict[int, int] = {}
    for t in tokens:
        axis.setdefault(t.id, len(axis))
    x = np.zeros((len(tokens), d_model))  # (T, d_model)
    for row, t in enumerate(tokens):
        if axis[t.id] < d_model:
            x[row, axis[t.id]] = 1.0
    notice = ""
    if len(axis) > d_model:
        names = {t.text for t in tokens if axis[t.id] >= d_model}
        shown = ", ".join(sorted(names)[:5]) + (" …" if len(names) > 5 else "")
        notice = (
            f"One-hot: {len(axis)} distinct tokens but d_model = {d_model}; "
            f"{len(axis) - d_model} have no axis and get the zero vector ({shown}). "
            "Raise d_model to give each its own axis."
        )
    return x, notice


@lru_cache(maxsize=4096)
def _random_row(seed: int, token_id: int) -> np.ndarray:
    row = np.random.default_rng((seed, token_id)).standard_normal(MAX_COMPONENTS)
    row.setflags(write=False)
    return row


def random_vectors(ids, d_model: int, seed: int) -> np.ndarray:
    """Seeded Gaussian vectors, one per vocabulary id.

    Parameters
    ----------
    ids : sequence of int
    d_model : int
    seed : int
        Non-negative; the same ``(seed, id)`` always gives the same vector.

    Returns
    -------
    ndarray, shape (len(ids), d_model), float64
    """
    _check_width(d_model)
    if int(seed) < 0:
        raise ValueError(f"embedding_seed must be non-negative, got {seed}")
    if len(ids) == 0:
        return np.zeros((0, d_model))
    return np.stack([_random_row(int(seed), int(i))[:d_model] for i in ids])


def register_model_embeddings(provider: ModelEmbeddings | None) -> None:
    """Plug in (or remove, with None) the provider of the ``"model"`` source.

    ``provider(session, tokenization)`` must return a float array of shape
    ``(len(tokenization.tokens), width)``; ``tokenization.full`` holds the window with
    ``[CLS]``/``[SEP]`` and ``tokenization.visible`` maps visible rows into it.
    """
    global _model_embeddings
    _model_embeddings = provider


def embed(session, tokenization) -> tuple[np.ndarray, str]:
    """Static vectors of the visible tokens for the session's embedding source.

    Parameters
    ----------
    session : Session
    tokenization : Tokenization

    Returns
    -------
    x : ndarray, shape (T, width), float64
        ``width == session.d_model`` except for ``"model"``, whose provider decides.
    notice : str
        A note for the user (e.g. one-hot ran out of axes), or ``""``.

    Raises
    ------
    ValueError
        Unknown source, ``d_model`` out of range, or ``"model"`` without a loaded model.
    """
    tokens = tokenization.tokens
    source = session.embedding
    if source == "builtin":
        return builtin_table().rows([t.id for t in tokens], session.d_model), ""
    if source == "one-hot":
        return one_hot(tokens, session.d_model)
    if source == "random":
        return random_vectors([t.id for t in tokens], session.d_model, session.embedding_seed), ""
    if source == "model":
        if session.model is None:
            raise ValueError("no model loaded: the 'model' embedding source needs an encoder")
        if _model_embeddings is None:
            raise ValueError("no model loaded: no encoder has registered its embeddings")
        x = np.array(_model_embeddings(session, tokenization), dtype=np.float64)  # own copy
        if x.ndim != 2 or x.shape[0] != len(tokens):
            raise ValueError(f"model embeddings have shape {x.shape}, expected ({len(tokens)}, d)")
        return x, ""
    raise ValueError(f"unknown embedding source {source!r}")


def cosine_matrix(x: np.ndarray) -> np.ndarray:
    """Cosine similarity of every pair of rows.

    Parameters
    ----------
    x : ndarray, shape (T, d)

    Returns
    -------
    ndarray, shape (T, T)
        float32 for float32 input, else float64. Entries involving a zero row are 0 (a zero
        vector points nowhere).
    """
    x = np.asarray(x)
    x = x.astype(x.dtype if x.dtype == np.float32 else np.float64, copy=False)
    norm = np.sqrt(np.einsum("td,td->t", x, x))  # (T,)
    safe = np.where(norm > 0, norm, 1.0)
    unit = x / safe[:, None]  # (T, d)
    sim = unit @ unit.T  # (T, T)
    return np.clip(sim, -1.0, 1.0, out=sim)
