"""Inverted dropout (Srivastava et al. 2014), as in PyTorch."""
import numpy as np

from ..backend import array_module
from .base import Layer


class Dropout(Layer):
    """In training, zero each entry with probability ``p`` and scale the rest by
    1 / (1 - p), so eval mode is the identity. Any shape.

    The mask comes from the layer's own seeded NumPy Generator (``seed``), so a
    run is repeatable; ``reset_parameters(rng)`` reseeds it from the model's rng.
    """

    def __init__(self, p=0.5, seed=0, name=None):
        super().__init__(name)
        if not 0 <= p < 1:
            raise ValueError(f"p must be in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = np.random.default_rng(seed)
        self.scale_mask = None

    def config(self):
        return dict(p=self.p)

    def reset_parameters(self, rng):
        self.rng = np.random.default_rng(rng.integers(2**63))

    def forward(self, x):
        self.check_input(x, "(N, ...)", None)
        if not self.training or self.p == 0:
            self.scale_mask = None
            return x
        xp = array_module(x)
        keep = self.rng.random(x.shape) >= self.p
        self.scale_mask = xp.asarray(keep.astype(x.dtype) / x.dtype.type(1 - self.p))
        return x * self.scale_mask

    def backward(self, dy, *, relu_rule="gradient", param_grads=True, input_grad=True):
        if self.scale_mask is None:      # eval mode (or p = 0): the identity
            return dy
        self.check_grad(dy, self.scale_mask.shape)
        return dy * self.scale_mask
