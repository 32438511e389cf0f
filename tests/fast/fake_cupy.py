"""A stand-in for CuPy on a machine without a GPU, strict where CuPy is strict.

``FakeArray`` holds a NumPy array and behaves like a ``cupy.ndarray`` in what scratchcnn
uses (shape, dtype, indexing, arithmetic, reductions, reshape, NumPy's functions through
``__array_function__`` and ``__array_ufunc__``, as CuPy supports them), and like CuPy it
refuses an implicit conversion to NumPy: ``np.asarray(a)``, ``np.array(a)`` or a NumPy
array operation that would silently copy it to the host raises TypeError. A stray
``np.`` call on a device array in the GPU path therefore fails a test here as it would
fail on a GPU. ``asnumpy`` is the one explicit way back, as in CuPy.

``ElementwiseKernel`` runs the CUDA body on the CPU (cuda_on_cpu.py), so fast/gpu.py
runs unchanged: ``install(monkeypatch)`` puts this module in place of cupy for
scratchcnn.backend and fast/gpu.py.
"""
import importlib
import sys
import types

import numpy as np

from cuda_on_cpu import compile_kernel

int64, float32, float64, bool_ = np.int64, np.float32, np.float64, np.bool_


def _unwrap(value):
    if isinstance(value, FakeArray):
        return value._data
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _refuse_host_arrays(values, what):
    """CuPy refuses NumPy arrays (beyond 0-d ones) mixed into its operations."""
    for value in values:
        if isinstance(value, (list, tuple)):
            _refuse_host_arrays(value, what)
        elif isinstance(value, np.ndarray) and value.ndim > 0:
            raise TypeError(f"{what}: a NumPy array of shape {value.shape} mixed with device "
                            "arrays (CuPy: 'Unsupported type <class numpy.ndarray>')")


def _wrap(value):
    if isinstance(value, np.ndarray):
        return FakeArray(value)
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class FakeArray:
    """A device array: NumPy storage, CuPy's manners."""
    __array_priority__ = 1000

    def __init__(self, data):
        self._data = data

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _refuse_host_arrays(inputs + tuple(kwargs.get("out", ())), f"numpy.{ufunc.__name__}")
        return _wrap(getattr(ufunc, method)(*_unwrap(inputs), **_unwrap(kwargs)))

    def __array_function__(self, func, types_, args, kwargs):
        _refuse_host_arrays(args, f"numpy.{func.__name__}")
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    def get(self):
        return self._data.copy()

    def __getattr__(self, name):                       # shape, dtype, reshape, sum, ...
        if name.startswith("__") or name == "ctypes":  # no __array_interface__ either
            raise AttributeError(name)
        value = getattr(self._data, name)
        if callable(value):
            return lambda *a, **k: _wrap(value(*_unwrap(a), **_unwrap(k)))
        return _wrap(value)

    def __getitem__(self, index):
        return _wrap(self._data[_unwrap(index)])

    def __setitem__(self, index, value):
        self._data[_unwrap(index)] = _unwrap(value)

    def __len__(self):
        return len(self._data)

    def __iter__(self):
        return (_wrap(v) for v in self._data)

    def __bool__(self):
        return bool(self._data)

    def __float__(self):
        return float(self._data)

    def __int__(self):
        return int(self._data)

    def __index__(self):
        return self._data.__index__()

    def __repr__(self):
        return f"FakeArray({self._data!r})"


def _operator(name):
    def method(self, *others):
        _refuse_host_arrays(others, name)
        return _wrap(getattr(self._data, name)(*_unwrap(others)))
    method.__name__ = name
    return method


for _name in ("add", "radd", "sub", "rsub", "mul", "rmul", "truediv", "rtruediv", "floordiv",
              "rfloordiv", "mod", "rmod", "pow", "rpow", "matmul", "rmatmul", "neg", "pos",
              "abs", "lt", "le", "gt", "ge", "eq", "ne", "and", "rand", "or", "ror", "xor",
              "invert", "iadd", "isub", "imul", "itruediv", "iand", "ior"):
    dunder = f"__{_name}__"
    setattr(FakeArray, dunder, _operator(dunder))
ndarray = FakeArray


def _creator(function, strict=True):
    def create(*args, **kwargs):
        if strict:
            _refuse_host_arrays(args, f"cupy.{function.__name__}")
        return _wrap(function(*_unwrap(args), **_unwrap(kwargs)))
    return create


for _name in ("empty", "zeros", "ones", "full", "arange"):
    globals()[_name] = _creator(getattr(np, _name), strict=False)
for _name in ("argsort", "flatnonzero", "concatenate", "take_along_axis", "where", "maximum", "minimum", "exp", "log",
              "sqrt", "isfinite", "einsum", "matmul", "add", "repeat", "stack", "zeros_like",
              "ones_like", "empty_like", "bincount", "tensordot",
              "broadcast_to", "pad", "abs", "clip", "sum", "full_like", "log1p", "tanh"):
    globals()[_name] = _creator(getattr(np, _name))
ascontiguousarray = _creator(np.ascontiguousarray, strict=False)   # an explicit transfer


def array(value, dtype=None, copy=True):
    return FakeArray(np.array(_unwrap(value), dtype=dtype, copy=copy))


def asarray(value, dtype=None):
    return FakeArray(np.asarray(_unwrap(value), dtype=dtype))


def asnumpy(value):
    return value.get() if isinstance(value, FakeArray) else np.asarray(value)


def get_array_module(*arrays):
    return sys.modules[__name__]


class ElementwiseKernel:
    """cupy.ElementwiseKernel, run on the CPU: the same body, one loop over i."""

    def __init__(self, in_params, out_params, operation, name):
        from scratchcnn.fast.gpu_sources import ElementwiseSpec
        self.kernel = compile_kernel(ElementwiseSpec(in_params, out_params, operation, name))

    def __call__(self, *args):
        self.kernel(*(_unwrap(a) for a in args))


cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))


def install(monkeypatch):
    """Use this module as cupy in scratchcnn (backend.py's detection, fast/gpu.py) for
    one test; ``monkeypatch`` undoes it."""
    from scratchcnn import backend
    fake = sys.modules[__name__]
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(backend, "_cupy", fake)
    monkeypatch.delitem(sys.modules, "scratchcnn.fast.gpu", raising=False)
    return importlib.import_module("scratchcnn.fast.gpu")
