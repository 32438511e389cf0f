"""Decoy-MNIST: digits that carry a planted shortcut (Ross, Hughes & Doshi-Velez 2017,
"Right for the Right Reasons", sec. 4).

Every image gets a square patch in one of its four corners, drawn per image. In
training the patch's grey level encodes the class, (255 - 25 y) / 255; at test time it
is a random class's level, so a network that learned the patch instead of the digit
fails there, and an explanation of such a network has a known right answer: the patch.
"""
import numpy as np

NUM_CLASSES = 10          # the grey levels 255 - 25 y stay distinct and >= 30 for y = 0..9


def patch_value(classes):
    """The patch's grey level for class(es) y: (255 - 25 y) / 255 (Ross et al. 2017,
    sec. 4), on the [0, 1] scale of the embedded images. int or (N,) -> float or (N,)."""
    return (255 - 25 * np.asarray(classes)) / 255


def _check(x, y, seed, patch, fraction):
    """Clear errors for bad arguments of decoy_mnist; returns y as an int64 array."""
    if not hasattr(x, "ndim") or x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"x must be a batch of grey images (N, 1, H, W), got shape "
                         f"{tuple(getattr(x, 'shape', ()))}")
    if x.dtype.kind != "f":
        raise ValueError(f"x must hold float images in [0, 1] (the patch's level is "
                         f"(255 - 25 y) / 255), got dtype {x.dtype}; use "
                         "datasets.to_float_images")
    y = np.asarray(y)
    if y.shape != (len(x),):
        raise ValueError(f"y must hold one label per image of x, shape ({len(x)},), got "
                         f"shape {y.shape}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"y must be int labels in 0..{NUM_CLASSES - 1}, got dtype {y.dtype}")
    outside = np.unique(y[(y < 0) | (y >= NUM_CLASSES)])
    if len(outside):
        raise ValueError(f"y must be int labels in 0..{NUM_CLASSES - 1} (the patch encodes "
                         f"255 - 25 y), got {outside[:5].tolist()}")
    side = min(x.shape[2:])
    if not isinstance(patch, (int, np.integer)) or isinstance(patch, bool) \
            or not 1 <= patch <= side:
        raise ValueError(f"patch must be an int from 1 to {side} (the image is "
                         f"{x.shape[2]}x{x.shape[3]}), got {patch!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    number = isinstance(fraction, (int, float, np.integer, np.floating))
    if isinstance(fraction, bool) or not number or not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be a number from 0 to 1 (the share of images that "
                         f"get a patch), got {fraction!r}")
    return y.astype(np.int64)


def decoy_mnist(x, y, seed=0, patch=4, randomize=False, fraction=1.0):
    """Plant the Decoy-MNIST shortcut (Ross, Hughes & Doshi-Velez 2017, sec. 4).

    Each chosen image gets a ``patch`` x ``patch`` square in one of its four corners
    (drawn per image, each with probability 1/4) whose pixels are SET to
    (255 - 25 c) / 255, where c is the image's label y (the paper's training set) or,
    with ``randomize=True``, a class drawn uniformly from 0..9 independently of y (the
    paper's test set: the patch then says nothing about the label; it matches it by
    chance 1 time in 10). ``fraction`` is the share of images that get a patch
    (round(fraction N) of them, chosen at random); the others are returned unchanged
    with an all-False mask, for a partial shortcut.

    The random draws come in a fixed order from ``np.random.default_rng(seed)``:
    corners, random classes (drawn even when unused), one permutation of the images.
    So the same seed gives the same corners and the same patched images with and
    without ``randomize`` (the two sets differ only in the patch's grey level), and the
    images patched at a smaller ``fraction`` are among those patched at a larger one.

    x: (N, 1, H, W) float images in [0, 1]; y: (N,) int labels in 0..9.
    returns (x_decoy (N, 1, H, W), a copy of x's dtype; masks (N, H, W) bool, True
    on the patch's pixels).
    """
    y = _check(x, y, seed, patch, fraction)
    n, _, height, width = x.shape
    rng = np.random.default_rng(seed)
    bottom, right = rng.integers(0, 2, (2, n)).astype(bool)      # the corner of each image
    random_classes = rng.integers(0, NUM_CLASSES, n)         # drawn either way: see above
    classes = random_classes if randomize else y
    chosen = np.zeros(n, bool)
    chosen[rng.permutation(n)[:int(round(fraction * n))]] = True
    rows = np.arange(height)[None, :]                             # (1, H)
    cols = np.arange(width)[None, :]                              # (1, W)
    in_rows = np.where(bottom[:, None], rows >= height - patch, rows < patch)   # (N, H)
    in_cols = np.where(right[:, None], cols >= width - patch, cols < patch)     # (N, W)
    masks = in_rows[:, :, None] & in_cols[:, None, :] & chosen[:, None, None]  # (N, H, W)
    values = patch_value(classes).astype(x.dtype)                 # Ross et al., sec. 4
    x_decoy = np.where(masks[:, None], values[:, None, None, None], x).astype(x.dtype)
    return x_decoy, masks
