"""Images that a network likes: activation maximization of one channel (Erhan et al.
2009), and class models (Simonyan et al. 2014, eq. 1; seed 004), by gradient ascent
on the input. Each objective comes with its gradient from one backward pass, so the
ascent is ``I <- I + step * dObjective/dI``.

Plain ascent on the pixels finds patterns the network scores highly but no image looks
like ("The Enemy of Feature Visualization", Olah et al. 2017). Both ascents therefore also
take that article's regularizers (regularizers.py) as keyword arguments, each off by
default (``Regularizers``); with every one off the ascent is the plain one, step for step.
"""
from dataclasses import dataclass, fields

import numpy as np

from ..backend import array_module
from ..model import eval_mode
from . import regularizers as reg
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


@dataclass(frozen=True)
class Regularizers:
    """Which of Olah et al.'s (2017) regularizers an ascent uses; the defaults are all off.

    jitter: shift by up to this many pixels each step; scales (low, high): zoom drawn from
        this range; degrees: rotation drawn from [-degrees, degrees] ("Transformation
        robustness"; Lucid's standard set for 224 px is jitter 8 + 4, zoom 0.9-1.1,
        +-10 degrees, i.e. a shift of 1-2 px at 28 px);
    smoothness: weight of the squared neighbour-difference penalty ("Frequency
        penalization"); 0 is off;
    fourier: ascend the 1/f-scaled spectrum instead of the pixels ("Preconditioning and
        Parameterization"); fourier_decay is the exponent of 1/|f|;
    value_range (low, high): pixels squashed into this range by a sigmoid (Lucid's valid
        colours), None is off;
    diversity: weight of the Gram-similarity penalty between the n_images of the batch
        at node diversity_layer ("Diversity"); 0 is off;
    n_images: how many images to optimize together (diversity needs >= 2);
    normalized_steps: each step moves the parameters by ``step`` in root mean square
        (the direction of the gradient, not its size: the regularized objectives mix terms
        of very different sizes); False is the plain ``step * gradient``.
    """
    jitter: int = 0
    scales: tuple = (1.0, 1.0)
    degrees: float = 0.0
    smoothness: float = 0.0
    fourier: bool = False
    fourier_decay: float = 1.0
    value_range: tuple = None
    diversity: float = 0.0
    diversity_layer: str = None
    n_images: int = 1
    normalized_steps: bool = False

    def any(self):
        """True when at least one setting differs from its default (the plain ascent)."""
        return any(getattr(self, f.name) != f.default for f in fields(self))

    def transforms(self):
        return self.jitter > 0 or tuple(self.scales) != (1.0, 1.0) or self.degrees > 0


def _regularizers(model, options):
    """Regularizers(**options), checked against ``model``."""
    names = {f.name for f in fields(Regularizers)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise TypeError(f"unknown regularizer argument(s) {unknown}; the regularizers are "
                        f"{sorted(names)}")
    chosen = Regularizers(**options)
    if chosen.n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {chosen.n_images}")
    if chosen.diversity:
        if chosen.n_images < 2:
            raise ValueError(f"diversity needs n_images >= 2, got {chosen.n_images}")
        if chosen.diversity_layer is None:
            raise ValueError("diversity needs diversity_layer, the node whose Gram matrices "
                             "are compared")
        model.index(chosen.diversity_layer)           # KeyError listing the valid names
    if chosen.value_range is not None and not chosen.value_range[0] < chosen.value_range[1]:
        raise ValueError(f"value_range must be (low, high) with low < high, got "
                         f"{chosen.value_range!r}")
    reg.random_resampling(np.random.default_rng(0), 2, 2, chosen.jitter, chosen.scales,
                          chosen.degrees)                    # raises on bad transform settings
    return chosen


def parameters_of(images, options):
    """The parameters p whose image is ``images`` (N, C, H, W) under ``options``: the
    pixels, or with value_range their logits (unsquash), and with fourier the scaled
    spectrum of those (spectrum_from_image). float64."""
    params = images.astype(np.float64)
    if options.value_range is not None:
        params = reg.unsquash(params, *options.value_range)
    if options.fourier:
        params = reg.spectrum_from_image(params, reg.spectrum_scale(
            *images.shape[-2:], options.fourier_decay))
    return params


def regularized_objective(model, objective, params, options, width, transform=None,
                          alpha=0.0):
    """The regularized objective O of the images with parameters p, and dO/dp.

        I = squash(irfft2(scale * p))  or  squash(p)   (the image: "Preconditioning and
                                                       Parameterization"; squash only with
                                                       value_range, irfft2 only with fourier)
        x = T(I)                                       (T: ``transform``, bilinear_taps,
                                                       "Transformation robustness"; None: x = I)
        O = 1/n sum_n [objective_n(x) - alpha ||I_n||_1 - smoothness P(I_n)]
            - diversity/n sum_g D(activations of group g at diversity_layer)     ("Diversity")
    with P the smoothness penalty ("Frequency penalization"), the batch of n images made
    of groups of n_images consecutive images (one objective per group), and
        dO/dI = T^T(dO/dx) + the penalties' gradients,  dO/dp by the parameterization's
    adjoint (squash's slope, then spectrum_gradient).
    objective(outputs) -> (values (n,), {node: seed}): each image's objective read from
    the network's outputs, and the seeds of its backward pass. params: as parameters_of
    gives; width: the images' width (the spectrum does not say whether it is odd).
    returns (O, dO/dp shaped like params, image (n, C, H, W), reached): ``reached`` is
    False when the gradient at x was all zero.
    """
    scale = (reg.spectrum_scale(params.shape[-3], width, options.fourier_decay)
             if options.fourier else None)
    pixels = reg.image_from_spectrum(params, scale, width) if options.fourier else params
    squash_slope = None
    image = pixels
    if options.value_range is not None:
        image, squash_slope = reg.squash(pixels, *options.value_range)
    n = len(image)
    dtype = np.dtype(model.dtype or np.float32)
    x = (image if transform is None else reg.resample(image, transform)).astype(dtype)
    with eval_mode(model):
        model.forward(x)
        values, seeds = objective(model.outputs)
        total = float(np.mean(values))
        if options.diversity:                      # each group of n_images: one objective
            activations = model.outputs[options.diversity_layer]
            d_similarity = np.zeros(activations.shape)
            for first in range(0, n, options.n_images):
                group = slice(first, first + options.n_images)
                similarity, d_similarity[group] = reg.gram_similarity(activations[group])
                total -= options.diversity * similarity / n
            seed_here = seeds.get(options.diversity_layer, 0)
            seeds = {**seeds, options.diversity_layer:
                     seed_here - options.diversity * d_similarity.astype(dtype)}
        # each image's own objective enters the mean with weight 1/n
        gradient_x = model.backward(seeds=seeds, param_grads=False).astype(np.float64) / n
    reached = bool(np.any(gradient_x != 0))
    gradient = (gradient_x if transform is None else
                reg.resample_adjoint(gradient_x, transform))
    if alpha:                                             # Simonyan et al. eq. 1's L1 term
        total -= alpha * float(np.abs(image).sum()) / n
        gradient = gradient - alpha * np.sign(image) / n
    if options.smoothness:
        penalty, d_penalty = reg.smoothness_penalty(image)
        total -= options.smoothness * float(penalty.sum()) / n
        gradient = gradient - options.smoothness * d_penalty / n
    if squash_slope is not None:
        gradient = gradient * squash_slope
    if options.fourier:
        gradient = reg.spectrum_gradient(gradient, scale)
    return total, gradient, image, reached


def regularized_ascent(model, objective, start, steps, step, options, alpha=0.0, seed=0):
    """Gradient ascent with Olah et al.'s regularizers (Lucid's render loop): from the
    parameters of ``start`` (N, C, H, W) (parameters_of), each step draws a random
    transform T_t (random_resampling, when options ask for one) and moves
        p <- p + step * dO/dp      (dO/dp divided by its root mean square with
                                    normalized_steps; O: regularized_objective).
    objective: as regularized_objective takes it; N a multiple of n_images when diversity
    is on; ``seed`` draws the transforms.
    returns (images (N, C, H, W), O per step (steps + 1,), reached): ``reached`` is True
    when some step's gradient at the image was not all zero.
    """
    n, _, height, width = start.shape
    if options.diversity and n % options.n_images:
        raise ValueError(f"start must hold groups of n_images={options.n_images} images for "
                         f"diversity, got {n}")
    rng = np.random.default_rng(seed)
    params = parameters_of(start, options)
    history, reached = [], False
    for t in range(steps + 1):
        transform = (reg.random_resampling(rng, height, width, options.jitter, options.scales,
                                        options.degrees) if options.transforms() else None)
        total, gradient, image, reached_now = regularized_objective(
            model, objective, params, options, width, transform, alpha)
        history.append(total)
        reached = reached or reached_now
        if t == steps:
            break
        if options.normalized_steps:
            gradient = gradient / max(float(np.sqrt(np.mean(gradient ** 2))), 1e-12)
        params = params + step * gradient
    return image.astype(start.dtype), np.array(history), reached


def _start(image_shape, seed, dtype, n=1):
    """n images of N(0, 1) noise (n, C, H, W); the first is the same for every n."""
    if len(image_shape) != 3:
        raise ValueError(f"image_shape must be (C, H, W), got {image_shape!r}")
    return np.random.default_rng(seed).standard_normal((n, *image_shape)).astype(dtype)


def _noise_start(image_shape, seed, dtype, n, value_range):
    """n noise images for a regularized ascent: N(0, 1), or with value_range (low, high)
    low + (high - low) (0.5 + 0.1 N(0, 1)), around the middle of the range (Lucid starts
    from a near-uniform grey image; the sigmoid would flatten N(0, 1) into 0 and 1)."""
    noise = _start(image_shape, seed, dtype, n)
    if value_range is None:
        return noise
    low, high = value_range
    return (low + (high - low) * (0.5 + 0.1 * noise)).astype(dtype)


def maximize_activation(model, layer, channel, image_shape=(1, 28, 28), steps=20, lr=1.0,
                        seed=0, **regularizers):
    """Climb the mean activation of one channel from N(0, 1) noise.

    I_0 ~ N(0, 1), I_{t+1} = I_t + lr * dA/dI(I_t)   (A: ``channel_objective``).
    returns (image (1, C, H, W), objective (steps + 1,) per step, dead): ``dead`` is True
    when the activation and its gradient stayed exactly zero at every step (a channel
    that never fires on these inputs: its "image" is just the starting noise).
    ``regularizers``: keyword arguments of ``Regularizers``, all off by default. With any
    on, the ascent is ``regularized_ascent`` from n_images noise images (seed ``seed``;
    with value_range, around the middle of the range: _noise_start):
    the image is (n_images, C, H, W), the objective the batch's mean, and ``dead`` True
    when no gradient ever reached the image.
    """
    dtype = np.dtype(model.dtype or np.float32)
    chosen = _regularizers(model, regularizers)
    if chosen.any():
        def objective(outputs):
            """The mean activation of the channel, per image, and its seed."""
            check_layer_name(model, layer)
            maps = outputs[layer]
            if not 0 <= channel < maps.shape[1]:
                raise ValueError(f"channel must be in [0, {maps.shape[1] - 1}] for layer "
                                 f"{layer!r}, got {channel}")
            seed_map = np.zeros_like(maps)
            seed_map[:, channel] = 1.0 / (maps.shape[2] * maps.shape[3])
            return maps[:, channel].mean(axis=(1, 2)), {layer: seed_map}
        start = _noise_start(image_shape, seed, dtype, chosen.n_images, chosen.value_range)
        image, history, reached = regularized_ascent(model, objective, start, steps, lr,
                                                     chosen, seed=seed)
        return image, history, not reached
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
                mean_image=None, image_shape=(1, 28, 28), seed=0, **regularizers):
    """A class model: I_{t+1} = I_t + step_size * (dS_c/dI - alpha * sign(I_t)), the
    ascent of S_c(I) - alpha * ||I||_1 (Simonyan et al. 2014, eq. 1 with seed 004's L1
    penalty, step size 0.5 and alpha 0.1).

    init: "random" (N(0, 1) noise, ``seed``) or "mean" (``mean_image`` (C, H, W), e.g.
    the class's mean training image). returns (image (1, C, H, W), objective per step).

    ``regularizers``: keyword arguments of ``Regularizers``, all off by default. With any
    on, the ascent is ``regularized_ascent`` of the same objective, and
      * ``target`` may also be a list of T class ids, optimized side by side in one batch
        (``mean_image`` then (T, C, H, W), one per class);
      * each class gets n_images images, so the result is (T * n_images, C, H, W), class
        by class; the objective per step is the batch's mean;
      * with value_range the noise start sits in the middle of the range (_noise_start).
    """
    dtype = np.dtype(model.dtype or np.float32)
    chosen = _regularizers(model, regularizers)
    if not chosen.any():
        return _plain_class_model(model, target, steps, step_size, alpha, init, mean_image,
                                  image_shape, seed, dtype)
    classes = np.atleast_1d(np.asarray(target))
    if classes.ndim != 1 or classes.dtype.kind not in "iu":
        raise TypeError(f"target must be an int class id or a list of them, got {target!r}")
    per_class = chosen.n_images
    if init == "random":
        image = _noise_start(image_shape, seed, dtype, len(classes) * per_class,
                             chosen.value_range)
    elif init == "mean":
        if mean_image is None:
            raise ValueError('init="mean" needs mean_image, an image (C, H, W)')
        means = np.asarray(mean_image, dtype=dtype)
        means = means[None] if means.ndim == 3 else means
        if means.shape != (len(classes), *image_shape):
            raise ValueError(f"mean_image must be (C, H, W) = {image_shape} for one class or "
                             f"({len(classes)}, C, H, W) for {len(classes)} classes, got "
                             f"{means.shape}")
        image = np.repeat(means, per_class, axis=0)
    else:
        raise ValueError(f'init must be "random" or "mean", got {init!r}')
    with eval_mode(model):
        num_classes = model.forward(image[:1]).shape[1]
    targets = as_targets(np.repeat(classes, per_class), len(image), num_classes)
    last = model.nodes[-1].name

    def objective(outputs):
        """S_c of each image and its seed dS_c/dlogits."""
        logits = outputs[last]
        return logits[np.arange(len(logits)), targets], {last: score_seed(logits, targets)}
    image, history, _ = regularized_ascent(model, objective, image, steps, step_size, chosen,
                                           alpha=alpha, seed=seed)
    return image, history


def _plain_class_model(model, target, steps, step_size, alpha, init, mean_image, image_shape,
                       seed, dtype):
    """Simonyan et al.'s ascent on the pixels, one image (class_model, no regularizer)."""
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
