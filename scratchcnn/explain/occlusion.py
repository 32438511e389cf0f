"""Occlusion sensitivity (Zeiler & Fergus 2014, sec. 4.2 and Fig. 7): slide a grey
square over the image and watch the class probability.

``method="full"`` is the plain definition: one full forward pass per occluder
position, batched. ``method="cone"`` (occlusion_cone.py) recomputes only each
occluder's cone of influence and gives the same numbers; ``"auto"`` (the default)
takes it wherever the network allows (a chain ending in Flatten/GAP -> Linear, on the
CPU), else the full passes.
"""
import numpy as np

from ..backend import array_module, to_numpy
from ..layers.base import as_pair
from ..losses import log_softmax
from ..model import eval_mode
from .base import as_targets, check_batch, target_outputs
from .occlusion_cone import Cone, cone_plan

OUTPUTS = ("probability", "score", "probabilities")
METHODS = ("auto", "cone", "full")


def occluder_positions(image_size, window, stride):
    """Top-left corners (rows (oh,), cols (ow,)) of every window position: a
    (wh, ww) window moved by ``stride`` inside an (H, W) image."""
    (h, w), (wh, ww), (sh, sw) = image_size, window, stride
    if wh > h or ww > w:
        raise ValueError(f"window {window} is larger than the image {(h, w)}")
    return np.arange(0, h - wh + 1, sh), np.arange(0, w - ww + 1, sw)


def occlusion(model, x, target, window=(7, 7), stride=1, baseline=0.0,
              output="probability", batch_size=256, method="auto"):
    """The target's probability (or score) with the image occluded at each position.

    x: (N, C, H, W); window, stride: an int or a pair; baseline: the occluder's value
    (all channels). returns (N, oh, ow): entry (n, i, j) is output(x_n with
    x_n[:, i*sh : i*sh + wh, j*sw : j*sw + ww] = baseline), oh = (H - wh) // sh + 1;
    output="probabilities": every class's probability, (N, oh, ow, K) (e.g. to map the
    most probable class, Zeiler & Fergus Fig. 7). method: "auto", "cone" or "full"
    (see the module docstring).
    """
    check_batch(x)
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    plan = cone_plan(model) if isinstance(x, np.ndarray) else None
    if method == "cone" and plan is None:
        raise ValueError("method='cone' needs a chain of Conv2D / MaxPool2D / AvgPool2D / "
                         "pointwise layers, then Flatten or GlobalAvgPool2D, then Linear, on "
                         "the CPU; use method='full'")
    window, stride = as_pair(window, "window"), as_pair(stride, "stride")
    rows, cols = occluder_positions(x.shape[2:], window, stride)
    n = len(x)
    classes = _num_classes(model, x)
    targets = as_targets(target, n, classes)
    tops, lefts = np.repeat(rows, len(cols)), np.tile(cols, len(rows))    # every corner
    result = np.empty((n, len(tops)) + ((classes,) if output == "probabilities" else ()))
    use_cone = plan is not None and method != "full"
    # the cone's boxes are small: all of an image's occluders at once (measured faster)
    step = max(batch_size, 2048) if use_cone else batch_size
    with eval_mode(model):
        for start in range(0, len(tops), step):
            chunk = slice(start, start + step)
            if use_cone:                # planned once, run on every image
                cone = Cone(model, plan, x.shape[1:], tops[chunk], lefts[chunk], window,
                            baseline)
                per_image = cone.logits(x, batch_size)
            else:
                per_image = (_occluded_logits(model, x[image:image + 1], tops[chunk],
                                              lefts[chunk], window, baseline)
                             for image in range(n))
            for image, logits in enumerate(per_image):
                if output == "probabilities":
                    result[image, chunk] = to_numpy(array_module(logits).exp(
                        log_softmax(logits)))
                else:
                    result[image, chunk] = to_numpy(target_outputs(
                        logits, np.full(len(tops[chunk]), targets[image]), output))
    return result.reshape(n, len(rows), len(cols), *result.shape[2:])


def _occluded_logits(model, image, tops, lefts, window, baseline):
    """model.forward of B copies of image (1, C, H, W), copy k with the (wh, ww) box at
    (tops[k], lefts[k]) set to baseline: the plain definition (method="full")."""
    occluded = array_module(image).repeat(image, len(tops), axis=0)
    for k, (r, c) in enumerate(zip(tops, lefts)):
        occluded[k, :, r:r + window[0], c:c + window[1]] = baseline
    return model.forward(occluded)


def occlusion_attribution(model, x, target, window=(7, 7), stride=1, baseline=0.0,
                          batch_size=256, method="auto"):
    """Per-pixel attribution (Captum's ``Occlusion`` definition): each pixel gets the mean,
    over every window position that covers it, of the drop of the target's score,
    S(x) - S(x occluded there). x: (N, C, H, W) -> (N, C, H, W) (the same value in every
    channel, since the occluder covers all channels); 0 where no window reaches."""
    window, stride = as_pair(window, "window"), as_pair(stride, "stride")
    occluded = occlusion(model, x, target, window, stride, baseline, "score", batch_size,
                         method)
    with eval_mode(model):
        n = len(x)
        original = to_numpy(target_outputs(model.forward(x), as_targets(
            target, n, _num_classes(model, x)), "score"))
    drops = original[:, None, None] - occluded                      # (N, oh, ow)
    rows, cols = occluder_positions(x.shape[2:], window, stride)
    (wh, ww), (h, w) = window, x.shape[2:]
    total, count = np.zeros((len(x), h, w)), np.zeros((h, w))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            total[:, r:r + wh, c:c + ww] += drops[:, i, j, None, None]
            count[r:r + wh, c:c + ww] += 1
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return np.repeat(mean[:, None], x.shape[1], axis=1).astype(x.dtype)


def _num_classes(model, x):
    with eval_mode(model):
        return int(model.forward(x[:1]).shape[1])
