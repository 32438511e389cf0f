"""im2col convolution a few images at a time, for a forward whose dL/dW is not needed.

Training keeps the whole patch matrix (C*kh*kw, N*OH*OW) of a batch for dL/dW. An
eval-mode forward need not: it can build the patch matrix for a chunk of images, take
the matrix product while those columns are still in the cache, write the chunk's
outputs, and go on. Each output column is the same product W_mat @ cols[:, j] as in
the one big product; only the memory traffic changes. The chunk holds the patch matrix
and the product of as many images as fit in ``winograd.chunk_bytes()`` (a quarter of
the last-level cache). On the 484 crops of occlusion's cone (14x14, conv2 of the
slides' model) 37 -> 27 ms (BENCHMARKS.md, 2026-12-02).
"""
import numpy as np

from . import cpu
from .winograd import chunk_bytes


def conv2d(x, weights, bias, stride, padding, out, scratch):
    """y = conv(x, weights) + bias by im2col, a chunk of images at a time (Numba kernels).

    x: (N, C, H, W); weights: (O, C, kh, kw); bias: (O,); stride, padding: pairs;
    out: (N, O, OH, OW), written and returned; scratch(key, shape, like): reused buffers.
    """
    n, o, oh, ow = out.shape
    kh, kw = weights.shape[2:]
    rows, w_mat = weights[0].size, weights.reshape(o, -1)            # C*kh*kw; (O, C*kh*kw)
    per_image = (rows + o) * oh * ow * x.dtype.itemsize              # columns + product
    chunk = max(1, min(n, chunk_bytes() // per_image))
    cols_buffer = scratch("chunk_cols", (rows * chunk * oh * ow,), x)
    y_buffer = scratch("chunk_y_mat", (o * chunk * oh * ow,), x)
    for start in range(0, n, chunk):
        images = x[start:start + chunk]
        pixels = len(images) * oh * ow
        cols = cpu.im2col(images, kh, kw, stride, padding,
                          out=cols_buffer[:rows * pixels].reshape(rows, pixels))
        y_mat = np.matmul(w_mat, cols, out=y_buffer[:o * pixels].reshape(o, pixels))
        cpu.columns_to_nchw(y_mat, bias, len(images), oh, ow, into=out[start:start + chunk])
    return out
