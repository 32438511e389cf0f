"""Every layer's input and parameter gradients against central finite differences.

Tolerance: relative_error(analytic, numeric) = max|a - n| / max(1e-8, max(|a| + |n|))
must be below TOL = 1e-6 (float64, h = 1e-6; true gradients give about 1e-9).
Inputs avoid kinks: ReLU inputs have |x| >= 0.1, max-pool inputs have no ties.
"""
import numpy as np
import pytest
from conftest import away_from_zero, distinct_values

from scratchcnn import (BatchNorm2D, Conv2D, ConvTranspose2D, Dropout, Flatten, GlobalAvgPool2D,
                        LeakyReLU, Linear, MaxPool2D, MaxUnpool2D, ReLU, use_reference)
from scratchcnn.gradcheck import check_layer

TOL = 1e-6

CONV_CASES = [  # (in, out, kernel, stride, padding, x shape)
    (1, 2, 3, 1, 0, (1, 1, 5, 5)),
    (3, 4, 3, 1, 1, (2, 3, 6, 6)),
    (2, 3, (3, 2), (2, 1), (1, 2), (3, 2, 7, 6)),        # non-square kernel, stride, padding
    (2, 2, 5, 3, 2, (2, 2, 9, 11)),                       # non-square image, stride 3
    (3, 2, (1, 4), (1, 2), (0, 1), (2, 3, 4, 9)),
]


def assert_all_below(errors, tol=TOL):
    assert max(errors.values()) < tol, errors


@pytest.mark.parametrize("reference", [False, True], ids=["numba", "reference"])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"k{c[2]}s{c[3]}p{c[4]}")
def test_conv2d_gradients(rng, case, reference):
    cin, cout, k, s, p, shape = case
    layer = Conv2D(cin, cout, k, stride=s, padding=p).astype(np.float64)
    with use_reference(reference):
        assert_all_below(check_layer(layer, rng.standard_normal(shape)))


@pytest.mark.parametrize("reference", [False, True], ids=["numba", "reference"])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"k{c[2]}s{c[3]}p{c[4]}")
def test_conv_transpose2d_gradients(rng, case, reference):
    cin, cout, k, s, p, shape = case
    output_padding = tuple(max(0, v - 1) for v in ((s, s) if np.isscalar(s) else s))
    layer = ConvTranspose2D(cin, cout, k, stride=s, padding=p,
                            output_padding=output_padding).astype(np.float64)
    x = rng.standard_normal((shape[0], cin, 4, 5))
    with use_reference(reference):
        assert_all_below(check_layer(layer, x))


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"k{c[2]}s{c[3]}p{c[4]}")
def test_conv_and_conv_transpose_are_adjoint(rng, case):
    """<conv(x), y> = <x, convT(y)> with the same weights and no bias, and convT's
    forward equals conv's backward-to-input (and vice versa)."""
    cin, cout, k, s, p, shape = case
    conv = Conv2D(cin, cout, k, stride=s, padding=p).astype(np.float64)
    y_shape = conv.output_shape(shape)                    # rows a strided conv floors away
    (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
    dropped = (shape[2] - ((y_shape[2] - 1) * sh - 2 * ph + kh),
               shape[3] - ((y_shape[3] - 1) * sw - 2 * pw + kw))
    conv_t = ConvTranspose2D(cout, cin, k, stride=s, padding=p,
                             output_padding=dropped).astype(np.float64)
    conv_t.params["W"][...] = conv.params["W"]       # (out, in, kh, kw) read as (in', out', ..)
    conv.params["b"][...] = 0
    conv_t.params["b"][...] = 0
    x = rng.standard_normal(shape)
    conv_x = conv.forward(x)
    y = rng.standard_normal(conv_x.shape)
    conv_t_y = conv_t.forward(y)
    assert conv_t_y.shape == x.shape
    lhs, rhs = np.sum(conv_x * y), np.sum(x * conv_t_y)
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs))
    np.testing.assert_allclose(conv.backward(y), conv_t_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv_t.backward(x), conv_x, rtol=1e-12, atol=1e-12)


def test_conv2d_matches_a_direct_loop(rng):
    """The im2col route equals the definition, out[o,y,x] = b + sum W * x_padded."""
    layer = Conv2D(2, 3, (3, 2), stride=(2, 1), padding=1).astype(np.float64)
    x = rng.standard_normal((2, 2, 5, 4))
    y = layer.forward(x)
    W, b = layer.params["W"], layer.params["b"]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = np.zeros_like(y)
    for n in range(2):
        for o in range(3):
            for i in range(y.shape[2]):
                for j in range(y.shape[3]):
                    expected[n, o, i, j] = b[o] + np.sum(W[o] * xp[n, :, 2 * i:2 * i + 3, j:j + 2])
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reference", [False, True], ids=["numba", "reference"])
@pytest.mark.parametrize("kernel, stride, shape", [
    (2, None, (2, 3, 6, 6)),
    (3, 2, (2, 2, 7, 9)),              # overlapping windows: a pixel can win twice
    ((3, 2), (1, 1), (1, 2, 5, 4)),    # heavy overlap, non-square
    (2, None, (1, 1, 5, 5)),           # floor mode drops the last row and column
])
def test_maxpool_gradients(rng, kernel, stride, shape, reference):
    layer = MaxPool2D(kernel, stride)
    with use_reference(reference):
        assert_all_below(check_layer(layer, distinct_values(shape, rng)))


def test_maxpool_overlapping_windows_accumulate():
    """A pixel that is the maximum of two overlapping windows gets both gradients."""
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0                         # wins all four 2x2 windows at stride 1
    pool = MaxPool2D(2, stride=1)
    y = pool.forward(x)
    assert np.all(y == 5.0) and np.all(pool.switches == 4)
    dx = pool.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    assert dx[0, 0, 1, 1] == 10.0 and dx.sum() == 10.0


def test_maxunpool_places_values_at_switches_and_is_adjoint(rng):
    pool = MaxPool2D(2)
    x = distinct_values((2, 3, 4, 6), rng)
    y = pool.forward(x)
    unpool = MaxUnpool2D(pool).astype(np.float64)
    restored = unpool.forward(y)
    assert restored.shape == x.shape
    np.testing.assert_array_equal(restored[restored != 0], x[restored != 0])   # maxima kept
    assert np.count_nonzero(restored) == y.size
    assert_all_below(check_layer(unpool, y.copy()))
    z = rng.standard_normal(x.shape)                  # <unpool(y), z> = <y, unpool^T(z)>
    assert np.isclose(np.sum(unpool.forward(y) * z), np.sum(y * unpool.backward(z)))


@pytest.mark.parametrize("shape", [(3, 7), (2, 3, 4, 5)])
def test_relu_gradient(rng, shape):
    assert_all_below(check_layer(ReLU(), away_from_zero(shape, rng)))


@pytest.mark.parametrize("reference", [False, True], ids=["numba", "reference"])
def test_relu_at_exactly_zero_passes_no_gradient(reference):
    """F = 0 is inactive (the mask is 1(F > 0), PyTorch's convention): the output is 0,
    and the gradient and guided rules pass nothing there, however large G is; the
    DeconvNet rule ignores F by definition and passes G > 0."""
    from scratchcnn import use_reference
    relu = ReLU()
    x = np.array([[0.0, 1.0, -0.0, 2.0]])
    g = np.array([[5.0, 1.0, 5.0, 1.0]])
    with use_reference(reference):
        np.testing.assert_array_equal(relu.forward(x), [[0, 1, 0, 2]])
        np.testing.assert_array_equal(relu.backward(g, relu_rule="gradient"), [[0, 1, 0, 1]])
        np.testing.assert_array_equal(relu.backward(g, relu_rule="guided"), [[0, 1, 0, 1]])
        np.testing.assert_array_equal(relu.backward(g, relu_rule="deconvnet"), g)


def test_relu_three_rules_side_by_side():
    """Gao & Mosalam eq. 3, on F = [2, -1, 3, -4] and G = [1, 1, -1, -1]."""
    relu = ReLU()
    relu.forward(np.array([[2.0, -1.0, 3.0, -4.0]]))
    g = np.array([[1.0, 1.0, -1.0, -1.0]])
    np.testing.assert_array_equal(relu.backward(g, relu_rule="gradient"), [[1, 0, -1, 0]])   # 1(F>0) G
    np.testing.assert_array_equal(relu.backward(g, relu_rule="deconvnet"), [[1, 1, 0, 0]])   # 1(G>0) G
    np.testing.assert_array_equal(relu.backward(g, relu_rule="guided"), [[1, 0, 0, 0]])      # both
    with pytest.raises(ValueError, match="relu_rule must be one of"):
        relu.backward(g, relu_rule="gradcam")


def test_leaky_relu_gradient(rng):
    assert_all_below(check_layer(LeakyReLU(0.1), away_from_zero((3, 2, 4, 4), rng)))
    layer = LeakyReLU(0.1)
    layer.forward(np.ones((1, 2)))
    with pytest.raises(ValueError, match="only has the 'gradient'"):
        layer.backward(np.ones((1, 2)), relu_rule="guided")


@pytest.mark.parametrize("batch", [1, 5])
def test_linear_gradients(rng, batch):
    assert_all_below(check_layer(Linear(7, 3).astype(np.float64), rng.standard_normal((batch, 7))))


def test_global_avg_pool_and_flatten_gradients(rng):
    assert_all_below(check_layer(GlobalAvgPool2D(), rng.standard_normal((2, 3, 4, 5))))
    assert_all_below(check_layer(Flatten(), rng.standard_normal((2, 3, 4, 5))))


def test_dropout_gradients_train_and_eval(rng):
    layer = Dropout(0.4)
    reseed = lambda: setattr(layer, "rng", np.random.default_rng(7))   # noqa: E731  same mask
    x = rng.standard_normal((4, 3, 5, 5))
    assert_all_below(check_layer(layer, x, before_forward=reseed))
    y = layer.forward(x)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.6)                # inverted dropout scale
    assert 0.25 < 1 - kept.mean() < 0.55                          # about p = 0.4 dropped
    layer.training = False
    np.testing.assert_array_equal(layer.forward(x), x)
    assert_all_below(check_layer(layer, x))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batchnorm2d_gradients(rng, training):
    layer = BatchNorm2D(3).astype(np.float64)
    layer.params["gamma"][...] = rng.uniform(0.5, 1.5, 3)
    layer.params["beta"][...] = rng.standard_normal(3)
    layer.buffers["running_mean"][...] = rng.standard_normal(3)
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2, 3)
    layer.training = training
    assert_all_below(check_layer(layer, rng.standard_normal((4, 3, 3, 5))))


def test_batchnorm2d_follows_pytorch_momentum_convention(rng):
    """running = (1 - m) * running + m * batch_stat, with the unbiased variance."""
    layer = BatchNorm2D(2, momentum=0.1).astype(np.float64)
    x = rng.standard_normal((3, 2, 4, 4)) * 2 + 1
    y = layer.forward(x)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.9 * 0 + 0.1 * mean)
    np.testing.assert_allclose(layer.buffers["running_var"], 0.9 * 1 + 0.1 * var * 48 / 47)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), var / (var + 1e-5))
    # a second step, from running statistics that are no longer 0 and 1: the weights
    # (1 - m) on the old value and m on the new one cannot be swapped unnoticed
    running_mean, running_var = layer.buffers["running_mean"].copy(), \
        layer.buffers["running_var"].copy()
    x2 = rng.standard_normal((3, 2, 4, 4)) * 3 - 2
    layer.forward(x2)
    np.testing.assert_allclose(layer.buffers["running_mean"],
                               0.9 * running_mean + 0.1 * x2.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(layer.buffers["running_var"],
                               0.9 * running_var + 0.1 * x2.var(axis=(0, 2, 3)) * 48 / 47,
                               rtol=1e-12)
    layer.training = False
    expected = (x - layer.buffers["running_mean"].reshape(1, -1, 1, 1)) / np.sqrt(
        layer.buffers["running_var"].reshape(1, -1, 1, 1) + 1e-5)
    np.testing.assert_allclose(layer.forward(x), expected)


def test_float32_layers_run_and_stay_float32(rng):
    layer = Conv2D(1, 2, 3)
    y = layer.forward(rng.standard_normal((2, 1, 6, 6)).astype(np.float32))
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32


def test_he_normal_initialization():
    """W ~ N(0, 2 / fan_in), b = 0 (He et al. 2015, eq. 10)."""
    from scratchcnn import Sequential
    from scratchcnn.weight_init import he_normal
    model = he_normal(Sequential([Conv2D(16, 64, 3), ReLU(), Flatten(), Linear(400, 300)]), seed=1)
    for name, fan_in in (("conv1", 16 * 9), ("fc1", 400)):
        weights = model[name].params["W"]
        assert abs(weights.std() / np.sqrt(2 / fan_in) - 1) < 0.03
        assert abs(weights.mean()) < 0.01 and np.all(model[name].params["b"] == 0)


@pytest.mark.parametrize("make, shape", [
    (lambda: Conv2D(2, 3, 3, padding=1), (2, 2, 5, 5)),
    (lambda: ConvTranspose2D(2, 3, 3, stride=2), (2, 2, 3, 3)),
    (lambda: Linear(4, 3), (2, 4)),
    (lambda: BatchNorm2D(2), (3, 2, 4, 4)),
], ids=["conv", "conv_transpose", "linear", "batch_norm"])
def test_parameter_gradients_accumulate(rng, make, shape):
    """The contract: backward *adds* into grads, so two backward passes of the same
    forward give twice the gradient (a layer used twice must not lose the first use)."""
    layer = make().astype(np.float64)
    y = layer.forward(rng.standard_normal(shape))
    dy = rng.standard_normal(y.shape)
    layer.zero_grad()
    layer.backward(dy)
    once = {key: grad.copy() for key, grad in layer.grads.items()}
    layer.backward(dy)
    for key, grad in layer.grads.items():
        assert np.any(once[key] != 0), key
        np.testing.assert_allclose(grad, 2 * once[key], rtol=1e-12, err_msg=key)


@pytest.mark.parametrize("case", [((3, 1, 9, 8), 3, 1, 1), ((2, 3, 11, 7), 5, 2, 2),
                                  ((2, 6, 5, 5), 3, 1, 0)],
                         ids=["one-channel", "5x5-stride2", "patch-larger-than-plane"])
def test_conv_weight_gradient_without_input_gradient(rng, monkeypatch, case):
    """input_grad=False (a first layer in training): dL/dW and dL/db equal those of a
    full backward to 1e-12 in float64. Where a patch (C*kh*kw) is no longer than the
    output plane, dy is not laid out as columns (nchw_to_columns is not called: dL/dW is
    summed image by image); the third case (54 > 9) takes the usual product."""
    shape, kernel, stride, padding = case
    layer = Conv2D(shape[1], 4, kernel, stride=stride, padding=padding).astype(np.float64)
    x = rng.standard_normal(shape)
    dy = rng.standard_normal(layer.forward(x).shape)
    layer.zero_grad()
    layer.backward(dy)
    full = {key: grad.copy() for key, grad in layer.grads.items()}
    from scratchcnn.fast import conv as cpu
    calls = []
    real = cpu.nchw_to_columns
    monkeypatch.setattr(cpu, "nchw_to_columns", lambda *a, **k: calls.append(1) or real(*a, **k))
    layer.forward(x)
    layer.zero_grad()
    assert layer.backward(dy, input_grad=False) is None
    assert bool(calls) == (layer.params["W"][0].size > dy[0, 0].size)
    for key, grad in layer.grads.items():
        assert np.abs(grad - full[key]).max() <= 1e-12 * np.abs(full[key]).max(), key


def test_conv_backward_reuses_its_forward_buffers_and_stays_right(rng):
    """Memory: dy_mat takes y_mat's buffer and dL/dcols the patch matrix's, so a conv
    holds two big work buffers, not four. A second backward after the patch matrix was
    overwritten must still give the same dW and dx (the patch matrix is rebuilt from x)."""
    layer = Conv2D(3, 5, 3, padding=1).astype(np.float64)
    x = rng.standard_normal((2, 3, 6, 5))
    layer.forward(x)
    dy = rng.standard_normal(layer.y_shape)
    dx = layer.backward(dy)
    first = layer.grads["W"].copy()
    assert set(layer.workspace) == {"cols", "y_mat"}           # no separate dcols / dy_mat
    assert layer.saved["cols"] is None                        # its buffer now holds dL/dcols
    layer.zero_grad()
    np.testing.assert_array_equal(layer.backward(dy), dx)
    np.testing.assert_allclose(layer.grads["W"], first, rtol=1e-13)
    with use_reference():                                     # the plain path: same numbers
        layer.forward(x)
        layer.zero_grad()
        np.testing.assert_allclose(layer.backward(dy), dx, rtol=1e-12)
        np.testing.assert_allclose(layer.grads["W"], first, rtol=1e-12)
