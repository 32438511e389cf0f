"""scratchcnn: a convolutional network from scratch in NumPy, and how it sees.

    from scratchcnn import Sequential, Conv2D, ReLU, MaxPool2D, Flatten, Linear
    from scratchcnn import Adam, fit, evaluate, datasets
"""
import os

# Before NumPy loads OpenBLAS (only possible when scratchcnn is imported first):
# its worker threads then sleep after a matrix product within 2^4 cycles instead
# of spinning for ~0.1 s and halving the speed of the Numba kernel that follows.
# See kernels/runtime.py; a user's own setting wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from .kernels import runtime as _runtime  # noqa: E402,F401  (threading and malloc settings)
from . import datasets, explain, gradcheck, zoo  # noqa: E402
from .backend import array_module  # noqa: E402, gpu_available, to_device, to_numpy
from .checkpoint import load, save
from .kernels import use_reference
from .layers import (RELU_RULES, Activation, BatchNorm2D, Conv2D, ConvTranspose2D, Dropout,
                     Flatten, GlobalAvgPool2D, Layer, LeakyReLU, Linear, MaxPool2D, MaxUnpool2D,
                     ReLU)
from .losses import log_softmax, softmax_cross_entropy
from .model import Sequential
from .optim import SGD, Adam
from .train import evaluate, fit, predict

__version__ = "0.1.0"

__all__ = [
    "Activation", "Adam", "BatchNorm2D", "Conv2D", "ConvTranspose2D", "Dropout", "Flatten",
    "GlobalAvgPool2D", "Layer", "LeakyReLU", "Linear", "MaxPool2D", "MaxUnpool2D", "RELU_RULES",
    "ReLU", "SGD", "Sequential", "array_module", "datasets", "evaluate", "fit", "gpu_available",
    "explain", "gradcheck", "load", "log_softmax", "predict", "save", "softmax_cross_entropy",
    "to_device", "to_numpy", "use_reference", "zoo",
]
