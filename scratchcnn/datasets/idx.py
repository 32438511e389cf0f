"""IDX files, the standard MNIST format: a reader, and the loader of a full MNIST-format
set (e.g. Debian's dataset-fashion-mnist)."""
import gzip
import os
from pathlib import Path

import numpy as np

from .embedded import to_float_images

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
