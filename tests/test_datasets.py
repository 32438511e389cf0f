"""Embedded datasets and the IDX reader (round trip, gzip, malformed files)."""
import gzip
import struct

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn.datasets import load_idx, random_shift, read_idx


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_embedded_split(name):
    (x, y), (xt, yt) = sc.datasets.load(name)
    assert x.shape == (8000, 1, 28, 28) and xt.shape == (2000, 1, 28, 28)
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1 and x.max() > 0.99
    assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
    (x2, _), _ = sc.datasets.load(name)
    np.testing.assert_array_equal(x, x2)                      # fixed split
    with pytest.raises(ValueError, match="must be one of"):
        sc.datasets.load("cifar")


def idx_bytes(array, code=0x08):
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def test_idx_round_trip_plain_and_gzip(tmp_path, rng):
    images = rng.integers(0, 256, (5, 4, 3), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    x, y = load_idx(tmp_path, "train")
    assert x.shape == (5, 1, 4, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0] * 255, images)
    np.testing.assert_array_equal(y, labels)
    floats = np.linspace(-1, 1, 6).reshape(2, 3)
    (tmp_path / "f.idx").write_bytes(idx_bytes(floats, code=0x0E))
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx"), floats)


def test_idx_malformed_files_give_clear_errors(tmp_path):
    good = idx_bytes(np.zeros((2, 3, 3), np.uint8))
    cases = {"magic": b"\x08\x03" + good[2:], "truncated": good[:-4], "header": good[:6],
             "gzip": b"\x1f\x8b" + b"junk" * 4}
    messages = {"magic": "bad magic", "truncated": "does not match", "header": "truncated header",
                "gzip": "corrupt gzip"}
    for case, data in cases.items():
        (tmp_path / case).write_bytes(data)
        with pytest.raises(ValueError, match=messages[case]):
            read_idx(tmp_path / case)
    with pytest.raises(FileNotFoundError, match="t10k-images"):
        load_idx(tmp_path, "test")


def test_random_shift_moves_whole_images(rng):
    x = np.zeros((3, 1, 6, 6), np.float32)
    x[:, 0, 2, 3] = 1.0
    shifted = random_shift(x, rng, max_shift=2)
    assert shifted.shape == x.shape and np.all(shifted.sum(axis=(1, 2, 3)) == 1.0)
