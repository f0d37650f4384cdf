import numpy as np

from explorer.ui.views.composite import thumbnail


def test_thumbnail_is_block_maximum():
    rng = np.random.default_rng(1)
    m = rng.random((37, 53)).astype(np.float32)
    t = thumbnail(m, 10)  # f = 6
    f = 6
    expect = np.zeros((7, 9), dtype=np.float32)
    for i in range(7):
        for j in range(9):
            expect[i, j] = m[i * f : (i + 1) * f, j * f : (j + 1) * f].max()
    np.testing.assert_array_equal(t, expect)
    assert thumbnail(m, 100) is m
