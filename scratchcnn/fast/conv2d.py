"""Conv2D's forward and backward for the fast room, equal to reference.conv.conv2d_forward
and conv2d_backward (up to rounding).

The same convolution, by whichever route is fastest here, chosen by fixed rules (never
by timing at run time, so that a layer rounds the same way on every machine and run):

* training, where ``winograd.applies``: Winograd F(4x4, 3x3), forward and backward;
* eval (no dL/dW will follow), where it applies: Winograd; otherwise im2col a chunk of
  images at a time, so that the patch matrix and the product stay in the cache;
* otherwise im2col and one product, as in the plain room, into buffers reused from
  call to call (a fresh 40 MB array costs more in page faults than filling it), with
  dL/dcols written over the patch matrix and dy_mat over y_mat in the backward pass;
* a first layer in training (dL/dW, no dL/dx): dL/dW as a sum over images of
  dy[n] @ cols_n^T, which skips laying dy out as columns.

``kernels`` is fast/conv.py (Numba) for NumPy arrays and fast/gpu.py for CuPy arrays;
Winograd and the chunks run on the CPU only. ``workspace``: the layer's dict of reused
buffers. Rules and measurements: BENCHMARKS.md, "Rules in the code".
"""
import contextlib
import contextvars
import functools

import numpy as np

from ..backend import array_module, is_gpu_array
from ..reference.conv import conv_output_size
from . import recycle, winograd

_winograd_enabled = contextvars.ContextVar("scratchcnn_winograd", default=True)


@contextlib.contextmanager
def without_winograd():
    """Inside this block the fast room takes im2col wherever it would take Winograd (to
    compare the two in tests and benchmarks)."""
    token = _winograd_enabled.set(False)
    try:
        yield
    finally:
        _winograd_enabled.reset(token)


def buffer(workspace, key, shape, like):
    """A work buffer of ``shape`` and like's dtype and device, kept in ``workspace``
    (a dict) and reused from call to call; never handed to the caller as a result."""
    xp = array_module(like)
    found = workspace.get(key)
    if found is None or found.shape != tuple(shape) or found.dtype != like.dtype \
            or array_module(found) is not xp:
        found = xp.empty(shape, dtype=like.dtype)
        workspace[key] = found
    return found


def winograd_applies(x, weights, stride, padding):
    """Whether this convolution runs by Winograd: a NumPy array, ``winograd.applies``."""
    return (_winograd_enabled.get() and not is_gpu_array(x)
            and winograd.applies(x.shape, weights.shape, stride, padding))


def conv2d_forward(x, weights, bias, stride, padding, training, workspace, kernels):
    """y = conv(x, weights) + bias, and what ``conv2d_backward`` needs.

    x: (N, C, H, W); weights: (O, C, kh, kw); bias: (O,); stride, padding: pairs;
    training: whether a backward pass with dL/dW may follow; workspace: a dict of buffers;
    kernels: fast/conv.py or fast/gpu.py.
    returns y (N, O, OH, OW) and saved: {"x", "cols", "winograd"} (the patch matrix or
    Winograd's (V, U) where they were built, else None).
    """
    scratch = functools.partial(buffer, workspace)           # scratch(key, shape, like)
    saved = {"x": x, "cols": None, "winograd": None}
    if winograd_applies(x, weights, stride, padding):
        from . import winograd_kernels
        out = _output(x, weights, stride, padding)
        if training:
            y, saved["winograd"] = winograd.conv3x3_training(x, weights, bias, padding,
                                                             winograd_kernels, out, scratch)
            return y, saved
        return winograd.conv3x3(x, weights, bias, padding, winograd_kernels, out,
                                scratch), saved
    if not training and not is_gpu_array(x):
        return conv2d_in_chunks(x, weights, bias, stride, padding, kernels, scratch), saved
    n, o, oh, ow = _output_shape(x, weights, stride, padding)
    cols = saved["cols"] = patch_matrix(x, weights, stride, padding, kernels, scratch)
    y_mat = array_module(x).matmul(weights.reshape(o, -1), cols,               # W_mat @ cols
                                   out=scratch("y_mat", (o, cols.shape[1]), x))
    return kernels.columns_to_nchw(y_mat, bias, n, oh, ow), saved


def conv2d_backward(dy, saved, weights, stride, padding, param_grads, input_grad,
                    workspace, kernels):
    """dL/dW, dL/db and dL/dx (None where not asked for) of ``conv2d_forward``'s y.

    dy: (N, O, OH, OW); saved: what the forward returned; weights: (O, C, kh, kw).
    returns (dW (O, C, kh, kw), db (O,), dx (N, C, H, W)).
    """
    scratch = functools.partial(buffer, workspace)           # scratch(key, shape, like)
    xp, x = array_module(dy), saved["x"]
    o, kh, kw = weights.shape[0], *weights.shape[2:]
    db = dy.sum(axis=(0, 2, 3)) if param_grads else None                   # sum over N, OH, OW
    if saved.get("winograd") is not None:      # (a plain forward saved no such entry)
        from . import winograd_kernels
        dw, dx = winograd.conv3x3_backward(dy, saved["winograd"], x.shape, padding,
                                           winograd_kernels, scratch, param_grads,
                                           input_grad)
        return dw, db, dx
    if not param_grads and not input_grad:
        return None, None, None
    n, patch = dy.shape[0], weights[0].size                                  # C*kh*kw
    if saved["cols"] is None:            # an eval forward that built no patch matrix
        saved["cols"] = patch_matrix(x, weights, stride, padding, kernels, scratch)
    cols = saved["cols"]
    if param_grads and not input_grad and patch <= dy[0, 0].size:
        # A first layer: dL/dW_mat = sum over images n of dy[n] (O, OH*OW) @ cols_n^T,
        # cols_n (C*kh*kw, OH*OW) the image's columns; the partial sums (N, O, C*kh*kw)
        # are no larger than dy here.
        per_image = cols.reshape(patch, n, -1).transpose(1, 2, 0)          # (N, OH*OW, C*kh*kw)
        dw = xp.matmul(dy.reshape(n, o, -1), per_image).sum(axis=0)
        return dw.reshape(weights.shape), db, None
    dy_mat = kernels.nchw_to_columns(dy, out=scratch("y_mat", (o, dy.size // o), dy))
    w_mat = weights.reshape(o, -1)                                           # (O, C*kh*kw)
    dw = (dy_mat @ cols.T).reshape(weights.shape) if param_grads else None   # dy_mat cols^T
    if not input_grad:
        return dw, db, None
    saved["cols"] = None                 # its buffer now holds dL/dcols
    dcols = xp.matmul(w_mat.T, dy_mat, out=scratch("cols", cols.shape, dy))  # W_mat^T dy_mat
    return dw, db, kernels.col2im(dcols, x.shape, kh, kw, stride, padding)


def patch_matrix(x, weights, stride, padding, kernels, scratch):
    """im2col of x into the reused buffer "cols": (C*kh*kw, N*OH*OW)."""
    n, _, oh, ow = _output_shape(x, weights, stride, padding)
    kh, kw = weights.shape[2:]
    return kernels.im2col(x, kh, kw, stride, padding,
                          out=scratch("cols", (weights[0].size, n * oh * ow), x))


def conv2d_in_chunks(x, weights, bias, stride, padding, kernels, scratch):
    """y = conv(x, weights) + bias by im2col a few images at a time, for a forward whose
    dL/dW is not needed: each chunk's patch matrix and product stay in the cache (as many
    images as fit in ``winograd.chunk_bytes()``, a quarter of the last-level cache).
    Each output column is the same product W_mat @ cols[:, j] as in one big product.

    x: (N, C, H, W); weights: (O, C, kh, kw); bias: (O,); stride, padding: pairs;
    kernels: fast/conv.py; scratch(key, shape, like): reused buffers -> y (N, O, OH, OW).
    """
    out = _output(x, weights, stride, padding)
    n, o, oh, ow = out.shape
    kh, kw = weights.shape[2:]
    rows, w_mat = weights[0].size, weights.reshape(o, -1)            # C*kh*kw; (O, C*kh*kw)
    per_image = (rows + o) * oh * ow * x.dtype.itemsize              # columns + product
    chunk = max(1, min(n, winograd.chunk_bytes() // per_image))
    cols_buffer = scratch("chunk_cols", (rows * chunk * oh * ow,), x)
    y_buffer = scratch("chunk_y_mat", (o * chunk * oh * ow,), x)
    for start in range(0, n, chunk):
        images = x[start:start + chunk]
        pixels = len(images) * oh * ow
        cols = kernels.im2col(images, kh, kw, stride, padding,
                              out=cols_buffer[:rows * pixels].reshape(rows, pixels))
        y_mat = np.matmul(w_mat, cols, out=y_buffer[:o * pixels].reshape(o, pixels))
        kernels.columns_to_nchw(y_mat, bias, len(images), oh, ow, into=out[start:start + chunk])
    return out


def _output_shape(x, weights, stride, padding):
    n, _, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = weights.shape[2:], stride, padding
    return (n, weights.shape[0], conv_output_size(h, kh, sh, ph),
            conv_output_size(w, kw, sw, pw))


def _output(x, weights, stride, padding):
    """An empty (N, O, OH, OW) output for conv(x, weights)."""
    return recycle.empty(_output_shape(x, weights, stride, padding), x.dtype)
