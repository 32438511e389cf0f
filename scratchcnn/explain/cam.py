"""Class activation maps: CAM (Zhou et al. 2016), Grad-CAM (Selvaraju et al. 2017) and
Guided Grad-CAM. ``upsample`` (resize.py) puts a coarse map on the image."""
from ..backend import array_module
from ..layers import GlobalAvgPool2D, Linear
from ..resize import upsample
from .base import check_layer_name, eval_mode, forward_scores
from .gradients import guided_backprop


def cam(model, x, target):
    """CAM for models that end in feature maps -> GlobalAvgPool2D -> Linear.

    F_c(x, y) = sum_k w_ck f_k(x, y)   (Vasu & Savakis eq. 1; Zhou et al. 2016)
    with f_k the feature maps entering the global average pool and w_ck the
    Linear weights of class c. x: (N, C, H, W) -> (N, h, w), signed, at the
    feature maps' resolution (``upsample`` puts it on the image).
    """
    layers = model.layers
    if len(layers) < 3 or not isinstance(layers[-1], Linear) or \
            not isinstance(layers[-2], GlobalAvgPool2D):
        ending = " -> ".join(type(layer).__name__ for layer in layers[-3:])
        raise ValueError("cam needs a model ending in feature maps -> GlobalAvgPool2D -> Linear "
                         f"(a CAM architecture); this model ends in {ending}. grad_cam works "
                         "on any architecture")
    with eval_mode(model):
        _, targets, _ = forward_scores(model, x, target)
        features = model.outputs[layers[-3].name]                       # (N, K, h, w)
    xp = array_module(features)
    class_weights = layers[-1].params["W"][xp.asarray(targets)]          # (N, K): w_ck
    return xp.einsum("nk,nkhw->nhw", class_weights, features)


def grad_cam_weights(model, x, target, layer):
    """Grad-CAM's channel weights and the feature maps they weigh.

    w_k = (1/M) sum_ij dS_c / dA_k,ij   (Gao & Mosalam, Grad-CAM weights; M = h*w)
    returns (weights (N, K), activations A (N, K, h, w)).
    """
    with eval_mode(model):
        _, _, seed = forward_scores(model, x, target)
        check_layer_name(model, layer)
        activations = model.outputs[layer]
        grads = model.backward(seed, stop=layer, param_grads=False)       # dS_c/dA (N, K, h, w)
    return grads.mean(axis=(2, 3)), activations


def grad_cam(model, x, target, layer, relu=True):
    """Grad-CAM at ``layer``: L = ReLU(sum_k w_k A_k) (Gao & Mosalam; Selvaraju et al.).

    x: (N, C, H, W) -> (N, h, w) at the layer's resolution. ``relu=False`` keeps
    the signed sum (then, on a CAM architecture, grad_cam * h*w equals cam).
    """
    weights, activations = grad_cam_weights(model, x, target, layer)
    xp = array_module(activations)
    maps = xp.einsum("nk,nkhw->nhw", weights, activations)
    return xp.maximum(maps, 0) if relu else maps


def guided_grad_cam(model, x, target, layer):
    """Grad-CAM upsampled to the image, times guided backprop (Gao & Mosalam, "Guided
    Grad-CAM"). x: (N, C, H, W) -> (N, C, H, W)."""
    coarse = grad_cam(model, x, target, layer)
    return upsample(coarse, x.shape[2:])[:, None] * guided_backprop(model, x, target)
