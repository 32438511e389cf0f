"""Retraining a damaged network, against a loop written out by hand; re-estimating the
batch-norm statistics, against the batch statistics computed directly."""
import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn.resilience import damage_masks
from scratchcnn.resilience.recovery import retrain, update_batch_statistics


def tiny_net():
    return sc.Network([("conv", sc.Conv2D(1, 3, 3, padding=1)), ("relu", sc.ReLU()),
                       ("gap", sc.GlobalAvgPool2D()), ("fc", sc.Linear(3, 4))],
                      seed=0).astype(np.float64)


def hand_loop(model, masks, x, y, epochs, lr, batch_size, seed, use_masks=True):
    """fit's batch order (a Generator seeded with ``seed``, one permutation per epoch), the
    softmax cross-entropy gradient, and PyTorch's Adam written out, with the damaged
    weights' gradients and values zeroed at every step."""
    betas, eps = (0.9, 0.999), 1e-8
    params = {key: (layer.params, pkey) for key, layer, pkey in model.named_parameters()}
    grads = {key: (layer.grads, pkey) for key, layer, pkey in model.named_parameters()}
    keep = {key: masks.get(key, np.ones_like(store[p], bool)) if use_masks
            else np.ones_like(store[p], bool) for key, (store, p) in params.items()}
    for key, (store, p) in params.items():
        store[p][...] *= keep[key]
    m = {key: 0.0 for key in params}
    v = {key: 0.0 for key in params}
    rng, t = np.random.default_rng(seed), 0
    for _ in range(epochs):
        model.train()
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            index = order[start:start + batch_size]
            logits = model.forward(x[index])
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(index)), y[index]] -= 1           # d(mean CE)/d logits * B
            for store, key in grads.values():
                store[key][...] = 0
            model.backward(p / len(index), input_grad=False)
            t += 1
            for key, (store, pkey) in params.items():
                g = grads[key][0][grads[key][1]] * keep[key]
                m[key] = betas[0] * m[key] + (1 - betas[0]) * g
                v[key] = betas[1] * v[key] + (1 - betas[1]) * g * g
                m_hat, v_hat = m[key] / (1 - betas[0] ** t), v[key] / (1 - betas[1] ** t)
                store[pkey][...] -= lr * m_hat / (np.sqrt(v_hat) + eps)
                store[pkey][...] *= keep[key]
    model.eval()


@pytest.fixture
def problem():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((20, 1, 6, 6)), rng.integers(0, 4, 20)
    return x, y, damage_masks(tiny_net(), ["conv"], 0.5, seed=2)


def test_retrain_equals_a_hand_run_loop(problem):
    """Two epochs of 7-image batches (the last batch short), Adam 0.01: every parameter
    equals the hand loop's to 1e-12 (relative to its size), the damaged weights are
    exactly 0, and the undamaged ones moved."""
    x, y, masks = problem
    model, by_hand = tiny_net(), tiny_net()
    start = by_hand["conv"].params["W"].copy()
    history = retrain(model, masks, x, y, epochs=2, lr=0.01, batch_size=7, seed=3)
    hand_loop(by_hand, masks, x, y, epochs=2, lr=0.01, batch_size=7, seed=3)
    assert len(history["loss"]) == 2 and not model["conv"].training
    for (key, layer, pkey), (_, hand, _) in zip(model.named_parameters(),
                                                 by_hand.named_parameters()):
        ours, theirs = layer.params[pkey], hand.params[pkey]
        assert np.abs(ours - theirs).max() <= 1e-12 * max(1.0, np.abs(theirs).max()), key
    damaged = ~masks["conv.W"]
    assert np.all(model["conv"].params["W"][damaged] == 0)
    assert np.all(model["conv"].params["W"][~damaged] != start[~damaged])


def test_hand_loop_without_masks_differs_negative_control(problem):
    """The comparison above catches a retrain that forgets the masks: the same loop with
    every weight free ends measurably elsewhere."""
    x, y, masks = problem
    model, free = tiny_net(), tiny_net()
    retrain(model, masks, x, y, epochs=2, lr=0.01, batch_size=7, seed=3)
    hand_loop(free, masks, x, y, epochs=2, lr=0.01, batch_size=7, seed=3, use_masks=False)
    assert np.abs(model["conv"].params["W"] - free["conv"].params["W"]).max() > 1e-3


def bn_net(momentum=0.1):
    return sc.Network([("bn", sc.BatchNorm2D(2, momentum=momentum)),
                       ("gap", sc.GlobalAvgPool2D()), ("fc", sc.Linear(2, 3))],
                      seed=0).astype(np.float64)


def test_update_batch_statistics_averages_the_batch_statistics():
    """BN reads the images directly, so its k-th batch's statistics are those of x's k-th
    slice: running_mean = mean over batches of the batch means, running_var = mean of the
    unbiased batch variances. No weight changes; momentum restored; eval mode after."""
    rng = np.random.default_rng(0)
    x = 3 + 2 * rng.standard_normal((10, 2, 4, 4))
    model = bn_net()
    model["bn"].params["gamma"][...] = [0.5, 2.0]
    weights = {k: v.copy() for k, v in model.state_dict().items() if "running" not in k}
    update_batch_statistics(model, x, batch_size=4)       # batches of 4, 4, 2
    batches = [x[0:4], x[4:8], x[8:10]]
    mean = np.mean([b.mean(axis=(0, 2, 3)) for b in batches], axis=0)
    var = np.mean([b.var(axis=(0, 2, 3), ddof=1) for b in batches], axis=0)
    np.testing.assert_allclose(model["bn"].buffers["running_mean"], mean, rtol=1e-12)
    np.testing.assert_allclose(model["bn"].buffers["running_var"], var, rtol=1e-12)
    for key, value in weights.items():
        np.testing.assert_array_equal(model.state_dict()[key], value)
    assert model["bn"].momentum == 0.1 and not model["bn"].training


def test_plain_training_forwards_do_not_average_negative_control():
    """Forward passes at the layer's own momentum (0.1) leave mostly the old statistics:
    the averaging check above would catch an update_batch_statistics that skips 1/k."""
    rng = np.random.default_rng(0)
    x = 3 + 2 * rng.standard_normal((10, 2, 4, 4))
    model = bn_net().train()
    for start in range(0, 10, 4):
        model.forward(x[start:start + 4])
    assert np.abs(model["bn"].buffers["running_mean"] - x.mean(axis=(0, 2, 3))).max() > 1


def test_update_batch_statistics_rejects_a_non_image_batch():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        update_batch_statistics(bn_net(), np.zeros((0, 2, 4, 4)))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        update_batch_statistics(bn_net(), np.zeros((2, 4, 4)))
