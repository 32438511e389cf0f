"""Occlusion sensitivity (Zeiler & Fergus 2014, sec. 4.2 and Fig. 7): slide a grey
square over the image and watch the class probability.

``occluded_logits`` is the definition: the model's output on copies of the image, each
with the square at one position. ``occlusion`` turns those outputs into a map: the
target's probability (or score) per position. In the fast room (the default) ops.py
computes the same numbers by reusing the unoccluded image's computation wherever the
network allows it; inside ``use_reference()`` it runs this definition.
"""
import numpy as np

from .. import ops
from ..backend import array_module, to_numpy
from ..layers.base import as_pair
from ..losses import log_softmax
from ..model import eval_mode
from .base import as_targets, check_batch, target_outputs

OUTPUTS = ("probability", "score", "probabilities")


def occluder_positions(image_size, window, stride):
    """Top-left corners (rows (oh,), cols (ow,)) of every window position: a
    (wh, ww) window moved by ``stride`` inside an (H, W) image."""
    (h, w), (wh, ww), (sh, sw) = image_size, window, stride
    if wh > h or ww > w:
        raise ValueError(f"window {window} is larger than the image {(h, w)}")
    return np.arange(0, h - wh + 1, sh), np.arange(0, w - ww + 1, sw)


def occluded_logits(model, image, tops, lefts, window, baseline, batch_size=256):
    """The definition: the model's output on B occluded copies of one image.

    image: (1, C, H, W); tops, lefts: (B,), the occluders' top-left corners; window:
    (wh, ww); baseline: the occluder's value (all channels).
    returns (B, K): row k is model.forward(image with image[:, :, tops[k] : tops[k] + wh,
    lefts[k] : lefts[k] + ww] = baseline), ``batch_size`` copies per forward pass, with
    the model in the mode it is in (``occlusion`` puts it in eval mode).
    """
    xp = array_module(image)
    logits = []
    for start in range(0, len(tops), batch_size):
        corners = list(zip(tops[start:start + batch_size], lefts[start:start + batch_size]))
        occluded = xp.repeat(image, len(corners), axis=0)             # (b, C, H, W)
        for k, (top, left) in enumerate(corners):
            occluded[k, :, top:top + window[0], left:left + window[1]] = baseline
        logits.append(model.forward(occluded))
    return xp.concatenate(logits)


def occlusion(model, x, target, window=(7, 7), stride=1, baseline=0.0,
              output="probability", batch_size=256):
    """The target's probability (or score) with the image occluded at each position.

    x: (N, C, H, W); window, stride: an int or a pair; baseline: the occluder's value
    (all channels). returns (N, oh, ow): entry (n, i, j) is output(x_n with
    x_n[:, i*sh : i*sh + wh, j*sw : j*sw + ww] = baseline), oh = (H - wh) // sh + 1;
    output="probabilities": every class's probability, (N, oh, ow, K) (e.g. to map the
    most probable class, Zeiler & Fergus Fig. 7).
    """
    check_batch(x)
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    window, stride = as_pair(window, "window"), as_pair(stride, "stride")
    rows, cols = occluder_positions(x.shape[2:], window, stride)
    n = len(x)
    classes = _num_classes(model, x)
    targets = as_targets(target, n, classes)
    tops, lefts = np.repeat(rows, len(cols)), np.tile(cols, len(rows))    # every corner
    result = np.empty((n, len(tops)) + ((classes,) if output == "probabilities" else ()))
    with eval_mode(model):
        per_image = ops.occluded_logits(model, x, tops, lefts, window, baseline, batch_size,
                                        occluded_logits)
        for image, logits in enumerate(per_image):                   # logits: (B, K)
            if output == "probabilities":
                result[image] = to_numpy(array_module(logits).exp(log_softmax(logits)))
            else:
                result[image] = to_numpy(target_outputs(
                    logits, np.full(len(tops), targets[image]), output))
    return result.reshape(n, len(rows), len(cols), *result.shape[2:])


def occlusion_attribution(model, x, target, window=(7, 7), stride=1, baseline=0.0,
                          batch_size=256):
    """Per-pixel attribution (Captum's ``Occlusion`` definition): each pixel gets the mean,
    over every window position that covers it, of the drop of the target's score,
    S(x) - S(x occluded there). x: (N, C, H, W) -> (N, C, H, W) (the same value in every
    channel, since the occluder covers all channels); 0 where no window reaches."""
    window, stride = as_pair(window, "window"), as_pair(stride, "stride")
    occluded = occlusion(model, x, target, window, stride, baseline, "score", batch_size)
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
