"""The Layer contract and the input checks every layer shares.

One contract for every layer, so a network never asks what type a layer is:

* ``params`` and ``grads``: dicts with the same keys; ``buffers``: state that is
  not learned (batch norm's running statistics); ``name``: the node's name.
* ``forward(*xs)``: one input array for most layers, several for ``Add``;
  stores what ``backward`` needs and returns the output.
* ``backward(dy, *, relu_rule="gradient", param_grads=True, input_grad=True)``:
  dy = dL/d(output) -> dL/d(input) (a tuple, one per input, for several inputs),
  and *adds* dL/d(param) into ``grads`` when ``param_grads`` (a layer whose
  gradients are accumulated twice must not overwrite the first). ``relu_rule``
  matters only to ReLU (layers/activation.py); ``input_grad=False`` lets a layer
  skip its input gradient (the first layer in training) and return None.
* ``num_inputs``: how many inputs ``forward`` takes (None: two or more).
"""
import contextlib
import contextvars

import numpy as np

from ..backend import array_module, to_device

FLOAT_DTYPES = (np.float32, np.float64)


# Inside a network's forward pass the network checks its input for NaN once, so the
# layers need not scan every intermediate array again (NaN arising inside reaches the
# logits and the loss says so). A context variable, so no layer's setting is changed.
_finite_checked_upstream = contextvars.ContextVar("scratchcnn_finite_checked", default=False)


@contextlib.contextmanager
def input_checked_for_nan():
    """Inside this block layers skip their own NaN/Inf scan of x (Network.forward)."""
    token = _finite_checked_upstream.set(True)
    try:
        yield
    finally:
        _finite_checked_upstream.reset(token)


class Layer:
    """Base class. Subclasses set ``params``/``grads``/``buffers`` and implement
    ``forward``/``backward``; ``config()`` returns the constructor arguments so a
    saved model can be rebuilt exactly. ``name_prefix`` is the stem of automatic
    names in a Sequential (conv1, relu1, ...)."""

    num_inputs = 1
    name_prefix = None            # None: the class name in lower case

    def __init__(self, name=None):
        self.name = name
        self.params = {}
        self.grads = {}
        self.buffers = {}
        self.training = True
        self.workspace = {}       # buffers the fast room reuses between calls (fast/conv2d.py)

    # ----- the contract -------------------------------------------------------------
    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, dy, *, relu_rule="gradient", param_grads=True, input_grad=True):
        raise NotImplementedError

    def config(self):
        """Constructor keyword arguments (JSON-serialisable) that rebuild this layer."""
        return {}

    def reset_parameters(self, rng):
        """Draw fresh initial parameters from the NumPy Generator ``rng``."""

    def __call__(self, *xs):
        return self.forward(*xs)

    # ----- bookkeeping --------------------------------------------------------------
    @property
    def label(self):
        return self.name or type(self).__name__

    def zero_grad(self):
        for grad in self.grads.values():
            grad[...] = 0

    def _convert(self, fn):
        self.workspace = {}
        for store in (self.params, self.grads, self.buffers):
            for key in store:
                store[key] = fn(store[key])

    def astype(self, dtype):
        """Convert parameters, gradients and buffers to ``dtype`` (float32 or float64)."""
        dtype = np.dtype(dtype)
        if dtype.type not in FLOAT_DTYPES:
            raise TypeError(f"{self.label}: dtype must be float32 or float64, got {dtype}")
        self._convert(lambda a: a.astype(dtype))
        return self

    def to(self, device):
        """Move parameters, gradients and buffers to ``device`` ("cpu" or "gpu")."""
        self._convert(lambda a: to_device(a, device))
        return self

    @property
    def dtype(self):
        for value in self.params.values():
            return value.dtype
        return None

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})" + (f" [{self.name}]" if self.name else "")

    # ----- checks shared by every layer ---------------------------------------------------
    def check_input(self, x, shape_text, ndim, channels=None, channel_arg=None, hint=""):
        """Raise a clear error if ``x`` is not a finite float array of the expected rank
        (``ndim=None``: any), dtype (the parameters' dtype), channel count (``hint`` is
        added to that message) and at least one example."""
        xp = array_module(x)
        if not isinstance(x, xp.ndarray):
            raise TypeError(f"{self.label}: x must be an array of shape {shape_text}, "
                            f"got {type(x).__name__}")
        if x.dtype.type not in FLOAT_DTYPES:
            raise TypeError(f"{self.label}: x must be float32 or float64, got dtype {x.dtype}")
        if self.dtype is not None and x.dtype != self.dtype:
            raise TypeError(f"{self.label}: x has dtype {x.dtype} but the parameters are "
                            f"{self.dtype}; convert one of them (model.astype(np.{x.dtype}))")
        if ndim is not None and x.ndim != ndim:
            raise ValueError(f"{self.label}: x must have shape {shape_text} ({ndim} dims), "
                             f"got shape {tuple(x.shape)}")
        if x.ndim == 0 or x.shape[0] == 0:
            raise ValueError(f"{self.label}: x must hold at least one example (N >= 1 on axis "
                             f"0), got shape {tuple(x.shape)}")
        if channels is not None and x.shape[1] != channels:
            raise ValueError(f"{self.label}: x has {x.shape[1]} channels/features (axis 1) but "
                             f"the layer expects {channel_arg}={channels}; "
                             f"got shape {tuple(x.shape)}{hint}")
        if not _finite_checked_upstream.get():
            check_finite(x, f"{self.label}: x")

    def check_grad(self, dy, expected_shape):
        """Raise a clear error if ``backward`` gets a gradient of the wrong shape."""
        if expected_shape is None:
            raise RuntimeError(f"{self.label}: backward called before forward")
        if tuple(dy.shape) != tuple(expected_shape):
            raise ValueError(f"{self.label}: dy must have the forward output's shape "
                             f"{tuple(expected_shape)}, got {tuple(dy.shape)}")


def check_finite(x, what):
    """Raise ValueError naming ``what`` if x holds a NaN or an infinity."""
    if not bool(array_module(x).isfinite(x).all()):
        raise ValueError(f"{what} contains NaN or Inf")


def as_pair(value, argument, minimum=1):
    """``3 -> (3, 3)``, ``(3, 2) -> (3, 2)``, checking every entry is an int >= minimum."""
    pair = (value, value) if np.isscalar(value) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= minimum for v in pair):
        raise ValueError(f"{argument} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def uniform_init(rng, shape, fan_in, dtype=np.float32):
    """PyTorch's default for Conv and Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    (kaiming_uniform with a = sqrt(5) gives exactly this bound)."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)
