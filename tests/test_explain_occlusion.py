"""Occlusion: the batched map equals one forward pass per occluder written out here;
the per-pixel attribution equals Captum's definition computed by hand on a linear model."""
import numpy as np
import pytest

from test_explain_occlusion_cases import two_conv_net

import scratchcnn as sc
from scratchcnn.explain import occlusion_cone
from scratchcnn.explain.occlusion import occlusion, occlusion_attribution


def tiny_net():
    return sc.Sequential([sc.Conv2D(1, 3, 3), sc.ReLU(), sc.MaxPool2D(2), sc.Flatten(),
                          sc.Linear(3 * 3 * 3, 4)], seed=2).astype(np.float64)


def one_at_a_time(model, image, target, window, stride, baseline, output):
    model.eval()
    (wh, ww), (sh, sw) = window, stride
    rows = range(0, image.shape[1] - wh + 1, sh)
    cols = range(0, image.shape[2] - ww + 1, sw)
    result = np.zeros((len(rows), len(cols)))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            occluded = image.copy()
            occluded[:, r:r + wh, c:c + ww] = baseline
            logits = model.forward(occluded[None])[0]
            probability = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
            result[i, j] = probability[target] if output == "probability" else logits[target]
    return result


@pytest.mark.parametrize("output", ["probability", "score"])
@pytest.mark.parametrize("window, stride", [((3, 3), (1, 1)), ((2, 4), (2, 1))])
def test_occlusion_equals_one_forward_per_window(output, window, stride):
    rng = np.random.default_rng(0)
    model = tiny_net()
    x = rng.random((2, 1, 8, 9))
    targets = [1, 3]
    maps = occlusion(model, x, targets, window, stride, baseline=0.5, output=output,
                     batch_size=5)
    for n in range(2):
        expected = one_at_a_time(model, x[n], targets[n], window, stride, 0.5, output)
        np.testing.assert_allclose(maps[n], expected, rtol=1e-12, atol=1e-15)
    shifted = one_at_a_time(model, np.roll(x[0], 1, axis=2), targets[0], window, stride,
                            0.5, output)
    assert not np.allclose(maps[0], shifted)                    # negative control


def test_occlusion_attribution_by_hand_on_a_linear_model():
    """S_c(x) = sum(V_c * x) + b_c, so occluding a window with baseline 0 drops the score
    by sum over the window of V_c * x; a pixel's attribution is the mean drop over the
    windows that cover it (3x3 windows, stride 2: on 7x8 the last column is covered by
    none and gets 0)."""
    rng = np.random.default_rng(1)
    linear = sc.Linear(56, 2)
    model = sc.Sequential([sc.Flatten(), linear]).astype(np.float64)
    x = rng.standard_normal((1, 1, 7, 8))
    weights = linear.params["W"][1].reshape(7, 8)
    total, count = np.zeros((7, 8)), np.zeros((7, 8))
    for r in range(0, 5, 2):
        for c in range(0, 5, 2):
            drop = np.sum(weights[r:r + 3, c:c + 3] * x[0, 0, r:r + 3, c:c + 3])
            total[r:r + 3, c:c + 3] += drop
            count[r:r + 3, c:c + 3] += 1
    expected = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    assert np.all(count[:, 7] == 0) and np.all(count[:, :7] > 0)
    result = occlusion_attribution(model, x, 1, window=3, stride=2)
    assert result.shape == x.shape
    np.testing.assert_allclose(result[0, 0], expected, rtol=1e-12, atol=1e-14)
    assert not np.allclose(result[0, 0], total)                  # not the sum: the mean


def test_occlusion_errors():
    model = tiny_net()
    x = np.zeros((1, 1, 8, 8))
    with pytest.raises(ValueError, match="larger than the image"):
        occlusion(model, x, 0, window=9)
    with pytest.raises(ValueError, match="output must be one of"):
        occlusion(model, x, 0, window=3, output="logit")
    with pytest.raises(ValueError, match="class ids in"):
        occlusion(model, x, 7, window=3)


def strided_net():
    """Padding, stride 2, average pooling, batch norm and LeakyReLU, a GAP head."""
    net = sc.Sequential([sc.Conv2D(2, 4, 3, stride=2, padding=1), sc.BatchNorm2D(4),
                         sc.LeakyReLU(0.1), sc.AvgPool2D(3, stride=1),
                         sc.Conv2D(4, 5, (2, 3), padding=(1, 0)), sc.ReLU(), sc.MaxPool2D(2),
                         sc.GlobalAvgPool2D(), sc.Linear(5, 3), sc.ReLU(), sc.Linear(3, 4)],
                        seed=4).astype(np.float64)
    net["bn1"].buffers["running_mean"][...] = [0.1, -0.2, 0.3, 0.0]
    net["bn1"].buffers["running_var"][...] = [0.5, 2.0, 1.5, 1.0]
    return net


def batchnorm_then_pool_net():
    """Batch norm with a negative scale right before a max pool (max and a decreasing map
    do not commute: the cone must not swap them), then ReLU -> max pool (it may)."""
    net = sc.Sequential([sc.Conv2D(1, 3, 3), sc.BatchNorm2D(3), sc.MaxPool2D(2), sc.ReLU(),
                         sc.MaxPool2D(2), sc.Flatten(), sc.Linear(3 * 3 * 3, 4)],
                        seed=6).astype(np.float64)
    net["bn1"].params["gamma"][...] = [-1.5, 0.5, -2.0]
    return net


@pytest.mark.parametrize("reference", [False, True], ids=["numba", "reference"])
@pytest.mark.parametrize("case", ["slides", "slides_crops", "gap", "strided", "batchnorm_pool",
                                  "two_conv"])
def test_the_cone_of_influence_equals_full_forward_passes(reference, case, monkeypatch):
    """method="cone" recomputes only what each occluder changes; it must give the numbers
    of one full forward per occluder (float64: 1e-10 relative), on the Numba and on the
    reference kernels, with padding, strides, pooling, batch norm, Flatten and GAP heads.
    The slides' model and two_conv_net take the table of the occluder's cases
    (occlusion_cases.py; the second with a window narrower than its first filter; forced
    here: with this few occluders the crops cost less; "slides_crops" leaves the choice to
    ``table_pays``, which takes the crops), the others the crops."""
    if case != "slides_crops":
        monkeypatch.setattr(occlusion_cone, "table_pays", lambda *args: True)
    rng = np.random.default_rng(3)
    if case == "two_conv":
        model, x, window, stride = two_conv_net(), rng.standard_normal((2, 2, 9, 10)), \
            (2, 4), (1, 2)
    elif case in ("slides", "slides_crops"):
        model, x, window, stride = sc.zoo.slides_mnist_model().astype(np.float64), \
            rng.random((1, 1, 28, 28)), (7, 7), (4, 5)
    elif case == "gap":
        model, x, window, stride = sc.zoo.gap_model(widths=(4, 8, 8)).astype(np.float64), \
            rng.random((1, 1, 16, 12)), (5, 3), (2, 3)
    elif case == "strided":
        model, x, window, stride = strided_net(), rng.standard_normal((2, 2, 15, 11)), \
            (4, 3), (1, 2)
    else:
        model, x, window, stride = batchnorm_then_pool_net(), \
            rng.standard_normal((2, 1, 14, 14)), (3, 3), (1, 1)
    with sc.use_reference(reference):
        full = occlusion(model, x, [1, 2][:len(x)], window, stride, baseline=0.3,
                         output="score", method="full")
        cone = occlusion(model, x, [1, 2][:len(x)], window, stride, baseline=0.3,
                         output="score", method="cone", batch_size=7)
    scale = np.abs(full).max()
    assert np.abs(cone - full).max() <= 1e-10 * scale
    other = occlusion(model, x, [1, 2][:len(x)], window, stride, baseline=0.0, output="score",
                      method="full")
    assert np.abs(other - full).max() > 1e-6 * scale           # the check can fail


def test_the_cone_in_float32_and_its_limits():
    """float32, the slides' model, 7x7 windows at stride 1 (484 per image): 1e-5 relative.
    A network the cone cannot follow (a residual Add) is refused for method="cone" and
    handled by "auto" with full passes."""
    rng = np.random.default_rng(5)
    model = sc.zoo.slides_mnist_model()
    x = rng.random((1, 1, 28, 28), dtype=np.float32)
    full = occlusion(model, x, 3, method="full")
    cone = occlusion(model, x, 3, method="cone")
    assert full.shape == (1, 22, 22)
    assert np.abs(cone - full).max() <= 1e-5 * np.abs(full).max()
    residual = sc.zoo.resnet_gap()
    with pytest.raises(ValueError, match="method='cone' needs a chain"):
        occlusion(residual, x, 0, window=14, stride=14, method="cone")
    assert occlusion(residual, x, 0, window=14, stride=14).shape == (1, 2, 2)


def test_every_class_probability_at_once():
    """output="probabilities": (N, oh, ow, K), rows summing to 1, whose target column is
    output="probability"."""
    model = tiny_net()
    x = np.random.default_rng(6).random((2, 1, 8, 8))
    every = occlusion(model, x, [0, 0], window=3, stride=2, output="probabilities")
    assert every.shape == (2, 3, 3, 4)
    np.testing.assert_allclose(every.sum(axis=3), 1.0, rtol=1e-12)
    np.testing.assert_allclose(every[..., 2], occlusion(model, x, 2, window=3, stride=2),
                               rtol=1e-12)
