"""zoo.vgg_colour_model, the six-conv colour network of lesson 07: its layout (names, map
sizes, receptive fields worked out by hand), its forward pass against the layers composed
by hand from the loop oracle, and its gradients against finite differences
(float64, relative error < 1e-6, with a negative control)."""
import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import explain, zoo
from scratchcnn.gradcheck import check_model

TOL = 1e-6


def test_layout_names_and_map_sizes():
    model = zoo.vgg_colour_model()
    assert model.names == ["conv1", "relu1", "conv2", "relu2", "pool1", "conv3", "relu3",
                           "conv4", "relu4", "pool2", "conv5", "relu5", "conv6", "relu6",
                           "pool3", "gap", "fc"]
    x = np.zeros((2, 3, 32, 32), np.float32)
    model.eval().forward(x)
    sides = {name: model.outputs[name].shape[1:] for name in model.names}
    # 3x3 convs with padding 1 keep the side, each 2x2 pool halves it: 32, 16, 8, 4
    for k, (width, side) in enumerate(zip((16, 16, 32, 32, 64, 64), (32, 32, 16, 16, 8, 8)),
                                      start=1):
        assert sides[f"relu{k}"] == (width, side, side)
    assert sides["pool3"] == (64, 4, 4) and sides["gap"] == (64,) and sides["fc"] == (8,)
    assert sum(isinstance(layer, sc.Conv2D) for layer in model.layers) >= 5


def test_receptive_fields_grow_to_the_whole_image():
    """By hand, r_in = (r_out - 1) * stride + kernel from the top down: one pixel of relu6
    sees 3 -> 5 (conv6, conv5) -> 10 (pool2) -> 12 -> 14... bottom up: conv1 3, conv2 5,
    pool1 6, conv3 10, conv4 14, pool2 16, conv5 24, conv6 32 pixels."""
    model = zoo.vgg_colour_model()
    by_hand = {"relu1": 3, "relu2": 5, "pool1": 6, "relu3": 10, "relu4": 14, "pool2": 16,
               "relu5": 24, "relu6": 32}
    for layer, side in by_hand.items():
        r0, r1, c0, c1 = explain.receptive_field(model, layer, (3, 3))
        assert (r1 - r0, c1 - c0) == (side, side), layer


def test_forward_equals_the_layers_composed_by_hand():
    """The chain written out with the loop oracle for each convolution (padding 1), a
    reshape-max for each 2x2 pool, a mean for GAP and W x + b: the same logits."""
    from scratchcnn.reference.conv import conv2d_loops
    widths = (2, 3, 3, 4, 4, 5)
    model = zoo.vgg_colour_model(num_classes=4, widths=widths, seed=2).astype(np.float64).eval()
    x = np.random.default_rng(0).random((2, 3, 16, 24))            # any multiple of 8
    a = x
    for k in range(1, 7):
        conv = model[f"conv{k}"].params
        a = np.maximum(conv2d_loops(a, conv["W"], conv["b"], padding=(1, 1)), 0)
        if k % 2 == 0:                                              # 2x2 max pool, stride 2
            n, c, h, w = a.shape
            a = a.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
    features = a.mean(axis=(2, 3))                                  # global average pooling
    logits = features @ model["fc"].params["W"].T + model["fc"].params["b"]
    assert a.shape == (2, 5, 2, 3)
    np.testing.assert_allclose(model.forward(x), logits, rtol=1e-10, atol=1e-12)


def test_gradients_match_finite_differences(rng):
    model = zoo.vgg_colour_model(num_classes=3, widths=(2, 3, 3, 4, 4, 5), seed=1)
    model = model.astype(np.float64).eval()
    x = rng.random((2, 3, 8, 8))
    labels = np.array([0, 2])
    errors = check_model(model, x, labels)
    assert max(errors.values()) < TOL, errors
    # negative control: a gradient that is 10% too large must be caught
    from scratchcnn.gradcheck import check_gradient
    from scratchcnn.losses import softmax_cross_entropy
    _, dlogits = softmax_cross_entropy(model.forward(x), labels)
    dx = model.backward(dlogits, param_grads=False)
    assert check_gradient(lambda v: softmax_cross_entropy(model.forward(v), labels)[0], x,
                          1.1 * dx) > 1e-3


def test_widths_must_come_in_pairs():
    with pytest.raises(ValueError, match="widths must list an even number"):
        zoo.vgg_colour_model(widths=(8, 8, 16))
    with pytest.raises(ValueError, match="widths must list an even number"):
        zoo.vgg_colour_model(widths=())
