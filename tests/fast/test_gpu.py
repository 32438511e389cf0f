"""The whole library on CuPy arrays gives the CPU's answers.

Every layer (forward, input and parameter gradients, the three ReLU rules, batch
norm's running statistics), ``model.to("gpu")`` and back, ``fit``, ``predict`` /
``evaluate``, save/load, and every method in ``scratchcnn.explain`` run on the
GPU and are compared with the same computation on the CPU's plain NumPy reference
path (``sc.use_reference()``: im2col, no Numba, no Winograd), in float64:
max|gpu - cpu| <= TOL * max(1, max|cpu|) with TOL = 1e-9 (the BLAS libraries and
the kernels sum in different orders; nothing else differs). The kernels themselves
are compared in test_kernels.py.

Skipped cleanly without CuPy and a CUDA GPU (CI has none): ``pytest -m gpu``
on a machine with one. ``SCRATCHCNN_TEST_DEVICE=cpu`` runs the same tests with
"cpu" in place of "gpu": the Numba path against the reference path, a real
comparison on any machine (two independent sets of kernels).
"""
import copy
import os

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import explain
from scratchcnn.backend import gpu_available, is_gpu_array, to_numpy
from scratchcnn.train import model_device

DEVICE = os.environ.get("SCRATCHCNN_TEST_DEVICE", "gpu")
needs_device = pytest.mark.skipif(DEVICE == "gpu" and not gpu_available(),
                                  reason="needs CuPy and a CUDA GPU")
TOL = 1e-9


def close(device_value, cpu_value):
    device_value = to_numpy(device_value)
    assert device_value.shape == cpu_value.shape and device_value.dtype == cpu_value.dtype
    scale = max(1.0, float(np.max(np.abs(cpu_value), initial=0)))
    assert float(np.max(np.abs(device_value - cpu_value), initial=0)) <= TOL * scale


def on_device(model):
    """A deep copy of ``model`` moved to DEVICE; its arrays must live there."""
    moved = copy.deepcopy(model).to(DEVICE)
    for _, layer, key in moved.named_parameters():
        assert is_gpu_array(layer.params[key]) == (DEVICE == "gpu")
    return moved


def every_layer_nets():
    """Two small float64 nets that hold every layer type between them."""
    features = sc.Sequential([
        sc.Conv2D(2, 4, 3, stride=2, padding=1), sc.BatchNorm2D(4), sc.ReLU(),
        sc.MaxPool2D(2, stride=1), sc.Conv2D(4, 3, 2), sc.LeakyReLU(0.1), sc.Dropout(0.3),
        sc.GlobalAvgPool2D(), sc.Linear(3, 3)], seed=1).astype(np.float64)
    pool = sc.MaxPool2D(2)
    mirror = sc.Sequential([
        sc.Conv2D(2, 4, 3, padding=1), sc.ReLU(), pool, sc.MaxUnpool2D(pool),
        sc.ConvTranspose2D(4, 2, 3, stride=2, padding=1, output_padding=1), sc.Flatten(),
        sc.Linear(2 * 18 * 22, 3)], seed=2).astype(np.float64)
    return features, mirror


def forward_backward(model, x, labels, relu_rule="gradient"):
    """Logits, dL/dx and every parameter gradient, computed where ``model`` lives."""
    device = model_device(model)
    logits = model.forward(sc.to_device(x, device))
    _, dlogits = sc.softmax_cross_entropy(logits, sc.to_device(labels, device))
    for layer in model:
        for grad in layer.grads.values():
            grad[...] = 0
    dx = model.backward(dlogits, relu_rule=relu_rule)
    grads = {f"{layer.name}.{k}": g for layer in model for k, g in layer.grads.items()}
    return logits, dx, grads


@pytest.mark.gpu
@needs_device
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_every_layer_forward_and_gradients_match_the_cpu(mode):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 9, 11))
    labels = np.array([0, 2, 1])
    for cpu_model in every_layer_nets():
        getattr(cpu_model, mode)()
        device_model = on_device(cpu_model)        # copies dropout's generator state too
        rules = ["gradient"] if any(isinstance(layer, sc.LeakyReLU) for layer in cpu_model) \
            else list(sc.RELU_RULES)
        for rule in rules:
            with sc.use_reference():
                expected = forward_backward(cpu_model, x, labels, rule)
            got = forward_backward(device_model, x, labels, rule)
            close(got[0], expected[0])
            close(got[1], expected[1])
            for key, value in expected[2].items():
                close(got[2][key], value)
        for key, value in cpu_model.state_dict().items():   # batch norm's running statistics
            close(device_model.state_dict()[key], value)


@pytest.mark.gpu
@needs_device
def test_to_gpu_and_back_keeps_every_array():
    model = sc.zoo.gap_model()
    there = copy.deepcopy(model).to(DEVICE)
    back = there.to("cpu")
    for key, value in model.state_dict().items():
        moved = back.state_dict()[key]
        assert isinstance(moved, np.ndarray) and np.array_equal(moved, value)


def tiny_digits(n=96):
    (x, y), _ = sc.datasets.load("mnist")
    return x[:n].astype(np.float64), y[:n]


@pytest.mark.gpu
@needs_device
def test_fit_predict_evaluate_and_save_on_the_gpu_match_the_cpu(tmp_path):
    x, y = tiny_digits()
    cpu_model = sc.Sequential([sc.Conv2D(1, 4, 3), sc.ReLU(), sc.MaxPool2D(2), sc.Flatten(),
                               sc.Dropout(0.2), sc.Linear(4 * 13 * 13, 10)],
                              seed=3).astype(np.float64)
    device_model = on_device(cpu_model)
    histories = []
    for model, reference in ((cpu_model, True), (device_model, False)):
        with sc.use_reference(reference):
            histories.append(sc.fit(model, sc.Adam(model, lr=1e-3), x, y, epochs=2,
                                    batch_size=32, seed=4, augment=sc.datasets.random_shift,
                                    verbose=False))
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(histories[1][key], histories[0][key], rtol=TOL)
    for key, value in cpu_model.state_dict().items():
        close(device_model.state_dict()[key], value)
    with sc.use_reference():
        expected_logits = sc.predict(cpu_model, x[:40])
        expected_scores = sc.evaluate(cpu_model, x, y)
    close(sc.predict(device_model, x[:40], batch_size=16), expected_logits)
    scores = [expected_scores, sc.evaluate(device_model, x, y)]
    assert scores[1]["accuracy"] == scores[0]["accuracy"]
    np.testing.assert_allclose(scores[1]["loss"], scores[0]["loss"], rtol=TOL)
    sc.save(device_model, tmp_path / "net.npz")
    loaded = sc.load(tmp_path / "net.npz")
    for key, value in cpu_model.state_dict().items():
        close(loaded.state_dict()[key], value)


def explain_models():
    rng = np.random.default_rng(5)
    digits = sc.zoo.slides_mnist_model().astype(np.float64)
    gap = sc.zoo.gap_model().astype(np.float64)
    x = rng.random((4, 1, 28, 28))
    return digits, gap, x, np.array([3, 1, 4, 1])


def every_method(digits, gap, x, targets):
    """name -> result of every explanation method (a dict, so a failure names it)."""
    attributions, completeness_gap = explain.integrated_gradients(digits, x, targets, steps=4)
    reconstruction, positions = explain.DeconvNet(digits).project(x, "relu2", channel=5)
    maps = explain.grad_cam(digits, x, targets, layer="relu2")
    return {
        "saliency": explain.saliency(digits, x, targets),
        "deconvnet": explain.deconvnet(digits, x, targets),
        "guided_backprop": explain.guided_backprop(digits, x, targets),
        "smoothgrad": explain.smoothgrad(digits, x, targets, samples=3),
        "integrated_gradients": attributions,
        "completeness_gap": completeness_gap,
        "DeconvNet.project": reconstruction,
        "positions": positions,
        "grad_cam": maps,
        "upsample": explain.upsample(maps, (28, 28)),
        "guided_grad_cam": explain.guided_grad_cam(digits, x, targets, layer="relu2"),
        "cam": explain.cam(gap, x, targets),
    }


@pytest.mark.gpu
@needs_device
def test_every_explanation_method_matches_the_cpu():
    digits, gap, x, targets = explain_models()
    with sc.use_reference():
        expected = every_method(digits, gap, x, targets)
    got = every_method(on_device(digits), on_device(gap), sc.to_device(x, DEVICE), targets)
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        try:
            close(got[name], np.asarray(value))
        except AssertionError as error:
            raise AssertionError(f"{name} differs on {DEVICE}") from error
    masks = np.zeros((4, 28, 28), bool)
    masks[:, 10:20, 10:20] = True
    upsampled = got["upsample"]
    assert explain.metrics.pointing_game(upsampled, masks) == \
        explain.metrics.pointing_game(expected["upsample"], masks)


def test_the_comparison_catches_a_wrong_result():
    """Negative control (runs everywhere, on the CPU): one weight nudged by 1e-6 of
    its size must make the comparison fail."""
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((3, 2, 9, 11)), np.array([0, 2, 1])
    model, _ = every_layer_nets()
    model.eval()
    nudged = copy.deepcopy(model)
    nudged["conv2"].params["W"][0, 0, 0, 0] *= 1 + 1e-6
    expected, got = forward_backward(model, x, labels), forward_backward(nudged, x, labels)
    close(forward_backward(copy.deepcopy(model), x, labels)[0], expected[0])
    with pytest.raises(AssertionError):
        close(got[2]["conv2.W"], expected[2]["conv2.W"])
