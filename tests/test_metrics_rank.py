"""Spearman rank correlation and SSIM against hand computations and brute-force
definitions (no scipy: the references are written out here)."""
import numpy as np
import pytest

from scratchcnn.explain import metrics
from scratchcnn.explain.metrics import spearman, ssim

C1, C2 = 0.01 ** 2, 0.03 ** 2                # Wang et al. 2004, eq. 13 with L = 1


def brute_force_ranks(values):
    """Average rank of each value by counting: 1 + #smaller + (#equal - 1) / 2."""
    return np.array([1 + sum(w < v for w in values) + (sum(w == v for w in values) - 1) / 2
                     for v in values])


def brute_force_pearson(a, b):
    """Pearson's r written as sums over the entries, one at a time."""
    n = len(a)
    mean_a, mean_b = sum(a) / n, sum(b) / n
    cov = sum((a[i] - mean_a) * (b[i] - mean_b) for i in range(n))
    var_a = sum((a[i] - mean_a) ** 2 for i in range(n))
    var_b = sum((b[i] - mean_b) ** 2 for i in range(n))
    return cov / np.sqrt(var_a * var_b)


def test_spearman_ties_by_hand():
    # a = [1, 2, 2, 3] has ranks [1, 2.5, 2.5, 4]; b = [1, 3, 2, 4] has ranks [1, 3, 2, 4].
    # Deviations from the mean rank 2.5: [-1.5, 0, 0, 1.5] and [-1.5, .5, -.5, 1.5]:
    # r = 4.5 / sqrt(4.5 * 5) = sqrt(0.9).
    a = np.array([[1.0, 2.0, 2.0, 3.0]])
    b = np.array([[1.0, 3.0, 2.0, 4.0]])
    np.testing.assert_allclose(spearman(a, b), [np.sqrt(0.9)], rtol=1e-12)
    # A ReLU'd map: the three zeros share rank 2; ranks [2, 2, 2, 4, 5] against [1..5]:
    # deviations [-1, -1, -1, 1, 2] and [-2, -1, 0, 1, 2]: r = 8 / sqrt(8 * 10).
    relu = np.array([[0.0, 0.0, 0.0, 1.0, 2.0]])
    np.testing.assert_allclose(spearman(relu, np.arange(5.0)[None]), [8 / np.sqrt(80)],
                               rtol=1e-12)


def test_spearman_equals_the_textbook_formula_without_ties(rng):
    # (N, H, W) maps of distinct values: rho = 1 - 6 sum d^2 / (n (n^2 - 1)).
    a, b = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 4, 5))
    n = 20
    expected = []
    for row_a, row_b in zip(a.reshape(3, -1), b.reshape(3, -1)):
        d = brute_force_ranks(row_a) - brute_force_ranks(row_b)
        expected.append(1 - 6 * (d ** 2).sum() / (n * (n ** 2 - 1)))
    np.testing.assert_allclose(spearman(a, b), expected, rtol=1e-12)


def test_spearman_with_many_ties_equals_brute_force(rng):
    a = np.maximum(rng.integers(-3, 4, (4, 30)), 0).astype(float)   # many equal zeros
    b = rng.integers(0, 5, (4, 30)).astype(float)
    expected = [brute_force_pearson(brute_force_ranks(p), brute_force_ranks(q))
                for p, q in zip(a, b)]
    np.testing.assert_allclose(spearman(a, b), expected, rtol=1e-12)


def test_spearman_order_only_and_constant_maps(rng):
    a = rng.standard_normal((2, 3, 3))
    np.testing.assert_allclose(spearman(a, np.exp(a)), [1.0, 1.0], rtol=1e-12)   # monotone
    np.testing.assert_allclose(spearman(a, -a ** 3), [-1.0, -1.0], rtol=1e-12)
    np.testing.assert_array_equal(spearman(np.ones((2, 3, 3)), a), [0.0, 0.0])   # no NaN
    with pytest.raises(ValueError, match="same shape"):
        spearman(a, a[:, :2])
    with pytest.raises(ValueError, match="finite"):
        spearman(np.full((1, 3), np.nan), a[:1, 0])


def test_ssim_identical_maps_and_scale_invariance(rng):
    a = rng.standard_normal((3, 9, 11))
    np.testing.assert_allclose(ssim(a, a), [1.0, 1.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(ssim(a, 3 * a + 2), [1.0, 1.0, 1.0], rtol=1e-12)   # min-max
    flat = np.ones((1, 4, 4))
    np.testing.assert_allclose(ssim(flat, 5 * flat), [1.0])    # constant maps -> zeros, equal


def test_ssim_by_hand_one_window():
    # A 2 x 2 map is smaller than the 7 x 7 window: one window, the whole map.
    # x = [[0, 1], [0, 1]], y = [[0, 0], [1, 1]]: both means 1/2, both variances 1/4,
    # covariance E[xy] - 1/4 = 1/4 - 1/4 = 0, so SSIM = C2 / (1/2 + C2).
    x = np.array([[[0.0, 1.0], [0.0, 1.0]]])
    y = np.array([[[0.0, 0.0], [4.0, 4.0]]])         # scaled to [0, 1] first
    np.testing.assert_allclose(ssim(x, y), [C2 / (0.5 + C2)], rtol=1e-12)
    assert ssim(x, y)[0] < 0.01                      # the negative control: different maps


def test_ssim_by_hand_sliding_window():
    # 2 x 3 maps, window 2: two valid windows (columns 0-1 and 1-2), averaged.
    x = np.array([[[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]]])
    y = np.array([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]])
    # left window: x values {0, 1, 0, 1} (mean 1/2, var 1/4), y all 0 (mean 0, var 0), cov 0
    left = (0 + C1) * (0 + C2) / ((0.25 + C1) * (0.25 + C2))
    # right window: x all 1 (mean 1, var 0), y {0, 1, 0, 1} (mean 1/2, var 1/4), cov 0
    right = (2 * 0.5 + C1) * (0 + C2) / ((1 + 0.25 + C1) * (0.25 + C2))
    np.testing.assert_allclose(ssim(x, y, window=2), [(left + right) / 2], rtol=1e-12)


def test_ssim_errors():
    with pytest.raises(ValueError, match="window must be a positive int"):
        ssim(np.zeros((1, 3, 3)), np.zeros((1, 3, 3)), window=0)
    with pytest.raises(ValueError, match=r"maps \(N, H, W\)"):
        ssim(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="same shape"):
        ssim(np.zeros((1, 3, 3)), np.zeros((1, 3, 4)))


def test_pearson_against_numpy_corrcoef():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 4, 5))
    b[1] = 2 * a[1] + 1                                   # perfectly correlated
    expected = [np.corrcoef(a[n].ravel(), b[n].ravel())[0, 1] for n in range(3)]
    np.testing.assert_allclose(metrics.pearson(a, b), expected, rtol=1e-12)
    assert metrics.pearson(a, np.ones_like(a)).tolist() == [0.0, 0.0, 0.0]   # constant: 0
