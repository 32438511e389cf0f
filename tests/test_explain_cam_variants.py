"""Grad-CAM++, LayerCAM and Score-CAM against maps computed by hand or by a plain loop."""
import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import explain
from scratchcnn.explain import cam_variants


def tiny_net():
    """conv 1->2 (2x2) -> ReLU -> Flatten -> Linear(18, 3) on 4x4 images, fixed weights.
    Its head is not a GAP, so dS_c/dA is a different number at every position."""
    net = sc.Sequential([sc.Conv2D(1, 2, 2), sc.ReLU(), sc.Flatten(), sc.Linear(18, 3)])
    net.astype(np.float64)
    net["conv1"].params["W"][...] = [[[[1.0, -0.5], [0.25, 0.5]]], [[[-0.3, 0.8], [0.6, -0.2]]]]
    net["conv1"].params["b"][...] = [0.1, -0.05]
    net["fc1"].params["W"][...] = np.linspace(-1, 1, 54).reshape(3, 18) ** 3 * 2 + 0.6
    net["fc1"].params["b"][...] = [0.3, -0.1, 0.2]
    return net


def by_hand(net, image, target):
    """A (2, 3, 3) by explicit loops, and g = dS_c/dA = the head's row c (a Linear)."""
    weights, bias = net["conv1"].params["W"], net["conv1"].params["b"]
    activations = np.zeros((2, 3, 3))
    for k in range(2):
        for i in range(3):
            for j in range(3):
                activations[k, i, j] = max(0.0, np.sum(weights[k, 0] * image[0, i:i + 2, j:j + 2])
                                           + bias[k])
    return activations, net["fc1"].params["W"][target].reshape(2, 3, 3)


def hand_grad_cam_plus_plus(activations, grads, two=2.0):
    """Eq. 19 and the weights, one number at a time."""
    weights = np.zeros(2)
    for k in range(2):
        total = activations[k].sum()
        for i in range(3):
            for j in range(3):
                g = grads[k, i, j]
                denominator = two * g ** 2 + total * g ** 3
                alpha = g ** 2 / denominator if denominator != 0 else 0.0
                weights[k] += alpha * max(g, 0.0)
    return np.maximum(np.tensordot(weights, activations, axes=1), 0)


def test_grad_cam_plus_plus_and_layer_cam_by_hand(rng):
    net = tiny_net()
    x = rng.standard_normal((3, 1, 4, 4))
    targets = np.array([0, 2, 1])
    plus_plus = explain.grad_cam_plus_plus(net, x, targets, layer="relu1")
    layer = explain.layer_cam(net, x, targets, layer="relu1")
    assert plus_plus.shape == layer.shape == (3, 3, 3)
    expected, wrong = [], []
    for n in range(3):
        activations, grads = by_hand(net, x[n], targets[n])
        expected.append(hand_grad_cam_plus_plus(activations, grads))
        wrong.append(hand_grad_cam_plus_plus(activations, grads, two=1.0))
        np.testing.assert_allclose(layer[n], np.maximum((np.maximum(grads, 0) * activations)
                                                        .sum(axis=0), 0), rtol=1e-12, atol=1e-14)
    expected = np.array(expected)
    assert (expected.reshape(3, -1).max(axis=1) > 0).all()        # no all-zero case
    np.testing.assert_allclose(plus_plus, expected, rtol=1e-12, atol=1e-14)
    # negative control: eq. 19 without its factor 2 is a different map
    assert np.abs(np.array(wrong) - expected).max() > 1e-3 * np.abs(expected).max()
    # on this head LayerCAM is not Grad-CAM (the gradient varies over positions)
    grad_cam = explain.grad_cam(net, x, targets, layer="relu1")
    assert np.abs(layer - grad_cam).max() > 1e-3 * np.abs(layer).max()


def gap_net(seed=0):
    """Bias-free convs -> ReLU -> GAP -> Linear with positive class weights."""
    net = sc.Sequential([sc.Conv2D(1, 3, 3, padding=1), sc.ReLU(), sc.Conv2D(3, 4, 3),
                         sc.ReLU(), sc.GlobalAvgPool2D(), sc.Linear(4, 2)],
                        seed=seed).astype(np.float64)
    for name in ("conv1", "conv2", "fc1"):
        net[name].params["b"][...] = 0
    net["fc1"].params["W"][...] = np.abs(net["fc1"].params["W"]) + 0.1
    return net


def test_grad_cam_plus_plus_on_a_gap_head(rng):
    """On GAP -> Linear, alpha^k = 1 / (2 + c_k), c_k = w_ck mean(A_k) (the docstring's
    case), computed here from the head's weights and the pooled features, no gradients;
    and when every c_k -> 0 (the input scaled by 1e-8: a bias-free ReLU net is
    homogeneous), Grad-CAM++ = (h w / 2) Grad-CAM. LayerCAM is Grad-CAM on this head."""
    net = gap_net()
    x = rng.standard_normal((2, 1, 7, 6))
    targets = np.array([1, 0])
    plus_plus = explain.grad_cam_plus_plus(net, x, targets, layer="relu2")
    net.forward(x)
    activations = net.outputs["relu2"]
    class_weights = net["fc1"].params["W"][targets]                           # (N, K)
    shares = class_weights * activations.mean(axis=(2, 3))                    # c_k
    expected = np.maximum(np.einsum("nk,nkhw->nhw", class_weights / (2 + shares),
                                    activations), 0)
    np.testing.assert_allclose(plus_plus, expected, rtol=1e-12, atol=1e-14)
    small = 1e-8 * x
    hw = activations.shape[2] * activations.shape[3]
    grad_cam = explain.grad_cam(net, small, targets, layer="relu2")
    np.testing.assert_allclose(explain.grad_cam_plus_plus(net, small, targets, layer="relu2"),
                               hw / 2 * grad_cam, rtol=1e-6)
    np.testing.assert_allclose(explain.layer_cam(net, x, targets, layer="relu2"),
                               explain.grad_cam(net, x, targets, layer="relu2"), rtol=1e-12)
    # negative control: at full scale the channel shares matter, so it is not Grad-CAM
    full = hw / 2 * explain.grad_cam(net, x, targets, layer="relu2")
    assert np.abs(plus_plus - full).max() > 1e-3 * np.abs(full).max()


def score_cam_loop(net, x, targets, layer, baseline):
    """One masked forward pass per image and channel, written out, with the baseline's
    score subtracted as in the definition."""
    maps = []
    for n in range(len(x)):
        net.forward(x[n:n + 1])
        activations = net.outputs[layer][0].copy()                      # (K, h, w)
        base = net.forward(np.full_like(x[n:n + 1], baseline))[0, targets[n]]
        increases = []
        for k in range(len(activations)):
            mask = explain.upsample(activations[k][None], x.shape[2:])[0]
            low, high = mask.min(), mask.max()
            mask = (mask - low) / (high - low) if high > low else np.zeros_like(mask)
            increases.append(net.forward(x[n:n + 1] * mask)[0, targets[n]] - base)
        weights = np.exp(increases) / np.exp(increases).sum()
        maps.append(np.maximum(np.tensordot(weights, activations, axes=1), 0))
    return np.array(maps)


@pytest.mark.parametrize("residual", [False, True], ids=["chain", "residual"])
def test_score_cam_equals_a_masked_forward_loop(rng, residual):
    if residual:
        net = sc.zoo.resnet_gap(in_channels=1, num_classes=3, widths=(2, 3, 3, 4), seed=2)
        net.astype(np.float64).eval()
        net.forward(rng.random((1, 1, 12, 12)))
        layer = [name for name, out in net.outputs.items() if out.ndim == 4][-1]
    else:
        net, layer = gap_net(), "relu2"
    x = rng.random((2, 1, 12, 12))
    targets = np.array([1, 0])
    maps = explain.score_cam(net, x, targets, layer=layer, batch_size=3)
    expected = score_cam_loop(net, x, targets, layer, 0.25)
    assert maps.shape == expected.shape
    np.testing.assert_allclose(maps, expected, rtol=1e-10, atol=1e-12)
    # negative control: without the min-max normalization the weights change
    unnormalized = []
    for n in range(2):
        net.forward(x[n:n + 1])
        activations = net.outputs[layer][0].copy()
        masks = explain.upsample(activations, x.shape[2:])
        scores = np.array([net.forward(x[n:n + 1] * m)[0, targets[n]] for m in masks])
        weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        unnormalized.append(np.maximum(np.tensordot(weights, activations, axes=1), 0))
    assert np.abs(np.array(unnormalized) - expected).max() > 1e-6 * np.abs(expected).max()


def test_score_cam_masks_and_errors(rng):
    activations = np.zeros((1, 2, 2, 2))
    activations[0, 0] = [[0.0, 1.0], [2.0, 4.0]]               # channel 1 stays constant
    masks = cam_variants.score_cam_masks(activations, (2, 2))
    np.testing.assert_allclose(masks[0, 0], [[0, 0.25], [0.5, 1.0]])
    np.testing.assert_array_equal(masks[0, 1], 0)
    net = gap_net()
    x = rng.random((1, 1, 6, 6))
    for method in (explain.score_cam, explain.grad_cam_plus_plus, explain.layer_cam):
        with pytest.raises(KeyError, match="relu2"):
            method(net, x, 0, layer="nope")
        with pytest.raises(ValueError, match=r"class ids in \[0, 1\]"):
            method(net, x, 5, layer="relu2")
        with pytest.raises(ValueError, match="not feature maps"):
            method(net, x, 0, layer="fc1")


def test_the_gradient_cams_run_on_a_residual_network(rng):
    """Grad-CAM++ and LayerCAM read the gradient at any node of a graph. On a ResNet's
    last block, LayerCAM equals its formula with A and g taken by hand from the engine
    (forward, one-hot seed, backward stopped at the block); Grad-CAM++ gives finite,
    non-negative maps that change with the class (a map blind to the target would not)."""
    net = sc.zoo.resnet_gap(in_channels=1, num_classes=3, widths=(2, 3, 3, 4), seed=2)
    net.astype(np.float64).eval()
    x = rng.random((2, 1, 12, 12))
    logits = net.forward(x)
    seed = np.zeros_like(logits)
    seed[[0, 1], [0, 2]] = 1
    activations = net.outputs["block4.relu2"].copy()
    grads = net.backward(seed, stop="block4.relu2", param_grads=False)
    expected = np.maximum((np.maximum(grads, 0) * activations).sum(axis=1), 0)
    np.testing.assert_allclose(explain.layer_cam(net, x, [0, 2], layer="block4.relu2"),
                               expected, rtol=1e-12, atol=1e-15)
    plus_plus = explain.grad_cam_plus_plus(net, x, [0, 2], layer="block4.relu2")
    assert plus_plus.shape == (2, 2, 2) and np.isfinite(plus_plus).all()
    assert plus_plus.min() >= 0 and plus_plus.max() > 0
    other = explain.grad_cam_plus_plus(net, x, [1, 0], layer="block4.relu2")
    assert np.abs(other - plus_plus).max() > 1e-6 * plus_plus.max()


def test_grad_cam_plus_plus_refuses_negative_feature_maps(rng):
    """Eq. 19 assumes A >= 0; block4.bn2 (before the ReLU) has negative values."""
    net = sc.zoo.resnet_gap(in_channels=1, num_classes=3, widths=(2, 3, 3, 4), seed=2)
    net.astype(np.float64).eval()
    with pytest.raises(ValueError, match="needs feature maps >= 0"):
        explain.grad_cam_plus_plus(net, rng.random((1, 1, 12, 12)), 0, layer="block4.bn2")
