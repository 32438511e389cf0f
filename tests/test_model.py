"""Sequential: whole-network gradients through the loss, backward with start/stop,
names, modes, state_dict and save/load. Tolerance TOL = 1e-6 (see test_layers.py)."""
import numpy as np
import pytest
from conftest import away_from_zero

import scratchcnn as sc
from scratchcnn.gradcheck import check_gradient, check_model

TOL = 1e-6


def small_net(seed=0):
    return sc.Sequential([
        sc.Conv2D(2, 4, 3, padding=1), sc.ReLU(), sc.MaxPool2D(3, stride=2),
        sc.Conv2D(4, 5, (2, 3), stride=(1, 2)), sc.BatchNorm2D(5), sc.LeakyReLU(0.1),
        sc.Flatten(), sc.Dropout(0.2), sc.Linear(5 * 1 * 1, 6), sc.ReLU(), sc.Linear(6, 3),
    ], seed=seed).astype(np.float64)


def test_layer_names_are_readable_and_unique():
    model = small_net()
    assert model.names == ["conv1", "relu1", "pool1", "conv2", "bn1", "lrelu1", "flatten1",
                           "dropout1", "fc1", "relu2", "fc2"]
    named = sc.Sequential([sc.Conv2D(1, 2, 3, name="edges"), sc.ReLU()])
    assert named.names == ["edges", "relu1"]
    with pytest.raises(ValueError, match="unique"):
        sc.Sequential([sc.ReLU(name="a"), sc.ReLU(name="a")])
    with pytest.raises(KeyError, match="valid names"):
        model["conv9"]


def test_whole_network_parameter_gradients_through_the_loss(rng):
    model = small_net()
    model.train()
    model["dropout1"].training = False           # a fixed function for finite differences
    x = rng.standard_normal((4, 2, 6, 7))
    labels = np.array([0, 2, 1, 2])
    errors = check_model(model, x, labels)
    assert len(errors) == 1 + 10                 # x + W, b of 4 layers + gamma, beta
    # conv2's bias feeds batch norm, which subtracts each channel's batch mean, so a
    # per-channel constant cancels: dL/db is exactly 0. Its central differences are then
    # rounding noise (~1e-10, from the loss's last bits), which the relative error's 1e-8
    # floor turns into ~1e-2 on CPUs whose sums round differently (AMD Zen 4; exactly 0
    # on Zen 3). So that entry is checked on its own, in absolute terms.
    zero_gradient = errors.pop("conv2.b")
    assert max(errors.values()) < TOL, errors
    bias, h = model["conv2"].params["b"], 1e-6
    assert np.abs(model["conv2"].grads["b"]).max() < 1e-12        # the analytic gradient is 0

    def loss():
        return sc.softmax_cross_entropy(model.forward(x), labels)[0]
    for i in range(bias.size):                                      # and so are the numbers
        bias[i] += h
        up = loss()
        bias[i] -= 2 * h
        down = loss()
        bias[i] += h
        assert abs(up - down) / (2 * h) < 1e-8, (i, zero_gradient)


def test_backward_with_start_and_stop(rng):
    """Gradient of sum(R * relu1) w.r.t. the input, via start=relu1, equals the
    finite differences of that function; stop returns the gradient at a layer."""
    model = sc.Sequential([sc.Conv2D(1, 3, 3), sc.ReLU(), sc.MaxPool2D(2), sc.Flatten(),
                           sc.Linear(12, 4)]).astype(np.float64)
    x = away_from_zero((2, 1, 6, 6), rng)
    model.forward(x)
    seed = rng.standard_normal(model.outputs["relu1"].shape)
    grad = model.backward(seed, start="relu1")
    f = lambda v: float(np.sum(model.forward(v, stop="relu1") * seed))   # noqa: E731
    assert check_gradient(f, x, grad) < TOL

    # stop: the gradient of the logits' sum w.r.t. pool1's output
    model.forward(x)
    at_pool = model.backward(np.ones((2, 4)), stop="pool1")
    pooled = model.outputs["pool1"].copy()
    tail = lambda p: float(np.sum(model["fc1"].forward(model["flatten1"].forward(p))))  # noqa
    assert check_gradient(tail, pooled, at_pool) < TOL

    assert model.backward(seed, start="relu1", stop="relu1") is seed   # nothing to run
    with pytest.raises(ValueError, match="comes after"):
        model.backward(seed, start="conv1", stop="fc1")


def test_forward_keeps_every_output_by_name(rng):
    model = small_net()
    model.eval()
    y = model.forward(rng.standard_normal((2, 2, 6, 7)))
    assert list(model.outputs) == model.names
    assert model.outputs["fc2"] is y and model.outputs["pool1"].shape == (2, 4, 2, 3)


def test_train_and_eval_modes(rng):
    model = small_net()
    x = rng.standard_normal((3, 2, 6, 7))
    model.eval()
    assert not model.training
    np.testing.assert_array_equal(model.forward(x), model.forward(x))   # no dropout, fixed BN
    model.train()
    assert all(layer.training for layer in model)


def test_state_dict_round_trip_and_errors(rng):
    a, b = small_net(seed=0), small_net(seed=1)
    assert not np.array_equal(a["conv1"].params["W"], b["conv1"].params["W"])
    assert "bn1.running_var" in a.state_dict() and "conv1.W" in a.state_dict()
    b.load_state_dict(a.state_dict())
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[key], value)
    with pytest.raises(KeyError, match="missing"):
        b.load_state_dict({"conv1.W": a.state_dict()["conv1.W"]})
    bad = dict(a.state_dict(), **{"fc2.b": np.zeros(7)})
    with pytest.raises(ValueError, match=r"fc2.b.*\(7,\).*\(3,\)"):
        b.load_state_dict(bad)


def test_save_and_load_rebuild_the_model_exactly(tmp_path, rng):
    model = small_net()
    model.eval()
    x = rng.standard_normal((2, 2, 6, 7))
    path = tmp_path / "net.npz"
    sc.save(model, path)
    loaded = sc.load(path).eval()
    assert loaded.names == model.names and loaded.dtype == np.float64
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))


def test_save_and_load_a_deconv_chain(tmp_path, rng):
    pool = sc.MaxPool2D(2)
    model = sc.Sequential([sc.Conv2D(1, 2, 3), pool, sc.MaxUnpool2D(pool),
                           sc.ConvTranspose2D(2, 1, 3, stride=1)])
    sc.save(model, tmp_path / "d.npz")
    loaded = sc.load(tmp_path / "d.npz")
    assert loaded["unpool1"].pool is loaded["pool1"]
    x = rng.standard_normal((1, 1, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))


def test_load_gives_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved model"):
        sc.load(tmp_path / "missing.npz")
    model = small_net()
    sc.save(model, tmp_path / "ok.npz")
    data = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        sc.load(tmp_path / "cut.npz")
    np.savez(tmp_path / "foreign.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match="not a scratchcnn model"):
        sc.load(tmp_path / "foreign.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a readable scratchcnn model"):
        sc.load(tmp_path / "text.npz")


def test_forward_can_start_after_a_layer(rng):
    model = small_net()
    model.eval()
    x = rng.standard_normal((2, 2, 6, 7))
    full = model.forward(x)
    pooled = model.outputs["pool1"]
    np.testing.assert_array_equal(model.forward(pooled, start="pool1"), full)
    np.testing.assert_array_equal(model.forward(pooled, start="pool1", stop="conv2"),
                                  model["conv2"].forward(pooled))
    with pytest.raises(ValueError, match="comes before"):
        model.forward(x, start="fc1", stop="conv1")


def test_backward_can_skip_the_input_gradient(rng):
    """Training needs only parameter gradients: the same ones, without dx (to 1e-12: the
    first conv then sums dL/dW image by image, in another order; test_layers)."""
    model = small_net()
    model["dropout1"].training = False
    x, labels = rng.standard_normal((3, 2, 6, 7)), np.array([0, 1, 2])
    _, dlogits = sc.softmax_cross_entropy(model.forward(x), labels)
    model.zero_grad()
    model.backward(dlogits)
    full = {k: layer.grads[p].copy() for k, layer, p in model.named_parameters()}
    model.forward(x)
    model.zero_grad()
    assert model.backward(dlogits, input_grad=False) is None
    for key, layer, p in model.named_parameters():
        np.testing.assert_allclose(layer.grads[p], full[key], rtol=1e-12, atol=0, err_msg=key)
    with pytest.raises(ValueError, match="input_grad=False only applies"):
        model.backward(dlogits, stop="pool1", input_grad=False)


def test_public_api_names_resolve():
    """Everything __all__ promises is importable from the package."""
    missing = [name for name in sc.__all__ if not hasattr(sc, name)]
    assert not missing
    assert callable(sc.to_device) and callable(sc.to_numpy)


def test_gpu_available_is_false_without_a_working_cupy(monkeypatch):
    """No CuPy: False. A CuPy that imports but finds no CUDA device (its device count
    raises, as without a driver) or counts 0 devices: False. One device: True."""
    from scratchcnn import backend

    class FakeCupy:
        def __init__(self, count):
            def device_count():
                if isinstance(count, Exception):
                    raise count
                return count
            runtime = type("Runtime", (), {"getDeviceCount": staticmethod(device_count)})
            self.cuda = type("Cuda", (), {"runtime": runtime})

    monkeypatch.setattr(backend, "_cupy", None)
    assert backend.gpu_available() is False
    for count, expected in ((RuntimeError("no CUDA driver"), False), (0, False), (1, True)):
        monkeypatch.setattr(backend, "_cupy", FakeCupy(count))
        assert backend.gpu_available() is expected
