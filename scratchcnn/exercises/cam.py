"""Class activation maps (lessons 05, 06 and 11): CAM from the feature maps and the class
weights, and Grad-CAM's channel weights, graded by loops, a hand-computed case and
finite differences of the class score with respect to the layer's activations."""
import numpy as np

from . import oracles
from .networks import SmallCNN
from .grading import (Exercise, Mistake, call, describe, expect_close, expect_gradient,
                      expect_tuple, finite_differences, show)
from .stubs import stub

# Hand-computed: two 2x3 feature maps, class 1's weights (2, -1): CAM = 2 f0 - f1.
HAND_FEATURES = np.array([[[[1, 0, 2], [0, 1, 1]], [[0, 3, 1], [2, 0, -1]]]], dtype=np.float64)
HAND_WEIGHTS = np.array([[1, 1], [2, -1], [0.5, 0]], dtype=np.float64)
HAND_CAM = np.array([[[2, -3, 3], [-2, 2, 3]]], dtype=np.float64)


def _cam_loops(features, class_weights, targets):
    n, k, h, w = features.shape
    out = np.zeros((n, h, w))
    for image in range(n):
        for r in range(h):
            for c in range(w):
                out[image, r, c] = sum(class_weights[targets[image], ch] * features[image, ch, r, c]
                                       for ch in range(k))
    return out


def _grade_cam(fn):
    rng = np.random.default_rng(39)
    cases = [("the hand-computed case (two 2x3 maps, class 1 with weights (2, -1))",
              HAND_FEATURES, HAND_WEIGHTS, 1)]
    features, weights = rng.standard_normal((3, 4, 5, 3)), rng.standard_normal((6, 4))
    cases.append((f"random maps ({describe(features=features, class_weights=weights)}), "
                  "target [5, 0, 2]", features, weights, np.array([5, 0, 2])))
    features = rng.standard_normal((2, 4, 3, 6))
    cases.append((f"random maps ({describe(features=features, class_weights=weights)}), "
                  "target 4 (one int for the whole batch)", features, weights, 4))
    for case, features, weights, target in cases:
        targets = np.broadcast_to(np.asarray(target), (len(features),))
        expected = _cam_loops(features, weights, targets)
        got = call(fn, case, features, weights, target)
        mistakes = [
            Mistake("a ReLU applied to the CAM", "CAM is signed: F_c(x, y) = sum_k w_ck f_k(x, "
                    "y) keeps its negative values (Grad-CAM adds the ReLU, not CAM).",
                    oracles.relu(expected)),
            Mistake("the channels averaged instead of summed", "F_c(x, y) is the SUM over k "
                    "of w_ck f_k(x, y).", expected / features.shape[1])]
        if len(set(targets.tolist())) > 1:
            mistakes.append(Mistake("the first image's class used for every image",
                                    "image n's map uses the weights of ITS class target[n].",
                                    _cam_loops(features, weights,
                                               np.full(len(targets), targets[0]))))
        expect_close(got, expected, "cam", case, mistakes, axes="(N, h, w)")
    return ["a two-channel map computed by hand (negative values kept)",
            "random maps against loops over every position, with a class per image and with "
            "one int for the batch"]


CAM_STUB = stub("cam", "the class activation map", '''
import numpy as np


def cam(features, class_weights, target):
    """The class activation map of a network that ends in feature maps -> global average
    pooling -> a linear layer (seed 001, Vasu & Savakis, "Visualizing the Resilience of
    Deep Convolutional Network Interpretations", eq. 1; seed 002, "Visual Explanation of
    Neural Networks in Deep Learning"; Zhou et al. 2016):

        F_c(x, y) = sum over k of w_ck * f_k(x, y)

    f_k are the feature maps that enter the global average pool and w_ck the linear
    layer's weight from channel k to class c. (The class score is the mean of this map
    over positions, plus the bias: that is why CAM shows where the score comes from.)

    features:      (N, K, h, w) the maps f_k of each image
    class_weights: (classes, K) the linear layer's W (PyTorch layout: a row per class)
    target:        one int (every image) or N ints, the class c of each image
    returns (N, h, w): signed, at the feature maps' resolution
    """
    raise NotImplementedError("exercise cam: weigh the feature maps by the class's weights")
''')

CAM = Exercise(
    name="cam",
    description="the class activation map: the feature maps weighted by one class's weights",
    lessons=("05", "11"),
    stub=CAM_STUB,
    hints=(
        "Make targets an array of N ints first: np.broadcast_to(np.asarray(target), (N,)).",
        "class_weights[targets] has shape (N, K): row n holds w_ck for image n's class.",
        "np.einsum('nk,nkhw->nhw', class_weights[targets], features) is the sum over k. No "
        "ReLU: CAM is signed.",
        "The library's version: cam in scratchcnn/explain/cam.py (it finds the feature maps "
        "and the linear layer in the model).",
    ),
    solution=lambda features, class_weights, target: _reference_cam(features, class_weights,
                                                                    target),
    grade=_grade_cam,
)


def _reference_cam(features, class_weights, target):
    """The library's cam on the model GAP -> Linear(class_weights), fed the features."""
    from ..explain import cam as library_cam
    from ..layers import GlobalAvgPool2D, Linear
    from ..model import Sequential
    linear = Linear(features.shape[1], class_weights.shape[0]).astype(features.dtype)
    linear.params["W"][...] = class_weights
    linear.params["b"][...] = 0
    return library_cam(Sequential([GlobalAvgPool2D(), linear]), features, target)


# ----- Grad-CAM's weights ----------------------------------------------------------------
def _grade_grad_cam(fn):
    rng = np.random.default_rng(40)
    net = SmallCNN(rng)
    x = rng.standard_normal((2, 2, 6, 5))
    for layer, target in (("relu1", np.array([1, 3])), ("conv2", 4)):
        case = f"{describe(x=x)}, layer={layer!r}, target={show(target)}"
        targets = np.broadcast_to(np.asarray(target), (len(x),))
        weights, activations = expect_tuple(call(fn, case, net.model(), x, target, layer), 2,
                                            "weights, activations", case)
        a = net.up_to(x, layer)
        expect_close(activations, a, "activations", case, axes="(N, K, h, w), the layer's output")

        def score(v, of=None):
            s = net.head(v, layer)
            if of == "probability":
                s = oracles.softmax_rows(s)
            return float(s[np.arange(len(v)), targets].sum())
        gradient = finite_differences(score, a.copy())            # dS_c/dA, every entry
        expect_gradient(weights, gradient.mean(axis=(2, 3)), "weights", case, [
            Mistake("Grad-CAM weights summed instead of averaged",
                    "w_k = (1/M) sum_ij dS_c/dA_k,ij: the MEAN over the M = h*w positions.",
                    gradient.sum(axis=(2, 3))),
            Mistake("the mean of the activations instead of their gradients",
                    "average dS_c/dA (a backward pass from the class score), not A.",
                    a.mean(axis=(2, 3))),
            Mistake("the gradient of the softmax probability instead of the score",
                    "seed the backward pass with a one-hot at the class SCORE S_c (the logit), "
                    "before the softmax.",
                    lambda: finite_differences(lambda v: score(v, "probability"),
                                               a.copy()).mean(axis=(2, 3))),
            Mistake("only the positive gradients averaged", "Grad-CAM averages the whole "
                    "signed gradient (keeping only positive ones is Grad-CAM++'s idea).",
                    np.maximum(gradient, 0).mean(axis=(2, 3)))],
            axes="(N, K): one weight per image and channel")
    return ["the activations of 'relu1' and 'conv2' against the grader's own forward pass",
            "the weights against the mean over positions of central finite differences of the "
            "class score with respect to every activation (per-image targets and one int)"]


GRAD_CAM_STUB = stub("grad_cam_weights", "Grad-CAM's channel weights", '''
import numpy as np


def grad_cam_weights(model, x, target, layer):
    """Grad-CAM's channel weights: how much the class score rises, on average over the
    positions, when channel k of ``layer`` rises (seed 000, Gao & Mosalam, "Visualizing
    and Understanding Deep CNN in Image-based Structural Health Monitoring", the Grad-CAM
    weight equation; Selvaraju et al. 2017, eq. 1):

        w_k = (1/M) * sum over (i, j) of dS_c / dA_k,ij          (M = h*w positions)

    S_c is the class score (the logit, before the softmax) and A the layer's output.
    The map itself is then ReLU(sum_k w_k A_k) (the "cam" exercise weighs maps the same way).

    The model is a scratchcnn network; what you need from it:
        logits = model.forward(x)                 (N, classes); keeps every layer's output
        A = model.outputs[layer]                  (N, K, h, w)
        g = model.backward(seed, stop=layer, param_grads=False)
                                                  dS/dA for the seed dS/dlogits (N, classes)

    model: a scratchcnn network; x: (N, C, H, W); target: one int or N ints (the class c);
    layer: the name of a node with feature maps, e.g. "relu1"
    returns (weights (N, K), activations A (N, K, h, w))
    """
    raise NotImplementedError("exercise grad_cam_weights: return (weights, activations)")
''')

GRAD_CAM_WEIGHTS = Exercise(
    name="grad_cam_weights",
    description="Grad-CAM's channel weights: the class score's gradient, averaged over positions",
    lessons=("05", "06"),
    stub=GRAD_CAM_STUB,
    hints=(
        "The seed is dS_c/dlogits: zeros of the logits' shape with a 1 at [n, target[n]] "
        "(np.broadcast_to(np.asarray(target), (N,)) gives one target per image).",
        "One backward pass gives every image's gradient at once: images do not interact.",
        "weights = g.mean(axis=(2, 3)): a MEAN over the h*w positions, not a sum.",
        "The library's version: grad_cam_weights in scratchcnn/explain/cam.py.",
    ),
    solution=lambda model, x, target, layer: _reference_grad_cam(model, x, target, layer),
    grade=_grade_grad_cam,
)


def _reference_grad_cam(model, x, target, layer):
    from ..explain import grad_cam_weights
    return grad_cam_weights(model, x, target, layer)


EXERCISES = [CAM, GRAD_CAM_WEIGHTS]
