"""The map data (explorer.core.maps) against an independent float64 reference.

The reference PCA diagonalises the covariance matrix (``numpy.linalg.eigh``) instead of
taking an SVD of the centred points, and applies the sign rule on its own.
"""

import numpy as np
import pytest
from scipy.spatial import Delaunay

from explorer.core import maps
from explorer.core.embeddings import BUILTIN_FILE, random_vectors
from explorer.core.pipeline import compute
from explorer.core.projections import conform
from explorer.core.session import Head, Session
from explorer.core.tokenizer import token_to_id
from explorer.resources import resource_path

BANK = "I sat by the river bank. I deposited money in the bank."

with np.load(resource_path(*BUILTIN_FILE), allow_pickle=False) as _data:
    TABLE = _data["vectors"].astype(np.float64)  # (V, 64), read independently of the module


def reference_pca(points, n_components=2):
    """Mean and the leading eigenvectors of the covariance, largest |loading| positive."""
    p = np.asarray(points, dtype=np.float64)
    mean = p.mean(axis=0)
    cov = (p - mean).T @ (p - mean)  # (d, d)
    vals, vecs = np.linalg.eigh(cov)  # ascending
    order = np.argsort(vals)[::-1][:n_components]
    basis = vecs[:, order]
    for a in range(basis.shape[1]):
        j = np.argmax(np.abs(basis[:, a]))
        if basis[j, a] < 0:
            basis[:, a] *= -1
    share = vals[order].sum() / vals.sum()
    return mean, basis, share


def random_points(rng, n, d):
    """Gaussian points with clearly separated variances per axis (a well-posed PCA)."""
    scales = 3.0 ** -np.arange(d)  # 1, 1/3, 1/9, ...
    mix = np.linalg.qr(rng.standard_normal((d, d)))[0]
    return rng.standard_normal((n, d)) * scales @ mix.T + rng.standard_normal(d)


def random_session(rng, text=BANK, d=8, temperature=1.0, **kw):
    heads = tuple(Head(*(rng.standard_normal((d, d)) * 0.7 for _ in range(3))) for _ in range(2))
    return Session(text=text, d_model=d, heads=heads, temperature=temperature, **kw)


# ---------------------------------------------------------------------------- PCA
@pytest.mark.parametrize("seed", range(12))
def test_fit_pca_matches_covariance_eigenvectors(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(6, 60)), int(rng.integers(2, 12))
    p = random_points(rng, n, d)
    proj = maps.fit_pca(p)
    mean, basis, share = reference_pca(p)
    np.testing.assert_allclose(proj.mean, mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(proj.basis, basis, atol=1e-7)
    np.testing.assert_allclose(proj.basis.T @ proj.basis, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(maps.explained_share(p, proj), share, rtol=1e-9)
    np.testing.assert_allclose(proj.project(p), (p - mean) @ basis, atol=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_sign_convention_makes_refits_agree(seed):
    rng = np.random.default_rng(100 + seed)
    p = random_points(rng, 30, 6)
    proj = maps.fit_pca(p)
    for a in range(2):
        col = proj.basis[:, a]
        assert col[np.argmax(np.abs(col))] > 0
    # the same cloud in another order, or nudged by rounding-size noise, gives the same plane
    again = maps.fit_pca(p[rng.permutation(len(p))])
    nudged = maps.fit_pca(p * (1 + 1e-12 * rng.standard_normal(p.shape)))
    np.testing.assert_allclose(again.basis, proj.basis, atol=1e-9)
    np.testing.assert_allclose(nudged.basis, proj.basis, atol=1e-6)
    # a mirrored cloud has the same axes (signs fixed by the loadings, not by the data)
    np.testing.assert_allclose(maps.fit_pca(-p).basis, proj.basis, atol=1e-9)


def test_sign_tie_takes_the_first_loading():
    # the cloud lies along (1, -1): both loadings tie in magnitude; the first wins
    t = np.linspace(-1, 1, 7)[:, None]
    p = np.hstack([t, -t])
    col = maps.fit_pca(p).basis[:, 0]
    np.testing.assert_allclose(col, [np.sqrt(0.5), -np.sqrt(0.5)], atol=1e-12)
    col = maps.fit_pca(p * (1 + 1e-13)).basis[:, 0]
    assert col[0] > 0


@pytest.mark.parametrize(
    "points",
    [
        np.zeros((0, 4)),  # no points
        np.ones((1, 4)) * 3.0,  # one point
        np.tile([0.3, -1.7, 2.2], (9, 1)),  # all points equal
        np.zeros((5, 3)),  # all zero
    ],
    ids=["empty", "one", "equal", "zero"],
)
def test_degenerate_inputs_give_standard_axes_and_no_nan(points):
    with np.errstate(all="raise"):
        proj = maps.fit_pca(points)
        share = maps.explained_share(points, proj)
        flat = proj.project(points)
    d = points.shape[1]
    np.testing.assert_array_equal(proj.basis, np.eye(d, 2))
    assert share == 1.0
    assert np.isfinite(flat).all() and flat.shape == (len(points), 2)
    if len(points):
        np.testing.assert_allclose(flat, 0.0, atol=1e-12)


def test_one_dimension_and_rank_one():
    p = np.array([[1.0], [3.0], [-2.0]])
    proj = maps.fit_pca(p)
    np.testing.assert_array_equal(proj.basis, [[1.0, 0.0]])
    np.testing.assert_allclose(proj.project(p)[:, 0], p[:, 0] - p.mean())
    assert maps.explained_share(p, proj) == pytest.approx(1.0)
    # points on a line in 3-D: the second axis is a standard axis orthogonal to the line
    line = np.outer(np.linspace(-1, 1, 5), [0.0, 0.6, 0.8])
    proj = maps.fit_pca(line)
    np.testing.assert_allclose(proj.basis[:, 0], [0.0, 0.6, 0.8], atol=1e-12)
    np.testing.assert_allclose(proj.basis[:, 1], [1.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(proj.project(line)[:, 1], 0.0, atol=1e-12)


# ---------------------------------------------------------------------------- value map
@pytest.mark.parametrize("seed", range(5))
def test_value_map_arrows_end_at_projected_y(seed):
    rng = np.random.default_rng(seed)
    r = compute(random_session(rng, temperature=3.0))
    for h in range(r.n_head):
        m = maps.value_map(r, h)
        v, w = r.v[h], r.weights[h]
        y = w @ v  # (T, d_v): the contextual vectors, recomputed
        np.testing.assert_allclose(r.y[h], y, rtol=1e-9, atol=1e-12)
        fit = np.concatenate([v, y])
        mean, basis, share = reference_pca(fit)
        np.testing.assert_allclose(m.points, (v - mean) @ basis, atol=1e-6)
        np.testing.assert_allclose(m.ends, (y - mean) @ basis, atol=1e-6)
        assert m.explained == pytest.approx(share, rel=1e-9)
        assert m.active.all() and m.refitted


@pytest.mark.parametrize("seed", range(5))
def test_value_map_ends_lie_inside_the_hull_of_the_points(seed):
    rng = np.random.default_rng(seed)
    r = compute(random_session(rng, text="The dog chased the cat off the table.", temperature=2))
    m = maps.value_map(r, 0)
    w = r.weights[0]
    assert (w >= 0).all()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    # the plane is affine: each end is the same convex combination of the projected points
    np.testing.assert_allclose(m.ends, w @ m.points, atol=1e-9)
    hull = Delaunay(m.points)
    assert (hull.find_simplex(m.ends, tol=1e-9) >= 0).all()


def test_value_map_keeps_a_given_projection():
    rng = np.random.default_rng(7)
    s = random_session(rng)
    r = compute(s)
    first = maps.value_map(r, 0)
    w_v = np.array(s.heads[0].w_v)
    w_v[0, 0] += 1.5
    r2 = compute(Session(text=s.text, d_model=8, heads=(s.heads[0].with_matrix("v", w_v),)))
    kept = maps.value_map(r2, 0, first.projection)
    assert kept.projection is first.projection and not kept.refitted
    p = first.projection
    np.testing.assert_allclose(kept.points, (r2.v[0] - p.mean) @ p.basis, atol=1e-9)
    np.testing.assert_allclose(kept.ends, (r2.y[0] - p.mean) @ p.basis, atol=1e-9)
    assert not np.allclose(kept.points, first.points)  # the edit moved the points
    refit = maps.value_map(r2, 0)
    assert refit.refitted and refit.explained >= kept.explained - 1e-12
    # a projection of another width is not used
    narrow = maps.fit_pca(np.eye(3))
    assert maps.value_map(r2, 0, narrow).refitted


def test_identity_values_put_both_banks_on_one_point_before_attention():
    s = Session(text=BANK, temperature=4.0, sentence_mask=True)
    r = compute(s)
    m = maps.value_map(r, 0)
    b1, b2 = [i for i, lab in enumerate(r.display_labels) if lab.startswith("bank")]
    np.testing.assert_allclose(m.points[b1], m.points[b2], atol=1e-12)
    assert np.linalg.norm(m.ends[b1] - m.ends[b2]) > 0.5  # apart after attention
    river, money = r.labels.index("river"), r.labels.index("money")
    d = np.linalg.norm
    assert d(m.ends[b1] - m.points[river]) < d(m.ends[b1] - m.points[money])
    assert d(m.ends[b2] - m.points[money]) < d(m.ends[b2] - m.points[river])


def test_value_map_degenerate_results():
    with np.errstate(all="raise"):
        empty = maps.value_map(compute(Session(text="")), 0)
        assert empty.points.shape == (0, 2) and empty.explained == 1.0
        one = maps.value_map(compute(Session(text="dog")), 0)
        np.testing.assert_allclose(one.points, one.ends, atol=1e-12)
        same = maps.value_map(compute(Session(text="the the the the")), 0)
        assert np.isfinite(same.points).all() and same.explained == 1.0
        np.testing.assert_allclose(same.points, 0.0, atol=1e-12)
        zero = Session(heads=(Head(np.eye(8), np.eye(8), np.zeros((8, 8))),))
        flat = maps.value_map(compute(zero), 0)
        assert np.isfinite(flat.points).all() and np.isfinite(flat.ends).all()
        thin = conform(Session(), d_head=1)
        line = maps.value_map(compute(thin), 0)
        np.testing.assert_array_equal(line.points[:, 1], 0.0)
        assert line.explained == pytest.approx(1.0)


def test_fully_masked_rows_get_no_arrow_and_stay_out_of_the_fit():
    s = Session(text="The dog chased the cat.", blocked=tuple((1, j) for j in range(6)))
    r = compute(s)
    assert not r.weights[0, 1].any()
    m = maps.value_map(r, 0)
    np.testing.assert_array_equal(m.active, [True, False, True, True, True, True])
    fit = np.concatenate([r.v[0], r.y[0][m.active]])
    mean, basis, share = reference_pca(fit)
    np.testing.assert_allclose(m.points, (r.v[0] - mean) @ basis, atol=1e-6)
    assert m.explained == pytest.approx(share, rel=1e-9)


# ---------------------------------------------------------------------------- Q·K map
@pytest.mark.parametrize("seed", range(4))
def test_qk_map_is_one_joint_projection(seed):
    rng = np.random.default_rng(seed)
    s = random_session(rng)
    r = compute(s)
    m = maps.qk_map(r, 1)
    q, k = r.q[1], r.k[1]
    mean, basis, share = reference_pca(np.concatenate([q, k]))
    np.testing.assert_allclose(m.queries, (q - mean) @ basis, atol=1e-6)
    np.testing.assert_allclose(m.keys, (k - mean) @ basis, atol=1e-6)
    assert m.explained == pytest.approx(share, rel=1e-9)
    assert m.scale == pytest.approx(1 / np.sqrt(8))


def test_qk_map_w_q_edit_under_a_fixed_plane_moves_only_queries():
    rng = np.random.default_rng(3)
    s = random_session(rng)
    before = maps.qk_map(compute(s), 0)
    w_q = np.array(s.heads[0].w_q)
    w_q[2] += 0.8
    s2 = Session(text=s.text, d_model=8, heads=(s.heads[0].with_matrix("q", w_q), s.heads[1]))
    after = maps.qk_map(compute(s2), 0, before.projection)
    np.testing.assert_allclose(after.keys, before.keys, atol=1e-12)
    assert np.abs(after.queries - before.queries).max() > 1e-3


# ---------------------------------------------------------------------------- reference words
def test_reference_words_builtin_through_w_v():
    rng = np.random.default_rng(0)
    w_v = rng.standard_normal((8, 8))
    s = Session(text=BANK)
    ref = maps.reference_inputs(s)
    assert ref.words == maps.REFERENCE_WORDS and ref.notice == ""
    expected = TABLE[[token_to_id(w) for w in ref.words], :8]
    np.testing.assert_allclose(ref.x, expected, rtol=1e-12)
    np.testing.assert_allclose(maps.reference_values(ref, w_v), expected @ w_v, rtol=1e-9)
    with pytest.raises(ValueError, match="width"):
        maps.reference_values(ref, np.zeros((5, 8)))


def test_reference_words_have_no_positions():
    concat = Session(positional="sinusoidal", positional_mode="concat")
    s = conform(concat)
    ref = maps.reference_inputs(s)
    assert ref.x.shape == (8, 16)
    np.testing.assert_array_equal(ref.x[:, 8:], 0.0)
    added = maps.reference_inputs(Session(positional="sinusoidal"))
    np.testing.assert_allclose(added.x, maps.reference_inputs(Session()).x)


def test_reference_words_random_and_one_hot_sources():
    s = Session(embedding="random", embedding_seed=3)
    ref = maps.reference_inputs(s)
    ids = [token_to_id(w) for w in ref.words]
    np.testing.assert_allclose(ref.x, random_vectors(ids, 8, 3))
    # one-hot: "dog" and "cat" occur in the text and share its axes; the rest get new axes
    # while any are left, then the zero vector
    oh = Session(embedding="one-hot", text="the dog chased a cat", d_model=8)
    r = compute(oh)
    ref = maps.reference_inputs(oh, r.tokens)
    dog, cat = ref.words.index("dog"), ref.words.index("cat")
    np.testing.assert_array_equal(ref.x[dog], r.x[r.labels.index("dog")])
    np.testing.assert_array_equal(ref.x[cat], r.x[r.labels.index("cat")])
    axes = ref.x.argmax(axis=1)[ref.x.any(axis=1)]
    assert sorted(axes[2:]) == [5, 6, 7]  # table, king, queen: the three free axes
    assert not ref.x[5:].any() and "no axis left" in ref.notice


def test_reference_key_tracks_what_the_inputs_read():
    s = Session()
    assert maps.reference_key(s) == maps.reference_key(Session(text="other words"))
    assert maps.reference_key(s) != maps.reference_key(Session(embedding="random"))
    sin = Session(positional="sinusoidal", positional_mode="concat")
    assert maps.reference_key(s) != maps.reference_key(sin)


@pytest.fixture
def tiny_model(tmp_path):
    """A tiny random BERT on disk, with a bridge whose providers are installed."""
    from naive_bert import write_tiny_model

    from explorer.core import embeddings, positional, projections
    from explorer.core.model_bridge import ModelBridge

    bridge = ModelBridge(hf_cache=tmp_path / "no-hf-cache", packages=())
    bridge.install()
    cfg, tensors = write_tiny_model(tmp_path / "tiny")
    yield bridge.load(tmp_path / "tiny"), cfg, tensors
    embeddings.register_model_embeddings(None)
    positional.register_learned_positions(None)
    projections.register_model_heads(None)


def test_reference_words_from_a_model_source_are_each_word_on_its_own(tiny_model):
    from naive_bert import naive_bert

    from explorer.core.model_bridge import copy_head_session

    enc, cfg, t = tiny_model
    layer = 1
    s = copy_head_session(Session(text="the dog sat in the river ."), enc, layer, 2)
    ref = maps.reference_inputs(s, compute(s).tokens, words=("dog", "river", "money"))
    assert ref.words == ("dog", "river", "money")
    for w, row in zip(ref.words, ref.x, strict=True):
        ids = enc.tokenize(w).ids  # [CLS] w [SEP]
        hidden, _, _ = naive_bert(t, cfg, ids)
        np.testing.assert_allclose(row[:-1], hidden[layer, 1], rtol=1e-4, atol=1e-5)
        assert row[-1] == 1.0  # the bias column
    values = maps.reference_values(ref, s.heads[0].w_v)
    np.testing.assert_allclose(values, ref.x @ s.heads[0].w_v, rtol=1e-12)
