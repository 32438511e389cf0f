"""Three successors of Grad-CAM, each a different way to weigh the feature maps A_k:

    grad_cam_plus_plus  (Chattopadhay et al. 2018)  weights from 2nd/3rd-order terms
    score_cam           (Wang et al. 2020)          weights from masked forward passes
    layer_cam           (Jiang et al. 2021)         a weight at every position

All three return raw maps (N, h, w) at the layer's resolution, like ``grad_cam``;
``upsample`` puts them on the image.
"""
import numpy as np

from ..backend import array_module
from ..losses import log_softmax
from ..resize import upsample
from .base import as_targets, check_batch, check_layer_name, eval_mode
from .cam import class_gradients


def grad_cam_plus_plus_alphas(activations, grads):
    """Chattopadhay et al. 2018, eq. 19: for Y_c = exp(S_c) and a network piecewise
    linear in A (ReLU), the pixel weights are

        alpha_ij^k = g_ij^2 / (2 g_ij^2 + sum_ab A_ab^k g_ij^3)    (0 where that is 0/0)

    activations, grads: (N, K, h, w) -> alphas (N, K, h, w)."""
    xp = array_module(grads)
    squared = grads ** 2
    channel_sums = activations.sum(axis=(2, 3), keepdims=True)       # sum_ab A_ab^k
    denominator = 2 * squared + channel_sums * squared * grads
    safe = xp.where(denominator != 0, denominator, 1)
    return xp.where(denominator != 0, squared / safe, 0)


def grad_cam_plus_plus(model, x, target, layer):
    """Grad-CAM++ at ``layer``: L = ReLU(sum_k w_k A_k) with

        w_k = sum_ij alpha_ij^k ReLU(dY_c / dA_ij^k)      (Chattopadhay et al. 2018, sec. 3)

    and alpha from eq. 19 (``grad_cam_plus_plus_alphas``). dY_c/dA = exp(S_c) g: the
    factor exp(S_c) is one positive number per image, left out (as pytorch-grad-cam
    does), so the map is Grad-CAM++'s up to that scale. Only positive gradients count;
    alpha = 1 / (2 + g sum_ab A_ab) damps the larger ones, so a few strong positions
    weigh less against many weak ones than in Grad-CAM's mean. The derivation needs
    A >= 0 (a ReLU's output): a layer with negative values is refused.
    x: (N, C, H, W) -> (N, h, w).

    On a GlobalAvgPool2D -> Linear head the gradient is the same at every position,
    g^k = w_ck / (h w), so alpha^k = 1 / (2 + c_k) with c_k = w_ck mean(A_k) the
    channel's share of the score: w_k = ReLU(w_ck) / (2 + c_k), a CAM that damps the
    channels already contributing most. When every c_k -> 0 the weights become
    ReLU(w_ck) / 2: with positive class weights, (h w / 2) x Grad-CAM.
    """
    activations, grads = class_gradients(model, x, target, layer)
    xp = array_module(activations)
    if activations.min() < 0:
        raise ValueError(f"grad_cam_plus_plus needs feature maps >= 0 (a ReLU's output); "
                         f"layer {layer!r} has values down to {float(activations.min()):.3g}")
    alphas = grad_cam_plus_plus_alphas(activations, grads)
    weights = (alphas * xp.maximum(grads, 0)).sum(axis=(2, 3))             # (N, K)
    return xp.maximum(xp.einsum("nk,nkhw->nhw", weights, activations), 0)


def layer_cam(model, x, target, layer):
    """LayerCAM at ``layer`` (Jiang et al. 2021, sec. III-B): every position keeps its own
    weight, the positive gradient there, instead of one weight per channel:

        M = ReLU(sum_k ReLU(g_ij^k) A_ij^k)

    x: (N, C, H, W) -> (N, h, w). Where the gradient is uniform over a channel (a GAP ->
    Linear head) and positive, this is Grad-CAM."""
    activations, grads = class_gradients(model, x, target, layer)
    xp = array_module(activations)
    return xp.maximum((xp.maximum(grads, 0) * activations).sum(axis=1), 0)


def score_cam_masks(activations, size):
    """H_k = s(Up(A_k)) (Wang et al. 2020, Def. 2): each map upsampled to the image
    (bilinear) and min-max normalized to [0, 1]; a constant map gives H_k = 0.
    activations (N, K, h, w) -> masks (N, K, H, W)."""
    xp = array_module(activations)
    n, k, h, w = activations.shape
    masks = upsample(activations.reshape(n * k, h, w), size).reshape(n, k, *size)
    low = masks.min(axis=(2, 3), keepdims=True)
    span = masks.max(axis=(2, 3), keepdims=True) - low
    return xp.where(span > 0, (masks - low) / xp.where(span > 0, span, 1), 0)


def score_cam(model, x, target, layer, batch_size=64):
    """Score-CAM at ``layer`` (Wang et al. 2020): no gradients. Each upsampled,
    normalized feature map H_k masks the input, and the class score says how much that
    masked image alone raises it:

        C_k = S_c(x * H_k) - S_c(x_b)          (Def. 2, channel-wise increase of confidence)
        w = softmax_k(C_k)                     (Algorithm 1)
        L = ReLU(sum_k w_k A_k)

    S_c(x_b), the score of a baseline image, is one number per image: the softmax over
    k does not change when it is subtracted, so the code leaves it out. One forward pass
    per channel and image, in batches of ``batch_size``. x: (N, C, H, W) -> (N, h, w).
    """
    check_batch(x)
    xp = array_module(x)
    with eval_mode(model):
        logits = model.forward(x)
        targets = as_targets(target, len(x), logits.shape[1])
        check_layer_name(model, layer)
        activations = model.outputs[layer].copy()                     # (N, K, h, w)
        masks = score_cam_masks(activations, x.shape[2:])             # (N, K, H, W)
        n, k = masks.shape[:2]
        scores = xp.empty(n * k, dtype=x.dtype)
        for start in range(0, n * k, batch_size):
            copies = np.arange(start, min(start + batch_size, n * k))   # (image, channel) pairs
            images, channels = copies // k, copies % k
            masked = x[images] * masks[images, channels][:, None]     # x * H_k
            scores[copies] = model.forward(masked)[xp.arange(len(copies)),
                                                   xp.asarray(targets[images])]
    weights = xp.exp(log_softmax(scores.reshape(n, k)))              # softmax_k(C_k)
    return xp.maximum(xp.einsum("nk,nkhw->nhw", weights, activations), 0)
