"""Numba twin of reference/adam.py: adam_update, in one parallel pass."""
import numpy as np
from numba import njit, prange

from ..reference import adam as reference


@njit(cache=True, parallel=True)
def _adam_update(param, grad, m, v, b1, one_minus_b1, b2, one_minus_b2, step_size, bias2,
                 eps):
    for k in prange(param.size):              # thread owns entries k: no race
        g = grad[k]
        m[k] = b1 * m[k] + one_minus_b1 * g
        v[k] = b2 * v[k] + one_minus_b2 * g * g
        param[k] -= step_size * m[k] / (np.sqrt(v[k] / bias2) + eps)


def adam_update(param, grad, m, v, b1, b2, step_size, bias2, eps):
    """See ``reference.adam.adam_update``: one parallel pass over the four arrays instead of
    ten NumPy passes with their temporaries (BENCHMARKS.md, "Rules in the code"). Arrays that are not all C-contiguous of one shape and dtype
    (their flat views would be copies, and the update lost) take the reference."""
    arrays = (param, grad, m, v)
    if (not all(a.flags.c_contiguous for a in arrays) or len({a.shape for a in arrays}) > 1
            or len({a.dtype for a in arrays}) > 1):
        return reference.adam_update(param, grad, m, v, b1, b2, step_size, bias2, eps)
    number = param.dtype.type                 # scalars in the arrays' precision, as NumPy's
    _adam_update(param.ravel(), grad.ravel(), m.ravel(), v.ravel(), number(b1),
                 number(1 - b1), number(b2), number(1 - b2), number(step_size),
                 number(bias2), number(eps))
