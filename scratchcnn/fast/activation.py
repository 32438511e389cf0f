"""Numba twin of reference/activation.py: relu_forward, in one pass."""
import numpy as np
from numba import njit, prange

from . import recycle


@njit(cache=True, parallel=True)
def _relu_forward(x_flat, y_flat, active_flat):
    # prange hands each thread one contiguous range of k. A plain loop body, with no
    # inner block loop, is what LLVM vectorizes (BENCHMARKS.md, "Rules in the code").
    for k in prange(x_flat.size):
        v = x_flat[k]
        active_flat[k] = v > 0
        y_flat[k] = max(v, 0)


def relu_forward(x):
    """See ``reference.activation.relu_forward``: one parallel pass writes y and the mask."""
    x = np.ascontiguousarray(x)
    y, active = recycle.empty(x.shape, x.dtype), recycle.empty(x.shape, np.bool_)
    _relu_forward(x.ravel(), y.ravel(), active.ravel())
    return y, active
