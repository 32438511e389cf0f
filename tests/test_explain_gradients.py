"""Saliency, DeconvNet and guided backprop, SmoothGrad, Integrated Gradients.

Gradients are checked against central finite differences in float64 with
relative_error = max|a - n| / max(1e-8, max(|a| + |n|)) < TOL = 1e-6.
"""
import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import explain
from scratchcnn.gradcheck import check_gradient

TOL = 1e-6


def small_cnn(seed=0):
    return sc.Sequential([sc.Conv2D(2, 4, 3, padding=1), sc.ReLU(), sc.MaxPool2D(2),
                          sc.Conv2D(4, 6, 3, padding=1), sc.ReLU(), sc.GlobalAvgPool2D(),
                          sc.Linear(6, 5)], seed=seed).astype(np.float64)


def test_saliency_is_the_gradient_of_the_class_score(rng):
    model = small_cnn()
    x = rng.standard_normal((2, 2, 8, 6))                       # non-square
    targets = np.array([1, 4])
    grad = explain.saliency(model, x, targets)
    score = lambda v: float(model.forward(v)[[0, 1], targets].sum())   # noqa: E731
    assert grad.shape == x.shape
    assert check_gradient(score, x, grad) < TOL


def test_a_wrong_rule_fails_the_same_check(rng):
    """Negative control: guided backprop is not the gradient, and the check says so."""
    model = small_cnn()
    x = rng.standard_normal((2, 2, 8, 6))
    score = lambda v: float(model.forward(v)[[0, 1], [1, 4]].sum())    # noqa: E731
    assert check_gradient(score, x, explain.guided_backprop(model, x, [1, 4])) > 1e-3


@pytest.mark.parametrize("method", ["saliency", "deconvnet", "guided_backprop"])
def test_batch_equals_single_calls(rng, method):
    model = small_cnn()
    x = rng.standard_normal((3, 2, 6, 10))
    batch = getattr(explain, method)(model, x, [0, 3, 2])
    for i, t in enumerate([0, 3, 2]):
        np.testing.assert_allclose(batch[i:i + 1], getattr(explain, method)(model, x[i:i + 1], t),
                                   rtol=1e-12, atol=1e-14)


def positive_net():
    """Every weight, bias and input positive: every ReLU is active (F > 0) and every
    upstream gradient positive (G > 0), so the three rules must coincide."""
    model = sc.Sequential([sc.Conv2D(1, 3, 2), sc.ReLU(), sc.MaxPool2D(2), sc.Flatten(),
                           sc.Linear(3 * 2 * 2, 4), sc.ReLU(), sc.Linear(4, 2)]).astype(np.float64)
    rng = np.random.default_rng(5)
    for _, layer, key in model.named_parameters():
        layer.params[key][...] = rng.uniform(0.1, 1.0, layer.params[key].shape)
    return model


def test_three_rules_coincide_where_relus_are_active_and_gradients_positive(rng):
    model = positive_net()
    x = rng.uniform(0.1, 1.0, (2, 1, 5, 5))
    plain = explain.saliency(model, x, 1)
    np.testing.assert_allclose(explain.guided_backprop(model, x, 1), plain, rtol=1e-12)
    np.testing.assert_allclose(explain.deconvnet(model, x, 1), plain, rtol=1e-12)


def test_three_rules_on_a_hand_computed_net():
    """x = [1, 2] -> W1 -> ReLU -> W2 -> S, computed by hand.

    W1 = [[1, -1], [1, 1], [2, 0]]  so F = W1 x = [1-2, 1+2, 2] = [-1, 3, 2], A = [0, 3, 2]
    W2 = [[1, -1, 1]]               so S = 0 - 3 + 2 = -1 and G = dS/dA = [1, -1, 1]
    dS/dx = W1^T R, with W1^T = [[1, 1, 2], [-1, 1, 0]]:
      gradient  R = 1(F>0) G        = [0, -1, 1]  ->  [0 - 1 + 2, 0 - 1 + 0] = [1, -1]
      deconvnet R = 1(G>0) G        = [1,  0, 1]  ->  [1 + 0 + 2, -1 + 0 + 0] = [3, -1]
      guided    R = 1(F>0) 1(G>0) G = [0,  0, 1]  ->  [0 + 0 + 2, 0 + 0 + 0]  = [2, 0]
    """
    model = sc.Sequential([sc.Flatten(), sc.Linear(2, 3), sc.ReLU(), sc.Linear(3, 1)])
    model.astype(np.float64)
    model["fc1"].params["W"][...] = [[1, -1], [1, 1], [2, 0]]
    model["fc1"].params["b"][...] = 0
    model["fc2"].params["W"][...] = [[1, -1, 1]]
    model["fc2"].params["b"][...] = 0
    x = np.array([[[[1.0, 2.0]]]])
    assert model.forward(x)[0, 0] == -1
    np.testing.assert_array_equal(explain.saliency(model, x, 0).ravel(), [1, -1])
    np.testing.assert_array_equal(explain.deconvnet(model, x, 0).ravel(), [3, -1])
    np.testing.assert_array_equal(explain.guided_backprop(model, x, 0).ravel(), [2, 0])


def test_deconvnet_and_guided_backprop_differ_on_a_real_net(rng):
    model = small_cnn()
    x = rng.standard_normal((1, 2, 8, 8))
    assert not np.allclose(explain.deconvnet(model, x, 2), explain.guided_backprop(model, x, 2))


def test_integrated_gradients_completeness(rng):
    """Sum of attributions = S(x) - S(baseline), to < 1% at 50 trapezoid steps."""
    model = small_cnn()
    x = rng.standard_normal((3, 2, 8, 8))
    attributions, gap = explain.integrated_gradients(model, x, [0, 1, 2], steps=50)
    scores = model.forward(x)[[0, 1, 2], [0, 1, 2]]
    base = model.forward(np.zeros_like(x))[[0, 1, 2], [0, 1, 2]]
    np.testing.assert_allclose(attributions.sum(axis=(1, 2, 3)) - (scores - base), gap)
    assert np.all(np.abs(gap) < 0.01 * np.abs(scores - base))
    single, _ = explain.integrated_gradients(model, x[1:2], 1, steps=50)
    np.testing.assert_allclose(single, attributions[1:2], rtol=1e-10, atol=1e-14)


def test_smoothgrad_is_the_mean_of_noisy_saliency(rng):
    model = small_cnn()
    x = rng.standard_normal((2, 2, 6, 6))
    np.testing.assert_allclose(explain.smoothgrad(model, x, 1, samples=3, noise=0.0),
                               explain.saliency(model, x, 1), rtol=1e-12)
    batch = explain.smoothgrad(model, x, [1, 3], samples=4, noise=0.2, seed=7)
    single = explain.smoothgrad(model, x[1:], 3, samples=4, noise=0.2, seed=7)
    np.testing.assert_allclose(batch[1:], single, rtol=1e-12)
    by_hand = np.zeros_like(x[:1])                     # the same four noise draws, by hand
    draws = np.random.default_rng(7)
    sigma = 0.2 * (x[0].max() - x[0].min())
    for _ in range(4):
        by_hand += explain.saliency(model, x[:1] + sigma * draws.standard_normal(x.shape[1:]), 1)
    np.testing.assert_allclose(batch[:1], by_hand / 4, rtol=1e-12)


def test_explanations_leave_the_model_mode_alone(rng):
    model = small_cnn().train()
    explain.saliency(model, rng.standard_normal((1, 2, 6, 6)), 0)
    assert all(layer.training for layer in model)


def test_bad_arguments(rng):
    model = small_cnn()
    x = rng.standard_normal((2, 2, 6, 6))
    with pytest.raises(ValueError, match=r"target must be class ids in \[0, 4\]"):
        explain.saliency(model, x, 5)
    with pytest.raises(ValueError, match="one int or 2 ints"):
        explain.saliency(model, x, [0, 1, 2])
    with pytest.raises(TypeError, match="int class id"):
        explain.saliency(model, x, 1.5)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        explain.saliency(model, x[0], 0)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        explain.integrated_gradients(model, x, 0, steps=0)
    with pytest.raises(ValueError, match="baseline must have the shape"):
        explain.integrated_gradients(model, x, 0, baseline=np.zeros((1, 2, 6, 6)))
