"""Map layout (explorer.core.map_layout): label thinning, merging and placement, arrows, lines."""

import numpy as np
import pytest

from explorer.core import map_layout


def test_label_subset_thins_long_texts_but_keeps_the_query_and_its_keys():
    np.testing.assert_array_equal(map_layout.label_subset(9, 3), np.arange(9))
    w = np.zeros(512)
    w[[7, 300, 301]] = [0.5, 0.3, 0.2]
    idx = map_layout.label_subset(512, 100, w)
    assert len(idx) == map_layout.MAX_LABELS
    assert {100, 7, 300, 301} <= set(idx.tolist())
    assert list(idx) == sorted(set(idx.tolist()))
    assert len(map_layout.label_subset(512, None)) == map_layout.MAX_LABELS


def test_attention_lines_strongest_first_with_a_floor():
    w = np.array([0.005, 0.6, 0.1, 0.295])
    keys, weights = map_layout.attention_lines(w)
    np.testing.assert_array_equal(keys, [1, 3, 2])
    np.testing.assert_allclose(weights, [0.6, 0.295, 0.1])
    keys, _ = map_layout.attention_lines(np.full(512, 1 / 512), min_weight=0.0)
    assert len(keys) == map_layout.MAX_LINES
    assert len(map_layout.attention_lines(np.zeros(5))[0]) == 0


def test_arrow_segments_shafts_and_barbs():
    starts = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    ends = np.array([[3.0, 0.0], [1.0, 1.0], [2.0, 4.0]])  # the second has no length
    seg = map_layout.arrow_segments(starts, ends, head=0.5).reshape(-1, 6, 2)
    assert seg.shape[0] == 2
    for s in seg:
        np.testing.assert_array_equal(s[1], s[2])  # barbs start at the tip
        np.testing.assert_array_equal(s[1], s[4])
        for barb in (s[3], s[5]):
            assert np.linalg.norm(barb - s[1]) == pytest.approx(0.5)
    c, s25 = np.cos(np.radians(25)), np.sin(np.radians(25))
    np.testing.assert_allclose(seg[0, 3], [3 - 0.5 * c, -0.5 * s25])
    assert map_layout.arrow_segments(np.zeros((0, 2)), np.zeros((0, 2)), 1.0).shape == (0, 2)


def test_group_labels_merges_points_that_coincide():
    pts = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1e-9], [1.0, 1.05], [5.0, 5.0]])
    groups = map_layout.group_labels(pts, tol=0.01)
    assert [g.tolist() for g in groups] == [[0, 2], [1], [3], [4]]
    groups = map_layout.group_labels(pts, tol=0.1)
    assert [g.tolist() for g in groups] == [[0, 2], [1, 3], [4]]
    assert map_layout.group_labels(np.zeros((0, 2)), 1.0) == []


def test_place_labels_avoids_overlaps_and_drops_what_cannot_fit():
    sizes = np.array([[40.0, 12.0]] * 3)
    # far apart: every label takes the first side (upper right)
    side, shown = map_layout.place_labels(np.array([[0, 0], [200, 0], [0, 200]]), sizes)
    assert shown.all() and (side == 0).all()
    # two points close together: the second label moves to another side
    side, shown = map_layout.place_labels(np.array([[0, 0], [5, 2]]), sizes[:2])
    assert shown.all() and side[0] == 0 and side[1] != 0
    # five labels on one point: four sides, the fifth is left out
    side, shown = map_layout.place_labels(np.zeros((5, 2)), np.array([[40.0, 12.0]] * 5))
    np.testing.assert_array_equal(shown, [True, True, True, True, False])
    assert sorted(side[:4]) == [0, 1, 2, 3]
    # placed boxes never overlap (random clutter)
    rng = np.random.default_rng(0)
    anchors, sz = rng.uniform(0, 150, (30, 2)), rng.uniform(10, 50, (30, 2))
    side, shown = map_layout.place_labels(anchors, sz)
    boxes = []
    for (x, y), (w, h), s in zip(anchors[shown], sz[shown], side[shown], strict=True):
        sx, sy = map_layout.LABEL_SIDES[s]
        x0, y0 = (x + 3 if sx > 0 else x - 3 - w), (y + 3 if sy > 0 else y - 3 - h)
        boxes.append((x0, y0, x0 + w, y0 + h))
    for a in range(len(boxes)):
        for b in range(a):
            A, B = boxes[a], boxes[b]
            assert not (A[0] < B[2] and B[0] < A[2] and A[1] < B[3] and B[1] < A[3])
    assert shown[0] and map_layout.place_labels(np.zeros((0, 2)), np.zeros((0, 2)))[1].size == 0
