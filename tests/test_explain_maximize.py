"""Activation maximization and class models: each objective's gradient against central
finite differences (float64, relative error < 1e-6, gradcheck.check_gradient), the first
class-model step by hand, the objective rising on a tiny fixed net, dead channels."""
import numpy as np
import pytest
from conftest import away_from_zero

import scratchcnn as sc
from scratchcnn.explain.maximize import (channel_objective, class_model, class_objective,
                                         maximize_activation)
from scratchcnn.gradcheck import check_gradient

TOL = 1e-6


def tiny_net():
    return sc.Sequential([sc.Conv2D(1, 3, 3, padding=1), sc.ReLU(), sc.MaxPool2D(2),
                          sc.Conv2D(3, 4, 3), sc.ReLU(), sc.Flatten(), sc.Linear(4 * 2 * 2, 3)],
                         seed=3).astype(np.float64)


def test_channel_objective_gradient_matches_finite_differences(rng):
    model = tiny_net()
    x = away_from_zero((1, 1, 8, 8), rng)
    _, gradient = channel_objective(model, x, "relu2", 1)
    assert np.any(gradient != 0)
    def f(v):
        return float(channel_objective(model, v, "relu2", 1)[0][0])
    assert check_gradient(f, x, gradient) < TOL
    assert check_gradient(f, x, 1.1 * gradient) > 1e-3                 # negative control


def test_class_objective_gradient_matches_finite_differences(rng):
    """Away from I = 0 the L1 term is smooth: d(-alpha |I|)/dI = -alpha sign(I)."""
    model = tiny_net()
    x = away_from_zero((1, 1, 8, 8), rng, margin=0.05)
    _, gradient = class_objective(model, x, 2, alpha=0.1)
    def f(v):
        return float(class_objective(model, v, 2, alpha=0.1)[0][0])
    assert check_gradient(f, x, gradient) < TOL
    _, score_only = class_objective(model, x, 2, alpha=0.0)
    wrong_sign = score_only + 0.1 * np.sign(x)                          # + alpha sign(I): caught
    assert check_gradient(f, x, wrong_sign) > 1e-3


def test_first_class_model_step_by_hand():
    """I1 = I0 + lambda * (dS_c/dI0 - alpha * sign(I0)), lambda = 0.5, alpha = 0.1, with
    dS_c/dI0 from saliency (an independent call) and I0 the seed-0 N(0, 1) start."""
    model = tiny_net()
    image, history = class_model(model, 1, steps=1, image_shape=(1, 8, 8), seed=0)
    start = np.random.default_rng(0).standard_normal((1, 1, 8, 8))
    expected = start + 0.5 * (sc.explain.saliency(model, start, 1) - 0.1 * np.sign(start))
    np.testing.assert_allclose(image, expected, rtol=1e-12, atol=1e-14)
    score = sc.predict(model, start)[0, 1]
    assert history[0] == pytest.approx(score - 0.1 * np.abs(start).sum(), rel=1e-12)


def test_the_objectives_rise_over_the_steps():
    model = tiny_net()
    _, rising = maximize_activation(model, "relu2", 0, image_shape=(1, 8, 8), steps=10,
                                    lr=0.5)[:2]
    assert rising[-1] > rising[0]
    _, scores = class_model(model, 0, steps=10, step_size=0.1, image_shape=(1, 8, 8))
    assert scores[-1] > scores[0]
    mean = np.full((1, 8, 8), 0.2)
    image, from_mean = class_model(model, 0, steps=3, init="mean", mean_image=mean,
                                   image_shape=(1, 8, 8))
    assert from_mean[-1] > from_mean[0] and image.shape == (1, 1, 8, 8)


def test_a_dead_channel_is_reported_not_drawn():
    """A channel whose filter and bias are zero never fires: activation and gradient are 0
    at every step, so maximize_activation says dead (and a live channel is not)."""
    model = tiny_net()
    model["conv2"].params["W"][2] = 0
    model["conv2"].params["b"][2] = -1.0
    assert maximize_activation(model, "relu2", 2, image_shape=(1, 8, 8), steps=3)[2]
    assert not maximize_activation(model, "relu2", 0, image_shape=(1, 8, 8), steps=3)[2]


def test_bad_arguments():
    model = tiny_net()
    with pytest.raises(ValueError, match="channel must be in"):
        maximize_activation(model, "relu2", 9, image_shape=(1, 8, 8))
    with pytest.raises(ValueError, match='init must be "random" or "mean"'):
        class_model(model, 0, init="zeros", image_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="needs mean_image"):
        class_model(model, 0, init="mean", image_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="class ids in"):
        class_model(model, 5, image_shape=(1, 8, 8))
