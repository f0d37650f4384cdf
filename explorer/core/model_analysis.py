"""What the model view shows about a pretrained encoder, computed without Qt.

* :func:`analyse` runs the encoder on the current text (and, with head edits, once more) and
  gathers the layer × head attentions, the per-head summary and the edit's effect.
* :func:`word_curve` follows one word through the layers in two texts: the cosine of its two
  contextual vectors per layer, the seed's "bank" experiment on a real model.
* :func:`head_pattern` names what a head mostly does, after Clark et al. (2019).
* :func:`attention_rollout`, :func:`mean_over_heads`, :func:`pool_words` and
  :func:`classify_heads` summarise across heads and layers (from
  :mod:`explorer.core.attention_aggregates`); :func:`aggregate` and :func:`pooled` give the
  Model tab's heatmaps.
* :func:`head_edits` turns the Session's stored head edits into encoder edits.

Two texts compared head by head live in :mod:`explorer.core.model_compare`.
"""

from __future__ import annotations

import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from explorer.core.attention_aggregates import (
    attention_rollout,
    classify_heads,
    mean_over_heads,
    pool_words,
    sentence_groups,
    word_groups,
)
from explorer.core.encoder import Encoder, EncoderError, EncoderOutput, HeadEdit, Tokens, cosine
from explorer.core.encoder_stats import HeadSummary, head_summary
from explorer.core.model_bridge import ModelUnavailable
from explorer.core.session import HeadScale

PATTERN_MIN = 0.5  # a head "does" something when at least half its weight goes there


@dataclass(frozen=True, eq=False)
class ModelAnalysis:
    """One text through one model, for the layer × head grid.

    Attributes
    ----------
    encoder : Encoder
    text : str
    out : EncoderOutput
        The unedited run.
    summary : HeadSummary
        Of the unedited run; arrays (n_layer, n_head).
    edits : tuple of HeadEdit
    edited : EncoderOutput or None
        The run with ``edits`` (None without edits).
    pooled_cosine : float
        cos(edited sentence embedding, original); 1.0 without edits.
    layer_cosine : ndarray, shape (n_layer + 1,), or None
        Per layer, cos of the edited and original mean-pooled hidden states; None until
        :func:`with_details` has run (``analyse(..., details=False)``).
    timings : dict of str to float
        Milliseconds: ``forward`` (unedited, 0 when cached), ``edited``, ``summary``, and
        ``edited_cpu``: the edited pass's CPU time in its thread (its work, without the
        waits for other threads or programs).
    head_types : ndarray of str (object), shape (n_layer, n_head), or None
        :func:`classify_heads` of the run shown (the edited one when there are edits); None
        until :func:`with_details` has run.
    """

    encoder: Encoder
    text: str
    out: EncoderOutput
    summary: HeadSummary
    edits: tuple
    edited: EncoderOutput | None
    pooled_cosine: float
    layer_cosine: np.ndarray | None
    timings: dict
    head_types: np.ndarray | None = None

    @property
    def shown(self) -> EncoderOutput:
        """The run to draw: the edited one when there are edits."""
        return self.edited if self.edited is not None else self.out


@dataclass(frozen=True, eq=False)
class _OneLayer:
    """The fields of an EncoderOutput that :func:`head_summary` reads, for one layer."""

    attentions: np.ndarray  # (1, n_head, T, T)
    attention_mask: np.ndarray
    tokens: tuple


def summary_by_layer(out: EncoderOutput) -> HeadSummary:
    """:func:`head_summary` one layer at a time: the same numbers, with a float64 working copy
    of one layer instead of all (25 MB instead of 150 MB for MiniLM at T = 512)."""
    parts = [
        head_summary(_OneLayer(out.attentions[i : i + 1], out.attention_mask, out.tokens))
        for i in range(out.attentions.shape[0])
    ]
    fields = HeadSummary.__dataclass_fields__
    return HeadSummary(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in fields})


# per kind, the value computed for each unedited run still alive: weak keys, so that a run
# the bridge's forward cache and the view have let go of is freed, with its entry
_SUMMARIES: dict[str, weakref.WeakKeyDictionary] = {}
_SUMMARY_LOCK = threading.Lock()


def _per_run(kind: str, out: EncoderOutput, compute):
    """``compute(out)``, computed once per run ``out`` while it is alive (a slider drag
    reuses the unedited run's)."""
    with _SUMMARY_LOCK:
        hit = _SUMMARIES.get(kind, {}).get(out)
    if hit is not None:
        return hit
    value = compute(out)
    with _SUMMARY_LOCK:
        _SUMMARIES.setdefault(kind, weakref.WeakKeyDictionary())[out] = value
    return value


def _cached_summary(out: EncoderOutput) -> HeadSummary:
    """:func:`summary_by_layer` of ``out``, computed once per run: a head edit changes only
    the edited run, and the summary describes the unedited one."""
    return _per_run("summary", out, summary_by_layer)


def _cached_types(out: EncoderOutput) -> np.ndarray:
    """:func:`classify_heads` of the unedited run ``out``, computed once per run."""
    return _per_run("types", out, lambda o: classify_heads(o.attentions, o.tokens))


_BLAS_LOCK = threading.Lock()
_blas_pinned = []  # threadpoolctl's limiter, once NumPy's BLAS is on one thread


def pin_one_blas_thread() -> None:
    """Put NumPy's BLAS on one thread for the rest of the process; call it from the main
    thread (the model view does, when it is created).

    Measured on the 2-core development VM with other work running: MiniLM's forward pass
    with an edit took 185 ms at T = 16 and 723 ms at T = 128 with OpenBLAS's default two
    threads, 27 ms and 97 ms with one (the threads' waiting for each other costs more than
    they share for the model's small matrices). Setting the limit from a worker thread made
    every later pass slow, in every thread (about 500 ms instead of 25 ms at T = 16), and so
    did setting and restoring it around each pass: it is set once, here.
    """
    if not _blas_pinned:
        with _BLAS_LOCK:
            if not _blas_pinned:
                from threadpoolctl import ThreadpoolController

                _blas_pinned.append(ThreadpoolController().limit(limits=1, user_api="blas"))


@contextmanager
def one_blas_thread():
    """Run the block with NumPy's BLAS on one thread (see :func:`pin_one_blas_thread`; the
    first use pins it, so enter it first on the main thread)."""
    pin_one_blas_thread()
    yield


def _pooled_by_layer(out: EncoderOutput) -> np.ndarray:
    """Mean over real tokens of every layer's hidden states: (n_layer + 1, H) float64."""
    w = out.attention_mask.astype(np.float64)
    return np.einsum("t,lth->lh", w, out.hidden_states.astype(np.float64)) / w.sum()


def layer_cosines(a: EncoderOutput, b: EncoderOutput) -> np.ndarray:
    """Per layer, the cosine of the two runs' mean-pooled hidden states: (n_layer + 1,)."""
    pa, pb = _pooled_by_layer(a), _pooled_by_layer(b)
    return np.array([cosine(x, y) for x, y in zip(pa, pb, strict=True)])


def analyse(bridge, enc: Encoder, text: str, edits=(), details: bool = True) -> ModelAnalysis:
    """Run ``enc`` on ``text`` (cached through ``bridge``) and, with ``edits``, once more.

    Parameters
    ----------
    bridge : ModelBridge
    enc : Encoder
    text : str
    edits : sequence of HeadEdit
    details : bool
        False leaves the edited run's head types and per-layer cosines out (None) for
        :func:`with_details` to add later: at T = 128 they cost about a third of the
        forward pass, and a slider tick shows the grid without waiting for them.

    Returns
    -------
    ModelAnalysis

    Raises
    ------
    EncoderError
        Empty text or bad edits.
    """
    clock = time.perf_counter
    t0 = clock()
    _, out = bridge.run(enc, text)
    t1, c1 = clock(), time.thread_time()
    edits = tuple(edits)
    edited = enc.forward(out.ids, edits=edits, type_ids=out.type_ids, base=out) if edits else None
    t2, c2 = clock(), time.thread_time()
    summary = _cached_summary(out)
    types = _cached_types(out) if edited is None else None
    layer_cos = np.ones(enc.config.num_layers + 1) if edited is None else None
    pooled = cosine(edited.pooled, out.pooled) if edited is not None else 1.0
    t3 = clock()
    ms = 1e3
    analysis = ModelAnalysis(
        encoder=enc,
        text=text,
        out=out,
        summary=summary,
        edits=edits,
        edited=edited,
        pooled_cosine=pooled,
        layer_cosine=layer_cos,
        timings={
            "forward": (t1 - t0) * ms,
            "edited": (t2 - t1) * ms,
            "edited_cpu": (c2 - c1) * ms,
            "summary": (t3 - t2) * ms,
        },
        head_types=types,
    )
    return with_details(analysis) if details else analysis


def with_details(analysis: ModelAnalysis) -> ModelAnalysis:
    """``analysis`` with the edited run's head types and per-layer cosines (itself when it
    has them). Heads below the lowest edited layer keep the unedited run's types."""
    if analysis.head_types is not None and analysis.layer_cosine is not None:
        return analysis
    out, edited = analysis.out, analysis.edited
    types = _cached_types(out).copy()
    lowest = lowest_edited_layer(analysis.edits, len(types))
    types[lowest:] = classify_heads(edited.attentions[lowest:], edited.tokens)
    return replace(analysis, head_types=types, layer_cosine=layer_cosines(edited, out))


def find_word(enc: Encoder, tokens: Tokens, word: str) -> list[int]:
    """Token indices of the first occurrence of ``word`` (all its word pieces) in ``tokens``.

    Raises
    ------
    EncoderError
        The word is empty or does not occur as a whole word.
    """
    pieces = [t for t, s in zip(*_pieces(enc, word), strict=True) if not s]
    if not pieces:
        raise EncoderError("type a word to follow through the layers")
    seq = tokens.tokens
    n = len(pieces)
    for i in range(len(seq) - n + 1):
        follows = i + n < len(seq) and seq[i + n].startswith("##")
        if list(seq[i : i + n]) == pieces and not follows:
            return list(range(i, i + n))
    raise EncoderError(f"'{word}' does not occur as a word in: {' '.join(seq[1:-1])}")


def _pieces(enc: Encoder, word: str):
    tok = enc.tokenize(word.strip())
    return tok.tokens, tok.special


@dataclass(frozen=True, eq=False)
class WordCurve:
    """cos(word in text a, word in text b) per layer (entry 0: the embedding output).

    Attributes
    ----------
    cosine : ndarray, shape (n_layer + 1,)
    edited : ndarray, shape (n_layer + 1,), or None
        The same with head edits applied to both runs.
    index_a, index_b : list of int
        The word's token indices (a word of several pieces is their mean vector).
    """

    cosine: np.ndarray
    edited: np.ndarray | None
    index_a: list[int]
    index_b: list[int]


def _curve(out_a: EncoderOutput, ia, out_b: EncoderOutput, ib) -> np.ndarray:
    a = out_a.hidden_states[:, ia].astype(np.float64).mean(axis=1)  # (L+1, H)
    b = out_b.hidden_states[:, ib].astype(np.float64).mean(axis=1)  # (L+1, H)
    return np.array([cosine(x, y) for x, y in zip(a, b, strict=True)])


class Superseded(Exception):
    """A background pass stopped because a newer request is waiting (see ``should_stop``)."""


def stop_if(should_stop) -> None:
    """Raise :class:`Superseded` when ``should_stop`` (None, or a function) says so."""
    if should_stop is not None and should_stop():
        raise Superseded


def word_curve(
    bridge, enc: Encoder, word: str, text_a: str, text_b: str, edits=(), should_stop=None
) -> WordCurve:
    """Follow ``word`` through the layers of ``enc`` in two texts.

    ``should_stop``, a function without arguments, is asked between the two texts' passes;
    True stops with :class:`Superseded`.

    Returns
    -------
    WordCurve

    Raises
    ------
    EncoderError
        A text is empty or lacks the word.
    Superseded
    """
    tok_a, out_a = bridge.run(enc, text_a)
    tok_b, out_b = bridge.run(enc, text_b)
    ia, ib = find_word(enc, tok_a, word), find_word(enc, tok_b, word)
    edited = None
    if edits:
        stop_if(should_stop)
        ea = enc.forward(out_a.ids, edits=edits, type_ids=out_a.type_ids, base=out_a)
        stop_if(should_stop)
        eb = enc.forward(out_b.ids, edits=edits, type_ids=out_b.type_ids, base=out_b)
        edited = _curve(ea, ia, eb, ib)
    return WordCurve(_curve(out_a, ia, out_b, ib), edited, ia, ib)


def head_edits(stored, enc: Encoder) -> tuple[HeadEdit, ...]:
    """The Session's Model-tab edits (:class:`~explorer.core.session.HeadScale`) that apply to
    ``enc``, as encoder edits.

    An edit of a head ``enc`` does not have is left out. Replaced projections apply only to the
    weights they were edited on (same ``sha256``) and with the right shape; otherwise only the
    edit's ``scale`` is kept (and nothing when that is 1).

    Parameters
    ----------
    stored : sequence of HeadScale
    enc : Encoder

    Returns
    -------
    tuple of HeadEdit
    """
    c = enc.config
    shape = (c.hidden_size, c.d_head)
    out = []
    for e in stored:
        if not (0 <= e.layer < c.num_layers and 0 <= e.head < c.num_heads):
            continue
        mats = {f"w_{x}": getattr(e, f"w_{x}", None) for x in "qkv"}
        mats = {k: m for k, m in mats.items() if m is not None}
        if mats and (e.sha256 != enc.sha256 or any(m.shape != shape for m in mats.values())):
            mats = {}
        if mats or e.scale != 1.0:
            out.append(HeadEdit(e.layer, e.head, scale=float(e.scale), **mats))
    return tuple(out)


def lowest_edited_layer(edits, n_layer: int) -> int:
    """The lowest layer an edit touches (``n_layer`` without edits): layers below it are the
    unedited run's, bit for bit."""
    return min((e.layer for e in edits), default=n_layer)


def attention_difference(analysis: ModelAnalysis) -> np.ndarray:
    """Edited minus unedited attention weights, (n_layer, n_head, T, T) float32.

    Exactly zero below the lowest edited layer (those layers are copied, not recomputed) and
    all zero without edits.
    """
    out = analysis.out.attentions
    if analysis.edited is None:
        return np.zeros_like(out)
    return analysis.edited.attentions - out


POOL_LEVELS = ("tokens", "words", "sentences")  # what a Model-tab heatmap's rows can be
AGGREGATES = ("rollout", "mean over heads")


def pooled(weights, tokens, level: str) -> tuple[np.ndarray, list[str]]:
    """``weights`` (..., T, T) and their labels at ``level`` (one of :data:`POOL_LEVELS`).

    ``"tokens"`` returns the weights as given; ``"words"`` and ``"sentences"`` pool them with
    :func:`pool_words` over :func:`word_groups` / :func:`sentence_groups` of ``tokens`` (rows
    keep summing to 1; the result is float64).
    """
    if level == "tokens":
        return weights, list(tokens)
    if level not in POOL_LEVELS:
        raise ValueError(f"level must be one of {POOL_LEVELS}, got {level!r}")
    groups, labels = (word_groups if level == "words" else sentence_groups)(tokens)
    return pool_words(weights, groups), labels


def aggregate(attentions, kind: str, layer: int, residual: float = 0.5) -> np.ndarray:
    """One layer of an aggregate over heads: (L, H, T, T) → (T, T) float64.

    ``kind`` is ``"rollout"`` (:func:`attention_rollout` up to and including ``layer``) or
    ``"mean over heads"`` (:func:`mean_over_heads` of ``layer``).
    """
    a = np.asarray(attentions)
    if not 0 <= layer < a.shape[0]:
        raise ValueError(f"layer {layer} outside 0…{a.shape[0] - 1}")
    if kind == "rollout":
        return attention_rollout(a[: layer + 1], residual)[layer]
    if kind == "mean over heads":
        return mean_over_heads(a[layer : layer + 1])[0]
    raise ValueError(f"kind must be one of {AGGREGATES}, got {kind!r}")


def head_pattern(summary: HeadSummary, layer: int, head: int) -> str:
    """A short name for what head ``(layer, head)`` mostly attends to."""
    parts = {
        "[CLS]": summary.to_cls[layer, head],
        "[SEP]": summary.to_sep[layer, head],
        "previous token": summary.to_prev[layer, head],
        "next token": summary.to_next[layer, head],
        "itself": summary.to_self[layer, head],
    }
    name, share = max(parts.items(), key=lambda kv: kv[1])
    if share >= PATTERN_MIN:
        return f"mostly {name} ({share:.0%})"
    return "spread over the words"


def edit_label(edits) -> str:
    """``'ablate 2·5, ×0.5 on 3·1'`` for a list of HeadEdit."""
    parts = []
    for e in edits:
        if not isinstance(e, HeadEdit):
            continue
        if e.replaces:
            what = f"new W_{'/W_'.join(e.replaces.upper())}"
            what += " on" if e.scale == 1 else (", ablated" if e.scale == 0 else f", ×{e.scale:g}")
        else:
            what = "ablate" if e.scale == 0 else f"×{e.scale:g} on"
        parts.append(f"{what} L{e.layer}·H{e.head}")
    return ", ".join(parts)


def view_data(
    bridge,
    ref,
    folder,
    text: str,
    edits,
    word_texts,
    *,
    analyse_text=True,
    prefer_folder=False,
    with_curve=True,
    compare=False,
) -> dict:
    """Everything the model view needs, for its worker thread.

    Parameters
    ----------
    bridge : ModelBridge
    ref : ModelRef or None
        The session's model; when it cannot be found, ``folder`` (or the first model on disk)
        is shown instead and ``"problem"`` says why.
    folder : Path or None
        The model the user picked.
    text : str
    edits : tuple of HeadEdit or of HeadScale
        Encoder edits, or the Session's stored edits (see :func:`head_edits`).
    word_texts : (str, str, str)
        The word to follow and the two texts (see :func:`word_curve`).
    analyse_text : bool
        False only finds the model (to report a missing one while the view is hidden).
    prefer_folder : bool
        Show ``folder`` even when ``ref`` names another model (the user picked it); ``ref``
        is still looked up, for ``"problem"``.
    with_curve : bool
        False leaves the word curve out (``"curve"`` stays None; see :func:`curve_data`),
        and the edited run's head types and per-layer cosines (see :func:`analyse`).
    compare : bool
        With the curve, also compare the two texts head by head (``"comparison"``).

    Returns
    -------
    dict
        ``encoder`` (None when no model is found), ``problem`` (ModelUnavailable or None),
        ``analysis`` (ModelAnalysis or None), ``curve`` (WordCurve or None), and
        ``text_error`` / ``curve_error`` messages when those could not be computed.
    """
    problem, enc = None, None
    if ref is not None:
        try:
            enc = bridge.locate(ref)
        except ModelUnavailable as exc:
            problem = exc
    if enc is None or (prefer_folder and folder is not None):
        enc = bridge.load(folder) if folder is not None else bridge.default_model()
    if enc is not None:
        _ = enc.sha256  # hash the weights here, off the GUI thread
    result = {"encoder": enc, "problem": problem, "analysis": None, "curve": None}
    if enc is None or not analyse_text:
        return result
    if any(isinstance(e, HeadScale) for e in edits):
        edits = head_edits(edits, enc)
    with one_blas_thread():
        try:
            result["analysis"] = (
                analyse(bridge, enc, text, edits, details=with_curve) if text.strip() else None
            )
        except EncoderError as exc:
            result["text_error"] = str(exc)
        if with_curve:
            result.update(curve_data(bridge, enc, word_texts, edits, compare=compare))
    return result


def curve_data(
    bridge, enc: Encoder, word_texts, edits, compare: bool = False, should_stop=None
) -> dict:
    """``{"curve": WordCurve}`` for ``word_texts`` (word, text a, text b), or
    ``{"curve": None, "curve_error": message}``; ``edits`` as in :func:`view_data`. With
    ``compare``, also ``"comparison"`` (:func:`compare_texts` of the two texts, or None with
    ``"comparison_error"``). ``should_stop`` as in :func:`word_curve`, also asked before
    the comparison."""
    if any(isinstance(e, HeadScale) for e in edits):
        edits = head_edits(edits, enc)
    out = {}
    with one_blas_thread():
        try:
            out["curve"] = word_curve(bridge, enc, *word_texts, edits, should_stop)
        except EncoderError as exc:
            out.update(curve=None, curve_error=str(exc))
        if compare:
            stop_if(should_stop)
            from explorer.core.model_compare import compare_texts

            try:
                out["comparison"] = compare_texts(bridge, enc, *word_texts[1:], edits)
            except EncoderError as exc:
                out.update(comparison=None, comparison_error=str(exc))
    return out
