"""Explanations that are one backward pass from a class score to the pixels.

The three differ only in the ReLU backward rule (Gao & Mosalam, eq. 3; see
layers/activation.py), so each is one line on top of ``model.backward``:

    saliency         "gradient"   the true gradient dS_c/dx (Simonyan et al. 2014)
    deconvnet        "deconvnet"  Zeiler & Fergus 2014: rectify the backward signal
    guided_backprop  "guided"     Springenberg et al. 2015: both masks at once

plus two that average gradients: SmoothGrad (Smilkov et al. 2017) and Integrated
Gradients (Sundararajan et al. 2017).
"""
import numpy as np

from ..backend import array_module
from .base import eval_mode, forward_scores


def backprop_to_input(model, x, target, relu_rule):
    """x: (N, C, H, W); target: int or N ints -> (N, C, H, W): the backward pass of the
    score S_target with the given ReLU rule, from the logits to the input."""
    with eval_mode(model):
        _, _, seed = forward_scores(model, x, target)
        return model.backward(seed, relu_rule=relu_rule, param_grads=False)


def saliency(model, x, target):
    """The signed gradient dS_c/dx (Simonyan et al. 2014, eq. 2). Shape of x."""
    return backprop_to_input(model, x, target, "gradient")


def deconvnet(model, x, target):
    """Zeiler & Fergus's DeconvNet signal, R = 1(G > 0) G at every ReLU. Shape of x."""
    return backprop_to_input(model, x, target, "deconvnet")


def guided_backprop(model, x, target):
    """Guided backpropagation, R = 1(F > 0) 1(G > 0) G at every ReLU
    (Gao & Mosalam eq. 3; Springenberg et al. 2015). Shape of x."""
    return backprop_to_input(model, x, target, "guided")


def smoothgrad(model, x, target, samples=50, noise=0.15, seed=0):
    """Mean saliency over noisy copies x + eps, eps ~ N(0, sigma^2) (Smilkov et al. 2017).

    sigma = noise * (max(x_n) - min(x_n)), per image (a standard deviation, as a
    fraction of that image's value range). The same noise patterns are used for
    every image of the batch, so a batch gives the same maps as single calls.
    x: (N, C, H, W) -> (N, C, H, W).
    """
    if not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ValueError(f"samples must be a positive int, got {samples!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0 (a fraction of the input range), got {noise!r}")
    xp = array_module(x)
    rng = np.random.default_rng(seed)
    spread = (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3))).reshape(-1, 1, 1, 1)
    sigma = noise * spread
    total = xp.zeros_like(x)
    for _ in range(samples):
        eps = xp.asarray(rng.standard_normal(x.shape[1:]).astype(x.dtype))
        total += saliency(model, x + sigma * eps, target)
    return total / samples


def integrated_gradients(model, x, target, baseline=None, steps=50):
    """Integrated Gradients (Sundararajan et al. 2017, eq. 1), trapezoid rule:

        IG(x) = (x - x') * integral_0^1 dS/dx(x' + a (x - x')) da
              ~ (x - x') * sum_k w_k dS/dx(x' + (k/m)(x - x')),  w = (1/2, 1, ..., 1, 1/2)/m

    x: (N, C, H, W); baseline: same shape or None (zeros); steps m.
    returns (attributions (N, C, H, W), gap (N,)), where gap = sum(attributions)
    - (S(x) - S(x')) is the completeness error (0 for the exact integral).
    """
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    xp = array_module(x)
    baseline = xp.zeros_like(x) if baseline is None else baseline
    if baseline.shape != x.shape:
        raise ValueError(f"baseline must have the shape of x {tuple(x.shape)}, "
                         f"got {tuple(baseline.shape)}")
    path_mean = xp.zeros_like(x)
    for k in range(steps + 1):
        weight = (0.5 if k in (0, steps) else 1.0) / steps
        path_mean += weight * saliency(model, baseline + (k / steps) * (x - baseline), target)
    attributions = (x - baseline) * path_mean
    with eval_mode(model):
        logits_x, targets, _ = forward_scores(model, x, target)
        rows = xp.arange(len(x))
        score_x = logits_x[rows, xp.asarray(targets)]
        score_baseline = model.forward(baseline)[rows, xp.asarray(targets)]
    gap = attributions.sum(axis=(1, 2, 3)) - (score_x - score_baseline)
    return attributions, gap
