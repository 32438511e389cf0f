"""The layers that let a network branch and join: Add (the residual sum) and Identity."""
from .base import Layer


class Add(Layer):
    """y = x_1 + x_2 + ... + x_k, elementwise (He et al. 2016, eq. 1: y = F(x) + x).

    forward(*xs): k >= 2 arrays of one shape (N, ...) -> y of that shape.
    backward: dL/dx_i = dL/dy for every input, since dy/dx_i = 1; returns a tuple of
    k gradients (the same array k times: no layer writes into the dy it is given).
    """
    num_inputs = None             # two or more
    name_prefix = "add"

    def __init__(self, name=None):
        super().__init__(name)
        self.count = self.y_shape = None

    def forward(self, *xs):
        if len(xs) < 2:
            raise ValueError(f"{self.label}: Add needs at least two inputs, got {len(xs)}")
        for i, x in enumerate(xs):
            self.check_input(x, "(N, ...)", None)
            if x.shape != xs[0].shape:
                raise ValueError(f"{self.label}: every input must have the shape of the first "
                                 f"{tuple(xs[0].shape)}, but input {i} has {tuple(x.shape)}")
        y = xs[0] + xs[1]
        for x in xs[2:]:
            y += x
        self.count, self.y_shape = len(xs), y.shape
        return y

    def backward(self, dy, *, relu_rule="gradient", param_grads=True, input_grad=True):
        self.check_grad(dy, self.y_shape)
        return (dy,) * self.count


class Identity(Layer):
    """y = x (any shape): a named point in a graph, e.g. the input of a residual block."""

    def __init__(self, name=None):
        super().__init__(name)
        self.y_shape = None

    def forward(self, x):
        self.check_input(x, "(N, ...)", None)
        self.y_shape = x.shape
        return x

    def backward(self, dy, *, relu_rule="gradient", param_grads=True, input_grad=True):
        self.check_grad(dy, self.y_shape)
        return dy
