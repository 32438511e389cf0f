"""Layers, one small module per family. Every layer follows one contract (base.py):
``forward(*xs)`` and ``backward(dy, *, relu_rule, param_grads, input_grad)``."""
from .activation import RELU_RULES, Activation, LeakyReLU, ReLU
from .base import Layer
from .conv import Conv2D, ConvTranspose2D
from .dropout import Dropout
from .linear import Flatten, Linear
from .norm import BatchNorm2D
from .pool import AvgPool2D, GlobalAvgPool2D, MaxPool2D, MaxUnpool2D
from .residual import Add, Identity

# Every layer type, by class name: the one list (checkpoints rebuild layers from it).
LAYER_TYPES = {cls.__name__: cls for cls in (
    Conv2D, ConvTranspose2D, MaxPool2D, MaxUnpool2D, AvgPool2D, GlobalAvgPool2D, ReLU,
    LeakyReLU, Linear, Flatten, Dropout, BatchNorm2D, Add, Identity)}

__all__ = ["Layer", "Activation", "RELU_RULES", "LAYER_TYPES", *LAYER_TYPES]
