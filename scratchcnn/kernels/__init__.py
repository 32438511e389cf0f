"""Choose the kernel module for an array: the array decides the device.

* CuPy array            -> ``kernels.gpu`` (CuPy kernels)
* NumPy array (default) -> ``kernels.cpu`` (Numba kernels)
* NumPy array inside ``with use_reference():`` -> ``kernels.reference`` (plain NumPy)

All three modules expose the same functions with the same signatures:
``im2col, col2im, maxpool_forward, max_unpool, gather_at_switches, relu_forward,
columns_to_nchw, nchw_to_columns``. The CPU modules (reference and Numba) also
expose ``winograd_input, winograd_output`` (Winograd F(2x2, 3x3), used by Conv2D in
eval mode); the GPU module does not, and there Conv2D always uses im2col.
"""
import contextlib
import contextvars

from ..backend import is_gpu_array
from . import reference

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
