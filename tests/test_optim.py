"""SGD and Adam against their update formulas computed by hand; masks keep
damaged weights exactly zero forever."""
import numpy as np
import pytest

import scratchcnn as sc


def one_linear():
    model = sc.Sequential([sc.Linear(3, 2)]).astype(np.float64)
    model["fc1"].params["W"][...] = [[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]
    model["fc1"].params["b"][...] = [0.1, -0.1]
    return model


def set_grads(model, gw, gb):
    model["fc1"].grads["W"][...] = gw
    model["fc1"].grads["b"][...] = gb


def test_sgd_momentum_weight_decay_by_hand():
    model = one_linear()
    w0 = model["fc1"].params["W"].copy()
    opt = sc.SGD(model, lr=0.1, momentum=0.9, weight_decay=0.01)
    g = np.full((2, 3), 0.5)
    set_grads(model, g, np.zeros(2))
    opt.step()
    v1 = g + 0.01 * w0                                   # first velocity = first gradient
    w1 = w0 - 0.1 * v1
    np.testing.assert_allclose(model["fc1"].params["W"], w1)
    opt.step()                                           # same gradient again
    v2 = 0.9 * v1 + (g + 0.01 * w1)
    np.testing.assert_allclose(model["fc1"].params["W"], w1 - 0.1 * v2)


def test_adam_by_hand():
    model = one_linear()
    w0 = model["fc1"].params["W"].copy()
    opt = sc.Adam(model, lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    g1, g2 = np.full((2, 3), 0.5), np.full((2, 3), -0.2)
    set_grads(model, g1, np.zeros(2))
    opt.step()
    m, v = 0.1 * g1, 0.001 * g1 ** 2
    w1 = w0 - 0.01 * (m / 0.1) / (np.sqrt(v / 0.001) + 1e-8)
    np.testing.assert_allclose(model["fc1"].params["W"], w1)
    set_grads(model, g2, np.zeros(2))
    opt.step()
    m, v = 0.9 * m + 0.1 * g2, 0.999 * v + 0.001 * g2 ** 2
    w2 = w1 - 0.01 * (m / (1 - 0.9 ** 2)) / (np.sqrt(v / (1 - 0.999 ** 2)) + 1e-8)
    np.testing.assert_allclose(model["fc1"].params["W"], w2)


@pytest.mark.parametrize("make", [lambda m, k: sc.SGD(m, lr=0.1, momentum=0.9, weight_decay=0.1,
                                                      masks=k),
                                  lambda m, k: sc.Adam(m, lr=0.1, masks=k)], ids=["sgd", "adam"])
def test_masked_weights_stay_exactly_zero(rng, make):
    model = one_linear()
    mask = np.array([[1, 0, 1], [0, 1, 1]], dtype=bool)
    opt = make(model, {"fc1.W": mask})
    assert np.all(model["fc1"].params["W"][~mask] == 0)          # zeroed at once
    for _ in range(5):
        set_grads(model, rng.standard_normal((2, 3)), rng.standard_normal(2))
        opt.step()
        assert np.all(model["fc1"].params["W"][~mask] == 0.0)
    assert np.all(model["fc1"].params["W"][mask] != 0)           # the rest still learns


def test_optimizer_argument_errors():
    model = one_linear()
    with pytest.raises(KeyError, match="valid keys"):
        sc.SGD(model, lr=0.1, masks={"fc9.W": np.ones((2, 3))})
    with pytest.raises(ValueError, match="shape"):
        sc.SGD(model, lr=0.1, masks={"fc1.W": np.ones((3, 2))})
    with pytest.raises(ValueError, match="lr must be > 0"):
        sc.Adam(model, lr=0)
