"""Class activation maps: CAM (Zhou et al. 2016), Grad-CAM (Selvaraju et al. 2017) and
Guided Grad-CAM. ``upsample`` (resize.py) puts a coarse map on the image."""
from ..backend import array_module
from ..layers import Flatten, GlobalAvgPool2D, Linear
from ..model import INPUT
from ..resize import upsample
from .base import check_layer_name, eval_mode, forward_scores
from .gradients import guided_backprop


def cam_layers(model):
    """Walk back from the output through the graph: Linear <- [Flatten] <- GlobalAvgPool2D
    <- feature maps. Returns (name of the feature-map node, name of the Linear node);
    a clear error if the model does not end that way."""
    path = [model.names[-1]]
    while len(path) < 4 and path[-1] != INPUT and len(model.inputs_of(path[-1])) == 1:
        path.append(model.inputs_of(path[-1])[0])      # the node this one reads
    kinds = [type(model[name]) if name != INPUT else None for name in path]
    ending = " -> ".join(reversed([k.__name__ if k else INPUT for k in kinds]))
    if kinds[1:2] == [Flatten]:                       # the PyTorch habit: GAP -> Flatten -> Linear
        del path[1], kinds[1]
    if len(path) < 3 or kinds[0] is not Linear or kinds[1] is not GlobalAvgPool2D:
        raise ValueError("cam needs a model ending in feature maps -> GlobalAvgPool2D -> "
                         f"[Flatten ->] Linear (a CAM architecture); this model ends in "
                         f"{ending}. grad_cam works on any architecture")
    return path[2], path[0]


def cam(model, x, target):
    """CAM for models that end in feature maps -> GlobalAvgPool2D -> [Flatten ->] Linear.

    F_c(x, y) = sum_k w_ck f_k(x, y)   (Vasu & Savakis eq. 1; Zhou et al. 2016)
    with f_k the feature maps entering the global average pool and w_ck the
    Linear weights of class c. x: (N, C, H, W) -> (N, h, w), signed, at the
    feature maps' resolution (``upsample`` puts it on the image).
    """
    features_name, linear_name = cam_layers(model)
    with eval_mode(model):
        _, targets, _ = forward_scores(model, x, target)
        features = model.outputs[features_name] if features_name != INPUT else x  # (N, K, h, w)
    xp = array_module(features)
    class_weights = model[linear_name].params["W"][xp.asarray(targets)]   # (N, K): w_ck
    return xp.einsum("nk,nkhw->nhw", class_weights, features)


def class_gradients(model, x, target, layer):
    """The feature maps A = model.outputs[layer] (N, K, h, w) and g = dS_c/dA (same shape):
    what Grad-CAM and its successors (cam_variants.py) weigh."""
    with eval_mode(model):
        _, _, seed = forward_scores(model, x, target)
        check_layer_name(model, layer)
        activations = model.outputs[layer]
        grads = model.backward(seed, stop=layer, param_grads=False)       # dS_c/dA (N, K, h, w)
    return activations, grads


def grad_cam_weights(model, x, target, layer):
    """Grad-CAM's channel weights and the feature maps they weigh.

    w_k = (1/M) sum_ij dS_c / dA_k,ij   (Selvaraju et al. 2017, eq. 1; M = h*w)
    returns (weights (N, K), activations A (N, K, h, w)).
    """
    activations, grads = class_gradients(model, x, target, layer)
    return grads.mean(axis=(2, 3)), activations


def grad_cam(model, x, target, layer, relu=True):
    """Grad-CAM at ``layer``: L = ReLU(sum_k w_k A_k) (Selvaraju et al. 2017, eq. 2: the ReLU
    is theirs; Gao & Mosalam apply it).

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
