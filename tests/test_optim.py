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


def test_adam_two_steps_small_gradients_eps_outside_sqrt():
    """Gradients of 1e-7 against eps=1e-8: eps is a tenth of sqrt(v_hat), so moving it
    inside the square root (update ~1e-3 lr) or dropping it (10% larger update, 0/0 at
    a zero gradient) is caught. Expected values: Kingma & Ba Algorithm 1, PyTorch form,
    worked out exactly (50-digit decimals), written here as numbers."""
    model = one_linear()
    w0 = model["fc1"].params["W"].copy()
    lr, eps = 0.01, 1e-8
    opt = sc.Adam(model, lr=lr, betas=(0.9, 0.999), eps=eps)
    g1 = np.array([[1e-7, -2e-7, 5e-8], [3e-7, 0.0, -1e-7]])
    g2 = np.array([[-1e-7, -1e-7, 2e-7], [3e-7, 1e-7, 0.0]])
    rel = dict(rtol=1e-12, atol=0)
    state = opt.state["fc1.W"]

    set_grads(model, g1, np.zeros(2))
    opt.step()
    # t = 1: m = 0.1 g, v = 0.001 g^2; bias corrections 1 - 0.9 = 0.1, 1 - 0.999 = 0.001,
    # so m_hat = g, sqrt(v_hat) = |g| and the step is lr * g / (|g| + eps).
    np.testing.assert_allclose(state["m"], [[1e-8, -2e-8, 5e-9], [3e-8, 0.0, -1e-8]], **rel)
    np.testing.assert_allclose(state["v"], [[1e-17, 4e-17, 2.5e-18], [9e-17, 0.0, 1e-17]], **rel)
    step1 = lr * np.array([[10 / 11, -20 / 21, 5 / 6], [30 / 31, 0.0, -10 / 11]])
    np.testing.assert_allclose(w0 - model["fc1"].params["W"], step1, **rel)
    w1 = np.array([[9.90909090909090909e-1, -1.99047619047619048e+0, 4.91666666666666667e-1],
                   [-9.67741935483870968e-3, 3.0, -9.90909090909090909e-1]])
    np.testing.assert_allclose(model["fc1"].params["W"], w1, **rel)
    np.testing.assert_array_equal(model["fc1"].params["b"], [0.1, -0.1])   # zero grad: no move

    set_grads(model, g2, np.zeros(2))
    opt.step()
    # t = 2: m = 0.9 m + 0.1 g2, v = 0.999 v + 0.001 g2^2; corrections 0.19 and 0.001999.
    m2 = np.array([[-1e-9, -2.8e-8, 2.45e-8], [5.7e-8, 1e-8, -9e-9]])
    v2 = np.array([[1.999e-17, 4.996e-17, 4.24975e-17], [1.7991e-16, 1e-17, 9.99e-18]])
    np.testing.assert_allclose(state["m"], m2, **rel)
    np.testing.assert_allclose(state["v"], v2, **rel)
    total = np.array([[8.61244019138755981e-3, -1.82910346737139432e-2, 1.66094842292509591e-2],
                      [1.93548387096774194e-2, 6.51958956797581525e-3, -1.49611118692075395e-2]])
    np.testing.assert_allclose(w0 - model["fc1"].params["W"], total, **rel)
    w2 = np.array([[9.91387559808612440e-1, -1.98170896532628606e+0, 4.83390515770749041e-1],
                   [-1.93548387096774194e-2, 2.99348041043202418e+0, -9.85038888130792461e-1]])
    np.testing.assert_allclose(model["fc1"].params["W"], w2, **rel)


def test_sgd_momentum_weight_decay_explicit_numbers():
    """Two steps written out as numbers: v1 = g + wd p0, v2 = mu v1 + g + wd p1."""
    model = one_linear()
    opt = sc.SGD(model, lr=0.1, momentum=0.9, weight_decay=0.01)
    set_grads(model, [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]], [1.0, -1.0])
    opt.step()
    # W: v1 = 0.5 + 0.01 W0; b: v1 = +-1 + 0.01 b0
    v1 = np.array([[0.51, 0.48, 0.505], [0.5, 0.53, 0.49]])
    np.testing.assert_allclose(opt.state["fc1.W"]["velocity"], v1, rtol=1e-12)
    np.testing.assert_allclose(opt.state["fc1.b"]["velocity"], [1.001, -1.001], rtol=1e-12)
    w1 = np.array([[0.949, -2.048, 0.4495], [-0.05, 2.947, -1.049]])
    np.testing.assert_allclose(model["fc1"].params["W"], w1, rtol=1e-12)
    np.testing.assert_allclose(model["fc1"].params["b"], [-0.0001, 0.0001], rtol=1e-9)
    opt.step()
    # v2 = 0.9 v1 + 0.5 + 0.01 w1
    v2 = np.array([[0.96849, 0.91152, 0.958995], [0.9495, 1.00647, 0.93051]])
    np.testing.assert_allclose(opt.state["fc1.W"]["velocity"], v2, rtol=1e-12)
    np.testing.assert_allclose(model["fc1"].params["W"], w1 - 0.1 * v2, rtol=1e-12)
    np.testing.assert_allclose(model["fc1"].params["W"],
                               [[0.852151, -2.139152, 0.3536005], [-0.14495, 2.846353, -1.142051]],
                               rtol=1e-12)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_masks_zero_weights_and_optimizer_state(rng, kind):
    """Masked entries: weight exactly 0 and optimizer state (velocity; m and v) exactly
    0 after every step, although their gradients are nonzero; unmasked weights move.
    A checkpoint loaded after the optimizer was built (resuming retraining from the
    undamaged weights) is damaged again by the very next step."""
    model = one_linear()
    mask = np.array([[1, 0, 1], [0, 1, 0]], dtype=bool)
    if kind == "sgd":
        opt = sc.SGD(model, lr=0.1, momentum=0.9, weight_decay=0.1, masks={"fc1.W": mask})
        buffers = ["velocity"]
    else:
        opt = sc.Adam(model, lr=0.1, masks={"fc1.W": mask})
        buffers = ["m", "v"]
    W = model["fc1"].params["W"]
    start = W.copy()
    for _ in range(4):
        set_grads(model, 1.0 + rng.random((2, 3)), rng.standard_normal(2))   # all nonzero
        opt.step()
        assert np.all(W[~mask] == 0.0)
        for name in buffers:
            state = opt.state["fc1.W"][name]
            assert np.all(state[~mask] == 0.0), (name, state)
            assert np.all(state[mask] != 0.0)
    assert np.all(W[mask] != start[mask])                       # the rest still learns

    undamaged = model.state_dict()
    undamaged = {key: value.copy() for key, value in undamaged.items()}
    undamaged["fc1.W"][...] = [[1.0, -2.0, 0.5], [0.7, 3.0, -1.0]]
    model.load_state_dict(undamaged)
    assert np.all(W[~mask] != 0.0)
    set_grads(model, 1.0 + rng.random((2, 3)), rng.standard_normal(2))
    opt.step()
    assert np.all(W[~mask] == 0.0)
    for name in buffers:                 # the loaded weight fed no weight decay into the state
        assert np.all(opt.state["fc1.W"][name][~mask] == 0.0), name


def test_adam_refuses_a_non_positive_eps():
    """eps = 0 would turn a zero gradient (a damaged weight) into 0 / 0 = NaN."""
    model = sc.Sequential([sc.Linear(3, 2)])
    with pytest.raises(ValueError, match="eps must be > 0"):
        sc.Adam(model, eps=0.0)


def test_masked_weights_stay_zero_whatever_the_update_does():
    """The Optimizer base class holds damaged weights at exactly 0 after every step, even
    for an update rule that moves every weight (here: + 1 everywhere, gradient or not)."""
    class Drift(sc.optim.Optimizer):
        def update(self, param, grad, state):
            param += 1.0

    model = sc.Sequential([sc.Linear(3, 2)]).astype(np.float64)
    mask = np.array([[1, 0, 1], [0, 1, 1]], bool)
    optimizer = Drift(model, lr=0.1, masks={"fc1.W": mask})
    for _ in range(3):
        optimizer.step()
    weights = model["fc1"].params["W"]
    assert np.all(weights[~mask] == 0) and np.all(weights[mask] != 0)
