"""Layers, one small module per family. Every layer: ``forward(x)``, ``backward(dy)``."""
from .activation import RELU_RULES, Activation, LeakyReLU, ReLU
from .base import Layer
from .conv import Conv2D, ConvTranspose2D
from .dropout import Dropout
from .linear import Flatten, Linear
from .norm import BatchNorm2D
from .pool import GlobalAvgPool2D, MaxPool2D, MaxUnpool2D

LAYER_TYPES = {cls.__name__: cls for cls in (
    Conv2D, ConvTranspose2D, MaxPool2D, MaxUnpool2D, GlobalAvgPool2D, ReLU, LeakyReLU,
    Linear, Flatten, Dropout, BatchNorm2D)}

__all__ = ["Layer", "Activation", "RELU_RULES", "LAYER_TYPES", *LAYER_TYPES]
