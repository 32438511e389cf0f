"""ReLU with its three backward rules side by side, and LeakyReLU.

In the notation of Gao & Mosalam (eq. 3): F is the ReLU's input, G the
gradient arriving from above (dL/d output) and R what is passed below.

    "gradient":  R = 1(F > 0) * G             the chain rule (saliency, Simonyan et al.)
    "deconvnet": R = 1(G > 0) * G             rectify the backward signal (Zeiler & Fergus)
    "guided":    R = 1(F > 0) * 1(G > 0) * G  both (Springenberg et al.; Gao & Mosalam eq. 3)
"""
from ..backend import array_module
from .. import ops
from .base import Layer

RELU_RULES = ("gradient", "deconvnet", "guided")


class Activation(Layer):
    """A pointwise nonlinearity: the layers whose backward reads ``relu_rule``."""


def check_rule(rule):
    if rule not in RELU_RULES:
        raise ValueError(f"relu_rule must be one of {RELU_RULES}, got {rule!r}")


class ReLU(Activation):
    """y = max(x, 0), any shape. Keeps the mask F > 0 for backward."""

    name_prefix = "relu"

    def __init__(self, name=None):
        super().__init__(name)
        self.active = None

    def forward(self, x):
        self.check_input(x, "(N, ...)", None)
        y, self.active = ops.relu_forward(x)   # y = max(x, 0), active = 1(F > 0)
        return y

    def backward(self, dy, *, relu_rule="gradient", param_grads=True, input_grad=True):
        """dy = G (any shape, like x) -> R, by the chosen rule (Gao & Mosalam eq. 3)."""
        check_rule(relu_rule)
        self.check_grad(dy, None if self.active is None else self.active.shape)
        if relu_rule == "gradient":
            return dy * self.active                # R = 1(F > 0) * G
        if relu_rule == "deconvnet":
            return dy * (dy > 0)                   # R = 1(G > 0) * G
        return dy * (self.active & (dy > 0))       # R = 1(F > 0) * 1(G > 0) * G


class LeakyReLU(Activation):
    """y = x if x > 0 else negative_slope * x. Only the true gradient is defined."""

    name_prefix = "lrelu"

    def __init__(self, negative_slope=0.01, name=None):
        super().__init__(name)
        if not 0 <= negative_slope < 1:
            raise ValueError(f"negative_slope must be in [0, 1), got {negative_slope!r}")
        self.negative_slope = float(negative_slope)
        self.active = None

    def config(self):
        return dict(negative_slope=self.negative_slope)

    def forward(self, x):
        self.check_input(x, "(N, ...)", None)
        self.active = x > 0
        xp = array_module(x)
        return xp.where(self.active, x, x * x.dtype.type(self.negative_slope))

    def backward(self, dy, *, relu_rule="gradient", param_grads=True, input_grad=True):
        check_rule(relu_rule)
        if relu_rule != "gradient":
            raise ValueError(f"{self.label}: LeakyReLU only has the 'gradient' backward rule; "
                             f"the {relu_rule!r} rule is defined for ReLU networks")
        self.check_grad(dy, None if self.active is None else self.active.shape)
        xp = array_module(dy)
        return xp.where(self.active, dy, dy * dy.dtype.type(self.negative_slope))
