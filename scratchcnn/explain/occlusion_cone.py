"""Occlusion by reuse: recompute only what each occluder can change.

An occluder changes a (wh, ww) box of the input. Through a layer with kernel k,
stride s and padding p, a changed input box of rows [a, a + n) changes only the
output rows o with o*s - p <= a + n - 1 and o*s - p + k - 1 >= a (its *cone of
influence*); every other output equals the unoccluded image's. So for each occluder
we carry, layer by layer, a small box of values and compute each layer on the crop of
its input that the box's outputs read (the unoccluded activations around it, with the
changed values pasted in). At the first dense layer only the change matters:

    W (a + delta) + b = (W a + b) + W[:, box] delta[box]

(``Flatten -> Linear``; for ``GlobalAvgPool2D -> Linear`` the mean moves by
sum(delta) / (H*W)), and the rest of the network runs as usual on the (N, features).
The result is the same function as one full forward pass per occluder (occlusion.py,
``method="full"``, the reference twin), up to rounding.

Supported: chains of Conv2D, MaxPool2D, AvgPool2D and pointwise layers (ReLU,
LeakyReLU, BatchNorm2D, Dropout, Identity), then Flatten or GlobalAvgPool2D, then a
Linear layer; anything after it. ``cone_plan`` says None for any other network.
"""
import numpy as np

from ..layers import Conv2D, Linear
from ..layers.base import input_checked_for_nan

WINDOW_LAYERS = ("Conv2D", "MaxPool2D", "AvgPool2D")
POINTWISE_LAYERS = ("ReLU", "LeakyReLU", "BatchNorm2D", "Dropout", "Identity")


def cone_plan(model):
    """(spatial node names, "flatten" or "gap", the pooling node, the Linear node) for a
    supported chain, else None."""
    if not model.is_chain():
        return None
    names = model.names
    for i, name in enumerate(names):
        kind = type(model[name]).__name__
        if kind in WINDOW_LAYERS + POINTWISE_LAYERS:
            continue
        head = {"Flatten": "flatten", "GlobalAvgPool2D": "gap"}.get(kind)
        if head and i > 0 and i + 1 < len(names) and isinstance(model[names[i + 1]], Linear):
            return names[:i], head, name, names[i + 1]
        return None
    return None


def _ceil_div(a, b):
    return -((-a) // b)


def _gather(planes, top, left, height, width):
    """planes (C, H, W), corners (B,) -> crops (B, C, height, width)."""
    windows = np.lib.stride_tricks.sliding_window_view(planes, (height, width), axis=(1, 2))
    return np.ascontiguousarray(windows[:, top, left].transpose(1, 0, 2, 3))


def _unpadded(layer):
    """The same sliding window without padding (a Conv2D sharing its weights)."""
    if getattr(layer, "padding", (0, 0)) == (0, 0):
        return layer
    clone = Conv2D(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride)
    clone.params = {"W": layer.params["W"], "b": layer.params["b"]}
    clone.training, clone.use_winograd = False, layer.use_winograd
    return clone


def _window_step(layer, before, top, left, values):
    """One sliding-window layer on the boxes: before (C, H, W) the unoccluded input;
    (top, left) (B,) and values (B, C, bh, bw) the changed boxes of the input.
    returns the output boxes (top, left, values)."""
    (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
    ph, pw = getattr(layer, "padding", (0, 0))
    _, h, w = before.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    boxes = []
    for corner, size, k, s, p, limit in ((top, values.shape[2], kh, sh, ph, oh),
                                         (left, values.shape[3], kw, sw, pw, ow)):
        first = np.clip(_ceil_div(corner + p - k + 1, s), 0, limit - 1)   # the cone of influence
        last = np.clip((corner + size - 1 + p) // s, 0, limit - 1)
        extent = int((last - first).max()) + 1                            # one size for all
        boxes.append((np.minimum(first, limit - extent), extent, k, s, p, corner))
    (out_top, bh, _, _, _, _), (out_left, bw, _, _, _, _) = boxes
    crop_h, crop_w = (bh - 1) * sh + kh, (bw - 1) * sw + kw
    padded = np.pad(before, ((0, 0), (ph, ph), (pw, pw)))
    crops = _gather(padded, out_top * sh, out_left * sw, crop_h, crop_w)    # the unoccluded values
    vh, vw = values.shape[2:]
    # paste each box's changed values in place: where a box sits in its crop, (r, c), is
    # the same for every occluder away from the borders, so paste each such group at once
    offsets = np.stack([top + ph - out_top * sh, left + pw - out_left * sw], axis=1)
    places, group = np.unique(offsets, axis=0, return_inverse=True)
    for k, (r, c) in enumerate(places):
        boxes = np.flatnonzero(group.ravel() == k)
        r0, r1, c0, c1 = max(r, 0), min(r + vh, crop_h), max(c, 0), min(c + vw, crop_w)
        crops[boxes, :, r0:r1, c0:c1] = values[boxes, :, r0 - r:r1 - r, c0 - c:c1 - c]
    return out_top, out_left, _unpadded(layer).forward(crops)


def cone_logits(model, plan, image, top, left, window, baseline):
    """The network's output for one image (C, H, W) occluded at each corner (top, left)
    (B,) by a (wh, ww) box of ``baseline``; the model must be in eval mode.
    returns (B, K), like model.forward of the B occluded copies."""
    spatial, head, pooling, dense = plan
    model.forward(image[None])
    before = [image] + [model.outputs[name][0] for name in spatial]         # unoccluded
    base_dense = model.outputs[dense][0]
    values = np.full((len(top), image.shape[0], *window), baseline, dtype=image.dtype)
    with input_checked_for_nan():                  # the image was checked by the forward above
        for name, below in zip(spatial, before):
            layer = model[name]
            if type(layer).__name__ in WINDOW_LAYERS:
                top, left, values = _window_step(layer, below, top, left, values)
            else:
                values = layer.forward(values)             # pointwise: the box stays put
    last = before[-1]                                      # the unoccluded last feature maps
    delta = values - _gather(last, top, left, *values.shape[2:])             # (B, K, bh, bw)
    weights = model[dense].params["W"]
    if head == "gap":
        # mean over the map moves by the sum of the change / (H*W); then W_dense applies
        shift = delta.sum(axis=(2, 3)) / (last.shape[1] * last.shape[2])       # (B, K)
        return model.forward(model.outputs[pooling][0] + shift, start=pooling)
    # W[:, box] delta[box] for every occluder at once: the boxes' changes scattered into
    # zero maps (B, K*H*W), then one matrix product with the dense weights
    change = np.zeros((len(top), *last.shape), dtype=image.dtype)
    rows = top[:, None] + np.arange(delta.shape[2])
    cols = left[:, None] + np.arange(delta.shape[3])
    change[np.arange(len(top))[:, None, None], :, rows[:, :, None], cols[:, None, :]] = \
        delta.transpose(0, 2, 3, 1)
    return model.forward(base_dense + change.reshape(len(top), -1) @ weights.T, start=dense)
