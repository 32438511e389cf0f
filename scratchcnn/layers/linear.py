"""Fully connected layer and the Flatten that feeds it."""
import numpy as np

from .base import Layer, uniform_init


class Linear(Layer):
    """y = x @ W.T + b, PyTorch layout.

    params: W (out_features, in_features), b (out_features,)
    forward: x (N, in_features) -> y (N, out_features)
    """

    name_prefix = "fc"

    def __init__(self, in_features, out_features, name=None):
        super().__init__(name)
        for arg, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{arg} must be a positive int, got {v!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.params = {"W": np.zeros((out_features, in_features), np.float32),
                       "b": np.zeros(out_features, np.float32)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.reset_parameters(np.random.default_rng(0))
        self.x = None

    def config(self):
        return dict(in_features=self.in_features, out_features=self.out_features)

    def reset_parameters(self, rng):
        for key in ("W", "b"):
            p = self.params[key]
            p[...] = uniform_init(rng, p.shape, self.in_features).astype(p.dtype)

    def forward(self, x):
        self.check_input(x, "(N, in_features)", 2, self.in_features, "in_features",
                         hint=". If a Flatten feeds this layer, the images are probably not "
                              "the size the model was built for")
        self.x = x
        return x @ self.params["W"].T + self.params["b"]

    def backward(self, dy, *, relu_rule="gradient", param_grads=True, input_grad=True):
        """dy: (N, out_features) -> dx: (N, in_features); adds dL/dW, dL/db into grads
        (``input_grad=False``: skip dx, return None)."""
        self.check_grad(dy, None if self.x is None else (self.x.shape[0], self.out_features))
        if param_grads:
            self.grads["W"] += dy.T @ self.x          # dL/dW = dy^T x     (out, in)
            self.grads["b"] += dy.sum(axis=0)         # dL/db = sum_n dy_n
        return dy @ self.params["W"] if input_grad else None   # dL/dx = dy W


class Flatten(Layer):
    """(N, C, H, W) (or any (N, ...)) -> (N, C*H*W), in C order, as PyTorch's flatten."""

    def __init__(self, name=None):
        super().__init__(name)
        self.input_shape = None

    def forward(self, x):
        self.check_input(x, "(N, ...)", None)
        self.input_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy, *, relu_rule="gradient", param_grads=True, input_grad=True):
        self.check_grad(dy, None if self.input_shape is None else
                        (self.input_shape[0], int(np.prod(self.input_shape[1:]))))
        return dy.reshape(self.input_shape)
