"""Occlusion by reuse, equal to explain.occlusion.occluded_logits (one full forward pass
per occluder): recompute only what each occluder can change.

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
   which gives the exact values of the last feature map on the changed box. Where the
   network starts with convolution, pointwise layers, convolution (both of stride 1),
   the layers up to the second convolution are replaced by a table of the occluder's
   cases (occlusion_cases.py) wherever that costs less: the second convolution's values
   on its box, from far fewer operations when there are many occluders (3.7x fewer
   multiply-adds on the slides' model, 7x7 occluders at stride 1);
4. at the first dense layer only the change matters:

       W (a + delta) + b = (W a + b) + W[:, box] delta[box]

   (``Flatten -> Linear``; for ``GlobalAvgPool2D -> Linear`` the mean moves by
   sum(delta) / (H*W)), and the rest of the network runs as usual on (N, features).

The result is the same function as one full forward pass per occluder
(explain/occlusion.py's ``occluded_logits``, the plain twin), up to rounding.

``Cone`` does steps 1 and 2 once for a set of occluders, and steps 3 and 4 for each
image (``Cone.logits``). Two things there are only for speed, and neither changes a
value: the occluders are sorted by the corner of their last box, so that the ones
sharing a box are one slice of every array; and a ReLU (or LeakyReLU) right before a
max pool runs after it, on 4x fewer values (max(f(a), f(b)) = f(max(a, b)) for a
non-decreasing f).

Supported: chains of Conv2D, MaxPool2D, AvgPool2D and pointwise layers (ReLU,
LeakyReLU, BatchNorm2D, Dropout, Identity), then Flatten or GlobalAvgPool2D, then a
Linear layer; anything after it. ``cone_plan`` says None for any other network.
"""
import numpy as np

from ..layers import Conv2D, Linear
from ..layers.base import input_checked_for_nan
from ..reference.conv import conv_output_size
from . import occlusion_kernels
from .occlusion_cases import (POINTWISE_LAYERS, axis_cases, axis_plan, case_tables,
                              cases_split, table_pays)

WINDOW_LAYERS = ("Conv2D", "MaxPool2D", "AvgPool2D")


def occluded_logits(model, plan, x, tops, lefts, window, baseline, batch_size=256):
    """explain.occlusion.occluded_logits for every image of x (N, C, H, W), by the cone:
    returns (N, B, K), the logits of image n with occluder k (corner (tops[k], lefts[k]),
    size window) set to baseline. plan: ``cone_plan(model)``.
    The cone's boxes are small, so up to max(batch_size, 2048) occluders go at once."""
    step, logits = max(batch_size, 2048), None
    for start in range(0, len(tops), step):
        chunk = slice(start, start + step)
        cone = Cone(model, plan, x.shape[1:], tops[chunk], lefts[chunk], window, baseline)
        for image, values in enumerate(cone.logits(x, batch_size)):   # planned once per chunk
            if logits is None:
                logits = np.empty((len(x), len(tops), values.shape[1]), dtype=values.dtype)
            logits[image, chunk] = values
    return logits


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


def _unpadded(layer):
    """The same sliding window without padding (a Conv2D sharing its weights)."""
    if getattr(layer, "padding", (0, 0)) == (0, 0):
        return layer
    clone = Conv2D(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride)
    clone.params = {"W": layer.params["W"], "b": layer.params["b"]}
    clone.training = False
    return clone


def _zero_outside(crops, rows, cols, size):
    """Crops (B, C, h, w) of a map of spatial size ``size`` whose first rows/cols are
    rows, cols (B,): entries outside the map set to 0 (where a padded conv reads zeros)."""
    (height, width), (h, w) = size, crops.shape[2:]
    row = rows[:, None] + np.arange(h)
    col = cols[:, None] + np.arange(w)
    inside = ((row >= 0) & (row < height))[:, :, None] & ((col >= 0) & (col < width))[:, None]
    return crops * inside[:, None].astype(crops.dtype)


def _crop_plan(image_shape, rows, cols, size, top, left, window):
    """Where the crops come from, worked out once for every image of this shape.

    image_shape: (C, H, W); rows, cols (B,): the crops' corners (they may reach past the
    borders); size: (h, w); top, left (B,): the occluders' corners.
    returns (pad, index, occluded): crops = pad the image by ``pad`` zeros on each side,
    take its flat entries at ``index`` (B, C, h, w), set the flat positions ``occluded``
    of the crops (inside each occluder) to the baseline."""
    (c, height, width), (h, w) = image_shape, size
    pad = max(0, -int(rows.min()), -int(cols.min()), int((rows + h).max()) - height,
              int((cols + w).max()) - width)
    padded_rows, padded_cols = height + 2 * pad, width + 2 * pad
    row = (rows + pad)[:, None] + np.arange(h)                               # (B, h)
    col = (cols + pad)[:, None] + np.arange(w)                               # (B, w)
    index = (np.arange(c)[None, :, None, None] * padded_rows * padded_cols
             + row[:, None, :, None] * padded_cols + col[:, None, None, :])  # (B, C, h, w)
    # the occluder covers image rows [top, top + wh) = crop rows [top - rows, ...)
    in_rows = (row - pad >= top[:, None]) & (row - pad < (top + window[0])[:, None])
    in_cols = (col - pad >= left[:, None]) & (col - pad < (left + window[1])[:, None])
    inside = in_rows[:, None, :, None] & in_cols[:, None, None, :]           # (B, 1, h, w)
    occluded = np.flatnonzero(np.broadcast_to(inside, index.shape))
    return pad, index, occluded


def _occluded_crops(image, plan, baseline):
    """The input boxes (B, C, h, w) of ``_crop_plan`` (zeros past the borders), with each
    occluder set to ``baseline``."""
    pad, index, occluded = plan
    padded = np.pad(image, ((0, 0), (pad, pad), (pad, pad)))
    crops = padded.ravel()[index]
    crops.ravel()[occluded] = baseline
    return crops


def _map_sizes(layers, size):
    """The (H, W) of every map: the input's, then each layer's output."""
    sizes = [tuple(size)]
    for layer in layers:
        if _is_window(layer):
            size = tuple(conv_output_size(n, *_window(layer, axis))
                         for axis, n in enumerate(size))
        sizes.append(size)
    return sizes


def _commutes_with_max(layer):
    """A pointwise layer f with f(max(a, b)) = max(f(a), f(b)): a non-decreasing one, ReLU
    or LeakyReLU (its slope is in [0, 1)). Rounding keeps the order, so the bits agree."""
    return type(layer).__name__ in ("ReLU", "LeakyReLU")


class Cone:
    """The cone of one set of occluders, planned once and run on any number of images.

    model: in eval mode, ``plan = cone_plan(model)``; image_shape: (C, H, W); top, left:
    the occluders' corners (B,); window: (wh, ww); baseline: the occluder's value.
    Everything that does not depend on the image is done here: the boxes of every map,
    the order of the occluders, the dense layer's weights laid out by map row, and the
    band the changes are written into (its zeros are written once). ``logits(x)``
    then does steps 3 and 4 of the module docstring for every image of x.
    """

    def __init__(self, model, plan, image_shape, top, left, window, baseline):
        spatial, self.head, self.pooling, self.dense = plan
        self.model, self.spatial, self.window, self.baseline = model, spatial, window, baseline
        layers = [model[name] for name in spatial]
        self.sizes = _map_sizes(layers, image_shape[1:])
        # 1. the changed box of the last map; 2. the box of every map that it reads
        last_box = [changed_boxes(layers, [size[axis] for size in self.sizes], corner, extent,
                                  axis)[-1]
                    for axis, corner, extent in ((0, top, window[0]), (1, left, window[1]))]
        (box_top, self.bh), (box_left, self.bw) = last_box
        # the occluders sorted by the corner of their last box: the ones sharing a box
        # (and a dense-layer band) are then one slice of every array below
        self.order = np.lexsort((box_left, box_top))
        self.top, self.left = top[self.order], left[self.order]
        self.box_top, self.box_left = box_top[self.order], box_left[self.order]
        rows, cols = (needed_boxes(layers, corner[self.order], extent, axis)
                      for axis, (corner, extent) in enumerate(last_box))
        self.rows, self.cols = rows, cols
        self.boxes = list(_runs(self.box_top * self.sizes[-1][1] + self.box_left))
        self.layers, self.split = layers, cases_split(layers)
        if self.split is not None:               # the table, where it costs less
            (kh, kw), b_map = layers[0].kernel_size, self.split + 1
            cases = len(axis_cases(kh, window[0])[0]) * len(axis_cases(kw, window[1])[0])
            if not table_pays(layers[self.split], cases, self.sizes[1], len(top),
                              (rows[b_map][1], cols[b_map][1])):
                self.split = None
        if self.split is None:                   # 3. on crops of the input
            self.crops = _crop_plan(image_shape, rows[0][0], cols[0][0],
                                    (rows[0][1], cols[0][1]), self.top, self.left, window)
            self.steps = self._steps(layers)
        else:                                    # 3. from B's output on (occlusion_cases.py)
            self.case_plans = self._case_plans(layers[0], layers[self.split])
            self.steps = self._steps(layers, start=self.split + 1)
        if self.head == "flatten":
            weights = model[self.dense].params["W"]
            h, w = self.sizes[-1]
            k = weights.shape[1] // (h * w)                      # channels of the last map
            self.by_rows = np.ascontiguousarray(                 # (O, H, K, W)
                weights.reshape(len(weights), k, h, w).transpose(0, 2, 1, 3))
            self.band = np.zeros((len(top), self.bh, k, w), dtype=weights.dtype)
            self.top_runs = list(_runs(self.box_top))

    def _case_plans(self, first, second):
        """For occlusion_cases.py: which table rows each occluder's box of B's output reads,
        along the rows and along the columns (``axis_plan``)."""
        b_map = self.split + 1                   # B's output: map split + 1
        return [axis_plan(box[b_map][0], box[b_map][1], corner, self.window[axis],
                          (first.kernel_size[axis], first.padding[axis]),
                          (second.kernel_size[axis], second.padding[axis]),
                          (self.sizes[1][axis], self.sizes[b_map][axis]))
                for axis, (box, corner) in enumerate(((self.rows, self.top),
                                                      (self.cols, self.left)))]

    def _steps(self, layers, start=0):
        """(index of the map the layer reads if the layer pads it, else None; the layer
        without padding) in the order they run, from layers[start] on. A non-decreasing
        pointwise layer right before a max pool runs after it instead: the same values, on
        the pool's 4x smaller output."""
        steps, i = [], start
        while i < len(layers):
            layer = layers[i]
            if (i + 1 < len(layers) and _commutes_with_max(layer)
                    and type(layers[i + 1]).__name__ == "MaxPool2D"):
                steps += [(None, layers[i + 1]), (None, layer)]
                i += 2
                continue
            padded = getattr(layer, "padding", (0, 0)) != (0, 0)
            steps.append((i if padded else None, _unpadded(layer)))
            i += 1
        return steps

    def logits(self, x, batch_size=64):
        """The network's output (B, K) for each image of x (N, C, H, W) occluded at each
        corner, in the corners' order, like model.forward of its B occluded copies:
        yields one (B, K) array per image. The unoccluded images go through the network
        ``batch_size`` at a time (their maps are what the crops change)."""
        model, spatial = self.model, self.spatial
        base_node = self.pooling if self.head == "gap" else self.dense
        for start in range(0, len(x), batch_size):
            images = x[start:start + batch_size]
            model.forward(images)                          # checks x, NaN included
            last_maps = model.outputs[spatial[-1]].copy()  # (n, K, H, W), the unoccluded ...
            bases = model.outputs[base_node].copy()        # ... and the head's input
            if self.split is None:
                b_maps = [None] * len(images)
            else:                                          # ... and B's input and output
                b_maps = zip(model.outputs[spatial[self.split - 1]].copy(),
                             model.outputs[spatial[self.split]].copy())
            for image, last, base, b_map in zip(images, last_maps, bases, b_maps):
                yield self._logits(image, last, base, b_map)

    def _logits(self, image, last, base, b_maps=None):
        """One image (C, H, W), its unoccluded last map (K, H', W'), the unoccluded output
        of the pooling (GAP) or first dense node, and (where occlusion_cases.py applies)
        the unoccluded input and output of convolution B -> logits (B, K)."""
        rows, cols = self.rows, self.cols
        # 3. the layers on the crops, or from B's output by the cases' table
        if self.split is None:
            values = _occluded_crops(image, self.crops, self.baseline)
        else:
            values = self._case_values(image, *b_maps)
        with input_checked_for_nan():              # the image was checked by the forward
            for padded_map, layer in self.steps:
                if padded_map is not None:         # zeros where the padding would be
                    i = padded_map
                    values = _zero_outside(values, rows[i][0], cols[i][0], self.sizes[i])
                values = layer.forward(values)
        # 4. the change at the first dense layer, one slice of occluders per shared box
        bh, bw = self.bh, self.bw
        if self.head == "gap":
            # mean over the map moves by the sum of the change / (H*W); then W_dense applies
            shift = np.empty(values.shape[:2], dtype=values.dtype)             # (B, K)
            for first, end in self.boxes:
                t, l = self.box_top[first], self.box_left[first]
                shift[first:end] = (values[first:end].sum(axis=(2, 3))
                                    - last[:, t:t + bh, l:l + bw].sum(axis=(1, 2)))
            shift /= last.shape[1] * last.shape[2]
            result = self.model.forward(base + shift, start=self.pooling)
        else:
            change = self._dense_change(values, last)
            result = self.model.forward(base + change, start=self.dense)
        logits = np.empty_like(result)
        logits[self.order] = result                        # back to the corners' order
        return logits

    def _case_values(self, image, b_input, b_output):
        """B's output (B, O, bh, bw) on each occluder's box, by occlusion_cases.py: the
        table of the cases for this image, then each box's sums of its rows."""
        layers, split = self.layers, self.split
        table = case_tables(layers[0], layers[1:split], layers[split], image, b_input,
                            self.window, self.baseline)
        b_map = split + 1
        values = np.empty((len(self.top), len(b_output), self.rows[b_map][1],
                           self.cols[b_map][1]), dtype=table.dtype)
        column_cases = len(axis_cases(layers[0].kernel_size[1], self.window[1])[0])
        return occlusion_kernels.occluder_case_sums(table, b_output, *self.case_plans,
                                                    column_cases, self.sizes[1][1], values)

    def _dense_change(self, values, last):
        """W[:, box] delta[box] for every occluder, delta = values (B, K, bh, bw) minus the
        unoccluded map ``last`` (K, H, W) on the occluder's box. returns (B, O).

        With the weights as (O, H, K, W) (map rows outermost), the rows [t, t + bh) of
        every channel are one matrix (O, bh*K*W). Each delta goes into its columns of a
        (bh, K, W) band (zeros elsewhere, written once in __init__), and the occluders
        sharing a top row t take one matrix product with their band of weights."""
        occlusion_kernels.subtract_into_band(values, last, self.box_top, self.box_left,
                                             self.band)
        band = self.band.reshape(len(self.band), -1)
        outputs = len(self.by_rows)
        change = np.empty((len(band), outputs), dtype=band.dtype)
        for first, end in self.top_runs:
            t = self.box_top[first]
            weights = self.by_rows[:, t:t + self.bh].reshape(outputs, -1)
            np.matmul(band[first:end], weights.T, out=change[first:end])
        return change


def _runs(keys):
    """[first, last) of every run of equal values in sorted keys (B,)."""
    starts = np.flatnonzero(np.diff(keys, prepend=keys[0] - 1))
    return zip(starts, np.append(starts[1:], len(keys)))
