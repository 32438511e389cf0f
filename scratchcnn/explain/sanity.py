"""Tests of an explanation: does the map find what the model uses, and does it depend
on the model at all?

    deletion_insertion   Petsiuk et al. 2018 (RISE), sec. 4.1: remove (or insert) the
                         pixels the map ranks highest and watch the class probability
    randomization_check  Adebayo et al. 2018, sec. 3: re-initialize the layers from the
                         top down; a map that stays the same does not explain the model
"""
import collections
import contextlib

import numpy as np

from ..backend import array_module, to_numpy
from ..model import eval_mode
from .base import check_batch, forward_scores, target_outputs
from .metrics import spearman, ssim

OUTPUTS = ("probability", "score")

RandomizationRow = collections.namedtuple("RandomizationRow", "layer spearman ssim")


def pixel_order(attribution, image_size):
    """Pixels from the highest attribution to the lowest, ties in pixel (row-major) order.

    attribution: (N, C, H, W) (summed over channels) or (N, H, W), e.g. a Grad-CAM
    upsampled to the image. returns (N, H*W) int: flat pixel indices, most important first.
    """
    scores = to_numpy(attribution).astype(np.float64)
    if scores.ndim == 4:
        scores = scores.sum(axis=1)                       # a pixel's channels go together
    if scores.ndim != 3 or scores.shape[1:] != tuple(image_size):
        raise ValueError(f"attribution must be (N, C, H, W) or (N, H, W) with H, W = "
                         f"{tuple(image_size)} (the image size of x), got shape "
                         f"{tuple(attribution.shape)}; upsample a coarse map first")
    if not np.isfinite(scores).all():
        raise ValueError("attribution must be finite (no NaN or inf)")
    return np.argsort(-scores.reshape(len(scores), -1), axis=1, kind="stable")


def removal_counts(pixels, steps):
    """How many pixels are removed at step k = 0..steps: k * pixels / steps rounded
    (halves up), from 0 to all of them. -> (steps + 1,) int."""
    k = np.arange(steps + 1)
    return (2 * k * pixels + steps) // (2 * steps)


def _curves(model, x, targets, order, counts, baseline, output, batch_size):
    """Deletion and insertion curves, each (N, steps + 1): the target's output on x with
    the first counts[k] pixels of ``order`` replaced by the baseline (deletion), or on the
    baseline with those pixels copied from x (insertion)."""
    xp = array_module(x)
    n, _, h, w = x.shape
    deletion, insertion = np.empty((n, len(counts))), np.empty((n, len(counts)))
    rank = np.empty(order.shape, np.int64)
    np.put_along_axis(rank, order, np.arange(h * w)[None], axis=1)   # rank[n, p]: p's place
    for image in range(n):
        removed = xp.asarray((rank[image][None] < counts[:, None]).reshape(-1, 1, h, w))
        canvas = baseline[image] if baseline.ndim == 4 else baseline   # (C, H, W) or scalar
        stacks = (xp.where(removed, canvas, x[image]),                 # (steps + 1, C, H, W)
                  xp.where(removed, x[image], canvas))
        for curve, stack in zip((deletion, insertion), stacks):
            for start in range(0, len(stack), batch_size):
                chunk = stack[start:start + batch_size]
                curve[image, start:start + len(chunk)] = to_numpy(target_outputs(
                    model.forward(chunk), np.full(len(chunk), targets[image]), output))
    return deletion, insertion


def deletion_insertion(model, x, target, attribution, steps=20, baseline=0.0,
                       output="probability", batch_size=256):
    """Deletion and insertion curves of an attribution (Petsiuk et al. 2018, sec. 4.1).

    The pixels are ranked by the attribution, highest first (ties in pixel order). At
    step k = 0..steps the first round(k H W / steps) pixels (all channels of a pixel
    together) are set to ``baseline`` in x (deletion: a good map makes the class
    probability fall fast, a small area under the curve) or copied from x into an image
    filled with ``baseline`` (insertion: the probability rises fast, a large area).
    Petsiuk et al. insert into a blurred copy of the image; here the canvas is
    ``baseline``, a scalar or an array shaped like x (pass a blurred x to follow them).

    x: (N, C, H, W); target: int or N ints; attribution: (N, C, H, W) or (N, H, W);
    output: "probability" (softmax of the target) or "score" (its logit).
    returns {"fractions": (steps + 1,) share of the pixels removed or inserted,
    "deletion": (N, steps + 1), "insertion": (N, steps + 1),
    "deletion_auc": (N,), "insertion_auc": (N,)}, the areas by the trapezoid rule.
    """
    check_batch(x)
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    for arg, value in (("steps", steps), ("batch_size", batch_size)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{arg} must be a positive int, got {value!r}")
    xp = array_module(x)
    baseline = xp.asarray(baseline, dtype=x.dtype)
    if baseline.ndim != 0 and baseline.shape != x.shape:
        raise ValueError(f"baseline must be a scalar or an array shaped like x "
                         f"{tuple(x.shape)}, got shape {tuple(baseline.shape)}")
    order = pixel_order(attribution, x.shape[2:])
    if len(order) != len(x):
        raise ValueError(f"attribution must hold one map per image of x ({len(x)}), "
                         f"got {len(order)}")
    counts = removal_counts(x.shape[2] * x.shape[3], steps)
    with eval_mode(model):
        _, targets, _ = forward_scores(model, x, target)
        deletion, insertion = _curves(model, x, targets, order, counts, baseline, output,
                                      batch_size)
    fractions = counts / (x.shape[2] * x.shape[3])
    widths = np.diff(fractions)

    def area(curve):                        # trapezoid rule: sum of (f_k+1 - f_k)(y_k + y_k+1)/2
        return ((curve[:, 1:] + curve[:, :-1]) / 2 * widths).sum(axis=1)

    return {"fractions": fractions, "deletion": deletion, "insertion": insertion,
            "deletion_auc": area(deletion), "insertion_auc": area(insertion)}


def parametrized_layers(model):
    """Names of the nodes that have parameters, from the output back to the input."""
    return [node.name for node in reversed(model.nodes) if node.layer.params]


def randomize_layer(layer, rng):
    """Re-initialize every parameter of ``layer`` in place: each array is replaced by
    Gaussian draws with that array's own mean and standard deviation (the trained
    weights' scale, none of their structure). A constant array (a zero bias, an
    untouched batch-norm scale) stays as it is."""
    for value in layer.params.values():
        host = to_numpy(value).astype(np.float64)
        draw = rng.normal(host.mean(), host.std(), host.shape)
        value[...] = array_module(value).asarray(draw, dtype=value.dtype)


def _as_image(maps):
    """Maps (N, ...) -> (N, H, W) for SSIM: a 4-D map is summed over its channels (of
    absolute values when ``absolute``: _compare takes them first); a 3-D map is kept."""
    if maps.ndim == 4:
        return maps.sum(axis=1)
    if maps.ndim == 3:
        return maps
    raise ValueError(f"method must return maps (N, C, H, W) or (N, H, W), got shape "
                     f"{maps.shape}")


def _compare(original, maps, absolute):
    """Spearman correlation and SSIM of each image's map against its original map."""
    if maps.shape != original.shape:
        raise ValueError(f"method returned maps of shape {maps.shape} after randomizing, "
                         f"but {original.shape} before")
    if absolute:                            # Adebayo et al. rank absolute values
        original, maps = np.abs(original), np.abs(maps)
    return spearman(original, maps), ssim(_as_image(original), _as_image(maps))


def _check_layers(model, layers):
    """The layers to randomize, in order; default: every parametrized node, top first."""
    valid = parametrized_layers(model)
    if layers is None:
        return valid
    if not isinstance(layers, (list, tuple)) or not all(isinstance(n, str) for n in layers):
        raise TypeError(f"layers must be a list of node names, got {layers!r}")
    unknown = [name for name in layers if name not in valid]
    if unknown:
        raise ValueError(f"layers {unknown} are not nodes with parameters; valid names "
                         f"(top first): {valid}")
    return list(layers)


@contextlib.contextmanager
def randomized_cascade(model, layers=None, seed=0):
    """Cascading randomization as a ``with`` block (Adebayo et al. 2018, sec. 3.1):

        with randomized_cascade(model) as steps:
            before = method(model, x, t)
            for layer in steps:            # one more layer random at each step, top first
                after = method(model, x, t)

    Each step re-initializes the next layer of ``layers`` (default: every node with
    parameters, from the output back) with ``randomize_layer``, the layers above staying
    random, all from one Generator seeded with ``seed``. On leaving the block, also by an
    exception, the model's parameters and buffers are restored exactly."""
    layers = _check_layers(model, layers)
    rng = np.random.default_rng(seed)
    saved = {key: value.copy() for key, value in model.state_dict().items()}

    def steps():
        for name in layers:
            randomize_layer(model[name], rng)           # cascading: earlier draws stay
            yield name
    try:
        yield steps()
    finally:
        model.load_state_dict(saved)


def randomization_check(model, x, target, method, layers=None, seed=0, absolute=True):
    """Cascading model-parameter randomization (Adebayo et al. 2018, sec. 3.1).

    method(model, x, target) -> maps (N, ...), e.g. ``saliency`` or
    ``lambda m, x, t: grad_cam(m, x, t, layer="relu2")``. The original maps are computed
    first; then the layers are re-initialized one after the other, from the top (the
    output) down, cumulatively (the layers above stay random), and the maps computed
    again after each (``randomized_cascade``). Each parameter array is redrawn from a
    Gaussian with its own mean and standard deviation (``randomize_layer``; biases
    included: a constant bias stays), from one Generator seeded with ``seed``. A method
    that explains the model gives maps that drift away from the originals; one that stays
    alike is blind to the model.

    x: (N, C, H, W); layers: node names in the order to randomize (default: every node
    with parameters, from the output back); absolute: rank |maps| (as Adebayo et al.
    report). The model's parameters and buffers are restored exactly afterwards, also
    if ``method`` raises.
    returns [RandomizationRow(layer, spearman (N,), ssim (N,)), ...]: first ("none", ...),
    the original maps against themselves (1 for a non-constant map), then one row per
    randomized layer. SSIM compares (N, H, W) maps: summed over channels if 4-D (of
    |maps| when absolute).
    """
    if not callable(method):
        raise TypeError(f"method must be a callable method(model, x, target) -> maps, got "
                        f"{type(method).__name__}")
    check_batch(x)
    with randomized_cascade(model, layers, seed) as steps:
        original = to_numpy(method(model, x, target))
        rows = [RandomizationRow("none", *_compare(original, original, absolute))]
        for name in steps:
            maps = to_numpy(method(model, x, target))
            rows.append(RandomizationRow(name, *_compare(original, maps, absolute)))
    return rows
