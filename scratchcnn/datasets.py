"""The embedded datasets (MNIST and Fashion-MNIST 10k subsets) and an IDX reader
for the full sets. See data/README.md for provenance and licences."""
import gzip
import os
from pathlib import Path

import numpy as np

from .surface_defects import CLASS_NAMES as SURFACE_CLASS_NAMES  # noqa: F401
from .surface_defects import surface_defects  # noqa: F401

DATA_DIR = Path(os.environ.get("SCRATCHCNN_DATA", Path(__file__).resolve().parent.parent / "data"))

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


# ----- IDX files (the standard MNIST format) ------------------------------------------------
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Read an IDX file (optionally gzipped) into a NumPy array.

    Format: two zero bytes, a dtype code, the number of dimensions d, then d
    big-endian uint32 sizes, then the data in C order. A file that does not
    follow it raises ValueError naming the path and what is wrong.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError(f"{path}: corrupt gzip data ({err})") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated header ({len(raw)} bytes, needs {header})")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: size {len(raw)} bytes does not match the header's shape "
                         f"{shape} ({expected} bytes expected): truncated or corrupt")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(directory, stem):
    for candidate in (stem, stem + ".gz"):
        if (Path(directory) / candidate).exists():
            return Path(directory) / candidate
    raise FileNotFoundError(f"neither {stem} nor {stem}.gz is in {directory}")


def load_idx(directory, split="train"):
    """Load a full MNIST-format set from the standard IDX file names in ``directory``.

    split "train" reads train-images-idx3-ubyte[.gz] / train-labels-idx1-ubyte[.gz],
    "test" reads the t10k-* files. Returns (x, y): float32 (N, 1, H, W) in [0, 1]
    and int64 (N,). E.g. load_idx("/usr/share/datasets/fashion-mnist", "train").
    """
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images = read_idx(_find(directory, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find(directory, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{directory}: image file must hold uint8 (N, H, W), got "
                         f"{images.dtype} {images.shape}")
    if labels.shape != (len(images),):
        raise ValueError(f"{directory}: {len(images)} images but labels of shape {labels.shape}")
    return to_float_images(images), labels.astype(np.int64)
