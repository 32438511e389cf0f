"""Properties of the training loop that single-line mutations used to slip past:
eval_mode / predict / evaluate switch to the trained function and restore every
layer's own mode; fit's learning-rate decay; fit's per-epoch shuffling.

Expected outputs are computed independently in NumPy from the layers' parameters
and buffers (dropout = identity, batch norm on its running statistics)."""
import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn.model import eval_mode

C, H, W, K = 2, 3, 3, 3


def bn_dropout_model():
    """BatchNorm2D -> Dropout -> Flatten -> Linear with non-trivial parameters and
    running statistics, every layer in training mode."""
    rng = np.random.default_rng(7)
    bn, drop = sc.BatchNorm2D(C), sc.Dropout(0.5, seed=3)
    fc = sc.Linear(C * H * W, K)
    model = sc.Sequential([bn, drop, sc.Flatten(), fc])
    bn.params["gamma"][...] = rng.uniform(0.5, 2.0, C)
    bn.params["beta"][...] = rng.normal(size=C)
    bn.buffers["running_mean"][...] = rng.normal(size=C)
    bn.buffers["running_var"][...] = rng.uniform(0.2, 3.0, C)
    fc.params["W"][...] = rng.normal(size=fc.params["W"].shape)
    fc.params["b"][...] = rng.normal(size=K)
    model.train()
    return model


def images(n=5, seed=11):
    return np.random.default_rng(seed).normal(2.0, 3.0, (n, C, H, W)).astype(np.float32)


def expected_eval_logits(model, x):
    """The eval-mode function by hand: batch norm on running stats, no dropout."""
    bn, fc = model.layers[0], model.layers[3]
    x = x.astype(np.float64)
    mean = bn.buffers["running_mean"].astype(np.float64).reshape(1, -1, 1, 1)
    var = bn.buffers["running_var"].astype(np.float64).reshape(1, -1, 1, 1)
    gamma = bn.params["gamma"].astype(np.float64).reshape(1, -1, 1, 1)
    beta = bn.params["beta"].astype(np.float64).reshape(1, -1, 1, 1)
    h = gamma * (x - mean) / np.sqrt(var + bn.eps) + beta
    return h.reshape(len(x), -1) @ fc.params["W"].astype(np.float64).T + fc.params["b"]


def buffers_of(model):
    bn = model.layers[0]
    return {k: v.copy() for k, v in bn.buffers.items()}


def assert_buffers_unchanged(model, before):
    for k, v in model.layers[0].buffers.items():
        np.testing.assert_array_equal(v, before[k], err_msg=f"{k} changed in eval mode")


# ----- eval_mode ---------------------------------------------------------------------------

def test_eval_mode_computes_eval_function_and_restores_training():
    model = bn_dropout_model()
    x = images()
    expected = expected_eval_logits(model, x)
    before = buffers_of(model)
    with eval_mode(model) as m:
        assert m is model
        assert [layer.training for layer in model.layers] == [False] * 4
        first = model.forward(x)
        second = model.forward(x)
    np.testing.assert_allclose(first, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(first, second)
    assert_buffers_unchanged(model, before)
    assert [layer.training for layer in model.layers] == [True] * 4
    # and training mode really is different (dropout on, batch statistics)
    assert not np.allclose(model.forward(x), expected, atol=1e-3)


def test_eval_mode_restores_a_mixed_state():
    model = bn_dropout_model()
    model.layers[1].training = False          # dropout already in eval, the rest training
    model.layers[3].training = False
    modes = [layer.training for layer in model.layers]
    assert modes == [True, False, True, False]
    x = images()
    expected = expected_eval_logits(model, x)
    with eval_mode(model):
        assert not any(layer.training for layer in model.layers)
        np.testing.assert_allclose(model.forward(x), expected, rtol=1e-5, atol=1e-5)
    assert [layer.training for layer in model.layers] == modes


def test_eval_mode_restores_after_an_exception():
    model = bn_dropout_model()
    model.layers[0].training = False
    modes = [layer.training for layer in model.layers]
    with pytest.raises(RuntimeError):
        with eval_mode(model):
            raise RuntimeError("boom")
    assert [layer.training for layer in model.layers] == modes


# ----- predict / evaluate ------------------------------------------------------------------

@pytest.mark.parametrize("mixed", [False, True])
def test_predict_gives_eval_outputs_and_restores_modes(mixed):
    model = bn_dropout_model()
    if mixed:
        model.layers[0].training = False
    modes = [layer.training for layer in model.layers]
    x = images(n=5)
    expected = expected_eval_logits(model, x)
    before = buffers_of(model)
    out = sc.predict(model, x, batch_size=2)        # batches of 2, 2, 1
    assert out.shape == (5, K)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(sc.predict(model, x, batch_size=2), out)
    assert_buffers_unchanged(model, before)
    assert [layer.training for layer in model.layers] == modes


@pytest.mark.parametrize("mixed", [False, True])
def test_evaluate_gives_eval_scores_and_restores_modes(mixed):
    model = bn_dropout_model()
    if mixed:
        model.layers[1].training = False
    modes = [layer.training for layer in model.layers]
    x = images(n=6)
    expected = expected_eval_logits(model, x)
    y = np.array([0, 1, 2, 2, 1, 0])
    y[0] = expected[0].argmax()                     # at least one right, one wrong
    y[1] = (expected[1].argmax() + 1) % K
    before = buffers_of(model)
    scores = sc.evaluate(model, x, y, batch_size=4)
    shifted = expected - expected.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_p[np.arange(len(y)), y].mean()
    assert scores["loss"] == pytest.approx(loss, rel=1e-5, abs=1e-5)
    assert scores["accuracy"] == pytest.approx((expected.argmax(axis=1) == y).mean())
    assert_buffers_unchanged(model, before)
    assert [layer.training for layer in model.layers] == modes


# ----- fit: learning-rate decay ------------------------------------------------------------

def linear_problem(n=6):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(n, 1, 2, 2)).astype(np.float32)
    y = np.arange(n) % 2
    return x, y


def test_fit_decays_lr_after_each_epoch():
    x, y = linear_problem()
    model = sc.Sequential([sc.Flatten(), sc.Linear(4, 2)])
    lr0 = 0.1
    opt = sc.SGD(model, lr=lr0)
    seen = []

    def record(model, epoch, history, batch):
        assert batch is None
        seen.append((epoch, opt.lr))

    sc.fit(model, opt, x, y, epochs=3, batch_size=4, lr_decay=0.5, verbose=False,
           callbacks=[record])
    assert seen == [(e, pytest.approx(lr0 * 0.5 ** (e - 1), rel=1e-12)) for e in (1, 2, 3)]
    assert opt.lr == pytest.approx(lr0 * 0.5 ** 3, rel=1e-12)


def test_fit_steps_use_the_decayed_lr():
    """Plain SGD, one full batch per epoch, float64 linear model: each epoch's update
    is exactly -lr0 * 0.5**(epoch-1) * the softmax cross-entropy gradient."""
    x, y = linear_problem()
    model = sc.Sequential([sc.Flatten(), sc.Linear(4, 2)]).astype(np.float64)
    x = x.astype(np.float64)
    lr0 = 0.3
    opt = sc.SGD(model, lr=lr0)
    fc = model.layers[1]
    Wm, b = fc.params["W"].copy(), fc.params["b"].copy()
    sc.fit(model, opt, x, y, epochs=3, batch_size=len(x), lr_decay=0.5, verbose=False)
    xf = x.reshape(len(x), -1)
    onehot = np.eye(2)[y]
    for epoch in (1, 2, 3):
        logits = xf @ Wm.T + b
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        d = (p - onehot) / len(x)
        lr = lr0 * 0.5 ** (epoch - 1)
        Wm, b = Wm - lr * d.T @ xf, b - lr * d.sum(axis=0)
    np.testing.assert_allclose(fc.params["W"], Wm, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fc.params["b"], b, rtol=1e-10, atol=1e-12)


# ----- fit: shuffling ----------------------------------------------------------------------

def epoch_orders(seed, n=8, batch_size=2, epochs=3):
    """The image indices fit visits, per epoch, seen through augment (pixel = index).
    augment returns the batch unchanged and draws nothing from fit's rng."""
    x = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1)
    y = np.arange(n) % 2
    model = sc.Sequential([sc.Flatten(), sc.Linear(1, 2)])
    batches = []

    def augment(xb, rng):
        batches.append(xb[:, 0, 0, 0].astype(int).tolist())
        return xb

    sc.fit(model, sc.SGD(model, lr=0.01), x, y, epochs=epochs, batch_size=batch_size,
           seed=seed, augment=augment, verbose=False)
    per_epoch = n // batch_size
    assert len(batches) == epochs * per_epoch
    assert all(len(b) == batch_size for b in batches)
    return [sum(batches[e * per_epoch:(e + 1) * per_epoch], []) for e in range(epochs)]


def test_fit_visits_each_image_once_per_epoch_in_a_fresh_order():
    orders = epoch_orders(seed=0)
    for order in orders:
        assert sorted(order) == list(range(8))
    assert orders[0] != list(range(8))
    assert len({tuple(o) for o in orders}) == len(orders), orders   # all epochs differ


def test_fit_order_repeats_for_a_seed_and_changes_with_it():
    assert epoch_orders(seed=0) == epoch_orders(seed=0)
    assert epoch_orders(seed=1) == epoch_orders(seed=1)
    assert epoch_orders(seed=0) != epoch_orders(seed=1)
    assert epoch_orders(seed=0)[0] != epoch_orders(seed=1)[0]
