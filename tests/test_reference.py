"""The plain room's oracles: the loop-level convolution and max pooling (reference/conv.py,
reference/pool.py) are the definitions every faster route is compared with.

* im2col + one product (``conv2d_forward``, plain), Conv2D on the plain and on the fast
  path, and plain Winograd (``conv3x3_winograd``, F2 and F4) equal ``conv2d_loops`` on
  odd geometries with strides, padding and several channels (float64: 1e-12 relative,
  max |a - b| / max |b|).
* max pooling with switches (plain and Numba) equals ``maxpool_loops`` exactly, ties
  included (the first maximum in row-major order wins), on overlapping windows too.
* Negative controls: a convolution with one filter tap changed, and switches with a tie
  given to the later entry, are caught by the same comparisons.
"""
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
