"""Builders of node lists for a Network: the residual block."""
import numpy as np

from ..layers import Add, BatchNorm2D, Conv2D, Identity, ReLU


def residual_block(in_channels, out_channels, stride=1, name="block"):
    """The nodes of a basic residual block (He et al. 2016, "Deep Residual Learning",
    sec. 3.2 and Fig. 2), to put into a Network's node list:

        {name}.in -> conv1 (3x3, stride) -> bn1 -> relu1 -> conv2 (3x3) -> bn2 -> add -> relu2
             |                                                             ^
             +----------- shortcut: identity, or proj (1x1, stride) -> proj_bn ---+

        y = ReLU(F(x) + x)          (eq. 1) when the shape is kept,
        y = ReLU(F(x) + W_s x)      (eq. 2, a 1x1 projection) when stride > 1 or the
                                    channel count changes.

    ``{name}.in`` is an Identity node that reads the node before the block, so both
    branches can name the block's input. x: (N, in_channels, H, W) ->
    y: (N, out_channels, ceil(H / stride), ceil(W / stride)).
    Returns a list of (name, layer) and (name, layer, inputs) tuples.
    """
    if not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"stride must be a positive int, got {stride!r}")
    entry = f"{name}.in"
    nodes = [(entry, Identity()),
             (f"{name}.conv1", Conv2D(in_channels, out_channels, 3, stride, padding=1)),
             (f"{name}.bn1", BatchNorm2D(out_channels)),
             (f"{name}.relu1", ReLU()),
             (f"{name}.conv2", Conv2D(out_channels, out_channels, 3, 1, padding=1)),
             (f"{name}.bn2", BatchNorm2D(out_channels))]
    shortcut = entry
    if stride != 1 or in_channels != out_channels:
        nodes += [(f"{name}.proj", Conv2D(in_channels, out_channels, 1, stride), entry),
                  (f"{name}.proj_bn", BatchNorm2D(out_channels))]
        shortcut = f"{name}.proj_bn"
    nodes += [(f"{name}.add", Add(), [f"{name}.bn2", shortcut]),     # F(x) + shortcut(x)
              (f"{name}.relu2", ReLU())]
    return nodes
