"""Pooling, plain NumPy: max pooling with its switches, unpooling, average pooling.

The *switches* of a max pool are, for every output pixel, the flat index ``h * W + w``
of the winning input pixel inside its own (n, c) image plane (Zeiler & Fergus 2014,
sec. 2.1: "switch" variables). Shape = pooled shape, dtype int64.

``maxpool_loops`` is the definition as loops (the oracle); ``maxpool_forward`` computes
the same with one strided slice per window offset. The fast room's twins: fast/pool.py
(Numba), fast/gpu.py.
"""
import numpy as np

from ..backend import array_module
from .conv import conv_output_size


def maxpool_loops(x, kh, kw, stride):
    """The definition of max pooling with switches, as loops: the oracle.

    x: (N, C, H, W); stride: (sh, sw)
    returns out: (N, C, OH, OW), OH = (H - KH) // sh + 1, and switches: (N, C, OH, OW)
    int64, the flat index h*W + w of each window's maximum. Ties go to the first
    position in row-major order (as in PyTorch).
    """
    sh, sw = stride
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kh, sh, 0), conv_output_size(w, kw, sw, 0)
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    switches = np.empty((n, c, oh, ow), dtype=np.int64)
    for image in range(n):
        for channel in range(c):
            for r in range(oh):
                for col in range(ow):
                    best, where = None, None
                    for i in range(kh):
                        for j in range(kw):
                            value = x[image, channel, r * sh + i, col * sw + j]
                            if best is None or value > best:     # strictly: first max wins
                                best, where = value, (r * sh + i) * w + col * sw + j
                    out[image, channel, r, col] = best
                    switches[image, channel, r, col] = where
    return out, switches


def maxpool_forward(x, kh, kw, stride):
    """Max over every (KH, KW) window, remembering where each maximum was.

    x: (N, C, H, W); stride: (sh, sw)
    returns out: (N, C, OH, OW) and switches: (N, C, OH, OW) int64, the flat
    index h*W + w of the winner in its plane. Ties go to the first offset in
    row-major order (as in PyTorch).
    """
    sh, sw = stride
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kh, sh, 0), conv_output_size(w, kw, sw, 0)
    out = x[:, :, 0:sh * oh:sh, 0:sw * ow:sw].copy()
    rows = np.arange(oh)[:, None] * sh          # top-left corner of each window
    cols = np.arange(ow)[None, :] * sw
    switches = np.broadcast_to(rows * w + cols, out.shape).copy()
    for i in range(kh):
        for j in range(kw):
            if i == 0 and j == 0:
                continue
            candidate = x[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]
            wins = candidate > out               # strictly greater: first max keeps the switch
            out = np.where(wins, candidate, out)
            switches = np.where(wins, (rows + i) * w + (cols + j), switches)
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
