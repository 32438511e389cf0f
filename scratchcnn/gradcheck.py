"""Finite-difference gradient checks, in float64.

The relative error of an analytic gradient ``a`` against a numerical one ``n`` is

    relative_error(a, n) = max_i |a_i - n_i| / max(1e-8, max_i (|a_i| + |n_i|))

i.e. the worst absolute disagreement, scaled by the size of the gradient (so
entries that are exactly zero, such as behind an inactive ReLU, do not divide by
noise). Numerical gradients are central differences

    n_i = (f(x + h e_i) - f(x - h e_i)) / (2h),   h = 1e-6,

on a sample of entries, plus directional derivatives along random unit
directions v (compared with <a, v>), which check every entry at once.
"""
import numpy as np


def relative_error(analytic, numerical):
    analytic, numerical = np.asarray(analytic, np.float64), np.asarray(numerical, np.float64)
    scale = max(1e-8, float(np.max(np.abs(analytic) + np.abs(numerical))))
    return float(np.max(np.abs(analytic - numerical))) / scale


def central_difference(f, x, i, h=1e-6):
    """n_i = (f(x + h e_i) - f(x - h e_i)) / (2h) for the flat index i of x.

    f: callable taking an array shaped like x and returning a scalar; x: float64 array,
    perturbed in place and restored. returns a float.
    """
    flat = x.reshape(-1)                     # a view: writing it perturbs x
    original = flat[i]
    flat[i] = original + h
    f_plus = f(x)
    flat[i] = original - h
    f_minus = f(x)
    flat[i] = original
    return (f_plus - f_minus) / (2 * h)


def check_gradient(f, x, analytic, h=1e-6, entries=24, directions=3, seed=0):
    """Compare ``analytic`` (the claimed df/dx, shape of x) with central differences.

    f: callable taking an array shaped like x and returning a scalar.
    x: float64 array; it is perturbed in place and restored.
    Checks ``entries`` sampled entries (all of them when x is that small) and
    ``directions`` random directions. Returns the worst relative error.
    """
    if x.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 inputs, got {x.dtype}")
    if analytic.shape != x.shape:
        raise ValueError(f"analytic gradient has shape {analytic.shape}, x has {x.shape}")
    rng = np.random.default_rng(seed)
    picked = np.arange(x.size) if x.size <= entries else rng.choice(x.size, entries,
                                                                   replace=False)
    numeric = np.array([central_difference(f, x, i, h) for i in picked])
    worst = relative_error(analytic.reshape(-1)[picked], numeric)

    original = x.copy()
    along, claimed = [], []
    for _ in range(directions):
        v = rng.standard_normal(x.shape)
        v /= np.linalg.norm(v)
        x[...] = original + h * v
        f_plus = f(x)
        x[...] = original - h * v
        f_minus = f(x)
        along.append((f_plus - f_minus) / (2 * h))
        claimed.append(float(np.sum(analytic * v)))
    x[...] = original
    if directions:
        worst = max(worst, relative_error(claimed, along))
    return worst


def check_layer(layer, x, seed=0, h=1e-6, before_forward=None, rule="gradient"):
    """Check a layer's input gradient(s) and every parameter gradient.

    x: the input array, or a tuple of arrays for a layer with several inputs (Add).
    Uses the scalar L = sum(forward(*xs) * R) with a fixed random R, so dL/dy = R.
    ``before_forward`` (optional) runs before each forward, e.g. to reseed a
    dropout mask; ``rule``: the relu_rule passed to backward.
    Returns {"x": err, "<param>": err, ...} ("x0", "x1", ... for several inputs).
    """
    xs = x if isinstance(x, tuple) else (x,)
    rng = np.random.default_rng(seed + 1)
    prepare = before_forward or (lambda: None)
    prepare()
    y = layer.forward(*xs)
    weights = rng.standard_normal(y.shape)

    def loss(_):
        prepare()
        return float(np.sum(layer.forward(*xs) * weights))

    prepare()
    layer.forward(*xs)
    layer.zero_grad()
    dxs = layer.backward(weights, relu_rule=rule)
    dxs = dxs if isinstance(dxs, tuple) else (dxs,)
    names = ["x"] if len(xs) == 1 else [f"x{i}" for i in range(len(xs))]
    errors = {name: check_gradient(loss, xi, dx, h=h, seed=seed)
              for name, xi, dx in zip(names, xs, dxs, strict=True)}
    analytic = {k: g.copy() for k, g in layer.grads.items()}
    for key, param in layer.params.items():
        errors[key] = check_gradient(loss, param, analytic[key], h=h, seed=seed)
    return errors


def check_model(model, x, labels, seed=0, h=1e-6):
    """Check every parameter gradient (and the input gradient) of a model through
    softmax cross-entropy. Returns {"x": err, "<layer>.<param>": err, ...}."""
    from .losses import softmax_cross_entropy

    def loss(_):
        return softmax_cross_entropy(model.forward(x), labels)[0]

    _, dlogits = softmax_cross_entropy(model.forward(x), labels)
    model.zero_grad()
    dx = model.backward(dlogits)
    errors = {"x": check_gradient(loss, x, dx, h=h, seed=seed)}
    for key, layer, pkey in model.named_parameters():
        errors[key] = check_gradient(loss, layer.params[pkey], layer.grads[pkey].copy(),
                                     h=h, seed=seed)
    return errors
