"""A pretrained BERT-family encoder read from a local folder, run without torch.

The folder holds what Hugging Face ``transformers`` writes for a ``BertModel``:

* ``config.json``: the architecture (checked by :func:`parse_config`),
* ``model.safetensors``: the weights, read through ``safetensors``' NumPy API (tensor names with
  or without the ``bert.`` prefix),
* ``tokenizer.json`` or ``vocab.txt``: the WordPiece vocabulary, read by ``tokenizers``.

Nothing is ever downloaded. Anything we cannot run raises :class:`EncoderError` (a
``ValueError``) with a message that names the file and the problem. This module is the public
face: it tokenizes and packs the weights; :mod:`~explorer.core.encoder_config` validates the
files, :mod:`~explorer.core.encoder_edits` holds head weights and edits, and
:mod:`~explorer.core.encoder_forward` runs the layers.

Weight convention: ``torch.nn.Linear`` stores ``(out, in)`` and computes ``x @ W.T + b``. We
store every linear layer transposed, as ``(in, out)``, so that ``x @ W + b`` holds, which is
the workbench's convention for ``w_q``, ``w_k`` and ``w_v`` of shape ``(d_model, d_head)``.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from explorer.core.encoder_config import (
    WEIGHTS_FILE,
    EncoderConfig,
    EncoderError,
    check_weights,
    parse_config,
    read_config,
    read_tensors,
)
from explorer.core.encoder_edits import HeadEdit, HeadWeights, with_ones
from explorer.core.encoder_files import (
    MAX_TOKENIZER_CONFIG_BYTES,
    MAX_TOKENIZER_JSON_BYTES,
    MAX_VOCAB_BYTES,
    checked_size,
    one_line,
    read_json,
    rust_failure,
    shown,
)
from explorer.core.encoder_forward import (
    EncoderOutput,
    LayerWeights,
    cosine,
    run_encoder,
    token_cosine_by_layer,
)
from explorer.core.model_discovery import model_name_for

__all__ = [
    "Encoder",
    "EncoderConfig",
    "EncoderError",
    "EncoderOutput",
    "HeadEdit",
    "HeadWeights",
    "Tokens",
    "cosine",
    "load_encoder",
    "parse_config",
    "read_config",
    "token_cosine_by_layer",
    "with_ones",
]


def _layers(t: dict[str, np.ndarray], cfg: EncoderConfig) -> tuple[LayerWeights, ...]:
    """Pack each layer's weights transposed to ``(in, out)`` and C-contiguous."""
    layers = []
    for i in range(cfg.num_layers):
        p = f"encoder.layer.{i}."
        s = p + "attention.self."
        # one (H, 3H) matrix gives q, k and v in a single matmul
        w_qkv = np.concatenate([t[s + n + ".weight"] for n in ("query", "key", "value")]).T
        b_qkv = np.concatenate([t[s + n + ".bias"] for n in ("query", "key", "value")])
        layers.append(
            LayerWeights(
                w_qkv=np.ascontiguousarray(w_qkv),  # (H, 3H)
                b_qkv=b_qkv,  # (3H,)
                w_o=np.ascontiguousarray(t[p + "attention.output.dense.weight"].T),  # (H, H)
                b_o=t[p + "attention.output.dense.bias"],
                ln1_g=t[p + "attention.output.LayerNorm.weight"],
                ln1_b=t[p + "attention.output.LayerNorm.bias"],
                w_i=np.ascontiguousarray(t[p + "intermediate.dense.weight"].T),  # (H, I)
                b_i=t[p + "intermediate.dense.bias"],
                w_out=np.ascontiguousarray(t[p + "output.dense.weight"].T),  # (I, H)
                b_out=t[p + "output.dense.bias"],
                ln2_g=t[p + "output.LayerNorm.weight"],
                ln2_b=t[p + "output.LayerNorm.bias"],
            )
        )
    for lw in layers:
        for a in vars(lw).values():
            a.setflags(write=False)
    return tuple(layers)


def _lowercase_setting(folder: Path) -> bool:
    """``do_lower_case`` from ``tokenizer_config.json``; BERT's default is True.

    A missing file gives the default; a file that is there but unreadable, too large, nested
    too deeply or holding a non-boolean setting is refused, naming that file.
    """
    path = folder / "tokenizer_config.json"
    if not path.exists():
        return True
    raw = read_json(path, MAX_TOKENIZER_CONFIG_BYTES)
    if not isinstance(raw, dict):
        raise EncoderError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    value = raw.get("do_lower_case", True)
    if not isinstance(value, bool):
        raise EncoderError(f"{path}: 'do_lower_case' must be true or false, got {shown(value)}")
    return value


def _read_tokenizer(folder: Path):
    """The raw ``tokenizers.Tokenizer`` of ``folder``, every file refused by size first."""
    from tokenizers import Tokenizer
    from tokenizers.implementations import BertWordPieceTokenizer

    tj, vocab = folder / "tokenizer.json", folder / "vocab.txt"
    if tj.is_file():
        path, limit = tj, MAX_TOKENIZER_JSON_BYTES
    elif vocab.is_file():
        path, limit = vocab, MAX_VOCAB_BYTES
    else:
        raise EncoderError(f"{folder}: no tokenizer.json or vocab.txt")
    checked_size(path, limit)
    lowercase = _lowercase_setting(folder) if path is vocab else True
    try:
        if path is tj:
            return Tokenizer.from_file(str(tj))
        # the wrapper's inner Tokenizer has the same API as one read from tokenizer.json
        return BertWordPieceTokenizer(str(vocab), lowercase=lowercase)._tokenizer
    except MemoryError:
        raise EncoderError(f"{path}: not enough memory to read the tokenizer") from None
    except Exception as exc:  # tokenizers raises plain Exception subclasses on bad files
        raise EncoderError(f"{path}: not a readable tokenizer ({one_line(exc)})") from exc
    except BaseException as exc:
        if not rust_failure(exc):
            raise
        raise EncoderError(f"{path}: the tokenizer reader failed on this file") from None


def _load_tokenizer(folder: Path, cfg: EncoderConfig):
    """A ``tokenizers.Tokenizer`` that adds [CLS]/[SEP], never pads, truncates at max_positions."""
    tok = _read_tokenizer(folder)
    # tokenizer.json files often pin padding to 128; the explorer wants the real length.
    tok.no_padding()
    tok.enable_truncation(max_length=cfg.max_positions)
    if tok.get_vocab_size() > cfg.vocab_size:
        raise EncoderError(
            f"{folder}: tokenizer has {tok.get_vocab_size()} tokens, "
            f"the model only {cfg.vocab_size} embeddings"
        )
    for special in ("[CLS]", "[SEP]"):
        if tok.token_to_id(special) is None:
            raise EncoderError(f"{folder}: tokenizer has no {special} token")
    return tok


@dataclass(frozen=True, eq=False)
class Tokens:
    """A tokenized text.

    Attributes
    ----------
    ids : ndarray, shape (T,), int64
    tokens : tuple of str, length T
    type_ids : ndarray, shape (T,), int64
    special : ndarray, shape (T,), bool
        True for [CLS], [SEP] and other added tokens.
    offsets : tuple of (int, int)
        Character span of each token in the text; (0, 0) for special tokens.
    truncated : bool
        True when the text was longer than the model's ``max_positions``.
    """

    ids: np.ndarray
    tokens: tuple[str, ...]
    type_ids: np.ndarray
    special: np.ndarray
    offsets: tuple[tuple[int, int], ...]
    truncated: bool = False


class Encoder:
    """A loaded BERT encoder. Immutable after loading, so threads may share it.

    Use :func:`load_encoder` to create one.

    Attributes
    ----------
    config : EncoderConfig
    name : str
        Display name (for the MiniLM package and the Hugging Face cache, the hub id).
    path : Path
        The model folder.
    weights_path : Path
        The ``model.safetensors`` file; :attr:`sha256` hashes it.
    """

    def __init__(self, folder: Path, name: str, cfg: EncoderConfig, tensors, tokenizer):
        self.path = folder
        self.name = name
        self.config = cfg
        self.weights_path = folder / WEIGHTS_FILE
        self._tokenizer = tokenizer
        self._hash_lock = threading.Lock()
        # ids shown as special tokens when the caller passes raw ids
        specials = ("[CLS]", "[SEP]", "[PAD]", "[MASK]")
        found = (tokenizer.token_to_id(s) for s in specials)
        self._special_ids = np.array([i for i in found if i is not None], dtype=np.int64)
        emb = {k.split(".")[1]: v for k, v in tensors.items() if k.startswith("embeddings.")}
        self.word_embeddings = emb["word_embeddings"]  # (vocab, H)
        self.position_embeddings = emb["position_embeddings"]  # (max_positions, H)
        self.token_type_embeddings = emb["token_type_embeddings"]  # (type_vocab, H)
        self.emb_ln_g = tensors["embeddings.LayerNorm.weight"]
        self.emb_ln_b = tensors["embeddings.LayerNorm.bias"]
        for a in (self.word_embeddings, self.position_embeddings, self.token_type_embeddings):
            a.setflags(write=False)
        self.layers = _layers(tensors, cfg)

    def __repr__(self) -> str:
        c = self.config
        return (
            f"Encoder({self.name!r}, layers={c.num_layers}, heads={c.num_heads}, "
            f"d_model={c.hidden_size}, path={str(self.path)!r})"
        )

    @cached_property
    def sha256(self) -> str:
        """Hex SHA-256 of the weights file, computed on first use (about 0.1 s per 90 MB)."""
        with self._hash_lock:
            h = hashlib.sha256()
            with open(self.weights_path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            return h.hexdigest()

    def tokenize(self, text: str) -> Tokens:
        """Tokenize ``text`` with [CLS] and [SEP] added and truncation at ``max_positions``."""
        if not isinstance(text, str):
            raise EncoderError(f"text must be a str, got {type(text).__name__}")
        enc = self._tokenizer.encode(text)
        return Tokens(
            ids=np.asarray(enc.ids, dtype=np.int64),
            tokens=tuple(enc.tokens),
            type_ids=np.asarray(enc.type_ids, dtype=np.int64),
            special=np.asarray(enc.special_tokens_mask, dtype=bool),
            offsets=tuple(tuple(o) for o in enc.offsets),
            truncated=bool(enc.overflowing),
        )

    def id_to_token(self, i: int) -> str:
        """The vocabulary entry for id ``i`` ('[UNK]' style fallback: ``'<i>'``)."""
        tok = self._tokenizer.id_to_token(int(i))
        return tok if tok is not None else f"<{int(i)}>"

    def head_weights(self, layer: int, head: int) -> HeadWeights:
        """One head's real projections in the workbench convention ``x @ w + b``.

        Parameters
        ----------
        layer, head : int

        Returns
        -------
        HeadWeights
            ``w_q, w_k, w_v`` of shape (d_model, d_head) and ``b_q, b_k, b_v`` of shape
            (d_head,), float64 (exact copies of the float32 weights). See
            :meth:`HeadWeights.augmented` for feeding them to a bias-free workbench head.
        """
        c = self.config
        if not (0 <= layer < c.num_layers and 0 <= head < c.num_heads):
            raise EncoderError(
                f"no head ({layer}, {head}); the model has {c.num_layers} layers × "
                f"{c.num_heads} heads"
            )
        lw, H, dh = self.layers[layer], c.hidden_size, c.d_head
        cols = [slice(j * H + head * dh, j * H + (head + 1) * dh) for j in range(3)]
        w = [lw.w_qkv[:, s].astype(np.float64) for s in cols]  # 3 × (H, d_head)
        b = [lw.b_qkv[s].astype(np.float64) for s in cols]  # 3 × (d_head,)
        return HeadWeights(layer, head, *w, *b)

    def forward(
        self,
        inputs,
        *,
        edits=(),
        attention_mask=None,
        type_ids=None,
        base: EncoderOutput | None = None,
    ) -> EncoderOutput:
        """Run the encoder on a text or on token ids.

        Parameters
        ----------
        inputs : str or Tokens or array_like of int, shape (T,)
            A text is tokenized with [CLS]/[SEP]; ids are used as given.
        edits : sequence of HeadEdit
            Head ablations, scalings and projection replacements.
        attention_mask : array_like of bool, shape (T,), optional
            False marks padding: no token attends to it and pooling skips it.
        type_ids : array_like of int, shape (T,), optional
            Segment ids (default: those of the tokenizer, else zeros).
        base : EncoderOutput, optional
            An unedited run on the same ids. Layers below the lowest edited layer are taken
            from it instead of recomputed, which makes a slider edit in a high layer cheap.

        Returns
        -------
        EncoderOutput
        """
        tokens = None
        if isinstance(inputs, str):
            tokens = self.tokenize(inputs)
        elif isinstance(inputs, Tokens):
            tokens = inputs
        if tokens is not None:
            ids, names, special = tokens.ids, tokens.tokens, tokens.special
            if type_ids is None:
                type_ids = tokens.type_ids
        else:
            ids = np.asarray(inputs)
            if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
                raise EncoderError(
                    f"token ids must be a 1-D integer array, got {ids.dtype} {ids.shape}"
                )
            ids = ids.astype(np.int64)
            if ids.size and (ids.min() < 0 or ids.max() >= self.config.vocab_size):
                raise EncoderError(f"token ids must lie in [0, {self.config.vocab_size})")
            names = tuple(self.id_to_token(i) for i in ids)
            special = np.isin(ids, self._special_ids)
        return run_encoder(
            self,
            ids,
            names,
            special,
            edits=tuple(edits),
            attention_mask=attention_mask,
            type_ids=type_ids,
            base=base,
        )


def load_encoder(folder, name: str | None = None) -> Encoder:
    """Load a BERT encoder from a local folder.

    Parameters
    ----------
    folder : str or Path
        Holds ``config.json``, ``model.safetensors`` and ``tokenizer.json`` or ``vocab.txt``.
    name : str, optional
        Display name; by default derived from the folder (hub id for Hugging Face cache
        snapshots and the MiniLM package).

    Raises
    ------
    EncoderError
        With a one-line message naming the file and what is wrong. Every size is bounded
        before anything is allocated (see :mod:`~explorer.core.encoder_files` and
        :data:`~explorer.core.encoder_config.CONFIG_LIMITS`).
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise EncoderError(f"{folder}: not a folder")
    try:
        cfg = read_config(folder)
        weights = folder / WEIGHTS_FILE
        if not weights.is_file():
            raise EncoderError(f"{folder}: no {WEIGHTS_FILE} (only safetensors weights are read)")
        prefix = check_weights(weights, cfg)  # from the header: nothing large is read yet
        tokenizer = _load_tokenizer(folder, cfg)
        tensors = read_tensors(weights, cfg, prefix)
        return Encoder(folder, name or model_name_for(folder), cfg, tensors, tokenizer)
    except MemoryError:
        raise EncoderError(f"{folder}: not enough memory to load this model") from None
    except OSError as exc:  # a file vanished or became unreadable while loading
        where = exc.filename or folder
        raise EncoderError(f"{where}: cannot be read ({exc.strerror or exc})") from None
