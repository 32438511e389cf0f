"""Softmax cross-entropy: gradient by finite differences (TOL = 1e-6, float64),
and stability for logits of magnitude 1e4."""
import numpy as np
import pytest

from scratchcnn import log_softmax, softmax_cross_entropy
from scratchcnn.gradcheck import check_gradient

TOL = 1e-6


def test_softmax_cross_entropy_gradient(rng):
    logits = rng.standard_normal((5, 4)) * 3
    labels = np.array([0, 3, 1, 1, 2])
    _, dlogits = softmax_cross_entropy(logits, labels)
    err = check_gradient(lambda z: softmax_cross_entropy(z, labels)[0], logits, dlogits)
    assert err < TOL


def test_softmax_cross_entropy_value_by_hand():
    logits = np.array([[0.0, np.log(3.0)]])          # p = [1/4, 3/4]
    loss, dlogits = softmax_cross_entropy(logits, np.array([1]))
    assert loss == pytest.approx(-np.log(0.75))
    np.testing.assert_allclose(dlogits, [[0.25, -0.25]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_is_stable_for_huge_logits(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4 - 1.0]], dtype=dtype)
    loss, dlogits = softmax_cross_entropy(logits, np.array([0, 2]))
    assert np.isfinite(loss) and np.all(np.isfinite(dlogits))
    # row 0 is certain and right; row 1 puts e^-1/(1+e^-1) on the true class
    expected = (0.0 + (1.0 + np.log1p(np.exp(-1.0)))) / 2
    assert loss == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(np.exp(log_softmax(logits)).sum(axis=1), 1, rtol=1e-6)
