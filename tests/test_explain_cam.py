"""CAM, Grad-CAM, Guided Grad-CAM and bilinear upsampling."""
import numpy as np
import pytest
from test_explain_gradients import small_cnn

import scratchcnn as sc
from scratchcnn import explain


def test_cam_equals_grad_cam_times_pooled_size(rng):
    """On conv -> ReLU -> GAP -> Linear: S_c = sum_k w_ck mean(A_k) + b_c, so
    dS_c/dA_k,ij = w_ck / M, Grad-CAM's weight is w_ck / M, and CAM = M * Grad-CAM."""
    model = small_cnn()
    x = rng.standard_normal((3, 2, 8, 6))
    targets = [4, 0, 2]
    cam = explain.cam(model, x, targets)
    grad_cam = explain.grad_cam(model, x, targets, layer="relu2", relu=False)
    h, w = model.outputs["relu2"].shape[2:]
    assert cam.shape == (3, h, w) == (3, 4, 3)
    np.testing.assert_allclose(cam, grad_cam * h * w, rtol=1e-10, atol=1e-12)


def test_grad_cam_weights_against_finite_differences(rng):
    """w_k = (1/M) sum_ij dS_c/dA_k,ij is the derivative of S_c along the all-ones
    direction of channel k, divided by M: (S(A + h 1_k) - S(A - h 1_k)) / (2 h M).
    Tolerance: relative error < 1e-6 (float64)."""
    model = small_cnn()
    x = rng.standard_normal((2, 2, 8, 8))
    weights, activations = explain.grad_cam_weights(model, x, [3, 1], layer="pool1")
    model.eval()
    step, m = 1e-6, activations.shape[2] * activations.shape[3]
    numeric = np.zeros_like(weights)
    for k in range(activations.shape[1]):
        direction = np.zeros_like(activations)
        direction[:, k] = 1
        up = model.forward(activations + step * direction, start="pool1")[[0, 1], [3, 1]]
        down = model.forward(activations - step * direction, start="pool1")[[0, 1], [3, 1]]
        numeric[:, k] = (up - down) / (2 * step * m)
    error = np.max(np.abs(weights - numeric)) / max(1e-8, np.max(np.abs(weights) + np.abs(numeric)))
    assert error < 1e-6
    assert np.max(np.abs(weights - 1.01 * numeric)) / np.max(np.abs(numeric)) > 1e-3   # control


def test_grad_cam_is_relu_of_the_weighted_sum_and_batch_invariant(rng):
    model = small_cnn()
    x = rng.standard_normal((2, 2, 6, 10))
    maps = explain.grad_cam(model, x, [1, 2], layer="relu1")
    signed = explain.grad_cam(model, x, [1, 2], layer="relu1", relu=False)
    np.testing.assert_array_equal(maps, np.maximum(signed, 0))
    np.testing.assert_allclose(maps[1:], explain.grad_cam(model, x[1:], 2, layer="relu1"),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(explain.cam(model, x, [1, 2])[1:], explain.cam(model, x[1:], 2),
                               rtol=1e-12)


def test_guided_grad_cam_by_hand():
    """Guided Grad-CAM on a tiny fixed net, every step computed here with loops:
    x (3x3) -> conv 2x2 (2 filters) -> ReLU -> Flatten -> Linear(8 -> 2).
    Grad-CAM at relu1: w_k = mean_ij dS_t/dA_kij = mean of V[t] over channel k's cells,
    map = ReLU(sum_k w_k A_k) (2x2), upsampled to 3x3 with half-pixel centres
    (rows and columns sample 0, 0.5, 1: U = [[1, 0], [.5, .5], [0, 1]]); guided
    backprop: R = 1(z > 0) 1(G > 0) G at the ReLU, then the conv's transpose by loops.
    Expected = upsampled map * guided gradient, to 1e-12."""
    rng = np.random.default_rng(0)
    conv, linear = sc.Conv2D(1, 2, 2), sc.Linear(8, 2)
    model = sc.Sequential([conv, sc.ReLU(), sc.Flatten(), linear]).astype(np.float64)
    W, bias = rng.standard_normal((2, 1, 2, 2)), np.array([0.3, -0.2])
    V, c = rng.standard_normal((2, 8)), np.zeros(2)
    conv.params["W"][...], conv.params["b"][...] = W, bias
    linear.params["W"][...], linear.params["b"][...] = V, c
    x = rng.standard_normal((1, 1, 3, 3))
    target = 1

    z = np.zeros((2, 2, 2))
    for k in range(2):
        for i in range(2):
            for j in range(2):
                z[k, i, j] = np.sum(W[k, 0] * x[0, 0, i:i + 2, j:j + 2]) + bias[k]
    activations = np.maximum(z, 0)
    grad_at_relu = V[target].reshape(2, 2, 2)                   # dS/dA: the Linear's row
    weights = grad_at_relu.mean(axis=(1, 2))
    coarse = np.maximum(np.tensordot(weights, activations, axes=1), 0)
    up = np.array([[1, 0], [0.5, 0.5], [0, 1]])
    fine = up @ coarse @ up.T                                   # (3, 3)
    rectified = (z > 0) * (grad_at_relu > 0) * grad_at_relu     # the guided rule
    guided = np.zeros((3, 3))
    for k in range(2):
        for i in range(2):
            for j in range(2):
                guided[i:i + 2, j:j + 2] += rectified[k, i, j] * W[k, 0]
    assert np.any(z < 0) and np.any((z > 0) & (grad_at_relu < 0))   # both masks do something
    assert coarse.max() > 0
    result = explain.guided_grad_cam(model, x, target, layer="relu1")
    np.testing.assert_allclose(result[0, 0], fine * guided, rtol=1e-12, atol=1e-14)
    with np.testing.assert_raises(AssertionError):              # the plain gradient is not it
        saliency = explain.saliency(model, x, target)[0, 0]
        np.testing.assert_allclose(result[0, 0], fine * saliency, rtol=1e-6, atol=1e-9)


def test_upsample_by_hand():
    """[[1, 2], [3, 4]] to 4x4 with half-pixel centres: output i samples input
    s = (i + 0.5) / 2 - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1),
    so each row/column is [a, 0.75a + 0.25b, 0.25a + 0.75b, b] (PyTorch, align_corners=False)."""
    maps = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    expected = np.array([[1.00, 1.25, 1.75, 2.00],
                         [1.50, 1.75, 2.25, 2.50],
                         [2.50, 2.75, 3.25, 3.50],
                         [3.00, 3.25, 3.75, 4.00]])
    np.testing.assert_allclose(explain.upsample(maps, 4)[0], expected)
    same = np.random.default_rng(0).random((2, 3, 5))
    np.testing.assert_allclose(explain.upsample(same, (3, 5)), same)          # identity
    assert explain.upsample(same, (7, 4)).shape == (2, 7, 4)                 # non-square


def test_cam_and_grad_cam_errors(rng):
    x = rng.standard_normal((1, 2, 6, 6))
    not_gap = sc.Sequential([sc.Conv2D(2, 3, 3), sc.ReLU(), sc.Flatten(),
                             sc.Linear(48, 4)]).astype(np.float64)
    with pytest.raises(ValueError, match=r"GlobalAvgPool2D -> \[Flatten ->\] Linear.*ends in Conv2D -> ReLU -> Flatten -> Linear.*grad_cam works"):
        explain.cam(not_gap, x, 0)
    with pytest.raises(KeyError, match=r"no layer named 'conv9'; valid names: \['conv1'"):
        explain.grad_cam(not_gap, x, 0, layer="conv9")
    with pytest.raises(ValueError, match="not feature maps"):
        explain.grad_cam(not_gap, x, 0, layer="flatten1")
    with pytest.raises(ValueError, match="maps must have shape"):
        explain.upsample(np.zeros((4, 4)), 8)
