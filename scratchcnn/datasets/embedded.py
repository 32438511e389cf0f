"""The embedded datasets: MNIST and Fashion-MNIST 10k subsets with a fixed split. See
data/README.md for provenance and licences."""
import os
from pathlib import Path

import numpy as np

DATA_DIR = Path(os.environ.get("SCRATCHCNN_DATA", Path(__file__).resolve().parents[2] / "data"))

EMBEDDED = {"mnist": "mnist-10k.npz", "fashion-mnist": "fashion-mnist-10k.npz"}

CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                      "Shirt", "Sneaker", "Bag", "Ankle boot"],
}

N_TRAIN, N_TEST, SPLIT_SEED = 8000, 2000, 0


def to_float_images(images):
    """uint8 (N, H, W) in 0..255 -> float32 (N, 1, H, W) in [0, 1]."""
    return (np.asarray(images, dtype=np.float32) / 255.0)[:, None, :, :]


def load(name):
    """Load an embedded dataset with its fixed split.

    name: "mnist" or "fashion-mnist"
    returns (x_train, y_train), (x_test, y_test): x float32 (N, 1, 28, 28) in
    [0, 1], y int64 (N,); 8,000 training and 2,000 test images, split by a seed-0
    permutation of the 10,000.
    """
    if name not in EMBEDDED:
        raise ValueError(f"name must be one of {sorted(EMBEDDED)}, got {name!r}")
    path = DATA_DIR / EMBEDDED[name]
    if not path.exists():
        raise FileNotFoundError(f"embedded dataset {path} is missing; set SCRATCHCNN_DATA to "
                                "the folder holding the project's data/ files")
    with np.load(path) as archive:
        images, labels = archive["images"], archive["labels"].astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    train, test = order[:N_TRAIN], order[N_TRAIN:N_TRAIN + N_TEST]
    return ((to_float_images(images[train]), labels[train]),
            (to_float_images(images[test]), labels[test]))


def random_shift(x, rng, max_shift=2):
    """Move each image by a random whole-pixel offset in [-max_shift, max_shift]
    along each axis, filling with zeros (a standard MNIST augmentation).

    x: (N, C, H, W) -> (N, C, H, W); rng: a NumPy Generator.
    """
    if x.ndim != 4:
        raise ValueError(f"x must be a batch of images (N, C, H, W), got shape {tuple(x.shape)}")
    if not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
        raise ValueError(f"max_shift must be an int >= 0, got {max_shift!r}")
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (max_shift, max_shift), (max_shift, max_shift)))
    top = rng.integers(0, 2 * max_shift + 1, n)
    left = rng.integers(0, 2 * max_shift + 1, n)
    rows = (top[:, None] + np.arange(h))[:, None, :, None]      # (N, 1, H, 1)
    cols = (left[:, None] + np.arange(w))[:, None, None, :]     # (N, 1, 1, W)
    return padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], rows, cols]
