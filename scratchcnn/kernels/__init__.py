"""Choose the kernel module for an array: the array decides the device.

* CuPy array            -> ``kernels.gpu`` (CuPy kernels)
* NumPy array (default) -> ``kernels.cpu`` (Numba kernels)
* NumPy array inside ``with use_reference():`` -> ``kernels.reference`` (plain NumPy)

All three modules expose the same functions with the same signatures:
``im2col, col2im, maxpool_forward, max_unpool, gather_at_switches, avgpool_forward,
avgpool_backward, relu_forward, columns_to_nchw, nchw_to_columns, batchnorm_statistics,
batchnorm_forward, batchnorm_backward_sums, batchnorm_input_grad``, and the occlusion
cone's ``subtract_into_band, occluder_case_sums`` (on the GPU their NumPy versions).

Faster algorithms are chosen here, never in a layer: ``fast_conv2d`` runs Winograd
F(4x4, 3x3) (winograd.py, Numba transforms in cpu_winograd.py) or im2col in chunks of
images (im2col_chunks.py) for Conv2D's eval-mode forward on the Numba path, and
``fast_conv2d_training`` / ``fast_conv2d_backward`` run a training step by Winograd
wherever it applies (the same rule: ``fast_conv2d_applies``).
The reference path is always the plain algorithm.
"""
import contextlib
import contextvars

import numpy as np

from ..backend import is_gpu_array
from . import reference, winograd

_reference_only = contextvars.ContextVar("scratchcnn_reference_kernels", default=False)


@contextlib.contextmanager
def use_reference(enabled=True):
    """Run the CPU path on the plain NumPy reference kernels inside this block.

    >>> with use_reference():
    ...     y = model.forward(x)     # readable NumPy kernels, no Numba
    """
    token = _reference_only.set(enabled)
    try:
        yield
    finally:
        _reference_only.reset(token)


def kernels_for(x):
    """The kernel module that should process array ``x``."""
    if is_gpu_array(x):
        from . import gpu
        return gpu
    if _reference_only.get():
        return reference
    from . import cpu
    return cpu


def fast_conv2d_applies(x, weights, stride, padding):
    """Whether ``fast_conv2d`` and ``fast_conv2d_training`` run Winograd (rather than
    im2col) for this input: where ``winograd.applies``, never on the reference path or
    the GPU."""
    return (not is_gpu_array(x) and not _reference_only.get()
            and winograd.applies(x.shape, weights.shape, stride, padding))


def fast_conv2d(x, weights, bias, stride, padding, scratch):
    """y = conv(x, weights) + bias for a forward pass whose dL/dW is not needed (Conv2D
    calls it in eval mode), or None to take the plain im2col path.

    x: (N, C, H, W); weights: (O, C, kh, kw); bias: (O,); stride, padding: pairs;
    scratch(key, shape, like): reused work buffers -> y: (N, O, OH, OW) or None.
    On the Numba path: Winograd F(4x4, 3x3) where ``winograd.applies`` (3x3, stride-1
    filters with at least ``winograd.MIN_CHANNELS`` input channels, on a batch of at least
    ``winograd.MIN_TILES`` output tiles); any other convolution by
    im2col a chunk of images at a time (im2col_chunks.py). The reference path and the
    GPU: None.
    """
    if is_gpu_array(x) or _reference_only.get():
        return None
    from . import cpu_winograd, im2col_chunks
    out = _conv_output(x, weights, stride, padding)
    if winograd.applies(x.shape, weights.shape, stride, padding):
        return winograd.conv3x3(x, weights, bias, padding, cpu_winograd, out, scratch)
    return im2col_chunks.conv2d(x, weights, bias, stride, padding, out, scratch)


def _conv_output(x, weights, stride, padding):
    """An empty (N, O, OH, OW) output for conv(x, weights)."""
    n, _, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = weights.shape[2:], stride, padding
    return np.empty((n, weights.shape[0], reference.conv_output_size(h, kh, sh, ph),
                     reference.conv_output_size(w, kw, sw, pw)), dtype=x.dtype)


def fast_conv2d_training(x, weights, bias, stride, padding, scratch):
    """A training forward by Winograd where ``fast_conv2d_applies``, else None (Conv2D
    then takes im2col). x, weights, bias, stride, padding, scratch: as for
    ``fast_conv2d``. returns (y (N, O, OH, OW), saved), saved: what
    ``fast_conv2d_backward`` needs (V and U)."""
    if not fast_conv2d_applies(x, weights, stride, padding):
        return None
    from . import cpu_winograd
    return winograd.conv3x3_training(x, weights, bias, padding, cpu_winograd,
                                     _conv_output(x, weights, stride, padding), scratch)


def fast_conv2d_backward(dy, saved, x_shape, padding, scratch, param_grads=True,
                         input_grad=True):
    """dL/dW (O, C, 3, 3) and dL/dx (N, C, H, W) (None where not asked for) after
    ``fast_conv2d_training``, from dy: (N, O, OH, OW) (``winograd.conv3x3_backward``)."""
    from . import cpu_winograd
    return winograd.conv3x3_backward(dy, saved, x_shape, padding, cpu_winograd, scratch,
                                     param_grads, input_grad)
