"""Numba kernels for the CPU: the same functions and signatures as ``reference.py``.

Rules (DESIGN.md, "Kernels and backends"):
* ``@njit(cache=True)``: compiled once, cached on disk next to this file, so a
  second process does not recompile.
* ``prange`` runs over the axis that *owns* the output: each thread writes only
  its own rows or image planes, so there is no race and no atomic, and the sum
  order inside a thread is fixed: the same inputs give the same bits every run.
* dtype-generic: Numba compiles one version per input dtype (float32, float64).
"""
import numpy as np
from numba import njit, prange

from .reference import conv_output_size


@njit(cache=True, parallel=True)
def _im2col(x, kh, kw, sh, sw, ph, pw, oh, ow):
    n, c, h, w = x.shape
    cols = np.empty((n * oh * ow, c * kh * kw), dtype=x.dtype)
    for row_block in prange(n * oh):          # each thread owns whole output rows
        b, y = row_block // oh, row_block % oh
        for xo in range(ow):
            row = (b * oh + y) * ow + xo
            col = 0
            for ch in range(c):
                for i in range(kh):
                    yy = y * sh + i - ph
                    for j in range(kw):
                        xx = xo * sw + j - pw
                        if 0 <= yy < h and 0 <= xx < w:
                            cols[row, col] = x[b, ch, yy, xx]
                        else:
                            cols[row, col] = 0
                        col += 1
    return cols


def im2col(x, kh, kw, stride, padding):
    """See ``reference.im2col``. x: (N, C, H, W) -> cols: (N*OH*OW, C*KH*KW)."""
    (sh, sw), (ph, pw) = stride, padding
    oh = conv_output_size(x.shape[2], kh, sh, ph)
    ow = conv_output_size(x.shape[3], kw, sw, pw)
    return _im2col(np.ascontiguousarray(x), kh, kw, sh, sw, ph, pw, oh, ow)


@njit(cache=True, parallel=True)
def _col2im(cols, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow):
    dx = np.zeros((n, c, h, w), dtype=cols.dtype)
    for b in prange(n):                       # thread b owns image dx[b]
        for y in range(oh):
            for xo in range(ow):
                row = (b * oh + y) * ow + xo
                col = 0
                for ch in range(c):
                    for i in range(kh):
                        yy = y * sh + i - ph
                        for j in range(kw):
                            xx = xo * sw + j - pw
                            if 0 <= yy < h and 0 <= xx < w:
                                dx[b, ch, yy, xx] += cols[row, col]
                            col += 1
    return dx


def col2im(cols, x_shape, kh, kw, stride, padding):
    """See ``reference.col2im``. cols: (N*OH*OW, C*KH*KW) -> dx: x_shape."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = x_shape
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    return _col2im(np.ascontiguousarray(cols), n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow)


@njit(cache=True, parallel=True)
def _maxpool_forward(x, kh, kw, sh, sw, oh, ow):
    n, c, h, w = x.shape
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    switches = np.empty((n, c, oh, ow), dtype=np.int64)
    for plane in prange(n * c):               # thread owns plane (b, ch)
        b, ch = plane // c, plane % c
        for y in range(oh):
            for xo in range(ow):
                best = x[b, ch, y * sh, xo * sw]
                where = (y * sh) * w + xo * sw
                for i in range(kh):
                    for j in range(kw):
                        v = x[b, ch, y * sh + i, xo * sw + j]
                        if v > best:          # strictly greater: first max wins ties
                            best = v
                            where = (y * sh + i) * w + xo * sw + j
                out[b, ch, y, xo] = best
                switches[b, ch, y, xo] = where
    return out, switches


def maxpool_forward(x, kh, kw, stride):
    """See ``reference.maxpool_forward``. x: (N, C, H, W) -> (out, switches)."""
    sh, sw = stride
    oh = conv_output_size(x.shape[2], kh, sh, 0)
    ow = conv_output_size(x.shape[3], kw, sw, 0)
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
    """See ``reference.max_unpool``. values, switches: (N, C, OH, OW) -> x_shape."""
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
    """See ``reference.gather_at_switches``. x: (N, C, H, W) -> switches.shape."""
    return _gather_at_switches(np.ascontiguousarray(x), np.ascontiguousarray(switches))
