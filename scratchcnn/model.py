"""Sequential: a chain of layers run forward (keeping every output) and backward
(from any layer, with any seed, with any ReLU rule, down to any layer)."""
import contextlib

import numpy as np

from .backend import array_module
from .layers import Activation, Layer
from .layers.activation import check_rule
from .layers.base import check_finite

# name prefixes for automatic layer names: conv1, relu1, pool1, fc1, ...
NAME_PREFIX = {"Conv2D": "conv", "ConvTranspose2D": "deconv", "MaxPool2D": "pool",
               "MaxUnpool2D": "unpool", "GlobalAvgPool2D": "gap", "ReLU": "relu",
               "LeakyReLU": "lrelu", "Linear": "fc", "Flatten": "flatten",
               "Dropout": "dropout", "BatchNorm2D": "bn"}


@contextlib.contextmanager
def eval_mode(model):
    """Run ``model`` as the trained function inside the block (dropout off, batch norm
    on its running statistics), then give every layer back its own previous mode."""
    was_training = [layer.training for layer in model.layers]
    model.eval()
    try:
        yield model
    finally:
        for layer, mode in zip(model.layers, was_training):
            layer.training = mode


class Sequential:
    """A chain of layers.

    ``forward(x)`` runs every layer and keeps each output in ``outputs[name]``.
    ``backward(dy, relu_rule, start, stop)`` runs the chain backwards from the
    output of layer ``start`` (default: the last) to the output of layer ``stop``
    (default: the input) and returns the gradient there.
    """

    def __init__(self, layers, seed=0):
        layers = list(layers)
        if not layers:
            raise ValueError("layers must be a non-empty list of Layer objects")
        counts = {}
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be a Layer, got {type(layer).__name__}")
            prefix = NAME_PREFIX.get(type(layer).__name__, type(layer).__name__.lower())
            counts[prefix] = counts.get(prefix, 0) + 1
            if layer.name is None:
                layer.name = f"{prefix}{counts[prefix]}"
        names = [layer.name for layer in layers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"layer names must be unique, got duplicates {duplicates}")
        for layer in layers:           # the model checks its input once (forward), not every layer:
            layer.check_finite = False  # NaN arising inside is caught at the logits by the loss
        self.layers = layers
        self.outputs = {}
        self.seed = seed
        rng = np.random.default_rng(seed)
        for layer in layers:                    # one seeded stream initializes the whole chain
            layer.reset_parameters(rng)

    # ----- access -----------------------------------------------------------------------
    @property
    def names(self):
        return [layer.name for layer in self.layers]

    def index(self, name):
        """Position of the layer called ``name``; a clear error lists the valid names."""
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise KeyError(f"no layer named {name!r}; valid names: {self.names}")

    def __getitem__(self, name):
        return self.layers[self.index(name)]

    def __iter__(self):
        return iter(self.layers)

    def __len__(self):
        return len(self.layers)

    def __repr__(self):
        rows = "\n".join(f"  {layer.name:>10}: {type(layer).__name__}("
                         + ", ".join(f"{k}={v}" for k, v in layer.config().items()) + ")"
                         for layer in self.layers)
        return f"Sequential(\n{rows}\n)"

    # ----- the two passes ---------------------------------------------------------------
    def forward(self, x, start=None, stop=None):
        """x: the batch for the first layer, e.g. (N, C, H, W).

        Runs the layers in order and stores each output in
        ``self.outputs[layer.name]``; returns the last output. ``start``: x is the
        output of that layer, and only the layers after it run (to perturb an
        activation and see the effect). ``stop``: run up to and including it.
        """
        first = 0 if start is None else self.index(start) + 1
        last = len(self.layers) - 1 if stop is None else self.index(stop)
        if last < first - 1:
            raise ValueError(f"stop={stop!r} comes before start={start!r}")
        if first <= last:
            check_finite(x, f"{self.layers[first].label}: x")
        self.outputs = {} if start is None else {start: x}
        for layer in self.layers[first:last + 1]:
            x = layer.forward(x)
            self.outputs[layer.name] = x
        return x

    __call__ = forward

    def backward(self, dy, relu_rule="gradient", start=None, stop=None, param_grads=True,
                 input_grad=True):
        """Run the chain backwards and return the gradient at ``stop``.

        dy: the seed, shaped like the output of layer ``start`` (default: the last
            layer), e.g. dL/dlogits (N, K) or a one-hot at one feature map.
        relu_rule: "gradient", "deconvnet" or "guided", used by every ReLU.
        stop: a layer name: return the gradient w.r.t. that layer's *output*;
            None: return the gradient w.r.t. the model's input.
        param_grads: also accumulate parameter gradients (False: input gradients only,
            for explanation methods, which skips the weight-gradient products).
        input_grad: False skips the gradient w.r.t. the model's input (training needs
            only parameter gradients) and returns None; needs stop=None.
        """
        check_rule(relu_rule)
        first = len(self.layers) - 1 if start is None else self.index(start)
        last = -1 if stop is None else self.index(stop)
        if last > first:
            raise ValueError(f"stop={stop!r} comes after start={start or self.names[-1]!r}: "
                             "backward runs from start down to stop")
        if not input_grad and stop is not None:
            raise ValueError("input_grad=False only applies when backward runs to the input "
                             "(stop=None)")
        for index in range(first, last, -1):
            layer = self.layers[index]
            if isinstance(layer, Activation):
                dy = layer.backward(dy, rule=relu_rule)
            elif layer.params:
                dy = layer.backward(dy, param_grads=param_grads,
                                    input_grad=input_grad or index > 0)
            else:
                dy = layer.backward(dy)
            if dy is None:                  # the first layer skipped its input gradient
                break
        return dy if input_grad else None

    # ----- parameters and modes ---------------------------------------------------------------
    def named_parameters(self):
        """Yield ("<layer>.<param>", layer, key) for every trainable parameter."""
        for layer in self.layers:
            for key in layer.params:
                yield f"{layer.name}.{key}", layer, key

    def zero_grad(self):
        for layer in self.layers:
            layer.zero_grad()

    def train(self):
        for layer in self.layers:
            layer.training = True
        return self

    def eval(self):
        for layer in self.layers:
            layer.training = False
        return self

    @property
    def training(self):
        return any(layer.training for layer in self.layers)

    def astype(self, dtype):
        """Convert every parameter, gradient and buffer (float32 <-> float64)."""
        for layer in self.layers:
            layer.astype(dtype)
        return self

    def to(self, device):
        """Move every parameter, gradient and buffer to "cpu" or "gpu"."""
        for layer in self.layers:
            layer.to(device)
        return self

    @property
    def dtype(self):
        return next((layer.dtype for layer in self.layers if layer.dtype is not None), None)

    def state_dict(self):
        """{"<layer>.<param or buffer>": array} for every parameter and buffer."""
        return {f"{layer.name}.{key}": value for layer in self.layers
                for store in (layer.params, layer.buffers) for key, value in store.items()}

    def load_state_dict(self, state):
        """Copy arrays into the model; keys and shapes must match exactly."""
        own = self.state_dict()
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or unexpected:
            raise KeyError(f"state_dict keys do not match the model: missing {missing}, "
                           f"unexpected {unexpected}")
        for key, target in own.items():
            value = state[key]
            if tuple(value.shape) != tuple(target.shape):
                raise ValueError(f"state_dict[{key!r}] has shape {tuple(value.shape)}, "
                                 f"the model expects {tuple(target.shape)}")
            target[...] = array_module(target).asarray(value, dtype=target.dtype)
        return self

    def num_parameters(self):
        return sum(int(layer.params[key].size) for _, layer, key in self.named_parameters())
