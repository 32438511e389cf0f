"""Numba twins of reference/pool.py: maxpool_forward, max_unpool, gather_at_switches.
(Average pooling is a few whole-array slices, with no per-pixel loop: the reference's.)

The same rules as conv.py: each thread owns its output planes, unsigned offsets.
"""
import numpy as np
from numba import njit, prange
from numba import uint64 as u

from ..reference.conv import conv_output_size
from ..reference.pool import avgpool_backward, avgpool_forward  # noqa: F401
from ..reference.pool import tie_tolerance
from . import recycle


@njit(cache=True, parallel=True)
def _maxpool_forward(x, tolerance, kh, kw, sh, sw, out, switches):
    n, c, h, w = x.shape
    oh, ow = out.shape[2:]
    x_flat, out_flat, switch_flat = x.ravel(), out.ravel(), switches.ravel()
    for plane in prange(n * c):               # thread owns plane (b, ch)
        base, out_base = plane * h * w, plane * oh * ow
        tie = tolerance[plane // c]
        for y in range(oh):
            for xo in range(ow):
                best = x_flat[base + (y * sh) * w + xo * sw]
                for i in range(kh):
                    row = (y * sh + i) * w + xo * sw
                    for j in range(kw):
                        best = max(best, x_flat[base + row + j])
                where = -1
                for i in range(kh):           # the first position within the tolerance
                    row = (y * sh + i) * w + xo * sw
                    for j in range(kw):
                        if where < 0 and best - x_flat[base + row + j] <= tie:
                            where = row + j
                out_flat[out_base + y * ow + xo] = x_flat[base + where]
                switch_flat[out_base + y * ow + xo] = where
    return out, switches


@njit(cache=True, parallel=True)
def _maxpool_2x2(x, tolerance, out, switches):
    # The same rule as _maxpool_forward for 2x2 windows at stride 2, written out: four
    # reads, their maximum, then the switch (and its value) chosen last-to-first so the
    # first position within the tolerance is set last, and unsigned offsets, which LLVM compiles to vector
    # selects (BENCHMARKS.md, "Rules in the code": Numba kernels).
    n, c, h, w = x.shape
    oh, ow = out.shape[2:]
    x_flat, out_flat, switch_flat = x.ravel(), out.ravel(), switches.ravel()
    for plane in prange(n * c):               # thread owns plane (b, ch)
        base, out_base = u(plane * h * w), u(plane * oh * ow)
        tie = tolerance[plane // c]
        for y in range(oh):
            top = base + u(2 * y * w)         # window rows 2y and 2y + 1
            bottom = top + u(w)
            dst, first = out_base + u(y * ow), 2 * y * w
            for xo in range(u(ow)):
                left = u(2) * xo
                a, b = x_flat[top + left], x_flat[top + left + u(1)]
                d, e = x_flat[bottom + left], x_flat[bottom + left + u(1)]
                best = max(max(a, b), max(d, e))
                lowest = best - tie
                value, where = e, first + w + np.int64(left) + 1
                if d >= lowest:
                    value, where = d, first + w + np.int64(left)
                if b >= lowest:
                    value, where = b, first + np.int64(left) + 1
                if a >= lowest:
                    value, where = a, first + np.int64(left)
                out_flat[dst + xo] = value
                switch_flat[dst + xo] = where
    return out, switches


def maxpool_forward(x, kh, kw, stride):
    """See ``reference.pool.maxpool_forward``. x: (N, C, H, W) -> (out, switches)."""
    sh, sw = stride
    oh = conv_output_size(x.shape[2], kh, sh, 0)
    ow = conv_output_size(x.shape[3], kw, sw, 0)
    x = np.ascontiguousarray(x)
    tolerance = tie_tolerance(x)
    n, c = x.shape[:2]
    out = recycle.empty((n, c, oh, ow), x.dtype)
    switches = recycle.empty((n, c, oh, ow), np.int64)
    if (kh, kw, sh, sw) == (2, 2, 2, 2):
        return _maxpool_2x2(x, tolerance, out, switches)
    return _maxpool_forward(x, tolerance, kh, kw, sh, sw, out, switches)


@njit(cache=True, parallel=True)
def _max_unpool(values, switches, out):
    n, c, oh, ow = values.shape
    for plane in prange(n * c):               # thread owns plane (b, ch): zeros, then
        b, ch = plane // c, plane % c         # each value added at its switch
        out[b, ch, :] = 0
        for y in range(oh):
            for xo in range(ow):
                out[b, ch, switches[b, ch, y, xo]] += values[b, ch, y, xo]
    return out


def max_unpool(values, switches, x_shape):
    """See ``reference.pool.max_unpool``. values, switches: (N, C, OH, OW) -> x_shape."""
    n, c, h, w = x_shape
    out = recycle.empty((n, c, h * w), values.dtype)
    return _max_unpool(np.ascontiguousarray(values), np.ascontiguousarray(switches),
                       out).reshape(x_shape)


@njit(cache=True, parallel=True)
def _gather_at_switches(x, switches, out):
    n, c, oh, ow = switches.shape
    w = x.shape[3]
    for plane in prange(n * c):
        b, ch = plane // c, plane % c
        for y in range(oh):
            for xo in range(ow):
                s = switches[b, ch, y, xo]
                out[b, ch, y, xo] = x[b, ch, s // w, s % w]
    return out


def gather_at_switches(x, switches):
    """See ``reference.pool.gather_at_switches``. x: (N, C, H, W) -> switches.shape."""
    out = recycle.empty(switches.shape, x.dtype)
    return _gather_at_switches(np.ascontiguousarray(x), np.ascontiguousarray(switches), out)
