"""scratchcnn: a convolutional network from scratch in NumPy, and how it sees.

    import scratchcnn as sc
    model = sc.zoo.slides_mnist_model()
    (x, y), (x_test, y_test) = sc.datasets.load("mnist")
    sc.fit(model, sc.Adam(model), x, y, epochs=3, validation=(x_test, y_test))
    maps = sc.explain.grad_cam(model, x_test[:8], y_test[:8], layer="relu2")
"""
from . import datasets, explain, gradcheck, models, ops, resilience
from .backend import array_module, gpu_available, to_device, to_numpy
from .checkpoint import load, save
from .fast import machine, runtime   # this CPU; the engine's report, opt-in tune()
from .models import residual_block, zoo
from .ops import use_reference
from .layers import (RELU_RULES, Activation, Add, AvgPool2D, BatchNorm2D, Conv2D,
                     ConvTranspose2D, Dropout, Flatten, GlobalAvgPool2D, Identity, Layer,
                     LeakyReLU, Linear, MaxPool2D, MaxUnpool2D, ReLU)
from .losses import log_softmax, softmax_cross_entropy
from .model import Network, Sequential
from .optim import SGD, Adam
from .train import Callback, activations, evaluate, fit, predict

__version__ = "0.1.0"

__all__ = [
    "Activation", "Adam", "Add", "Callback", "activations", "AvgPool2D", "BatchNorm2D", "Conv2D",
    "ConvTranspose2D", "Dropout", "Flatten", "GlobalAvgPool2D", "Identity", "Layer", "LeakyReLU",
    "Linear", "MaxPool2D", "MaxUnpool2D", "Network", "RELU_RULES", "ReLU", "SGD", "Sequential",
    "array_module", "datasets", "evaluate", "explain", "fit", "gpu_available", "gradcheck",
    "load", "log_softmax", "machine", "models", "ops", "predict", "residual_block", "resilience",
    "runtime", "save", "softmax_cross_entropy", "to_device", "to_numpy", "use_reference", "zoo",
]
