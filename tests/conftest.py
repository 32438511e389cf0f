"""Shared helpers: float64 inputs that keep away from the kinks of ReLU and max pooling."""
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
