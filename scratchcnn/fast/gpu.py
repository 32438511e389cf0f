"""CuPy twins of reference/conv.py and reference/pool.py (im2col, col2im, maxpool_forward,
max_unpool), and the plain functions that run on CuPy as they are.

Every kernel runs one GPU thread per *output* element and *gathers* what that
element needs (DESIGN.md): col2im sums, for each input pixel, the patch-matrix
entries copied from it; unpooling sums, for each input pixel, the pooled values
whose switch points at it. No atomics, so every run gives the same bits, and the
summation order matches the CPU kernels.

NOTE: this module needs CuPy and a CUDA GPU; tests/fast/test_kernels.py runs the same
agreement checks on it when one is present and skips them otherwise. The kernels'
CUDA sources are in ``gpu_sources.py``; tests/fast/test_gpu_compile.py compiles them with
NVRTC for sm_80 and sm_90 on any machine (no GPU needed).
"""
import cupy as cp

from . import gpu_sources
# These are plain array operations, the same on CuPy as on NumPy (batch norm's per-channel
# sums are CuPy reductions, its elementwise maps broadcasts):
from ..reference.activation import relu_forward  # noqa: F401
from ..reference.adam import adam_update  # noqa: F401
from ..reference.conv import columns_to_nchw, conv_output_size, nchw_to_columns  # noqa: F401
from ..reference.norm import (batchnorm_backward_sums, batchnorm_forward,  # noqa: F401
                              batchnorm_input_grad, batchnorm_statistics)
from ..reference.pool import avgpool_backward, avgpool_forward, gather_at_switches  # noqa: F401
from ..reference.pool import tie_tolerance

# The CUDA sources live in gpu_sources.py (no CuPy there), so that a machine without
# a GPU can compile-check them: tests/fast/test_gpu_compile.py.
_im2col = cp.ElementwiseKernel(*gpu_sources.IM2COL)
_col2im = cp.ElementwiseKernel(*gpu_sources.COL2IM)
_maxpool = cp.ElementwiseKernel(*gpu_sources.MAXPOOL)
_segment_sum = cp.ElementwiseKernel(*gpu_sources.SEGMENT_SUM)


def im2col(x, kh, kw, stride, padding, out=None):
    """See ``reference.conv.im2col``. x: (N, C, H, W) -> cols: (C*KH*KW, N*OH*OW)."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    if out is None:
        out = cp.empty((c * kh * kw, n * oh * ow), dtype=x.dtype)
    _im2col(cp.ascontiguousarray(x), c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, n * oh * ow, out)
    return out


def col2im(cols, x_shape, kh, kw, stride, padding):
    """See ``reference.conv.col2im``. cols: (C*KH*KW, N*OH*OW) -> dx: x_shape (a gather)."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = x_shape
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    dx = cp.empty(x_shape, dtype=cols.dtype)
    _col2im(cp.ascontiguousarray(cols), c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, n * oh * ow,
            dx)
    return dx


def maxpool_forward(x, kh, kw, stride):
    """See ``reference.pool.maxpool_forward``. x: (N, C, H, W) -> (out, switches)."""
    sh, sw = stride
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kh, sh, 0), conv_output_size(w, kw, sw, 0)
    out = cp.empty((n, c, oh, ow), dtype=x.dtype)
    switches = cp.empty((n, c, oh, ow), dtype=cp.int64)
    x = cp.ascontiguousarray(x)
    _maxpool(x, tie_tolerance(x), c, h, w, kh, kw, sh, sw, oh, ow, out, switches)
    return out, switches


def max_unpool(values, switches, x_shape):
    """See ``reference.pool.max_unpool``: a deterministic gather. The pooled entries are
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
