"""Procedural concrete surfaces with cracks and spalling, and their ground-truth masks.

A stand-in for the spalling photographs of Gao & Mosalam that, unlike them, gives
every image a pixel mask of its defect, so an explanation's localization can be
measured. Three classes: 0 intact, 1 crack, 2 spalling. Every class carries the
same distractors (stains, shadows, formwork joints, lighting), so a network must
learn what a crack or a spall looks like, not just "something dark".
"""
import numpy as np

from ..resize import upsample

CLASS_NAMES = ["intact", "crack", "spalling"]


def _value_noise(rng, n, size, cells):
    """Smooth noise in [0, 1]: a random (cells x cells) grid, bilinearly enlarged."""
    return upsample(rng.random((n, cells, cells)), size)


def _dilate(mask, radius):
    """Binary dilation by a (2r+1)^2 square: OR of shifted slices of the padded mask."""
    size_y, size_x = mask.shape
    padded = np.pad(mask, radius)
    out = np.zeros_like(mask)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out |= padded[dy:dy + size_y, dx:dx + size_x]
    return out


def _crack_mask(rng, size):
    """A meandering 1-2 px line from one border to the opposite one: unit steps whose
    heading drifts smoothly (interpolated random knots every 8 steps)."""
    steps = 2 * size
    knots = rng.uniform(-0.9, 0.9, steps // 8 + 2)
    heading = np.interp(np.arange(steps) / 8, np.arange(len(knots)), knots)
    along = np.cumsum(np.cos(heading))
    across = np.clip(rng.uniform(0.2, 0.8) * size + np.cumsum(np.sin(heading)), 1, size - 2)
    keep = along < size
    rows = np.round(across[keep]).astype(int)
    cols = np.clip(np.round(along[keep]).astype(int), 0, size - 1)
    mask = np.zeros((size, size), bool)
    mask[rows, cols] = True
    if rng.random() < 0.5:                                           # a thicker crack
        mask[1:] |= mask[:-1].copy()
    return mask if rng.random() < 0.5 else mask.T


def _spall_mask(rng, size):
    """An irregular blob: a circle whose radius wobbles smoothly with the angle."""
    radius = rng.uniform(0.14, 0.26) * size
    center = rng.uniform(radius + 2, size - radius - 2, 2)
    yy, xx = np.mgrid[:size, :size]
    theta = np.arctan2(yy - center[0], xx - center[1])
    wobble = sum(rng.uniform(0, 0.18) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
                 for k in range(2, 6))
    return np.hypot(yy - center[0], xx - center[1]) < radius * (1 + wobble)


def surface_defects(n, size=64, seed=0):
    """Generate ``n`` RGB concrete surfaces, balanced over intact / crack / spalling.

    returns x (n, 3, size, size) float32 in [0, 1], y (n,) int64 class ids,
    masks (n, size, size) bool (the defect's pixels; empty for intact surfaces).
    The same seed gives the same images.
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size must be an int >= 16, got {size!r}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 3)

    # concrete: a base grey, a slight tint, multi-scale texture and fine aggregate speckle
    grey = rng.uniform(0.45, 0.7, (n, 1, 1))
    texture = sum(0.5 ** octave * (_value_noise(rng, n, size, cells) - 0.5)
                  for octave, cells in enumerate((4, 8, 16, 32)))
    speckle = (rng.random((n, size, size)) - 0.5) * 0.10
    speckle += (rng.random((n, size, size)) < 0.03) * rng.uniform(-0.2, 0.15, (n, size, size))
    yy, xx = np.mgrid[:size, :size] / size
    direction = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    slope = np.cos(direction) * xx + np.sin(direction) * yy - 0.5
    lighting = rng.uniform(0, 0.2, (n, 1, 1)) * slope
    luminance = grey + 0.25 * texture + speckle + lighting

    # distractors, in every class: stains, a soft shadow, a straight formwork joint
    stain = 1 / (1 + np.exp(-(_value_noise(rng, n, size, 4) - 0.72) * 40))
    stain *= (rng.random((n, 1, 1)) < 0.6) * rng.uniform(0.08, 0.22, (n, 1, 1))
    luminance -= stain
    edge = np.cos(direction + 1.3) * xx + np.sin(direction + 1.3) * yy
    shadow = 1 / (1 + np.exp(-(edge - rng.uniform(0.2, 0.8, (n, 1, 1))) * 25))
    luminance *= 1 - shadow * (rng.random((n, 1, 1)) < 0.4) * 0.3
    masks = np.zeros((n, size, size), bool)
    tint = 1 + rng.uniform(-0.04, 0.04, (n, 3, 1, 1)) + np.array([0.02, 0, -0.02]).reshape(3, 1, 1)
    rough = _value_noise(rng, n, size, size // 4)

    for i in range(n):
        if rng.random() < 0.3:                                           # formwork joint
            row = rng.integers(4, size - 4)
            luminance[i, row] += rng.choice([-0.12, 0.1])
            if rng.random() < 0.5:
                luminance[i] = luminance[i].T.copy()
        if labels[i] == 1:
            masks[i] = _crack_mask(rng, size)
            luminance[i][masks[i]] = luminance[i][masks[i]] * rng.uniform(0.25, 0.45)
            masks[i] = _dilate(masks[i], 1)
        elif labels[i] == 2:
            masks[i] = _spall_mask(rng, size)
            inside = masks[i]
            depth = rng.uniform(0.7, 0.85)                              # exposed aggregate: darker,
            stones = (rough[i] > 0.55) * 0.18 - 0.06                    # coarse and contrasty
            luminance[i][inside] = luminance[i][inside] * depth + stones[inside] + \
                (rng.random(inside.sum()) - 0.5) * 0.2
            rim = _dilate(inside, 1) & ~inside
            luminance[i][rim] *= 0.6                                    # the broken edge's shadow
            masks[i] |= rim

    x = luminance[:, None] * tint
    spall_colour = np.array([1.06, 0.98, 0.88]).reshape(3, 1, 1)       # brownish broken concrete
    x = np.where((labels == 2)[:, None, None, None] & masks[:, None], x * spall_colour, x)
    return np.clip(x, 0, 1).astype(np.float32), labels.astype(np.int64), masks
