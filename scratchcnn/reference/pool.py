"""Pooling, plain NumPy: max pooling with its switches, unpooling, average pooling.

The *switches* of a max pool are, for every output pixel, the flat index ``h * W + w``
of the winning input pixel inside its own (n, c) image plane (Zeiler & Fergus 2014,
sec. 2.1: "switch" variables). Shape = pooled shape, dtype int64.

**The tie rule.** A window's switch is the *first* position, in row-major order, whose
value lies within ``tie_tolerance`` of the window's maximum, and its output is the value
at the switch (so forward and backward are the same function: the output is the input at
the switch, the gradient flows to the switch). The tolerance is a few rounding errors of
the image's largest activation, so two values that differ only by the rounding of the
layer below count as equal. Without it a blank
background, where a conv layer's output is the same number everywhere up to rounding,
gets its switches from the rounding, and the rounding of a matrix product depends on the
batch size and on the algorithm (im2col or Winograd): a saliency map of one digit changed
by 16-19 % of its maximum between a batch of 1 and a batch of 100 (BENCHMARKS.md, 2026-12-06).
With exact ties (tolerance 0, or equal values) the rule is PyTorch's: the first maximum.
Within the tolerance PyTorch still takes the larger value, so on a blank background the
two gradients can differ (the gallery review measured a class-model step from a digits'
mean image differing by 3.4 % of its maximum); once noise removes the near-ties they
agree (6e-8 there).

``maxpool_loops`` is the definition as loops (the oracle); ``maxpool_forward`` computes
the same with one strided slice per window offset. The fast room's twins: fast/pool.py
(Numba), fast/gpu.py.
"""
import numpy as np

from ..backend import array_module
from .conv import conv_output_size


# Two values of one image closer than TIE_ULPS rounding errors of its largest |activation|
# are a tie (the module docstring; "Rules in the code": ties, in BENCHMARKS.md).
TIE_ULPS = 128


def tie_tolerance(x):
    """How far below a window's maximum a value may lie and still tie with it.

    x: (N, C, H, W) -> (N,) of x's dtype: TIE_ULPS * eps(dtype) * max |x[n]|, one number
    per image, so it does not depend on the other images of the batch. (max |x[n]| is
    found as the larger of max x[n] and -min x[n]: no temporary |x|.)
    """
    per_image = x.reshape(x.shape[0], -1)
    largest = array_module(x).maximum(per_image.max(axis=1), -per_image.min(axis=1))
    return (TIE_ULPS * np.finfo(x.dtype).eps * largest).astype(x.dtype)


def maxpool_loops(x, kh, kw, stride):
    """The definition of max pooling with switches, as loops: the oracle.

    x: (N, C, H, W); stride: (sh, sw)
    returns out: (N, C, OH, OW), OH = (H - KH) // sh + 1, and switches: (N, C, OH, OW)
    int64: the switch is the flat index h*W + w of the first position in row-major order
    whose value is within tie_tolerance(x)[n] of the window's maximum (the tie rule,
    module docstring), and out is x at the switch.
    """
    sh, sw = stride
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kh, sh, 0), conv_output_size(w, kw, sw, 0)
    tolerance = tie_tolerance(x)
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    switches = np.empty((n, c, oh, ow), dtype=np.int64)
    for image in range(n):
        for channel in range(c):
            for r in range(oh):
                for col in range(ow):
                    window = [((r * sh + i) * w + col * sw + j,
                               x[image, channel, r * sh + i, col * sw + j])
                              for i in range(kh) for j in range(kw)]     # row-major order
                    best = max(value for _, value in window)
                    where, value = next((where, value) for where, value in window
                                        if best - value <= tolerance[image])
                    out[image, channel, r, col] = value
                    switches[image, channel, r, col] = where
    return out, switches


def maxpool_forward(x, kh, kw, stride):
    """Max over every (KH, KW) window, remembering where each maximum was.

    x: (N, C, H, W); stride: (sh, sw)
    returns out: (N, C, OH, OW) and switches: (N, C, OH, OW) int64, the flat
    index h*W + w of the winner in its plane: the first position in row-major order
    within tie_tolerance(x)[n] of the window's maximum (the tie rule, module docstring);
    out is x at the switch.
    """
    sh, sw = stride
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kh, sh, 0), conv_output_size(w, kw, sw, 0)
    offsets = [(i, j) for i in range(kh) for j in range(kw)]            # row-major order
    windows = [x[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] for i, j in offsets]
    best = windows[0]
    for candidate in windows[1:]:
        best = np.maximum(best, candidate)
    lowest_tie = best - tie_tolerance(x)[:, None, None, None]
    rows = np.arange(oh)[:, None] * sh          # top-left corner of each window
    cols = np.arange(ow)[None, :] * sw
    out, switches = best, np.zeros(best.shape, dtype=np.int64)
    for (i, j), candidate in reversed(list(zip(offsets, windows))):   # the first tie is set last
        ties = candidate >= lowest_tie
        out = np.where(ties, candidate, out)
        switches = np.where(ties, (rows + i) * w + (cols + j), switches)
    return out, switches


def max_unpool(values, switches, x_shape):
    """Place each value at its switch in a zero image (Zeiler & Fergus 2014, sec. 2.1: unpooling).

    values, switches: (N, C, OH, OW); x_shape: (N, C, H, W)
    returns (N, C, H, W). Where overlapping windows share a winner, their
    values add up, which makes this exactly the backward pass of
    ``maxpool_forward`` (values = dL/d out).
    """
    n, c, h, w = x_shape
    plane = np.arange(n * c).reshape(n, c, 1, 1) * (h * w)
    flat = np.bincount((plane + switches).ravel(), weights=values.ravel(),
                       minlength=n * c * h * w)
    return flat.astype(values.dtype, copy=False).reshape(x_shape)


def gather_at_switches(x, switches):
    """Read ``x`` at the switches: the adjoint of ``max_unpool``.

    x: (N, C, H, W); switches: (N, C, OH, OW) -> (N, C, OH, OW). Like the three
    functions below it works on NumPy and CuPy arrays alike (gpu.py reuses them).
    """
    n, c = x.shape[:2]
    return array_module(x).take_along_axis(x.reshape(n, c, -1), switches.reshape(n, c, -1),
                              axis=2).reshape(switches.shape)


def avgpool_forward(x, kh, kw, stride):
    """Mean over every (KH, KW) window: one strided slice per kernel offset.

    x: (N, C, H, W); stride: (sh, sw) -> (N, C, OH, OW). Plain array slices, the
    same on NumPy and CuPy (fast/pool.py and fast/gpu.py reuse this function).
    """
    sh, sw = stride
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kh, sh, 0), conv_output_size(w, kw, sw, 0)
    total = array_module(x).zeros((n, c, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            total += x[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]
    return total / x.dtype.type(kh * kw)


def avgpool_backward(dy, x_shape, kh, kw, stride):
    """The adjoint of ``avgpool_forward``: each window spreads dy / (KH*KW) over its pixels.

    dy: (N, C, OH, OW); x_shape: (N, C, H, W) -> dx (N, C, H, W). Within one kernel
    offset the slice touches distinct pixels, so ``+=`` adds overlapping windows exactly.
    """
    sh, sw = stride
    oh, ow = dy.shape[2:]
    share = dy / dy.dtype.type(kh * kw)
    dx = array_module(dy).zeros(x_shape, dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += share
    return dx
