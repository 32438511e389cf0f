"""The procedural structural-health dataset: shapes, classes, masks, determinism."""
import numpy as np
import pytest

from scratchcnn import datasets


def test_surface_defects_shapes_classes_and_masks():
    x, y, masks = datasets.surface_defects(30, size=32, seed=1)
    assert x.shape == (30, 3, 32, 32) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1
    assert np.bincount(y).tolist() == [10, 10, 10]
    has_defect = masks.reshape(30, -1).any(axis=1)
    np.testing.assert_array_equal(has_defect, y > 0)           # empty mask iff intact
    crack, spall = masks[y == 1].mean(), masks[y == 2].mean()
    assert 0.02 < crack < spall < 0.4                          # thin lines vs blobs


def test_surface_defects_is_deterministic():
    a = datasets.surface_defects(6, size=32, seed=4)
    b = datasets.surface_defects(6, size=32, seed=4)
    c = datasets.surface_defects(6, size=32, seed=5)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])


def test_surface_defects_arguments():
    with pytest.raises(ValueError, match="n must be a positive int"):
        datasets.surface_defects(0)
    with pytest.raises(ValueError, match="size must be an int >= 16"):
        datasets.surface_defects(3, size=8)
