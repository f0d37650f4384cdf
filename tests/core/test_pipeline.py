"""compute(session) against an independent float64 recomputation, plus its properties."""

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.core import pipeline
from explorer.core.embeddings import BUILTIN_FILE
from explorer.core.long_attention import LONG_MAX_TOKENS
from explorer.core.pipeline import Result, compute, token_window
from explorer.core.projections import conform
from explorer.core.session import Head, Session, ViewOptions
from explorer.core.tokenizer import MAX_TOKENS, tokenize
from explorer.resources import resource_path

WORDS = ["the", "dog", "cat", "table", "river", "bank", "money", "king", "queen", "apple",
         "unaffable", "!", "東京", "café", "the"]  # fmt: skip

with np.load(resource_path(*BUILTIN_FILE), allow_pickle=False) as _data:
    TABLE = _data["vectors"].astype(np.float64)  # (V, 64), read independently of the module


# ---------------------------------------------------------------- the float64 reference


def reference_embed(session, tokens):
    ids = [t.id for t in tokens]
    d = session.d_model
    if session.embedding == "builtin":
        return TABLE[ids, :d]
    if session.embedding == "random":
        return np.array(
            [
                np.random.default_rng((session.embedding_seed, i)).standard_normal(64)[:d]
                for i in ids
            ]
        ).reshape(len(ids), d)
    # one-hot: axis by order of first appearance
    order = list(dict.fromkeys(ids))
    e = np.zeros((len(ids), d))
    for row, i in enumerate(ids):
        if order.index(i) < d:
            e[row, order.index(i)] = 1.0
    return e


def reference_positions(T, d):
    p = np.zeros((T, d))
    for pos in range(T):
        for i in range(d):
            angle = pos / 10000 ** (2 * (i // 2) / d)
            p[pos, i] = math.sin(angle) if i % 2 == 0 else math.cos(angle)
    return p


def reference_cos(a):
    T = a.shape[0]
    out = np.zeros((T, T))
    for i in range(T):
        for j in range(T):
            n = np.linalg.norm(a[i]) * np.linalg.norm(a[j])
            out[i, j] = 0.0 if n == 0 else a[i] @ a[j] / n
    return out


def reference(session):
    tokens = tokenize(session.text, session.view.show_special).tokens
    T = len(tokens)
    e = reference_embed(session, tokens)
    x = e
    if session.positional == "sinusoidal":
        p = reference_positions(T, session.d_model)
        x = e + p if session.positional_mode == "add" else np.hstack([e, p])
    d_head = session.heads[0].w_q.shape[1]
    scale = 1.0 / (math.sqrt(d_head) * session.temperature)
    allowed = np.ones((T, T), dtype=bool)
    for i in range(T):
        for j in range(T):
            if (session.causal and j > i) or (i, j) in session.blocked:
                allowed[i, j] = False
    out = {k: [] for k in ("q", "k", "v", "scores", "weights", "y")}
    for h in session.heads:
        q, k, v = x @ h.w_q, x @ h.w_k, x @ h.w_v
        scores = q @ k.T
        w = np.zeros((T, T))
        for i in range(T):
            js = [j for j in range(T) if allowed[i, j]]
            if js:
                s = np.array([scores[i, j] * scale for j in js])
                ex = np.exp(s - s.max())
                w[i, js] = ex / ex.sum()
        for name, val in zip(out, (q, k, v, scores, w, w @ v), strict=True):
            out[name].append(val)
    ref = {name: np.array(vals) for name, vals in out.items()}
    ref["contextual"] = (
        np.hstack(list(ref["y"])) if T else np.zeros((0, ref["y"].shape[0] * ref["y"].shape[2]))
    )
    ref.update(x=x, embedded=e, allowed=allowed, scale=scale, tokens=tokens)
    ref["static_similarity"] = reference_cos(e)
    ref["contextual_similarity"] = reference_cos(ref["contextual"])
    return ref


@st.composite
def sessions(draw):
    words = draw(st.lists(st.sampled_from(WORDS), min_size=0, max_size=14))
    d_model = draw(st.integers(2, 16))
    positional = draw(st.sampled_from(["none", "sinusoidal"]))
    mode = draw(st.sampled_from(["add", "concat"]))
    d_in = 2 * d_model if positional != "none" and mode == "concat" else d_model
    n_head, d_head = draw(st.integers(1, 4)), draw(st.integers(1, 10))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    gain = draw(st.sampled_from([0.1, 0.5, 1.0, 2.0]))
    heads = tuple(
        Head(*(gain * rng.standard_normal((d_in, d_head)) for _ in range(3))) for _ in range(n_head)
    )
    blocked = draw(st.lists(st.tuples(st.integers(0, 17), st.integers(0, 17)), max_size=12))
    return Session(
        text=" ".join(words),
        embedding=draw(st.sampled_from(["builtin", "one-hot", "random"])),
        d_model=d_model,
        embedding_seed=draw(st.integers(0, 1000)),
        positional=positional,
        positional_mode=mode,
        heads=heads,
        temperature=draw(st.floats(0.05, 20.0)),
        causal=draw(st.booleans()),
        blocked=tuple(blocked),
        view=ViewOptions(show_special=draw(st.booleans())),
    )


@settings(max_examples=120, deadline=None)
@given(sessions())
def test_compute_matches_the_float64_reference(session):
    r = compute(session)
    ref = reference(session)
    assert r.tokens == ref["tokens"]
    assert r.scale == pytest.approx(ref["scale"], rel=1e-15)
    np.testing.assert_array_equal(r.allowed, ref["allowed"])
    for name in ("embedded", "x", "q", "k", "v", "scores", "weights", "y", "contextual"):
        got = getattr(r, name)
        assert got.shape == ref[name].shape, name
        assert got.dtype == np.float64, name
        np.testing.assert_allclose(got, ref[name], rtol=1e-9, atol=1e-9, err_msg=name)
    for name in ("static_similarity", "contextual_similarity"):
        np.testing.assert_allclose(getattr(r, name), ref[name], atol=1e-9, err_msg=name)
    np.testing.assert_allclose(r.scaled, ref["scores"] * ref["scale"], rtol=1e-12, atol=1e-12)
    expect_masked = np.where(ref["allowed"], ref["scores"] * ref["scale"], -np.inf)
    np.testing.assert_allclose(r.masked, expect_masked, rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(sessions())
def test_float32_path_matches_the_float64_reference(session):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "FLOAT32_MIN_WORK", 0)
        r = compute(session)
    ref = reference(session)
    assert r.dtype == np.float32
    for name in ("x", "q", "k", "v", "scores"):
        got, want = getattr(r, name), ref[name]
        assert got.dtype == np.float32, name
        tol = 1e-5 * max(1.0, float(np.abs(want).max(initial=0.0)))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=tol, err_msg=name)
    # float32 rounds each logit by about eps · Σ_d |q_d k_d| · scale; a softmax passes that
    # error on to the weights about one for one, and y = A V multiplies it by |v|
    eps = float(np.finfo(np.float32).eps)
    q, k, v = np.abs(ref["q"]), np.abs(ref["k"]), np.abs(ref["v"])
    logit_err = 8 * eps * ref["scale"] * float((q @ k.transpose(0, 2, 1)).max(initial=0.0))
    w_tol = 1e-5 + logit_err
    T = len(ref["tokens"])
    y_tol = 1e-5 * max(1.0, float(ref["y"].__abs__().max(initial=0.0))) + w_tol * T * float(
        v.max(initial=0.0)
    )
    for name, tol in (("weights", w_tol), ("y", y_tol), ("contextual", y_tol)):
        got, want = getattr(r, name), ref[name]
        assert got.dtype == np.float32, name
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=tol, err_msg=name)
    np.testing.assert_allclose(r.contextual_similarity, ref["contextual_similarity"], atol=1e-3)


def test_dtype_switches_at_the_work_threshold():
    assert pipeline.work_dtype(1, 12, 8, 8) == np.float64
    assert pipeline.work_dtype(12, 128, 64, 64) == np.float32
    assert compute(Session()).dtype == np.float64


@settings(max_examples=60, deadline=None)
@given(sessions())
def test_weight_rows_sum_to_one_or_zero_and_respect_the_mask(session):
    r = compute(session)
    sums = r.weights.sum(axis=-1)  # (n_head, T)
    has_key = r.allowed.any(axis=-1)  # (T,)
    np.testing.assert_allclose(sums[:, has_key], 1.0, atol=1e-12)
    np.testing.assert_array_equal(sums[:, ~has_key], 0.0)
    np.testing.assert_array_equal(r.y[:, ~has_key], 0.0)
    assert np.all(r.weights[:, ~r.allowed] == 0)
    assert np.all(r.weights >= 0)
    if session.causal:
        assert np.all(np.triu(r.weights, k=1) == 0)


def test_default_session_cat_attends_to_dog_more_than_to_table():
    r = compute(Session())
    labels = r.labels
    assert labels == ["the", "dog", "chased", "the", "cat", "off", "the", "table", "."]
    cat, dog, table = labels.index("cat"), labels.index("dog"), labels.index("table")
    w = r.weights[0]
    assert w[cat, dog] > w[cat, table]
    assert r.static_similarity[cat, dog] > r.static_similarity[cat, table]


def test_permuting_the_words_permutes_the_results_without_positions():
    a = compute(Session(text="dog cat table river"))
    b = compute(Session(text="table river dog cat"))
    perm = [2, 3, 0, 1]  # b's token i is a's token perm[i]
    np.testing.assert_allclose(b.weights[0], a.weights[0][np.ix_(perm, perm)], atol=1e-12)
    np.testing.assert_allclose(b.y[0], a.y[0][perm], atol=1e-12)
    c = compute(Session(text="table river dog cat", positional="sinusoidal"))
    assert not np.allclose(c.weights[0], b.weights[0])  # positions break the symmetry


def test_temperature_sharpens_and_flattens():
    cold = compute(Session(temperature=0.2)).weights[0]
    warm = compute(Session(temperature=5.0)).weights[0]

    def entropy(w):
        return -(w * np.log(np.where(w > 0, w, 1))).sum(axis=-1)

    assert np.all(entropy(cold) <= entropy(warm) + 1e-12)
    with pytest.raises(ValueError, match="temperature"):
        compute(Session(temperature=0.0))
    with pytest.raises(ValueError, match="temperature"):
        compute(Session(temperature=float("inf")))


@pytest.mark.parametrize("show_special", [False, True])
def test_empty_text_gives_a_valid_empty_result(show_special):
    s = Session(text="", view=ViewOptions(show_special=show_special))
    r = compute(s)
    assert isinstance(r, Result) and r.T == 0 and r.tokens == ()
    assert r.x.shape == (0, 8) and r.q.shape == (1, 0, 8) and r.weights.shape == (1, 0, 0)
    assert r.y.shape == (1, 0, 8) and r.contextual.shape == (0, 8)
    assert r.static_similarity.shape == (0, 0) and not r.truncated and r.notice == ""


def test_special_tokens_follow_the_view_option():
    r = compute(Session(view=ViewOptions(show_special=True)))
    assert r.labels[0] == "[CLS]" and r.labels[-1] == "[SEP]" and r.T == 11
    assert r.weights.shape == (1, 11, 11)


def test_long_text_is_truncated_with_a_notice():
    r = compute(Session(text="the cat sat. " * 2100))  # 8,400 word pieces
    assert r.truncated and r.T == LONG_MAX_TOKENS - 2 and r.n_total == 8400
    assert "truncated" in r.notice.lower() and "8192" in r.notice
    assert r.dtype == np.float32  # large inputs take the float32 path
    for i in (0, 17, 4000, 8189):  # rows of a long Result are computed where read
        assert float(r.weights[0, i].sum()) == pytest.approx(1.0, abs=1e-5)


def test_the_512_token_window_stays_where_a_model_reads_the_text():
    s = Session()
    assert token_window(s) == LONG_MAX_TOKENS
    assert token_window(replace(s, embedding="model")) == MAX_TOKENS
    assert token_window(replace(s, positional="learned")) == MAX_TOKENS


def test_odd_unicode_flows_through_compute():
    text = "e\u0301 😀 東京 שלום \x00\x1b lone\ud800 \u202eRTL"
    for session in (
        Session(text=text),
        conform(Session(text=text, embedding="one-hot", d_model=4)),
    ):
        r = compute(session)
        assert np.isfinite(r.weights).all() and r.T > 0


def test_heads_that_do_not_fit_are_a_clear_error():
    s = Session().evolve(d_model=12)  # heads still read 8 numbers
    with pytest.raises(ValueError, match="rebuild the projections") as err:
        compute(s)
    assert "explorer." not in str(err.value) and "(" not in str(err.value)  # no internals
    mixed = Session().evolve(
        heads=(Head(np.eye(8), np.eye(8), np.eye(8)), Head(*[np.eye(8, 4)] * 3))
    )
    with pytest.raises(ValueError, match="same shape"):
        compute(mixed)


def test_result_is_read_only_and_timed():
    r = compute(Session())
    for name in ("x", "q", "weights", "y", "scores", "static_similarity"):
        with pytest.raises(ValueError):
            getattr(r, name)[0, 0] = 1.0
    assert set(r.timings) >= {"tokenize", "embed", "project", "scores", "attention", "total"}
    assert all(v >= 0 for v in r.timings.values())
    assert r.timings["total"] >= r.timings["attention"]


def test_blocking_every_key_of_a_query_gives_zero_weights_and_output():
    T = compute(Session()).T
    r = compute(Session(blocked=tuple((2, j) for j in range(T))))
    np.testing.assert_array_equal(r.weights[0, 2], 0.0)
    np.testing.assert_array_equal(r.y[0, 2], 0.0)
    assert np.all(np.isneginf(r.masked[0, 2]))


def test_blas_is_held_to_one_thread_even_from_a_worker_thread():
    """The GUI runs compute in a worker; the BLAS pin must work there too."""
    import threading

    libs = pipeline._numpy_blas()
    assert libs, "NumPy's BLAS was not found"
    before = [get() for get, _ in libs]
    seen = {}

    def job():
        with pipeline._single_threaded_blas():
            seen["inside"] = [get() for get, _ in libs]
        seen["after"] = [get() for get, _ in libs]

    worker = threading.Thread(target=job)
    worker.start()
    worker.join()
    assert seen["inside"] == [1] * len(libs)
    assert seen["after"] == before


# ------------------------------------------------- reusing the previous Result (slider drags)

RESULT_ARRAYS = (
    *("embedded", "x", "q", "k", "v", "scores", "scaled", "allowed", "masked", "weights", "y"),
    *("contextual", "static_similarity", "contextual_similarity"),
)


def assert_same_result(got: Result, want: Result, exact: bool = True) -> None:
    assert got.tokens == want.tokens and got.scale == want.scale
    for name in RESULT_ARRAYS:
        a, b = getattr(got, name), getattr(want, name)
        assert a.shape == b.shape and a.dtype == b.dtype, name
        if exact:
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)
        assert not a.flags.writeable, name


@settings(max_examples=80, deadline=None)
@given(sessions(), st.data())
def test_reuse_recomputes_only_the_edited_heads_and_matches_a_full_compute(session, data):
    before = compute(session)
    snapshot = {name: np.array(getattr(before, name)) for name in RESULT_ARRAYS}
    h = data.draw(st.integers(0, session.n_head - 1))
    which = data.draw(st.sampled_from("qkv"))
    head = session.heads[h]
    row = data.draw(st.integers(0, head.w_q.shape[0] - 1))
    col = data.draw(st.integers(0, head.matrix(which).shape[1] - 1))
    value = data.draw(st.floats(-3, 3))
    edited = session.with_head(h, head.with_weight(which, row, col, value))
    changed = pipeline.edited_heads(edited, session, before)
    assert changed == ([h] if edited.heads[h] != head else [])
    got = compute(edited, reuse=(session, before))
    assert_same_result(got, compute(edited))  # float64: bit for bit
    if changed and session.n_head > 1:
        assert "reuse" in got.timings
    elif not changed:
        assert got is before  # nothing to recompute
    for name, a in snapshot.items():  # the earlier Result is untouched
        np.testing.assert_array_equal(getattr(before, name), a, err_msg=name)


def test_reuse_in_float32_matches_a_full_compute_to_rounding():
    words = " ".join(WORDS[:10] * 40)  # about 400 tokens: the float32 path
    s = conform(Session(text=words, d_model=32, preset="orthogonal"), n_head=6, d_head=32)
    before = compute(s)
    assert before.dtype == np.float32
    edited = s.with_head(2, s.heads[2].with_weight("k", 3, 4, 2.5))
    got = compute(edited, reuse=(s, before))
    assert "reuse" in got.timings
    assert_same_result(got, compute(edited), exact=False)
    # the unedited heads are the earlier arrays' values exactly
    keep = [0, 1, 3, 4, 5]
    np.testing.assert_array_equal(got.weights[keep], before.weights[keep])
    assert not np.allclose(got.weights[2], before.weights[2])


@pytest.mark.parametrize(
    "change",
    [
        {"text": "The dog chased the cat off the mat."},
        {"temperature": 2.0},
        {"causal": True},
        {"blocked": ((1, 2),)},
        {"sentence_mask": True},
        {"embedding": "one-hot"},
        {"embedding_seed": 3, "embedding": "random"},
        {"positional": "sinusoidal"},
        {"view": ViewOptions(show_special=True)},
    ],
)
def test_anything_but_head_matrices_means_a_full_compute(change):
    from dataclasses import replace

    s = Session()
    before = compute(s)
    edited = s.with_head(0, s.heads[0].with_weight("q", 0, 0, 0.5))
    edited = replace(edited, **change)
    assert pipeline.edited_heads(edited, s, before) is None
    got = compute(edited, reuse=(s, before))
    assert "reuse" not in got.timings
    assert_same_result(got, compute(edited))


def test_view_only_changes_reuse_everything():
    from dataclasses import replace

    s = conform(Session(), n_head=3)
    before = compute(s)
    edited = replace(s, selected_head=2, view=ViewOptions(colormap="magma", show_values=False))
    assert pipeline.edited_heads(edited, s, before) == []
    assert compute(edited, reuse=(s, before)) is before


@pytest.mark.parametrize("bad", [1e7, -1e300, np.nan, np.inf])
def test_weights_that_would_overflow_are_refused_by_name(bad):
    s = conform(Session(), n_head=3)
    m = np.array(s.heads[2].w_v)
    m[1, 1] = bad
    edited = s.with_head(2, s.heads[2].with_matrix("v", m))
    with pytest.raises(ValueError, match=r"W_V of head 2 holds .*Reset or scale"):
        compute(edited)
    with pytest.raises(ValueError, match="W_V of head 2"):  # the reuse path checks too
        compute(edited, reuse=(s, compute(s)))


def test_the_largest_allowed_weights_still_give_finite_attention():
    from explorer.core.session import MAX_ABS_WEIGHT

    s = conform(Session(d_model=64, text=" ".join(WORDS)), n_head=2, d_head=64)
    big = tuple(Head(*(MAX_ABS_WEIGHT * np.eye(64) for _ in range(3))) for _ in range(2))
    from dataclasses import replace

    for dtype_floor in (pipeline.FLOAT32_MIN_WORK, 0):  # float64 and the float32 path
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(pipeline, "FLOAT32_MIN_WORK", dtype_floor)
            r = compute(replace(s, heads=big))
        assert np.isfinite(r.weights).all() and np.isfinite(r.scores).all()
        np.testing.assert_allclose(r.weights.sum(axis=-1), 1.0, rtol=1e-5)
