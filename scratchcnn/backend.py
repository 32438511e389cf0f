"""Which array module an array lives in, and moving arrays between devices.

The array decides the device: ``array_module(x)`` returns ``numpy`` for a NumPy
array and ``cupy`` for a CuPy array (the CuPy/Chainer ``get_array_module``
pattern). Nothing is switched globally at import time, and CuPy is optional:
without it every array is a NumPy array.
"""
import numpy as np

try:  # CuPy is an optional extra (pip install ".[gpu]"); import it only if present.
    import cupy as _cupy
except Exception:  # ImportError, or a CuPy that cannot find CUDA
    _cupy = None


def gpu_available():
    """True when CuPy imports and sees at least one CUDA device."""
    if _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def array_module(x):
    """Return the module (numpy or cupy) that owns array ``x``."""
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        return _cupy
    return np


def is_gpu_array(x):
    return _cupy is not None and isinstance(x, _cupy.ndarray)


def to_device(x, device):
    """Copy array ``x`` to ``device`` ("cpu" or "gpu"); a no-op if it is already there."""
    if device == "cpu":
        return _cupy.asnumpy(x) if is_gpu_array(x) else np.asarray(x)
    if device == "gpu":
        if not gpu_available():
            raise RuntimeError(
                "device='gpu' needs CuPy and a CUDA GPU; install the extra with "
                "pip install -e '.[gpu]' on a machine that has one")
        return _cupy.asarray(x)
    raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")


def to_numpy(x):
    """A NumPy copy (or the array itself) of ``x``, wherever it lives."""
    return to_device(x, "cpu")
