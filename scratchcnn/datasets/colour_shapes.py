"""Procedural colour objects whose eight classes differ at three scales at once.

A stand-in for the colour photographs (VGG16 on ImageNet) behind Tang et al.'s finding
that a deep network's first layer captures colour, later layers textures, and the
deepest ones parts of objects ("How the Deep Convolutional Networks see the World",
sec. 3.2). One object on a dull, noisy background; its class is the combination of
three binary cues, each visible at a different scale:

    colour   (one pixel):          warm (red to orange) or cool (cyan to blue) hue
    texture  (a few pixels):       stripes (one wave, any orientation) or dots (two
                                   crossed waves, a grid of bright spots), period 4-6 px
    shape    (most of the image):  a filled disc or a plus-shaped cross

    class = 4 * colour + 2 * texture + shape     (CLASS_NAMES spells them out)

Every pair of classes that differ in one cue only exists, so a network that classifies
all eight must see colour, texture and shape. Position, size, hue, saturation,
brightness, stripe orientation, period and phase vary within each class.
"""
import numpy as np

from ..resize import upsample

COLOURS, TEXTURES, SHAPES = ("warm", "cool"), ("striped", "dotted"), ("disc", "cross")
CLASS_NAMES = [f"{c} {t} {s}" for c in COLOURS for t in TEXTURES for s in SHAPES]


def class_cues(label):
    """A class id 0..7 -> (colour, texture, shape) as indices into COLOURS, TEXTURES,
    SHAPES: the inverse of class = 4 * colour + 2 * texture + shape."""
    return label // 4, (label // 2) % 2, label % 2


def _hsv_to_rgb(hue, saturation, value):
    """Arrays of hue in [0, 1) (wrapping), saturation, value -> (..., 3) RGB in [0, 1]
    (the standard six-sector formula)."""
    hue = np.mod(hue, 1.0) * 6
    sector = np.floor(hue).astype(int) % 6
    f = hue - np.floor(hue)
    p, q, t = value * (1 - saturation), value * (1 - saturation * f), \
        value * (1 - saturation * (1 - f))
    table = [(value, t, p), (q, value, p), (p, value, t), (p, q, value), (t, p, value),
             (value, p, q)]
    rgb = np.zeros(np.shape(hue) + (3,))
    for s, (r, g, b) in enumerate(table):
        here = sector == s
        rgb[here] = np.stack([np.broadcast_to(c, np.shape(hue))[here] for c in (r, g, b)],
                             axis=-1)
    return rgb


def _shape_masks(rng, shapes, size):
    """One mask per entry of ``shapes`` (n,): a filled disc (0) or an axis-aligned
    plus-shaped cross (1, arms 0.6-0.8 of its half-span wide) spanning 55-80 % of the
    image, at a random place fully inside it. returns (n, size, size) bool."""
    n = len(shapes)
    span = rng.uniform(0.55, 0.8, n) * size
    centre = rng.uniform(0, 1, (n, 2)) * (size - span[:, None] - 2) + span[:, None] / 2 + 1
    yy, xx = np.mgrid[:size, :size] + 0.5
    dy = np.abs(yy - centre[:, 0, None, None])                     # (n, size, size)
    dx = np.abs(xx - centre[:, 1, None, None])
    half = span[:, None, None] / 2
    disc = np.hypot(dy, dx) < half
    arm = rng.uniform(0.3, 0.4, (n, 1, 1)) * half                  # half the arm's width
    cross = (dy < half) & (dx < half) & ((dy < arm) | (dx < arm))
    return np.where((shapes == 0)[:, None, None], disc, cross)


def _textures(rng, textures, size):
    """Brightness in [0.2, 1] with mean about 0.7, (n, size, size), one per entry of
    ``textures`` (n,): stripes (0), one cosine wave cos(k . r + phase) with a period of
    4-6 px at a random orientation; dots (1), the product (1 + cos)(1 + cos) of two such
    waves at right angles (bright spots on a square grid). Each is standardized over its
    image (z-score) and drawn as 0.7 + 0.3 z, so the two textures share mean brightness
    and contrast and differ only in their pattern."""
    n = len(textures)
    k = 2 * np.pi / rng.uniform(4, 6, (n, 1, 1))                   # wave number, 1/px
    angle = rng.uniform(0, np.pi, (n, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, (2, n, 1, 1))
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    wave = np.cos(k * (np.cos(angle) * xx + np.sin(angle) * yy) + phase[0])
    across = np.cos(k * (-np.sin(angle) * xx + np.cos(angle) * yy) + phase[1])
    wave = np.where((textures == 1)[:, None, None], (1 + wave) * (1 + across), wave)
    z = (wave - wave.mean(axis=(1, 2), keepdims=True)) / wave.std(axis=(1, 2), keepdims=True)
    return np.clip(0.7 + 0.3 * z, 0.2, 1.0)


def colour_shapes(n, size=32, seed=0):
    """Generate ``n`` RGB images, balanced over the eight classes of CLASS_NAMES.

    returns x (n, 3, size, size) float32 in [0, 1], y (n,) int64 class ids 0..7,
    masks (n, size, size) bool (the object's pixels). The same seed gives the same images.
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size must be an int >= 16, got {size!r}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(CLASS_NAMES))
    colours, textures, shapes = class_cues(labels)
    # background: a dull colour (saturation <= 0.25) with smooth and fine noise
    background = _hsv_to_rgb(rng.random(n), rng.uniform(0, 0.25, n),
                             rng.uniform(0.25, 0.55, n))[:, None, None]     # (n, 1, 1, 3)
    smooth = upsample(rng.random((n, 4, 4)), size) - 0.5                   # (n, size, size)
    images = background + 0.15 * smooth[..., None] + \
        0.04 * rng.standard_normal((n, size, size, 3))
    # the object: its hue says warm or cool (one pixel suffices), its brightness pattern
    # stripes or dots (a few pixels), its outline disc or cross (most of the image)
    hue = np.where(colours == 0, rng.uniform(-0.03, 0.09, n), rng.uniform(0.5, 0.64, n))
    rgb = _hsv_to_rgb(hue, rng.uniform(0.65, 1.0, n), rng.uniform(0.75, 1.0, n))   # (n, 3)
    masks = _shape_masks(rng, shapes, size)
    painted = _textures(rng, textures, size)[..., None] * rgb[:, None, None, :]
    images = np.where(masks[..., None], painted, images)
    x = np.clip(np.transpose(images, (0, 3, 1, 2)), 0, 1)
    return x.astype(np.float32), labels.astype(np.int64), masks
