"""The plain room's oracles: the loop-level convolution and max pooling (reference/conv.py,
reference/pool.py) are the definitions every faster route is compared with.

* im2col + one product (``conv2d_forward``, plain), Conv2D on the plain and on the fast
  path, and plain Winograd (``conv3x3_winograd``, F2 and F4) equal ``conv2d_loops`` on
  odd geometries with strides, padding and several channels (float64: 1e-12 relative,
  max |a - b| / max |b|).
* max pooling with switches (plain and Numba) equals ``maxpool_loops`` exactly, ties
  included (the first maximum in row-major order wins), on overlapping windows too.
* The tie rule: a value within ``tie_tolerance`` of a window's maximum ties with it (the
  first such position wins, and the output is its value), one just beyond does not, on
  every room; so a saliency map of an untrained slides' model is the same alone and in a
  batch of 100 (1e-6 of its maximum), where it differs by more than 1 % with no
  tolerance (the negative control).
* Negative controls: a convolution with one filter tap changed, and switches with a tie
  given to the later entry, are caught by the same comparisons.
"""
import contextlib

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn.fast import pool as fast_pool
from scratchcnn.reference import conv, pool, winograd

CONV_CASES = [  # (x shape, O, (kh, kw), stride, padding)
    ((2, 3, 7, 9), 4, (3, 3), (1, 1), (0, 0)),
    ((1, 2, 8, 5), 3, (3, 2), (2, 1), (1, 0)),
    ((3, 1, 6, 6), 2, (5, 5), (1, 2), (2, 2)),          # padding wider than a stride
    ((1, 4, 4, 7), 5, (1, 3), (3, 2), (0, 1)),
]


def agree(a, b, tolerance=1e-12):
    return a.shape == b.shape and np.abs(a - b).max() <= tolerance * np.abs(b).max()


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_every_convolution_equals_the_loops(case):
    shape, o, kernel, stride, padding = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    weights, bias = rng.standard_normal((o, shape[1]) + kernel), rng.standard_normal(o)
    loops = conv.conv2d_loops(x, weights, bias, stride, padding)
    y, cols = conv.conv2d_forward(x, weights, bias, stride, padding)
    assert agree(y, loops) and cols.shape[1] == loops[:, 0].size
    layer = sc.Conv2D(shape[1], o, kernel, stride, padding).astype(np.float64)
    layer.params["W"][...], layer.params["b"][...] = weights, bias
    for training in (True, False):                # the fast room's training and eval routes
        layer.training = training
        assert agree(layer.forward(x), loops)
        with sc.use_reference():
            assert agree(layer.forward(x), loops)
    wrong = weights.copy()
    wrong[0, 0, 0, 0] += 1
    assert not agree(conv.conv2d_forward(x, wrong, bias, stride, padding)[0], loops)


@pytest.mark.parametrize("scheme", [winograd.F2, winograd.F4], ids=["F2", "F4"])
@pytest.mark.parametrize("padding", [(0, 0), (1, 1), (2, 0)])
def test_plain_winograd_equals_the_loops(scheme, padding):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 9, 7))
    weights, bias = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    loops = conv.conv2d_loops(x, weights, bias, (1, 1), padding)
    assert agree(winograd.conv3x3_winograd(x, weights, bias, padding, scheme), loops)


def tied_images(rng, shape):
    """Small integers: every window holds ties."""
    return rng.integers(0, 3, shape).astype(np.float64)


@pytest.mark.parametrize("case", [((2, 3, 6, 7), (2, 2), (2, 2)), ((1, 2, 7, 7), (3, 3), (2, 2)),
                                  ((2, 1, 5, 8), (2, 3), (1, 2))], ids=str)
def test_max_pooling_equals_the_loops_ties_included(case):
    shape, (kh, kw), stride = case
    x = tied_images(np.random.default_rng(3), shape)
    out, switches = pool.maxpool_loops(x, kh, kw, stride)
    for maxpool in (pool.maxpool_forward, fast_pool.maxpool_forward):
        fast_out, fast_switches = maxpool(x, kh, kw, stride)
        np.testing.assert_array_equal(fast_out, out)
        np.testing.assert_array_equal(fast_switches, switches)
    # Negative control: ties given to the last maximum instead are caught.
    last = np.empty_like(switches)
    h, w = shape[2:]
    for index in np.ndindex(*switches.shape):
        n, c, r, col = index
        window = x[n, c, r * stride[0]:r * stride[0] + kh, col * stride[1]:col * stride[1] + kw]
        i, j = np.argwhere(window == window.max())[-1]
        last[index] = (r * stride[0] + i) * w + col * stride[1] + j
    assert not np.array_equal(last, switches)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("window", [(2, 2, 2), (3, 3, 2)], ids=["2x2s2", "3x3s2"])
def test_a_value_within_the_tolerance_ties_and_one_beyond_it_does_not(dtype, window):
    """Image 0's largest |x| is 4, so its tolerance is 128 eps * 4; image 1 is all small
    (largest 1), so the same gap is beyond its tolerance there. Image 2 is all zero: its
    tolerance is 0 and every window is an exact tie, won by its first position."""
    kh, kw, stride = window
    x = np.zeros((3, 1, 4, 6), dtype)
    x[0, 0, 3, 5] = -4.0
    x[1, 0, 3, 5] = -1.0
    tolerance = pool.tie_tolerance(x)
    eps = np.finfo(dtype).eps
    assert tolerance[0] == dtype(128 * eps * 4) and tolerance[1] == dtype(128 * eps)
    assert tolerance[2] == 0
    gap = dtype(100 * eps * 4)                   # within image 0's tolerance, beyond image 1's
    x[:2, 0, 0, 0] = dtype(0.5)                 # the first position of the first window ...
    x[:2, 0, 0, 1] = dtype(0.5) + gap           # ... its neighbour, larger by the gap
    out, switches = pool.maxpool_loops(x, kh, kw, (stride, stride))
    corners = (np.arange(switches.shape[2])[:, None] * stride * x.shape[3]
               + np.arange(switches.shape[3])[None, :] * stride)
    np.testing.assert_array_equal(switches[2, 0], corners)               # exact ties: first
    assert switches[0, 0, 0, 0] == 0 and out[0, 0, 0, 0] == dtype(0.5)       # a tie: the first
    assert switches[1, 0, 0, 0] == 1 and out[1, 0, 0, 0] == dtype(0.5) + gap  # a real maximum
    for maxpool in (pool.maxpool_forward, fast_pool.maxpool_forward):
        room_out, room_switches = maxpool(x, kh, kw, (stride, stride))
        np.testing.assert_array_equal(room_switches, switches)
        np.testing.assert_array_equal(room_out, out)


@pytest.mark.parametrize("room", ["plain", "fast"])
def test_a_saliency_map_does_not_depend_on_the_batch(room, monkeypatch):
    """The slides' model (untrained, float32) on embedded MNIST digits: their blank
    background makes relu2 constant up to rounding, and the batch of 100 rounds it
    differently from the batch of 1 (im2col at 1, Winograd at 100 on the fast room)."""
    (x, y), _ = sc.datasets.load("mnist")
    model = sc.zoo.slides_mnist_model().eval()

    def change():
        with sc.use_reference() if room == "plain" else contextlib.nullcontext():
            alone = sc.explain.saliency(model, x[:1], y[:1])[0]
            in_batch = sc.explain.saliency(model, x[:100], y[:100])[0]
        return np.abs(alone - in_batch).max() / np.abs(alone).max()
    assert change() <= 1e-6
    monkeypatch.setattr(pool, "TIE_ULPS", 0)         # negative control: no tolerance
    assert change() > 1e-2

