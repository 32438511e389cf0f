"""What a channel responds to: feature maps, receptive fields, top-k dataset activations.

Zeiler & Fergus 2014 (sec. 4, Fig. 2) show, for a channel of a layer, the dataset
images that activate it most, cropped to the part of the image that activation can
see (its receptive field), beside the DeconvNet projection of that activation.
"""
import numpy as np

from ..model import INPUT
from ..train import activations
from .base import check_batch


def feature_maps(model, x, layer, batch_size=256):
    """Every channel of node ``layer`` for images x (N, C, H, W), in eval mode ->
    (N, K, h, w) NumPy (``sc.activations``, checked to be feature maps)."""
    check_batch(x)
    maps = activations(model, x, layer, batch_size)
    if maps.ndim != 4:
        raise ValueError(f"layer {layer!r} outputs shape {maps.shape[1:]} per image, not "
                         "feature maps (K, h, w)")
    return maps


# How each layer moves a box of positions from its output to its input.
WINDOW_LAYERS = ("Conv2D", "MaxPool2D", "AvgPool2D")       # kernel, stride, padding
POINTWISE_LAYERS = ("ReLU", "LeakyReLU", "BatchNorm2D", "Dropout", "Identity", "Add")


def _box_below(model, name, box):
    """The input box (r0, r1, c0, c1), inclusive, that ``box`` of node ``name``'s output
    sees, following every path down to the network's input (a union over branches)."""
    if name == INPUT:
        return box
    node = model.nodes[model.index(name)]
    kind = type(node.layer).__name__
    if kind in WINDOW_LAYERS:
        (kh, kw), (sh, sw) = node.layer.kernel_size, node.layer.stride
        ph, pw = getattr(node.layer, "padding", (0, 0))
        r0, r1, c0, c1 = box
        # output position p sees the inputs p*s - pad ... p*s - pad + k - 1
        box = (r0 * sh - ph, r1 * sh - ph + kh - 1, c0 * sw - pw, c1 * sw - pw + kw - 1)
    elif kind not in POINTWISE_LAYERS:
        raise ValueError(f"receptive_field follows {WINDOW_LAYERS} and pointwise layers "
                         f"{POINTWISE_LAYERS}; node {name!r} is a {kind}")
    boxes = [_box_below(model, source, box) for source in node.inputs]
    return (min(b[0] for b in boxes), max(b[1] for b in boxes),
            min(b[2] for b in boxes), max(b[3] for b in boxes))


def receptive_field(model, layer, position, image_size=None):
    """The input box that one activation of node ``layer`` at ``position`` = (row, col)
    sees, composed from the kernels, strides and paddings on every path below it:
    a window of size k, stride s, padding p maps output rows [r0, r1] to input rows
    [r0*s - p, r1*s - p + k - 1]; pointwise layers keep the box; branches take the union.

    returns (row_start, row_stop, col_start, col_stop), stops exclusive, clipped to
    ``image_size`` = (H, W) when given (the padding lies outside the image).
    """
    row, col = position
    r0, r1, c0, c1 = _box_below(model, layer, (row, row, col, col))
    if image_size is not None:
        h, w = image_size
        r0, c0, r1, c1 = max(r0, 0), max(c0, 0), min(r1, h - 1), min(c1, w - 1)
    return r0, r1 + 1, c0, c1 + 1


def top_activations(model, x, layer, channel, k=9, batch_size=256):
    """The k strongest activations of ``channel`` at node ``layer`` over a dataset,
    each image at most once (its strongest position), strongest first.

    x: (N, C, H, W) -> (indices (k,) int, positions (k, 2) int (row, col), values (k,)).
    Ties between images go to the lower index.
    """
    maps = feature_maps(model, x, layer, batch_size)
    if not 0 <= channel < maps.shape[1]:
        raise ValueError(f"channel must be in [0, {maps.shape[1] - 1}] for layer {layer!r}, "
                         f"got {channel}")
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= len(x):
        raise ValueError(f"k must be an int in [1, {len(x)}] (one activation per image), "
                         f"got {k!r}")
    per_image = maps[:, channel].reshape(len(x), -1)
    best = per_image.argmax(axis=1)                                # each image's strongest
    values = per_image[np.arange(len(x)), best]
    order = np.argsort(-values, kind="stable")[:k]
    width = maps.shape[3]
    positions = np.stack([best[order] // width, best[order] % width], axis=1)
    return order, positions, values[order]
