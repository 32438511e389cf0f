"""CuPy kernels for the GPU: the same functions and signatures as ``reference.py``.

Every kernel runs one GPU thread per *output* element and *gathers* what that
element needs (DESIGN.md): col2im sums, for each input pixel, the patch-matrix
entries copied from it; unpooling sums, for each input pixel, the pooled values
whose switch points at it. No atomics, so every run gives the same bits, and the
summation order matches the CPU kernels.

NOTE: this module needs CuPy and a CUDA GPU; tests/test_kernels.py runs the same
agreement checks on it when one is present and skips them otherwise.
"""
import cupy as cp

# These four are plain array operations, the same on CuPy as on NumPy:
from .reference import (columns_to_nchw, conv_output_size, gather_at_switches,  # noqa: F401
                        nchw_to_columns, relu_forward)

_im2col = cp.ElementwiseKernel(
    "raw T x, int64 c, int64 h, int64 w, int64 kh, int64 kw, int64 sh, int64 sw, "
    "int64 ph, int64 pw, int64 oh, int64 ow, int64 pixels",
    "T cols",
    """
    long long row = i / pixels, col = i % pixels;        // cols[(ch, ki, kj), (b, y, xo)]
    long long ch = row / (kh * kw), ki = (row / kw) % kh, kj = row % kw;
    long long b = col / (oh * ow), y = (col / ow) % oh, xo = col % ow;
    long long yy = y * sh + ki - ph, xx = xo * sw + kj - pw;
    bool inside = 0 <= yy && yy < h && 0 <= xx && xx < w;
    cols = inside ? x[((b * c + ch) * h + yy) * w + xx] : (T)0;
    """,
    "scratchcnn_im2col")

_col2im = cp.ElementwiseKernel(
    "raw T cols, int64 c, int64 h, int64 w, int64 kh, int64 kw, int64 sh, int64 sw, "
    "int64 ph, int64 pw, int64 oh, int64 ow, int64 pixels",
    "T dx",
    """
    long long b = i / (c * h * w), ch = (i / (h * w)) % c;
    long long yy = (i / w) % h + ph, xx = i % w + pw;    // position in the padded image
    T total = 0;
    for (long long ki = 0; ki < kh; ++ki) {
        long long ynum = yy - ki;
        if (ynum < 0 || ynum % sh != 0 || ynum / sh >= oh) continue;
        for (long long kj = 0; kj < kw; ++kj) {
            long long xnum = xx - kj;
            if (xnum < 0 || xnum % sw != 0 || xnum / sw >= ow) continue;
            long long column = (b * oh + ynum / sh) * ow + xnum / sw;
            total += cols[((ch * kh + ki) * kw + kj) * pixels + column];
        }
    }
    dx = total;
    """,
    "scratchcnn_col2im")

_maxpool = cp.ElementwiseKernel(
    "raw T x, int64 h, int64 w, int64 kh, int64 kw, int64 sh, int64 sw, int64 oh, int64 ow",
    "T out, int64 switches",
    """
    long long plane = i / (oh * ow);
    long long y0 = ((i / ow) % oh) * sh, x0 = (i % ow) * sw;
    long long where = y0 * w + x0;
    T best = x[plane * h * w + where];
    for (long long a = 0; a < kh; ++a) {
        for (long long b = 0; b < kw; ++b) {
            long long here = (y0 + a) * w + x0 + b;
            T v = x[plane * h * w + here];
            if (v > best) { best = v; where = here; }   // strictly greater: first max wins ties
        }
    }
    out = best;
    switches = where;
    """,
    "scratchcnn_maxpool")

_segment_sum = cp.ElementwiseKernel(
    "int64 start, int64 stop, int64 target, raw T sorted_values",
    "raw T out",
    """
    T total = 0;
    for (long long k = start; k < stop; ++k) total += sorted_values[k];
    out[target] = total;
    """,
    "scratchcnn_segment_sum")


def im2col(x, kh, kw, stride, padding, out=None):
    """See ``reference.im2col``. x: (N, C, H, W) -> cols: (C*KH*KW, N*OH*OW)."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    if out is None:
        out = cp.empty((c * kh * kw, n * oh * ow), dtype=x.dtype)
    _im2col(cp.ascontiguousarray(x), c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, n * oh * ow, out)
    return out


def col2im(cols, x_shape, kh, kw, stride, padding):
    """See ``reference.col2im``. cols: (C*KH*KW, N*OH*OW) -> dx: x_shape (a gather)."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = x_shape
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    dx = cp.empty(x_shape, dtype=cols.dtype)
    _col2im(cp.ascontiguousarray(cols), c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, n * oh * ow,
            dx)
    return dx


def maxpool_forward(x, kh, kw, stride):
    """See ``reference.maxpool_forward``. x: (N, C, H, W) -> (out, switches)."""
    sh, sw = stride
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kh, sh, 0), conv_output_size(w, kw, sw, 0)
    out = cp.empty((n, c, oh, ow), dtype=x.dtype)
    switches = cp.empty((n, c, oh, ow), dtype=cp.int64)
    _maxpool(cp.ascontiguousarray(x), h, w, kh, kw, sh, sw, oh, ow, out, switches)
    return out, switches


def max_unpool(values, switches, x_shape):
    """See ``reference.max_unpool``: a deterministic gather. The pooled entries are
    stably sorted by target pixel; one thread per distinct target sums its run."""
    n, c, h, w = x_shape
    plane = cp.arange(n * c, dtype=cp.int64).reshape(n, c, 1, 1) * (h * w)
    targets = (plane + switches).ravel()
    order = cp.argsort(targets, kind="stable")
    sorted_targets, sorted_values = targets[order], cp.ascontiguousarray(values.ravel()[order])
    first = cp.ones(sorted_targets.size, dtype=bool)
    first[1:] = sorted_targets[1:] != sorted_targets[:-1]
    starts = cp.flatnonzero(first)
    stops = cp.concatenate([starts[1:], cp.array([sorted_targets.size], dtype=starts.dtype)])
    out = cp.zeros(n * c * h * w, dtype=values.dtype)
    _segment_sum(starts, stops, sorted_targets[starts], sorted_values, out)
    return out.reshape(x_shape)

