"""Numba twins of reference/pool.py: maxpool_forward, max_unpool, gather_at_switches.
(Average pooling is a few whole-array slices, with no per-pixel loop: the reference's.)

The same rules as conv.py: each thread owns its output planes, unsigned offsets.
"""
import numpy as np
from numba import njit, prange
from numba import uint64 as u

from ..reference.conv import conv_output_size
from ..reference.pool import avgpool_backward, avgpool_forward  # noqa: F401


@njit(cache=True, parallel=True)
def _maxpool_forward(x, kh, kw, sh, sw, oh, ow):
    n, c, h, w = x.shape
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    switches = np.empty((n, c, oh, ow), dtype=np.int64)
    x_flat, out_flat, switch_flat = x.ravel(), out.ravel(), switches.ravel()
    for plane in prange(n * c):               # thread owns plane (b, ch)
        base, out_base = plane * h * w, plane * oh * ow
        for y in range(oh):
            for xo in range(ow):
                where = (y * sh) * w + xo * sw
                best = x_flat[base + where]
                for i in range(kh):
                    row = (y * sh + i) * w + xo * sw
                    for j in range(kw):
                        v = x_flat[base + row + j]
                        if v > best:          # strictly greater: first max wins ties
                            best = v
                            where = row + j
                out_flat[out_base + y * ow + xo] = best
                switch_flat[out_base + y * ow + xo] = where
    return out, switches


@njit(cache=True, parallel=True)
def _maxpool_2x2(x, oh, ow):
    # The same rule as _maxpool_forward for 2x2 windows at stride 2, written out: four
    # reads, three comparisons in row-major order (strictly greater: the first max wins)
    # and unsigned offsets, which LLVM compiles to vector selects (BENCHMARKS.md, "Rules
    # in the code": Numba kernels).
    n, c, h, w = x.shape
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    switches = np.empty((n, c, oh, ow), dtype=np.int64)
    x_flat, out_flat, switch_flat = x.ravel(), out.ravel(), switches.ravel()
    for plane in prange(n * c):               # thread owns plane (b, ch)
        base, out_base = u(plane * h * w), u(plane * oh * ow)
        for y in range(oh):
            top = base + u(2 * y * w)         # window rows 2y and 2y + 1
            bottom = top + u(w)
            dst, first = out_base + u(y * ow), 2 * y * w
            for xo in range(u(ow)):
                left = u(2) * xo
                where = first + np.int64(left)
                best = x_flat[top + left]
                if x_flat[top + left + u(1)] > best:
                    best, where = x_flat[top + left + u(1)], first + np.int64(left) + 1
                if x_flat[bottom + left] > best:
                    best, where = x_flat[bottom + left], first + w + np.int64(left)
                if x_flat[bottom + left + u(1)] > best:
                    best, where = x_flat[bottom + left + u(1)], first + w + np.int64(left) + 1
                out_flat[dst + xo] = best
                switch_flat[dst + xo] = where
    return out, switches


def maxpool_forward(x, kh, kw, stride):
    """See ``reference.pool.maxpool_forward``. x: (N, C, H, W) -> (out, switches)."""
    sh, sw = stride
    oh = conv_output_size(x.shape[2], kh, sh, 0)
    ow = conv_output_size(x.shape[3], kw, sw, 0)
    if (kh, kw, sh, sw) == (2, 2, 2, 2):
        return _maxpool_2x2(np.ascontiguousarray(x), oh, ow)
    return _maxpool_forward(np.ascontiguousarray(x), kh, kw, sh, sw, oh, ow)


@njit(cache=True, parallel=True)
def _max_unpool(values, switches, h, w):
    n, c, oh, ow = values.shape
    out = np.zeros((n, c, h * w), dtype=values.dtype)
    for plane in prange(n * c):               # thread owns plane (b, ch)
        b, ch = plane // c, plane % c
        for y in range(oh):
            for xo in range(ow):
                out[b, ch, switches[b, ch, y, xo]] += values[b, ch, y, xo]
    return out.reshape(n, c, h, w)


def max_unpool(values, switches, x_shape):
    """See ``reference.pool.max_unpool``. values, switches: (N, C, OH, OW) -> x_shape."""
    return _max_unpool(np.ascontiguousarray(values), np.ascontiguousarray(switches),
                       x_shape[2], x_shape[3])


@njit(cache=True, parallel=True)
def _gather_at_switches(x, switches):
    n, c, oh, ow = switches.shape
    w = x.shape[3]
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    for plane in prange(n * c):
        b, ch = plane // c, plane % c
        for y in range(oh):
            for xo in range(ow):
                s = switches[b, ch, y, xo]
                out[b, ch, y, xo] = x[b, ch, s // w, s % w]
    return out


def gather_at_switches(x, switches):
    """See ``reference.pool.gather_at_switches``. x: (N, C, H, W) -> switches.shape."""
    return _gather_at_switches(np.ascontiguousarray(x), np.ascontiguousarray(switches))
