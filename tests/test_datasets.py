"""Embedded datasets and the IDX reader (round trip, gzip, malformed files)."""
import gzip
import hashlib
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


def sha256(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


# Computed once from the seed-0 split; a changed seed, split sizes or order fails here.
SPLIT_SHA256 = {  # (train labels int64, test labels int64, train images uint8, test images uint8)
    "mnist": ("7a3a7032a2600d0d452a13e2c245bde9a9f5c11eb8d30d9ab17a87969b0d6a94",
              "2687c9bd7ab128ca3685331c7f918edcf0b14230e0b24af3a8b1f059650969d2",
              "ea226469434375acc41a92827ee81bf7d976c4dd469ad455b6baf63fe174be6c",
              "13b64fa627bd6b214a50520a816ffbb18bc48c213982163566df8a5c45bd66fb"),
    "fashion-mnist": ("ed697b261601e7a432c8349f32f306e5a1e0a679bc91ae18fb4f1bfff74cd235",
                      "0240424092f3a39804e658731ea4eb1fc69d685a5391a6d7cd06f9147dcd226c",
                      "e38fd114adbb13afcce847f36d4155affeafe09e68c158793e97cdb568d00fb3",
                      "7f39977cb36963b9d9fbde739b25354a3b9e79c012c1a814bc34a870a641d861"),
}
FIRST_LABELS = {"mnist": ([3, 8, 1, 0, 4, 0, 9, 3, 4, 9], [3, 8, 8, 0, 9, 0, 9, 0, 4, 5]),
                "fashion-mnist": ([5, 9, 3, 7, 3, 6, 5, 1, 5, 8], [6, 9, 7, 8, 4, 8, 5, 6, 7, 0])}


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_embedded_split_is_pinned(name):
    assert np.random.default_rng(0).permutation(10000)[:10].tolist() == \
        [3577, 8925, 1634, 485, 4753, 726, 9505, 3650, 4703, 9428]
    (x, y), (xt, yt) = sc.datasets.load(name)
    assert y[:10].tolist() == FIRST_LABELS[name][0] and yt[:10].tolist() == FIRST_LABELS[name][1]
    to_u8 = lambda a: np.round(a * 255).astype(np.uint8)  # noqa: E731
    got = (sha256(y.astype("<i8")), sha256(yt.astype("<i8")), sha256(to_u8(x)), sha256(to_u8(xt)))
    assert got == SPLIT_SHA256[name]


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_load_keeps_labels_with_their_images(name):
    """load = the raw archive in data/ reordered by an independently recomputed seed-0
    permutation: x[i] is raw image perm[i] and y[i] its label, train and test alike;
    the two parts are disjoint and together hold all 10,000 images."""
    with np.load(sc.datasets.DATA_DIR / sc.datasets.EMBEDDED[name]) as archive:
        raw_images, raw_labels = archive["images"], archive["labels"]
    perm = np.random.default_rng(0).permutation(10000)
    (x, y), (xt, yt) = sc.datasets.load(name)
    for i in [0, 1, 2, 777, 4242, 7999]:
        np.testing.assert_array_equal(x[i, 0], raw_images[perm[i]] / np.float32(255))
        assert y[i] == raw_labels[perm[i]]
    for i in [0, 1, 999, 1999]:
        np.testing.assert_array_equal(xt[i, 0], raw_images[perm[8000 + i]] / np.float32(255))
        assert yt[i] == raw_labels[perm[8000 + i]]
    np.testing.assert_array_equal(y, raw_labels[perm[:8000]])
    np.testing.assert_array_equal(yt, raw_labels[perm[8000:]])
    np.testing.assert_array_equal(np.round(x[:, 0] * 255), raw_images[perm[:8000]])
    np.testing.assert_array_equal(np.round(xt[:, 0] * 255), raw_images[perm[8000:]])


def test_random_shift_independent_offsets_per_axis(rng):
    """Channel 0: one bright pixel at the centre, so its new place gives the offset;
    channel 1: random content that must move by the same offset, zero-filled.
    Offsets cover [-max_shift, max_shift] on each axis, and rows and columns are
    drawn independently (some image moves by different amounts along the two)."""
    n, size, max_shift, centre = 300, 9, 2, 4
    x = np.zeros((n, 2, size, size), np.float32)
    x[:, 0, centre, centre] = 1.0
    x[:, 1] = rng.random((n, size, size)) + 0.5
    shifted = random_shift(x, np.random.default_rng(5), max_shift=max_shift)
    assert shifted.shape == x.shape
    assert np.all(shifted[:, 0].sum(axis=(1, 2)) == 1.0)
    rows, cols = np.nonzero(shifted[:, 0].reshape(n, -1) == 1.0)[1].__divmod__(size)
    dr, dc = rows - centre, cols - centre
    assert set(dr.tolist()) == set(range(-max_shift, max_shift + 1))
    assert set(dc.tolist()) == set(range(-max_shift, max_shift + 1))
    assert np.any(dr != dc) and np.any(dr == -dc) and np.any(dr == dc)
    for k in range(n):                       # the whole image moved, zeros fill the gap
        expected = np.zeros((size, size), np.float32)
        src = x[k, 1, max(0, -dr[k]):size - max(0, dr[k]), max(0, -dc[k]):size - max(0, dc[k])]
        expected[max(0, dr[k]):max(0, dr[k]) + src.shape[0],
                 max(0, dc[k]):max(0, dc[k]) + src.shape[1]] = src
        np.testing.assert_array_equal(shifted[k, 1], expected)
    np.testing.assert_array_equal(random_shift(x, rng, max_shift=0), x)


@pytest.mark.parametrize("name, floor", [("mnist", 0.75), ("fashion-mnist", 0.6)])
def test_labels_mean_what_they_say(name, floor):
    """A model-free classifier: each held-out image gets the class whose mean training
    image is nearest. With labels that name the images' classes it scores well above
    chance (measured: MNIST 0.80, Fashion-MNIST 0.69); a permutation of the label ids
    (seed 0: three of the ten ids stay put) falls to 0.19 and 0.20."""
    (x, y), (xt, yt) = sc.datasets.load(name)
    means = np.stack([x[y == k].reshape(-1, x[0].size).mean(axis=0) for k in range(10)])
    distances = ((xt.reshape(len(xt), -1)[:, None, :] - means[None]) ** 2).sum(axis=2)
    accuracy = float((distances.argmin(axis=1) == yt).mean())
    assert accuracy > floor, accuracy
    shuffled = np.random.default_rng(0).permutation(10)[yt]      # a relabelling of the ids
    assert float((distances.argmin(axis=1) == shuffled).mean()) < 0.3
