"""Convolution as one matrix product: im2col, the product, and their adjoints (plain NumPy).

A *patch matrix* ``cols`` has one column per output pixel and one row per (channel,
kernel row, kernel column): shape ``(C*KH*KW, N*OH*OW)``, rows in (c, i, j) order,
columns in (n, oh, ow) order (the Caffe/Chainer layout). A convolution is then one
matrix product ``W.reshape(O, -1) @ cols``: each output pixel is a filter (a row of W)
dotted with its patch (a column).

Read in this order: ``conv2d_loops`` (the definition, as loops: the oracle the tests
compare everything else against), ``im2col`` and ``col2im`` (its adjoint),
``conv2d_forward`` and ``conv2d_backward`` (what Conv2D computes, through ops.py).
Images are NCHW. The fast room's twins: fast/conv.py (Numba), fast/conv2d.py,
fast/gpu.py.
"""
import numpy as np

from ..backend import array_module


def conv_output_size(size, kernel, stride, padding):
    """Output length of a sliding window along one axis (floor mode)."""
    return (size + 2 * padding - kernel) // stride + 1


def conv2d_loops(x, weights, bias, stride=(1, 1), padding=(0, 0)):
    """The definition of a convolution (a cross-correlation, as in PyTorch), as loops.

    x: (N, C, H, W); weights: (O, C, KH, KW); bias: (O,); stride, padding: pairs
    returns y: (N, O, OH, OW), OH = (H + 2*ph - KH) // sh + 1 (likewise OW), with

        y[n, o, r, c] = b[o] + sum over (ch, i, j) of W[o, ch, i, j] * x_padded[n, ch, r*sh + i, c*sw + j]

    One output value per iteration (CS231n's ``conv_forward_naive``): slow, and plainly
    right. The tests compare im2col, Winograd and every kernel against it.
    """
    (sh, sw), (ph, pw) = stride, padding
    n, _, h, w = x.shape
    o, _, kh, kw = weights.shape
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    x_padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))          # zeros around
    y = np.empty((n, o, oh, ow), dtype=np.result_type(x, weights))
    for image in range(n):
        for filter_index in range(o):
            for r in range(oh):
                for c in range(ow):
                    patch = x_padded[image, :, r * sh:r * sh + kh, c * sw:c * sw + kw]
                    y[image, filter_index, r, c] = (np.sum(patch * weights[filter_index])
                                                    + bias[filter_index])
    return y


def im2col(x, kh, kw, stride, padding, out=None):
    """Unfold every (KH, KW) window of ``x`` into a row of a patch matrix.

    x: (N, C, H, W); stride, padding: (sh, sw), (ph, pw)
    returns cols: (C*KH*KW, N*OH*OW), with cols[(c, i, j), (n, oh, ow)] =
    x_padded[n, c, oh*sh + i, ow*sw + j]; written into ``out`` if given.
    """
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    x_padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = np.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    for i in range(kh):          # one strided slice per kernel offset (Chainer's im2col)
        for j in range(kw):
            window = x_padded[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]     # (N, C, OH, OW)
            windows[:, i, j] = window.transpose(1, 0, 2, 3)
    cols = windows.reshape(c * kh * kw, n * oh * ow)
    if out is None:
        return cols
    out[...] = cols
    return out


def col2im(cols, x_shape, kh, kw, stride, padding):
    """The adjoint of ``im2col``: add every patch-matrix entry back onto its pixel.

    cols: (C*KH*KW, N*OH*OW); x_shape: (N, C, H, W)
    returns dx: (N, C, H, W), with dx[n, c, y, x] = sum of every cols entry
    that ``im2col`` copied from that pixel (overlapping windows add up).
    """
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = x_shape
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    windows = cols.reshape(c, kh, kw, n, oh, ow)
    dx_padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):          # each slice touches distinct pixels, so += is exact
        for j in range(kw):
            window = windows[:, i, j].transpose(1, 0, 2, 3)               # (N, C, OH, OW)
            dx_padded[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += window
    return dx_padded[:, :, ph:ph + h, pw:pw + w]


def columns_to_nchw(out, bias, n, oh, ow, into=None):
    """A convolution's matrix-product result back to an image batch, plus the bias.

    out: (O, N*OH*OW) (one column per output pixel); bias: (O,) -> (N, O, OH, OW),
    written into ``into`` (C-contiguous) if given.
    """
    xp, channels = array_module(out), out.shape[0]
    y = xp.empty((n, channels, oh, ow), dtype=out.dtype) if into is None else into
    xp.add(out.reshape(channels, n, oh, ow).transpose(1, 0, 2, 3), bias.reshape(1, -1, 1, 1),
           out=y)
    return y


def nchw_to_columns(dy, out=None):
    """The inverse layout move: dy (N, O, OH, OW) -> (O, N*OH*OW), into ``out`` if given."""
    n, channels = dy.shape[:2]
    if out is None:
        out = array_module(dy).empty((channels, dy.size // channels), dtype=dy.dtype)
    out.reshape(channels, n, -1)[...] = dy.reshape(n, channels, -1).transpose(1, 0, 2)
    return out


def conv2d_forward(x, weights, bias, stride, padding):
    """y = conv(x, weights) + bias as one matrix product: what Conv2D computes.

    x: (N, C, H, W); weights: (O, C, KH, KW); bias: (O,); stride, padding: pairs
    returns y: (N, O, OH, OW) and cols = im2col(x): (C*KH*KW, N*OH*OW), which
    ``conv2d_backward`` needs for dL/dW. With W_mat = weights.reshape(O, C*KH*KW):

        y_mat = W_mat @ cols + b          (one column of y_mat per output pixel)
    """
    (n, _, h, w), (o, _, kh, kw), (sh, sw), (ph, pw) = x.shape, weights.shape, stride, padding
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    cols = im2col(x, kh, kw, stride, padding)                        # (C*KH*KW, N*OH*OW)
    y_mat = weights.reshape(o, -1) @ cols                            # W_mat @ cols
    return columns_to_nchw(y_mat, bias, n, oh, ow), cols             # + b: (N, O, OH, OW)


def conv2d_backward(dy, cols, weights, x_shape, stride, padding):
    """The three backward equations of y_mat = W_mat @ cols + b (the chain rule for a
    matrix product), and col2im to bring dL/dcols back onto the pixels:

        dL/dW_mat = dy_mat @ cols^T,    dL/db = sum of dy over (N, OH, OW),
        dL/dcols  = W_mat^T @ dy_mat,   dL/dx = col2im(dL/dcols)

    dy: (N, O, OH, OW); cols: the forward's patch matrix (C*KH*KW, N*OH*OW); weights:
    (O, C, KH, KW); x_shape: the forward input's (N, C, H, W); stride, padding: pairs
    returns dW (O, C, KH, KW), db (O,), dx (N, C, H, W).
    """
    o, _, kh, kw = weights.shape
    dy_mat = nchw_to_columns(dy)                                     # (O, N*OH*OW)
    dw = (dy_mat @ cols.T).reshape(weights.shape)                    # dL/dW_mat = dy_mat cols^T
    db = dy.sum(axis=(0, 2, 3))                                      # dL/db
    dcols = weights.reshape(o, -1).T @ dy_mat                        # dL/dcols = W_mat^T dy_mat
    dx = col2im(dcols, x_shape, kh, kw, stride, padding)             # dL/dx = col2im(dL/dcols)
    return dw, db, dx
