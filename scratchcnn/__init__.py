"""scratchcnn: a convolutional network from scratch in NumPy, and how it sees.

    import scratchcnn as sc
    model = sc.zoo.slides_mnist_model()
    (x, y), (x_test, y_test) = sc.datasets.load("mnist")
    sc.fit(model, sc.Adam(model), x, y, epochs=3, validation=(x_test, y_test))
    maps = sc.explain.grad_cam(model, x_test[:8], y_test[:8], layer="relu2")
"""
# ruff: noqa: E402  (the setting below must come before NumPy is imported)
import os
import sys

# Before NumPy loads OpenBLAS (only possible when scratchcnn is imported first):
# its worker threads then sleep after a matrix product within 2^4 cycles instead
# of spinning for ~0.1 s and halving the speed of the Numba kernel that follows.
# See kernels/runtime.py; a user's own setting wins, and once NumPy is loaded it
# is too late, so nothing is set.
if "numpy" not in sys.modules:
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from .kernels import runtime as _runtime  # noqa: F401  (threading and malloc settings)

from . import datasets, explain, gradcheck, zoo
from .backend import array_module, gpu_available, to_device, to_numpy
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
    "ReLU", "SGD", "Sequential", "array_module", "datasets", "evaluate", "explain", "fit",
    "gpu_available", "gradcheck", "load", "log_softmax", "predict", "save",
    "softmax_cross_entropy", "to_device", "to_numpy", "use_reference", "zoo",
]
