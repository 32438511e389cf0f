"""Procedural concrete surfaces with cracks and spalling, and their ground-truth masks.

A stand-in for the spalling photographs of Gao & Mosalam that, unlike them, gives
every image a pixel mask of its defect, so an explanation's localization can be
measured. Three classes: 0 intact, 1 crack, 2 spalling. Every class carries the
same distractors (stains, shadows, formwork joints, lighting), so a network must
learn what a crack or a spall looks like, not just "something dark".

Two sites, for Vasu & Savakis's "similar datasets" (seed 001, sec. 4.1 and Fig. 3):
the same defects on two kinds of concrete (SITES). A fourth class, 3 exposed rebar
(corroded reinforcement bars where the cover is gone, as in the CODEBRIM defect
classes), is drawn only when ``classes`` asks for it: a defect a network trained on
the three default classes never saw, like the paper's unseen classes.
"""
import numpy as np

from ..resize import upsample

CLASS_NAMES = ["intact", "crack", "spalling"]         # the classes drawn by default
EXPOSED_REBAR = 3
ALL_CLASS_NAMES = CLASS_NAMES + ["exposed rebar"]

# What tells the sites apart: the concrete, never the defects.
#   "deck": grey cast-in-place concrete, coarse cloudy texture (the lessons' data set);
#   "wall": a darker, blue-grey (slag cement) board-formed concrete: a finer texture, more
#           aggregate speckle and pits, and horizontal formwork boards, each with its own
#           shade and a wood grain that runs along them.
# A spall exposes the same aggregate at both sites: "spall" times "tint" is the same colour
# (1.06, 0.98, 0.88) x (1.02, 1, 0.98) within rounding.
SITES = {
    "deck": dict(grey=(0.45, 0.7), cells=(4, 8, 16, 32), texture=0.25, speckle=0.10,
                 pits=0.03, tint=(0.02, 0.0, -0.02), spall=(1.06, 0.98, 0.88), boards=False),
    "wall": dict(grey=(0.38, 0.6), cells=(8, 16, 32), texture=0.15, speckle=0.12,
                 pits=0.045, tint=(-0.03, 0.0, 0.04), spall=(1.115, 0.98, 0.829), boards=True),
}
RUST = np.array([1.35, 0.8, 0.5]).reshape(3, 1, 1)      # corroded steel: orange-brown


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


def _rebar_masks(rng, size):
    """One or two exposed bars: straight, parallel, 3 px thick, along a random direction,
    over 40-80 % of the image. returns (bars, trough): (size, size) bool each, the
    bars' pixels and the broken-out cover around them (the bars dilated by 2 px)."""
    yy, xx = np.mgrid[:size, :size].astype(float)
    angle = rng.uniform(0, np.pi)
    along = np.cos(angle) * (xx - size / 2) + np.sin(angle) * (yy - size / 2)
    across = -np.sin(angle) * (xx - size / 2) + np.cos(angle) * (yy - size / 2)
    length = rng.uniform(0.4, 0.8) * size
    start = rng.uniform(-size / 2 + 6, size / 2 - 6 - length) if length < size - 12 else -length / 2
    offsets = rng.uniform(-0.25, 0.25) * size + np.array([0.0, rng.uniform(9, 13)])
    count = 1 if rng.random() < 0.5 else 2
    bars = np.zeros((size, size), bool)
    for offset in offsets[:count]:
        bars |= (np.abs(across - offset) < 1.5) & (along > start) & (along < start + length)
    return bars, _dilate(bars, 2)


def _board_marks(rng, n, size):
    """Board-formed concrete (site "wall"): horizontal boards 10-16 % of the image high,
    each a shade of its own, and a wood grain stretched along them.
    returns (n, size, size) luminance offsets."""
    rows = np.arange(size) / size
    height = rng.uniform(0.10, 0.16, (n, 1))
    board = np.floor((rows[None] + rng.random((n, 1))) / height).astype(int)   # (n, size)
    shades = rng.uniform(-0.05, 0.05, (n, 12))
    marks = np.take_along_axis(shades, board % 12, axis=1)[:, :, None]
    grain = upsample(rng.random((n, size // 2, 3)), size) - 0.5       # long along x
    return marks + 0.10 * grain


def surface_defects(n, size=64, seed=0, site="deck", classes=(0, 1, 2)):
    """Generate ``n`` RGB concrete surfaces of ``site``, balanced over ``classes``.

    site: a key of SITES, "deck" (the default, the lessons' data) or "wall": the same
    defects on another concrete. classes: ids drawn, in equal numbers (0 intact, 1
    crack, 2 spalling, 3 exposed rebar; ALL_CLASS_NAMES). The defaults give the same
    arrays as before sites and classes existed.
    returns x (n, 3, size, size) float32 in [0, 1], y (n,) int64 class ids,
    masks (n, size, size) bool (the defect's pixels; empty for intact surfaces).
    The same arguments give the same images.
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size must be an int >= 16, got {size!r}")
    if not isinstance(site, str) or site not in SITES:
        raise ValueError(f"site must be one of {sorted(SITES)}, got {site!r}")
    chosen = tuple(classes) if isinstance(classes, (tuple, list)) else ()
    if (not chosen or len(set(chosen)) != len(chosen) or
            not all(isinstance(c, (int, np.integer)) and 0 <= c < len(ALL_CLASS_NAMES)
                    for c in chosen)):
        raise ValueError(f"classes must be distinct class ids in 0..{len(ALL_CLASS_NAMES) - 1} "
                         f"({', '.join(ALL_CLASS_NAMES)}), got {classes!r}")
    look = SITES[site]
    rng = np.random.default_rng(seed)
    labels = np.array(chosen)[rng.permutation(np.arange(n) % len(chosen))]

    # concrete: a base grey, a slight tint, multi-scale texture and fine aggregate speckle
    grey = rng.uniform(*look["grey"], (n, 1, 1))
    texture = sum(0.5 ** octave * (_value_noise(rng, n, size, cells) - 0.5)
                  for octave, cells in enumerate(look["cells"]))
    speckle = (rng.random((n, size, size)) - 0.5) * look["speckle"]
    speckle += (rng.random((n, size, size)) < look["pits"]) * rng.uniform(-0.2, 0.15,
                                                                           (n, size, size))
    yy, xx = np.mgrid[:size, :size] / size
    direction = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    slope = np.cos(direction) * xx + np.sin(direction) * yy - 0.5
    lighting = rng.uniform(0, 0.2, (n, 1, 1)) * slope
    luminance = grey + look["texture"] * texture + speckle + lighting
    if look["boards"]:
        luminance += _board_marks(rng, n, size)

    # distractors, in every class: stains, a soft shadow, a straight formwork joint
    stain = 1 / (1 + np.exp(-(_value_noise(rng, n, size, 4) - 0.72) * 40))
    stain *= (rng.random((n, 1, 1)) < 0.6) * rng.uniform(0.08, 0.22, (n, 1, 1))
    luminance -= stain
    edge = np.cos(direction + 1.3) * xx + np.sin(direction + 1.3) * yy
    shadow = 1 / (1 + np.exp(-(edge - rng.uniform(0.2, 0.8, (n, 1, 1))) * 25))
    luminance *= 1 - shadow * (rng.random((n, 1, 1)) < 0.4) * 0.3
    masks = np.zeros((n, size, size), bool)
    tint = 1 + rng.uniform(-0.04, 0.04, (n, 3, 1, 1)) + np.array(look["tint"]).reshape(3, 1, 1)
    rough = _value_noise(rng, n, size, size // 4)
    rusty = np.zeros((n, size, size), bool)                             # exposed bars' pixels

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
        elif labels[i] == EXPOSED_REBAR:
            rusty[i], masks[i] = _rebar_masks(rng, size)
            cover = masks[i] & ~rusty[i]
            luminance[i][cover] *= rng.uniform(0.55, 0.7)             # the trough's shadow
            ribs = 0.5 + 0.5 * np.cos(2 * np.pi * (xx + yy)[rusty[i]] * size / 4)
            luminance[i][rusty[i]] = rng.uniform(0.3, 0.45) + 0.08 * ribs + \
                (rng.random(rusty[i].sum()) - 0.5) * 0.1               # ribbed, pitted steel

    x = luminance[:, None] * tint
    spall_colour = np.array(look["spall"]).reshape(3, 1, 1)            # brownish broken concrete
    x = np.where((labels == 2)[:, None, None, None] & masks[:, None], x * spall_colour, x)
    x = np.where(rusty[:, None], x * RUST, x)
    return np.clip(x, 0, 1).astype(np.float32), labels.astype(np.int64), masks
