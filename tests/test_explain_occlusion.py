"""Occlusion: the batched map equals one forward pass per occluder written out here, in the
fast room (the default) and the plain one; the per-pixel attribution equals Captum's
definition computed by hand on a linear model. (The cone, the fast room's occlusion, is
tested against the definition in tests/fast/test_occlusion_cone.py.)"""
import numpy as np
import pytest

import scratchcnn as sc
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
