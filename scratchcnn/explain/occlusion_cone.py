"""Occlusion by reuse: recompute only what each occluder can change.

An occluder changes a (wh, ww) box of the input. Through a layer with kernel k,
stride s and padding p, a changed input box of rows [a, a + n) changes only the
output rows o with o*s - p <= a + n - 1 and o*s - p + k - 1 >= a (its *cone of
influence*); every other output equals the unoccluded image's. So, per occluder:

1. follow the changed box forward, layer by layer, to the last feature map
   (``changed_boxes``: the same size for every occluder, so that they batch);
2. walk back from that box to the input box it reads: output rows [o, o + n) read
   input rows [o*s - p, (o + n - 1)*s - p + k) (``needed_boxes``);
3. crop the input to that box, paste the occluder, and run the layers on the crops
   (each convolution without its padding; zeros put where the padding would be),
   which gives the exact values of the last feature map on the changed box;
4. at the first dense layer only the change matters:

       W (a + delta) + b = (W a + b) + W[:, box] delta[box]

   (``Flatten -> Linear``; for ``GlobalAvgPool2D -> Linear`` the mean moves by
   sum(delta) / (H*W)), and the rest of the network runs as usual on (N, features).

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


def _window(layer, axis):
    """(kernel, stride, padding) of a sliding-window layer along axis 0 (rows) or 1."""
    padding = getattr(layer, "padding", (0, 0))
    return layer.kernel_size[axis], layer.stride[axis], padding[axis]


def _is_window(layer):
    return type(layer).__name__ in WINDOW_LAYERS


def changed_boxes(layers, sizes, corner, extent, axis):
    """Along one axis, the box of values an occluder changes in every map.

    layers: the spatial layers; sizes: each map's length along the axis, the input's
    first (len(layers) + 1); corner (B,), extent: the occluder's first row and size.
    returns the boxes, one per map: (first (B,), extent), every box the same size."""
    boxes = [(corner, extent)]
    for layer, limit in zip(layers, sizes[1:]):
        if _is_window(layer):
            k, s, p = _window(layer, axis)
            first = np.clip(_ceil_div(corner + p - k + 1, s), 0, limit - 1)   # the cone
            last = np.clip((corner + extent - 1 + p) // s, 0, limit - 1)
            extent = int((last - first).max()) + 1                          # one size for all
            corner = np.minimum(first, limit - extent)
        boxes.append((corner, extent))
    return boxes


def needed_boxes(layers, corner, extent, axis):
    """Along one axis, the box of every map that the last map's box (corner (B,),
    extent) reads: output rows [o, o + n) read input rows [o*s - p, (o + n - 1)*s - p + k).
    returns one (first (B,), extent) per map, the input's first; boxes may reach past
    the borders (into the padding)."""
    boxes = [(corner, extent)]
    for layer in reversed(layers):
        if _is_window(layer):
            k, s, p = _window(layer, axis)
            corner, extent = corner * s - p, (extent - 1) * s + k
        boxes.append((corner, extent))
    return boxes[::-1]


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


def _zero_outside(crops, rows, cols, size):
    """Crops (B, C, h, w) of a map of spatial size ``size`` whose first rows/cols are
    rows, cols (B,): entries outside the map set to 0 (where a padded conv reads zeros)."""
    (height, width), (h, w) = size, crops.shape[2:]
    row = rows[:, None] + np.arange(h)
    col = cols[:, None] + np.arange(w)
    inside = ((row >= 0) & (row < height))[:, :, None] & ((col >= 0) & (col < width))[:, None]
    return crops * inside[:, None].astype(crops.dtype)


def _occluded_crops(image, rows, cols, size, top, left, window, baseline):
    """The input boxes (B, C, h, w) at corners rows, cols (B,) (zeros past the borders),
    with the occluder at (top, left) (B,) set to ``baseline``."""
    h, w = size
    pad = max(0, -int(rows.min()), -int(cols.min()), int((rows + h).max()) - image.shape[1],
              int((cols + w).max()) - image.shape[2])
    padded = np.pad(image, ((0, 0), (pad, pad), (pad, pad)))
    crops = _gather(padded, rows + pad, cols + pad, h, w)
    # where the occluder sits in its crop is the same for every occluder away from the
    # borders: paste each such group with one slice
    places = np.stack([top - rows, left - cols], axis=1)
    for r, c in np.unique(places, axis=0):
        group = np.flatnonzero((places[:, 0] == r) & (places[:, 1] == c))
        crops[group, :, max(r, 0):r + window[0], max(c, 0):c + window[1]] = baseline
    return crops


def _dense_change(weights, delta, top, left, size):
    """W[:, box] delta[box] for every occluder: weights (O, K*H*W) of the dense layer on
    the flattened (K, H, W) map; delta (B, K, bh, bw) at corners top, left (B,).
    returns (B, O). With the weights as (O, H, K, W) (map rows outermost), the rows
    [top, top + bh) of every channel are one matrix (O, bh*K*W); each change goes into
    its columns of a (bh, K, W) band, and the occluders sharing a top row take one
    matrix product with their band of weights. Sorted by corner first, so that every
    group is a contiguous range of rows (slices, no gathers: 1.4x faster)."""
    (k, h, w), (n, _, bh, bw), outputs = size, delta.shape, len(weights)
    by_rows = np.ascontiguousarray(weights.reshape(outputs, k, h, w).transpose(0, 2, 1, 3))
    order = np.lexsort((left, top))                        # by top row, then left column
    top, left = top[order], left[order]
    by_row_delta = delta.transpose(0, 2, 1, 3)                            # (B, bh, K, bw)
    band = np.zeros((n, bh, k, w), dtype=delta.dtype)
    for first, last in _runs(top * w + left):
        band[first:last, :, :, left[first]:left[first] + bw] = by_row_delta[order[first:last]]
    band = band.reshape(n, -1)
    change = np.empty((n, outputs), dtype=delta.dtype)
    for first, last in _runs(top):
        rows = by_rows[:, top[first]:top[first] + bh].reshape(outputs, -1)
        np.matmul(band[first:last], rows.T, out=change[first:last])
    change[order] = change.copy()                          # back to the occluders' order
    return change


def _runs(keys):
    """[first, last) of every run of equal values in sorted keys (B,)."""
    starts = np.flatnonzero(np.diff(keys, prepend=keys[0] - 1))
    return zip(starts, np.append(starts[1:], len(keys)))


def cone_logits(model, plan, image, top, left, window, baseline):
    """The network's output for one image (C, H, W) occluded at each corner (top, left)
    (B,) by a (wh, ww) box of ``baseline``; the model must be in eval mode.
    returns (B, K), like model.forward of the B occluded copies."""
    spatial, head, pooling, dense = plan
    layers = [model[name] for name in spatial]
    model.forward(image[None])
    sizes = [image.shape[1:]] + [model.outputs[name].shape[2:] for name in spatial]
    # 1. the changed box of the last map; 2. the box of every map that it reads
    last_box = [changed_boxes(layers, [size[axis] for size in sizes], corner, extent,
                              axis)[-1]
                for axis, corner, extent in ((0, top, window[0]), (1, left, window[1]))]
    rows, cols = (needed_boxes(layers, *box, axis) for axis, box in enumerate(last_box))
    # 3. the layers on the crops
    values = _occluded_crops(image, rows[0][0], cols[0][0], (rows[0][1], cols[0][1]), top,
                             left, window, baseline)
    with input_checked_for_nan():                  # the image was checked by the forward above
        for i, layer in enumerate(layers):
            if getattr(layer, "padding", (0, 0)) != (0, 0):
                values = _zero_outside(values, rows[i][0], cols[i][0], sizes[i])
            values = _unpadded(layer).forward(values)
    # 4. the change at the first dense layer
    last = model.outputs[spatial[-1]][0]                   # the unoccluded last feature maps
    (box_top, _), (box_left, _) = last_box
    delta = values - _gather(last, box_top, box_left, *values.shape[2:])     # (B, K, bh, bw)
    if head == "gap":
        # mean over the map moves by the sum of the change / (H*W); then W_dense applies
        shift = delta.sum(axis=(2, 3)) / (last.shape[1] * last.shape[2])       # (B, K)
        return model.forward(model.outputs[pooling][0] + shift, start=pooling)
    change = _dense_change(model[dense].params["W"], delta, box_top, box_left, last.shape)
    return model.forward(model.outputs[dense][0] + change, start=dense)
