"""Images that a network likes: activation maximization of one channel (Erhan et al.
2009), and class models (Simonyan et al. 2014, eq. 1; seed 004), by gradient ascent
on the input. Each objective comes with its gradient from one backward pass, so the
ascent is ``I <- I + step * dObjective/dI``.
"""
import numpy as np

from ..backend import array_module
from ..model import eval_mode
from .base import as_targets, check_layer_name, score_seed


def channel_objective(model, x, layer, channel):
    """The mean activation of ``channel`` at node ``layer`` and its gradient w.r.t. x.

    A(x) = 1/(h*w) sum_ij a_channel,ij(x), per image. x: (N, C, H, W) ->
    (values (N,), gradient (N, C, H, W)); eval mode.
    """
    with eval_mode(model):
        model.forward(x)
        check_layer_name(model, layer)
        maps = model.outputs[layer]                                  # (N, K, h, w)
        if not 0 <= channel < maps.shape[1]:
            raise ValueError(f"channel must be in [0, {maps.shape[1] - 1}] for layer "
                             f"{layer!r}, got {channel}")
        seed = array_module(maps).zeros_like(maps)
        seed[:, channel] = 1.0 / (maps.shape[2] * maps.shape[3])    # d A / d a_channel,ij
        values = maps[:, channel].mean(axis=(1, 2))
        gradient = model.backward(seeds={layer: seed}, param_grads=False)
    return values, gradient


def class_objective(model, x, target, alpha=0.1):
    """Simonyan et al.'s class-model objective with an L1 penalty (seed 004):
    O(I) = S_c(I) - alpha * ||I||_1, and dO/dI = dS_c/dI - alpha * sign(I)
    (the subgradient 0 where I = 0). x: (N, C, H, W) -> (values (N,), gradient)."""
    with eval_mode(model):
        logits = model.forward(x)
        targets = as_targets(target, len(x), logits.shape[1])
        xp = array_module(logits)
        scores = logits[xp.arange(len(x)), xp.asarray(targets)]
        score_gradient = model.backward(score_seed(logits, targets), param_grads=False)
    values = scores - alpha * xp.abs(x).sum(axis=(1, 2, 3))
    return values, score_gradient - alpha * xp.sign(x)


def _start(image_shape, seed, dtype):
    if len(image_shape) != 3:
        raise ValueError(f"image_shape must be (C, H, W), got {image_shape!r}")
    return np.random.default_rng(seed).standard_normal((1, *image_shape)).astype(dtype)


def maximize_activation(model, layer, channel, image_shape=(1, 28, 28), steps=20, lr=1.0,
                        seed=0):
    """Climb the mean activation of one channel from N(0, 1) noise.

    I_0 ~ N(0, 1), I_{t+1} = I_t + lr * dA/dI(I_t)   (A: ``channel_objective``).
    returns (image (1, C, H, W), objective (steps + 1,) per step, dead): ``dead`` is True
    when the activation and its gradient stayed exactly zero at every step (a channel
    that never fires on these inputs: its "image" is just the starting noise).
    """
    dtype = np.dtype(model.dtype or np.float32)
    image = _start(image_shape, seed, dtype)
    history, alive = [], False
    for _ in range(steps):
        value, gradient = channel_objective(model, image, layer, channel)
        history.append(float(value[0]))
        alive = alive or bool(value[0] != 0) or bool(np.any(gradient != 0))
        image = image + dtype.type(lr) * gradient
    history.append(float(channel_objective(model, image, layer, channel)[0][0]))
    return image, np.array(history), not alive


def class_model(model, target, steps=100, step_size=0.5, alpha=0.1, init="random",
                mean_image=None, image_shape=(1, 28, 28), seed=0):
    """A class model: I_{t+1} = I_t + step_size * (dS_c/dI - alpha * sign(I_t)), the
    ascent of S_c(I) - alpha * ||I||_1 (Simonyan et al. 2014, eq. 1 with seed 004's L1
    penalty, step size 0.5 and alpha 0.1).

    init: "random" (N(0, 1) noise, ``seed``) or "mean" (``mean_image`` (C, H, W), e.g.
    the class's mean training image). returns (image (1, C, H, W), objective per step).
    """
    dtype = np.dtype(model.dtype or np.float32)
    if init == "random":
        image = _start(image_shape, seed, dtype)
    elif init == "mean":
        if mean_image is None:
            raise ValueError('init="mean" needs mean_image, an image (C, H, W)')
        image = np.asarray(mean_image, dtype=dtype)[None].copy()
    else:
        raise ValueError(f'init must be "random" or "mean", got {init!r}')
    history = []
    for _ in range(steps):
        value, gradient = class_objective(model, image, target, alpha)
        history.append(float(value[0]))
        image = image + dtype.type(step_size) * gradient
    history.append(float(class_objective(model, image, target, alpha)[0][0]))
    return image, np.array(history)
