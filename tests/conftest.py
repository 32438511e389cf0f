"""Shared helpers: float64 inputs that keep away from the kinks of ReLU and max pooling."""
import contextlib

import numpy as np
import pytest


def away_from_zero(shape, rng, margin=0.1):
    """Standard normal values with |v| >= margin, so no ReLU input sits on its kink
    (a finite-difference step of 1e-6 never crosses zero)."""
    values = rng.standard_normal(shape)
    return np.where(np.abs(values) < margin, np.sign(values + 1e-12) * margin + values, values)


def distinct_values(shape, rng, gap=0.01):
    """All entries different by at least ``gap``: no ties inside any max-pool window,
    so a step of 1e-6 never changes which entry wins."""
    size = int(np.prod(shape))
    return (rng.permutation(size) * gap - size * gap / 2).reshape(shape).astype(np.float64)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@contextlib.contextmanager
def occluded_by(method):
    """Inside this block ``explain.occlusion`` computes its occluded outputs by ``method``:
    "full", the definition (one forward pass per occluder, explain/occlusion.py), or
    "cone", the fast room's reuse (fast/occlusion.py), whichever room the layers run in
    (``use_reference`` still chooses that). A network the cone cannot follow raises."""
    from scratchcnn import ops
    from scratchcnn.fast import occlusion as cone
    chosen = ops.occluded_logits

    def by_method(model, x, tops, lefts, window, baseline, batch_size, definition):
        if method == "full":
            return (definition(model, x[n:n + 1], tops, lefts, window, baseline, batch_size)
                    for n in range(len(x)))
        plan = cone.cone_plan(model)
        if plan is None:
            raise ValueError("the cone needs a chain of Conv2D / MaxPool2D / AvgPool2D / "
                             "pointwise layers, then Flatten or GlobalAvgPool2D, then Linear")
        return cone.occluded_logits(model, plan, x, tops, lefts, window, baseline, batch_size)

    ops.occluded_logits = by_method
    try:
        yield
    finally:
        ops.occluded_logits = chosen


def occlusion_by(method, *args, **kwargs):
    """``explain.occlusion(*args, **kwargs)`` computed by ``method`` ("full" or "cone")."""
    from scratchcnn.explain import occlusion
    with occluded_by(method):
        return occlusion(*args, **kwargs)
