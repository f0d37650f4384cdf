"""The bridge between a pretrained encoder and the workbench's ``compute(session)``.

The workbench knows nothing about models: :mod:`~explorer.core.embeddings`,
:mod:`~explorer.core.positional` and :mod:`~explorer.core.projections` each take a provider
function. :class:`ModelBridge` keeps the loaded encoders and supplies all three:

* ``embedding="model"``: the vectors entering layer ``session.model.layer``, computed by the
  model on the session's text. ``d_model`` is the model's hidden size ``H``, or ``H + 1`` when
  the last column is a constant 1 that carries a real head's biases (see
  :meth:`~explorer.core.encoder_edits.HeadWeights.augmented`).
* ``preset="model"``: real heads of that layer, starting at ``session.model.head``.
* ``positional="learned"``: the model's position table (``[CLS]`` is position 0).

Tokens. The window always shows the explorer's WordPiece tokens (the bert-base-uncased
vocabulary). The model reads the text with its own tokenizer. When both cut the text into the
same tokens (every uncased BERT vocabulary, MiniLM included) row ``i`` of the workbench is row
``i`` of the model, and a copied head reproduces the model's attention exactly. Otherwise each
workbench token gets the mean of the model pieces that overlap its characters.

Models are found by name and weights hash (:class:`~explorer.core.session.ModelRef`) among the
loaded ones, the folders the user opened, installed model packages and the Hugging Face cache.
Nothing is downloaded. A model that cannot be found raises :class:`ModelUnavailable`, a
``ValueError`` whose message says what to do, which the window shows instead of failing.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import numpy as np

from explorer.core import embeddings, positional, projections
from explorer.core.encoder import Encoder, EncoderError, EncoderOutput, Tokens, load_encoder
from explorer.core.encoder_edits import with_ones
from explorer.core.model_discovery import MODEL_PACKAGES, discover_models
from explorer.core.session import Head, ModelRef, Session

#: Bytes of unedited forward passes kept for reuse (the newest is always kept). One pass of
#: MiniLM is about 0.6 MB at T = 16, 5 MB at T = 128 and 80 MB at T = 512 (mostly the
#: attentions); the bound keeps the app's memory in check with long texts.
FORWARD_CACHE_BYTES = 128 << 20
# the explorer's tokenizer and the Rust tokenizer both refuse lone surrogates; replace them
# with U+FFFD one for one, so that character offsets agree
_SURROGATE = re.compile("[\ud800-\udfff]")


class ModelUnavailable(ValueError):
    """The model a session names cannot be used here.

    Attributes
    ----------
    ref : ModelRef
    reason : str
        ``"missing"`` (no model of that name or hash on this computer), ``"mismatch"`` (a
        model of that name with other weights) or ``"broken"`` (found but cannot be loaded).
    """

    def __init__(self, message: str, ref: ModelRef, reason: str):
        super().__init__(message)
        self.ref = ref
        self.reason = reason


def _key(folder) -> Path:
    folder = Path(folder).expanduser()
    try:
        return folder.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        return folder


def model_ref(enc: Encoder, layer: int = 0, head: int = 0) -> ModelRef:
    """The :class:`ModelRef` that names ``enc`` (hashes its weights on first use)."""
    return ModelRef(enc.name, enc.sha256, int(layer), int(head))


class ModelBridge:
    """Loaded encoders, model look-up and the workbench providers. Thread-safe.

    Parameters
    ----------
    hf_cache : str or Path, optional
        Hugging Face hub cache to search (default: the user's).
    packages : sequence of (str, str, str)
        Model packages to search (see :func:`~explorer.core.model_discovery.discover_models`).
    """

    def __init__(self, *, hf_cache=None, packages=MODEL_PACKAGES):
        self._lock = threading.RLock()
        self._encoders: dict[Path, Encoder] = {}
        self._folders: list[Path] = []
        self._hf_cache = hf_cache
        self._packages = tuple(packages)
        self._forwards: OrderedDict[tuple, tuple[Tokens, EncoderOutput]] = OrderedDict()

    # ---------------------------------------------------------------- models
    @property
    def folders(self) -> tuple[Path, ...]:
        """Folders the user opened, searched first."""
        return tuple(self._folders)

    def add_folder(self, folder) -> None:
        """Search ``folder`` first from now on (File › Open Model…)."""
        path = Path(folder).expanduser()
        with self._lock:
            if path not in self._folders:
                self._folders.insert(0, path)

    def remove_folder(self, folder) -> None:
        """Stop searching ``folder`` (it could not be loaded); a no-op if it is not listed."""
        path = Path(folder).expanduser()
        with self._lock:
            self._folders = [f for f in self._folders if f != path and _key(f) != _key(path)]

    def available(self, include_unusable: bool = False):
        """Model folders on disk, in search order (list of ``ModelInfo``); reads no weights."""
        return discover_models(
            self._folders,
            include_unusable=include_unusable,
            hf_cache=self._hf_cache,
            packages=self._packages,
            builtin=(),  # the shipped decoder is not an encoder this bridge can load
        )

    def load(self, folder, name: str | None = None) -> Encoder:
        """Load the encoder in ``folder`` once; later calls return the same object.

        Raises
        ------
        EncoderError
            The folder holds nothing we can run (the message says why).
        """
        key = _key(folder)
        with self._lock:
            enc = self._encoders.get(key)
            if enc is None:
                enc = load_encoder(folder, name)
                self._encoders[key] = enc
            return enc

    def loaded(self) -> tuple[Encoder, ...]:
        with self._lock:
            return tuple(self._encoders.values())

    def default_model(self) -> Encoder | None:
        """The first usable model in search order, loaded; None when there is none."""
        for info in self.available():
            try:
                return self.load(info.path, info.name)
            except EncoderError:
                continue
        return None

    def locate(self, ref: ModelRef) -> Encoder:
        """The encoder a session names: same name (or same weights), same hash if recorded.

        Raises
        ------
        ModelUnavailable
            With a message for the user.
        """
        if not isinstance(ref, ModelRef):
            raise ValueError("no model loaded: the session names no model")
        want = ref.sha256
        same_name: list[Encoder] = [e for e in self.loaded() if e.name == ref.name]
        for enc in same_name:
            if not want or enc.sha256 == want:
                return enc
        if want:  # a copy of the same weights under another name
            for enc in self.loaded():
                if enc.sha256 == want:
                    return enc
        problems = []
        for info in self.available(include_unusable=True):
            if info.name != ref.name:
                continue
            if info.problem:
                problems.append(info.problem)
                continue
            try:
                enc = self.load(info.path, info.name)
            except EncoderError as exc:
                problems.append(str(exc))
                continue
            same_name.append(enc)
            if not want or enc.sha256 == want:
                return enc
        short = f" (weights sha256 {want[:12]}…)" if want else ""
        if same_name:
            raise ModelUnavailable(
                f"model '{ref.name}' on this computer has other weights than the session "
                f"records{short}; open the matching folder with File › Open Model…",
                ref,
                "mismatch",
            )
        if problems:
            raise ModelUnavailable(
                f"model '{ref.name}' was found but cannot be loaded: {problems[0]}", ref, "broken"
            )
        raise ModelUnavailable(
            f"no model loaded: '{ref.name}'{short} is not on this computer; open its folder with "
            "File › Open Model… (nothing is downloaded)",
            ref,
            "missing",
        )

    # --------------------------------------------------------------- running
    def run(self, enc: Encoder, text: str) -> tuple[Tokens, EncoderOutput]:
        """The model's tokens and unedited forward pass for ``text`` (cached).

        Raises
        ------
        EncoderError
            Empty text, or a text the model cannot read.
        """
        text = _SURROGATE.sub("\ufffd", text)
        key = (_key(enc.path), id(enc), text)
        with self._lock:
            hit = self._forwards.get(key)
            if hit is not None:
                self._forwards.move_to_end(key)
                return hit
        tokens = enc.tokenize(text)
        if len(tokens.ids) <= 2:
            raise EncoderError("no tokens to encode: the text is empty")
        out = enc.forward(tokens)
        with self._lock:
            self._forwards[key] = (tokens, out)
            while len(self._forwards) > 1 and self._cached_bytes() > FORWARD_CACHE_BYTES:
                self._forwards.popitem(last=False)
        return tokens, out

    def _cached_bytes(self) -> int:
        return sum(
            o.attentions.nbytes + o.hidden_states.nbytes + o.head_outputs.nbytes
            for _, o in self._forwards.values()
        )

    def clear_cache(self) -> None:
        with self._lock:
            self._forwards.clear()

    # ------------------------------------------------------------- providers
    def layer_vectors(self, session: Session, tokenization) -> np.ndarray:
        """Provider of ``embedding="model"``: rows of the layer input for the visible tokens.

        Returns
        -------
        ndarray, shape (len(tokenization.tokens), d_model), float64
            ``d_model = H`` (the layer input) or ``H + 1`` (a column of ones appended).
        """
        ref = session.model
        enc = self.locate(ref)
        cfg = enc.config
        H = cfg.hidden_size
        if not 0 <= ref.layer < cfg.num_layers:
            raise ValueError(f"layer {ref.layer} out of range: '{enc.name}' has {cfg.num_layers}")
        if session.d_model not in (H, H + 1):
            raise ValueError(
                f"'{enc.name}' has hidden size {H}: d_model must be {H}, or {H + 1} with a "
                "column of ones for the biases"
            )
        if not tokenization.tokens:
            return np.zeros((0, session.d_model))
        tokens, out = self.run(enc, session.text)
        x = aligned_rows(tokenization, tokens, out.layer_input(ref.layer), enc.name)  # (T, H)
        return with_ones(x) if session.d_model == H + 1 else x

    def learned_positions(self, session: Session, tokenization, width: int) -> np.ndarray:
        """Provider of ``positional="learned"``: the model's position vectors.

        ``width`` must be ``H`` or ``H + 1`` (then the last column is 0, so that adding the
        positions keeps the bias column at 1).
        """
        enc = self.locate(session.model)
        H = enc.config.hidden_size
        if width not in (H, H + 1):
            raise ValueError(
                f"learned positions of '{enc.name}' have width {H}; they fit only its own "
                f"embeddings (d_model {H} or {H + 1}), not width {width}"
            )
        idx = np.asarray(tokenization.visible, dtype=np.intp)
        if idx.size and idx.max() >= enc.config.max_positions:
            raise ValueError(f"'{enc.name}' has only {enc.config.max_positions} positions")
        p = enc.position_embeddings[idx].astype(np.float64)  # (T, H)
        return np.hstack([p, np.zeros((len(idx), width - H))])

    def model_heads(self, ref: ModelRef, n_head: int, d_in: int, d_head: int):
        """Provider of ``preset="model"``: heads ``ref.head, ref.head + 1, …`` of ``ref.layer``.

        Returns
        -------
        tuple of Head
            Matrices of shape ``(H + 1, d_head)`` with the biases as the last row when
            ``d_in == H + 1``, else ``(H, d_head)`` without biases.
        """
        enc = self.locate(ref)
        cfg = enc.config
        H = cfg.hidden_size
        if d_head != cfg.d_head or d_in not in (H, H + 1):
            raise ValueError(
                f"heads of '{enc.name}' are ({H} or {H + 1}) × {cfg.d_head}, not {d_in} × {d_head}"
            )
        if n_head > cfg.num_heads:
            raise ValueError(f"layer {ref.layer} of '{enc.name}' has {cfg.num_heads} heads")
        heads = []
        for i in range(n_head):
            hw = enc.head_weights(ref.layer, (ref.head + i) % cfg.num_heads)
            mats = hw.augmented() if d_in == H + 1 else (hw.w_q, hw.w_k, hw.w_v)
            heads.append(Head(*mats))
        return tuple(heads)

    def install(self) -> None:
        """Register this bridge's providers with the workbench (replacing any others)."""
        embeddings.register_model_embeddings(self.layer_vectors)
        positional.register_learned_positions(self.learned_positions)
        projections.register_model_heads(self.model_heads)


def aligned_rows(tokenization, tokens: Tokens, x: np.ndarray, name: str = "model") -> np.ndarray:
    """Rows of the model's vectors ``x`` for the workbench's visible tokens.

    Parameters
    ----------
    tokenization : Tokenization
        The explorer's tokens (``full`` with [CLS]/[SEP], ``visible`` indexes into it).
    tokens : Tokens
        The model's tokens of the same text.
    x : ndarray, shape (len(tokens.ids), H)
    name : str
        For messages.

    Returns
    -------
    ndarray, shape (len(tokenization.tokens), H), float64
        Row ``i`` of ``x`` when both token lists agree; otherwise the mean of the model
        tokens whose characters overlap workbench token ``i`` ([CLS] and [SEP] map to the
        model's first and last token).
    """
    x = np.asarray(x, dtype=np.float64)
    full = tokenization.full
    if tuple(t.text for t in full) == tokens.tokens:
        return x[list(tokenization.visible)]
    rows = []
    words = [i for i, s in enumerate(tokens.special) if not s]
    for i in tokenization.visible:
        t = full[i]
        if t.special:
            rows.append(x[0] if i == 0 else x[len(tokens.ids) - 1])
            continue
        hit = [j for j in words if tokens.offsets[j][0] < t.end and t.start < tokens.offsets[j][1]]
        if not hit:
            last = max((tokens.offsets[j][1] for j in words), default=0)
            if t.start >= last and tokens.truncated:
                raise ValueError(
                    f"the text is longer than '{name}' can read "
                    f"({len(tokens.ids)} tokens); shorten it"
                )
            raise ValueError(f"'{name}' has no token for '{t.text}' (characters {t.start}–{t.end})")
        rows.append(x[hit].mean(axis=0))
    return np.stack(rows) if rows else np.zeros((0, x.shape[1]))


def copy_head_session(session: Session, enc: Encoder, layer: int, head: int) -> Session:
    """``session`` with one real head of ``enc`` in the workbench.

    The text is kept. The inputs become the vectors entering ``layer`` plus a column of ones
    (``d_model = H + 1``), the head is ``(layer, head)`` with its biases as the last weight row,
    and everything the model does not do is switched off (positions are already inside the
    layer input; no causal or custom mask; temperature 1). [CLS] and [SEP] are shown because
    the model attends to them, so the workbench's weights equal the model's.

    Returns
    -------
    Session
    """
    cfg = enc.config
    if not (0 <= layer < cfg.num_layers and 0 <= head < cfg.num_heads):
        raise ValueError(f"no head ({layer}, {head}) in '{enc.name}'")
    hw = enc.head_weights(layer, head)
    return replace(
        session,
        embedding="model",
        d_model=cfg.hidden_size + 1,
        positional="none",
        heads=(Head(*hw.augmented()),),
        preset="model",
        temperature=1.0,
        causal=False,
        blocked=(),
        selected_head=0,
        selected_query=None,
        model=model_ref(enc, layer, head),
        view=replace(session.view, show_special=True),
    )


#: The bridge the window uses; :func:`install` registers it.
BRIDGE = ModelBridge()


def install() -> ModelBridge:
    """Register :data:`BRIDGE`'s providers with the workbench and return it."""
    BRIDGE.install()
    return BRIDGE
