"""The explicit DeconvNet of Zeiler & Fergus (2014, sec. 2.1), built from a trained model.

Each layer below the chosen feature map gets its mirror image, sharing weights:

    Conv2D      -> ConvTranspose2D with the same W, no bias ("filtering" with
                   transposed filters); output_padding restores floored rows
    MaxPool2D   -> MaxUnpool2D with the pool's switches ("unpooling")
    ReLU        -> ReLU on the reconstruction ("rectification")
    BatchNorm2D -> its per-channel scale gamma / sqrt(running_var + eps) (eval mode)
    Dropout     -> identity (eval mode)

Projecting one activation down this chain equals ``model.backward`` with the
"deconvnet" ReLU rule seeded the same way (tests/test_explain_deconvnet.py).
"""
import numpy as np

from ..backend import array_module, to_numpy
from ..layers import (BatchNorm2D, Conv2D, ConvTranspose2D, Dropout, MaxPool2D, MaxUnpool2D,
                      ReLU)
from .base import check_batch, check_layer_name, eval_mode


class DeconvNet:
    """A DeconvNet attached to ``model``: ``project(x, layer, channel)``.

    The mirror layers are built once and share the model's arrays, so they always
    use the current weights; switches come from the forward pass inside ``project``.
    """

    def __init__(self, model):
        if not model.is_chain():
            joins = [node.name for node, before in zip(model.nodes, ["input"] + model.names)
                     if node.inputs != (before,)]
            raise ValueError("the explicit DeconvNet mirrors a chain of layers (Zeiler & Fergus "
                             "2014), but in this network nodes "
                             f"{joins} do not read just the node before them (an Add, a skip "
                             "connection); use explain.deconvnet, the 'deconvnet' ReLU rule, "
                             "which works on any graph")
        self.model = model
        self.mirrors = {}
        for layer in model.layers:
            self.mirrors[layer.name] = self._mirror(layer)

    @staticmethod
    def _mirror(layer):
        if isinstance(layer, Conv2D):
            mirror = ConvTranspose2D(layer.out_channels, layer.in_channels, layer.kernel_size,
                                     layer.stride, layer.padding)
            mirror.params["W"] = layer.params["W"]           # shared, not copied
            mirror.params["b"] = array_module(layer.params["b"]).zeros(
                layer.in_channels, dtype=layer.params["b"].dtype)
            mirror.source = layer
            return mirror
        if isinstance(layer, MaxPool2D):
            return MaxUnpool2D(layer)
        if isinstance(layer, ReLU):
            return ReLU()
        if isinstance(layer, (BatchNorm2D, Dropout)):
            return layer                                       # handled in _down
        return None                                            # not a feature-map layer

    def _down(self, layer, signal):
        """Pass ``signal`` (shaped like the layer's output) down through its mirror."""
        mirror = self.mirrors[layer.name]
        if mirror is None:
            raise ValueError(f"DeconvNet cannot pass through {layer.name} "
                             f"({type(layer).__name__}); project from a feature-map layer "
                             "(Conv2D, ReLU, MaxPool2D, BatchNorm2D) whose layers below are "
                             "all feature-map layers")
        if isinstance(layer, Conv2D):
            in_shape = layer.input_shape                         # the input of the forward pass
            mirror.output_padding = (0, 0)                       # size without it, this time
            full = mirror.output_shape(signal.shape)
            mirror.output_padding = (in_shape[2] - full[2], in_shape[3] - full[3])
            mirror.params["W"] = layer.params["W"]
            return mirror.forward(signal)
        if isinstance(layer, BatchNorm2D):
            scale = layer.params["gamma"] / (layer.buffers["running_var"] + layer.eps) ** 0.5
            return signal * scale.reshape(1, -1, 1, 1)
        if isinstance(layer, Dropout):
            return signal
        return mirror.forward(signal)                            # unpool, or rectify

    def project(self, x, layer, channel, position=None):
        """Map one activation of feature map ``channel`` at ``layer`` back to pixels.

        x: (N, C, H, W). The activation is the strongest of that channel in each
        image (default) or ``position=(row, col)``; all other activations are set
        to zero and the feature map goes down the DeconvNet.
        returns (reconstruction (N, C, H, W), positions (N, 2) int).
        """
        check_batch(x)
        with eval_mode(self.model):
            self.model.forward(x)
            stop = check_layer_name(self.model, layer)
            maps = self.model.outputs[layer]
            if not 0 <= channel < maps.shape[1]:
                raise ValueError(f"channel must be in [0, {maps.shape[1] - 1}] for layer "
                                 f"{layer!r}, got {channel}")
            signal, positions = top_activation_seed(maps, channel, position)
            for below in reversed(self.model.layers[:stop + 1]):
                signal = self._down(below, signal)
        return signal, positions


def top_activation_seed(maps, channel, position=None):
    """maps (N, K, h, w) -> (seed, positions): a zero array shaped like maps holding,
    for each image, only the chosen activation of ``channel`` (the strongest by default)."""
    xp = array_module(maps)
    n, _, h, w = maps.shape
    if position is None:
        flat = maps[:, channel].reshape(n, -1).argmax(axis=1)
        rows, cols = flat // w, flat % w
    else:
        row, col = position
        if not (0 <= row < h and 0 <= col < w):
            raise ValueError(f"position must be inside the {h}x{w} feature map, got {position}")
        rows, cols = xp.full(n, row), xp.full(n, col)
    seed = xp.zeros_like(maps)
    images = xp.arange(n)
    seed[images, channel, rows, cols] = maps[images, channel, rows, cols]
    return seed, np.stack([to_numpy(rows), to_numpy(cols)], axis=1)
