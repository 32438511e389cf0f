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


# ----- Olah et al.'s regularizers (regularizers.py; their gradients: test_explain_regularizers)
ALL_ON = dict(jitter=1, scales=(0.9, 1.1), degrees=10, smoothness=0.01, fourier=True,
              value_range=(0.0, 1.0), diversity=1.0, diversity_layer="relu1", n_images=2,
              normalized_steps=True)


def test_regularizers_at_their_defaults_are_the_plain_ascent():
    """Every regularizer argument given at its default value: the same images, bit for bit."""
    model = tiny_net()
    defaults = dict(jitter=0, scales=(1.0, 1.0), degrees=0.0, smoothness=0.0, fourier=False,
                    value_range=None, diversity=0.0, n_images=1, normalized_steps=False)
    plain, plain_scores = class_model(model, 1, steps=3, image_shape=(1, 8, 8))
    same, same_scores = class_model(model, 1, steps=3, image_shape=(1, 8, 8), **defaults)
    np.testing.assert_array_equal(plain, same)
    np.testing.assert_array_equal(plain_scores, same_scores)
    image = maximize_activation(model, "relu2", 0, image_shape=(1, 8, 8), steps=3, **defaults)[0]
    np.testing.assert_array_equal(image, maximize_activation(model, "relu2", 0,
                                                             image_shape=(1, 8, 8), steps=3)[0])


def test_the_regularized_ascents_rise_and_keep_the_range():
    """With every regularizer on, the objective rises (Lucid's objective tests), the images
    stay inside value_range, and class_model returns n_images per class, class by class."""
    model = tiny_net()
    images, history = class_model(model, [0, 2], steps=15, step_size=0.2, alpha=0.01,
                                  image_shape=(1, 8, 8), **ALL_ON)
    assert images.shape == (4, 1, 8, 8)
    assert history[-1] > history[0]
    assert images.min() > 0 and images.max() < 1
    means = np.full((2, 1, 8, 8), 0.3)
    from_mean, rising = class_model(model, [0, 2], steps=5, step_size=0.2, init="mean",
                                    mean_image=means, image_shape=(1, 8, 8), **ALL_ON)
    assert from_mean.shape == (4, 1, 8, 8) and rising[-1] > rising[0]
    image, activation, dead = maximize_activation(model, "relu2", 0, image_shape=(1, 8, 8),
                                                  steps=15, lr=0.2, **ALL_ON)
    assert image.shape == (2, 1, 8, 8) and activation[-1] > activation[0] and not dead


def test_a_dead_channel_is_reported_by_the_regularized_ascent_too():
    model = tiny_net()
    model["conv2"].params["W"][2] = 0
    model["conv2"].params["b"][2] = -1.0
    options = dict(ALL_ON, diversity=0.0)             # diversity's own gradient is not 0
    assert maximize_activation(model, "relu2", 2, image_shape=(1, 8, 8), steps=2, **options)[2]


def test_bad_regularizer_arguments():
    model = tiny_net()
    with pytest.raises(TypeError, match="unknown regularizer argument"):
        class_model(model, 0, image_shape=(1, 8, 8), blur=1.0)
    with pytest.raises(ValueError, match="diversity needs n_images >= 2"):
        class_model(model, 0, image_shape=(1, 8, 8), diversity=1.0, diversity_layer="relu1")
    with pytest.raises(ValueError, match="diversity needs diversity_layer"):
        class_model(model, 0, image_shape=(1, 8, 8), diversity=1.0, n_images=2)
    with pytest.raises(ValueError, match="value_range must be"):
        class_model(model, 0, image_shape=(1, 8, 8), value_range=(1.0, 0.0))
    with pytest.raises(ValueError, match="scales"):
        class_model(model, 0, image_shape=(1, 8, 8), scales=(1.1, 0.9))
    with pytest.raises(ValueError, match="mean_image must be"):
        class_model(model, [0, 1], init="mean", mean_image=np.zeros((1, 8, 8)),
                    image_shape=(1, 8, 8), fourier=True)
    with pytest.raises(ValueError, match="class ids in"):
        class_model(model, [0, 5], image_shape=(1, 8, 8), fourier=True)
