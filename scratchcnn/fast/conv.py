"""Numba twins of reference/conv.py: im2col, col2im, columns_to_nchw, nchw_to_columns.

Rules (DESIGN.md, "Kernels and backends"): ``@njit(cache=True)``, compiled once and
cached on disk; ``prange`` over the axis that *owns* the output (each thread writes only
its own rows or planes: no race, no atomic, a fixed sum order, the same bits every
run); dtype-generic (one compiled version per dtype). Unsigned offsets (``u(...)``) in
inner loops: a signed index makes Numba check for wrap-around, and that check stops
LLVM from vectorizing (BENCHMARKS.md, "Rules in the code": Numba kernels).
"""
import numpy as np
from numba import njit, prange
from numba import uint64 as u

from ..reference.conv import conv_output_size
from . import recycle


@njit(cache=True)
def _valid_columns(j, sw, pw, w, ow):
    """Output columns [low, high) whose input column xo*sw + j - pw lies inside [0, w);
    0 <= low <= high <= ow (with wide padding every column can fall in it: low = ow)."""
    low = min(ow, max(0, (pw - j + sw - 1) // sw))
    high = min(ow, (w - 1 + pw - j) // sw + 1)
    return low, max(low, high)


@njit(cache=True, parallel=True)
def _im2col(x, cols, kh, kw, sh, sw, ph, pw, oh, ow):
    n, c, h, w = x.shape
    x_flat, cols_flat, pixels = x.ravel(), cols.ravel(), cols.shape[1]
    for plane in prange(c * n):               # thread owns cols[rows of ch, columns of image b]
        ch, b = plane // n, plane % n
        for i in range(kh):
            for j in range(kw):
                row = (ch * kh + i) * kw + j
                low, high = _valid_columns(j, sw, pw, w, ow)
                for y in range(oh):           # one output row = one strided slice of an input row
                    start = u(row * pixels + (b * oh + y) * ow)
                    source = y * sh + i - ph
                    if source < 0 or source >= h:                 # a row of zero padding
                        for xo in range(u(ow)):
                            cols_flat[start + xo] = 0
                        continue
                    for xo in range(u(low)):                      # left padding
                        cols_flat[start + xo] = 0
                    for xo in range(u(high), u(ow)):              # right padding
                        cols_flat[start + xo] = 0
                    src = u(((b * c + ch) * h + source) * w + low * sw + j - pw)
                    dst = start + u(low)
                    if sw == 1:               # unit stride: a plain copy the compiler vectorizes
                        for xo in range(u(high - low)):
                            cols_flat[dst + xo] = x_flat[src + xo]
                    else:
                        for xo in range(u(high - low)):
                            cols_flat[dst + xo] = x_flat[src + xo * u(sw)]
    return cols


def im2col(x, kh, kw, stride, padding, out=None):
    """See ``reference.conv.im2col``. x: (N, C, H, W) -> cols: (C*KH*KW, N*OH*OW),
    written into ``out`` when given (a reused buffer: no fresh pages to fault in).
    Padding is never materialized: out-of-image entries are written as zeros."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    if out is None:
        out = recycle.empty((c * kh * kw, n * oh * ow), x.dtype)
    return _im2col(np.ascontiguousarray(x), out, kh, kw, sh, sw, ph, pw, oh, ow)


@njit(cache=True, parallel=True)
def _col2im(cols, dx, kh, kw, sh, sw, ph, pw, oh, ow):
    n, c, h, w = dx.shape
    dx_flat, cols_flat, pixels = dx.ravel(), cols.ravel(), cols.shape[1]
    for plane in prange(n * c):               # thread owns image plane dx[b, ch]
        b, ch = plane // c, plane % c
        base = (b * c + ch) * h * w
        dx_flat[base:base + h * w] = 0
        for i in range(kh):                   # gather every patch entry copied from this plane
            for j in range(kw):
                row = (ch * kh + i) * kw + j
                low, high = _valid_columns(j, sw, pw, w, ow)
                for y in range(oh):
                    target = y * sh + i - ph
                    if target < 0 or target >= h:                 # came from padding: dropped
                        continue
                    src = u(row * pixels + (b * oh + y) * ow + low)
                    dst = u(base + target * w + low * sw + j - pw)
                    if sw == 1:               # unit stride: a loop the compiler vectorizes
                        for xo in range(u(high - low)):
                            dx_flat[dst + xo] += cols_flat[src + xo]
                    else:
                        for xo in range(u(high - low)):
                            dx_flat[dst + xo * u(sw)] += cols_flat[src + xo]
    return dx


def col2im(cols, x_shape, kh, kw, stride, padding):
    """See ``reference.conv.col2im``. cols: (C*KH*KW, N*OH*OW) -> dx: x_shape.
    Entries that came from the padding are dropped, never written."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = x_shape
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    dx = recycle.empty((n, c, h, w), cols.dtype)
    return _col2im(np.ascontiguousarray(cols), dx, kh, kw, sh, sw, ph, pw, oh, ow)


@njit(cache=True, parallel=True)
def _columns_to_nchw(out, bias, y):
    n, channels, oh, ow = y.shape
    pixels, total = oh * ow, out.shape[1]
    out_flat, y_flat = out.ravel(), y.ravel()
    for plane in prange(n * channels):        # thread owns output plane (b, o)
        b, o = plane // channels, plane % channels
        src, dst, bias_o = u(o * total + b * pixels), u(plane * pixels), bias[o]
        for k in range(u(pixels)):
            y_flat[dst + k] = out_flat[src + k] + bias_o
    return y


def columns_to_nchw(out, bias, n, oh, ow, into=None):
    """See ``reference.conv.columns_to_nchw``. out: (O, N*OH*OW) -> (N, O, OH, OW)."""
    y = recycle.empty((n, out.shape[0], oh, ow), out.dtype) if into is None else into
    if not y.flags.c_contiguous:              # written through a flat view (a copy otherwise)
        raise ValueError("columns_to_nchw: into must be C-contiguous")
    return _columns_to_nchw(np.ascontiguousarray(out), bias.astype(out.dtype), y)


@njit(cache=True, parallel=True)
def _nchw_to_columns(dy, out):
    n, channels = dy.shape[0], dy.shape[1]
    pixels = dy.shape[2] * dy.shape[3]
    dy_flat = dy.reshape(n * channels, pixels)
    for plane in prange(n * channels):        # thread owns a block of one output row
        b, o = plane // channels, plane % channels
        out[o, b * pixels:(b + 1) * pixels] = dy_flat[plane]
    return out


def nchw_to_columns(dy, out=None):
    """See ``reference.conv.nchw_to_columns``. dy: (N, O, OH, OW) -> (O, N*OH*OW),
    written into ``out`` when given."""
    n, channels = dy.shape[:2]
    if out is None:
        out = recycle.empty((channels, dy.size // channels), dy.dtype)
    return _nchw_to_columns(np.ascontiguousarray(dy), out)
