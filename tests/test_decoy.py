"""Decoy-MNIST (Ross, Hughes & Doshi-Velez 2017, sec. 4): the planted patch checked by
hand, its randomization against the label, its errors; and the patch scores lesson 13
uses (energy in the mask, of the map and of |map|, and the pointing game) on hand-built
maps whose answers are known."""
import numpy as np
import pytest

from scratchcnn.datasets import decoy_mnist
from scratchcnn.explain import metrics


def corner_blocks(height, width, patch):
    """The four candidate patches, written out as slices: {name: (rows, cols)}."""
    return {"top-left": (slice(0, patch), slice(0, patch)),
            "top-right": (slice(0, patch), slice(width - patch, width)),
            "bottom-left": (slice(height - patch, height), slice(0, patch)),
            "bottom-right": (slice(height - patch, height), slice(width - patch, width))}


def images_and_labels(n, height, width, seed):
    """Images with values that no patch level can equal (odd multiples of 1/1000 in
    (0.1, 0.9); the levels are k/255) and labels 0..9."""
    rng = np.random.default_rng(seed)
    x = (rng.integers(50, 450, (n, 1, height, width)) * 2 + 1).astype(np.float32) / 1000
    return x, rng.integers(0, 10, n)


def test_patch_by_hand():
    x, y = images_and_labels(400, 7, 9, seed=0)          # non-square, patch 3
    original = x.copy()
    x_decoy, masks = decoy_mnist(x, y, seed=3, patch=3)
    np.testing.assert_array_equal(x, original)             # x itself is left alone
    assert x_decoy.dtype == x.dtype and x_decoy.shape == x.shape
    assert masks.dtype == bool and masks.shape == (400, 7, 9)
    seen = {}
    for image, label, mask, before in zip(x_decoy[:, 0], y, masks, x[:, 0]):
        corners = [name for name, (rows, cols) in corner_blocks(7, 9, 3).items()
                   if mask[rows, cols].all()]
        assert len(corners) == 1 and mask.sum() == 9       # exactly one whole 3x3 corner
        seen[corners[0]] = seen.get(corners[0], 0) + 1
        level = {0: 255, 1: 230, 2: 205, 3: 180, 4: 155, 5: 130, 6: 105, 7: 80, 8: 55,
                 9: 30}[int(label)] / 255                  # 255 - 25 y, written out
        np.testing.assert_allclose(image[mask], level, rtol=1e-6)
        np.testing.assert_array_equal(image[~mask], before[~mask])   # the rest untouched
    assert sorted(seen) == sorted(corner_blocks(7, 9, 3)) and min(seen.values()) > 60, seen


def test_same_seed_same_corners_and_reproducible():
    x, y = images_and_labels(200, 10, 10, seed=1)
    coded, masks = decoy_mnist(x, y, seed=5)
    again, masks_again = decoy_mnist(x, y, seed=5)
    shuffled, masks_random = decoy_mnist(x, y, seed=5, randomize=True)
    np.testing.assert_array_equal(coded, again)
    np.testing.assert_array_equal(masks, masks_again)
    np.testing.assert_array_equal(masks, masks_random)     # only the grey level differs
    np.testing.assert_array_equal(coded[:, 0][~masks], shuffled[:, 0][~masks])
    other_seed, other_masks = decoy_mnist(x, y, seed=6)
    assert (other_masks != masks).any()                    # negative control: the seed matters


def patch_classes(x_decoy, masks):
    """The class c whose level (255 - 25 c) / 255 each image's patch shows: (N,) int."""
    levels = np.array([x_decoy[i, 0][masks[i]][0] for i in range(len(masks))])
    return np.rint((255 - 255 * levels) / 25).astype(int)


def test_randomized_patch_is_independent_of_the_label():
    x, y = images_and_labels(2000, 8, 8, seed=2)
    spreads = {}
    for randomize in (True, False):
        x_decoy, masks = decoy_mnist(x, y, seed=0, randomize=randomize)
        classes = patch_classes(x_decoy, masks)
        assert set(classes) <= set(range(10))
        # per label, the share of each of the ten levels: 1/10 each if independent
        shares = np.array([np.bincount(classes[y == label], minlength=10) / (y == label).sum()
                           for label in range(10)])
        spreads[randomize] = np.abs(shares - 0.1).max()
        if randomize:
            assert (classes != y).mean() > 0.8             # ~0.9: matches by chance 1 in 10
            assert abs(np.corrcoef(classes, y)[0, 1]) < 0.06
            assert len(set(classes)) == 10
        else:
            np.testing.assert_array_equal(classes, y)
    # ~200 images per label: a share's standard deviation is ~0.02; 0.08 is 4 of them
    assert spreads[True] < 0.08, spreads
    assert spreads[False] > 0.8, spreads                   # negative control: coded by label


def test_fraction_patches_a_nested_share():
    x, y = images_and_labels(101, 8, 8, seed=3)
    patched = {}
    for fraction in (0.0, 0.25, 0.5, 1.0):
        x_decoy, masks = decoy_mnist(x, y, seed=4, fraction=fraction)
        has_patch = masks.any(axis=(1, 2))
        assert has_patch.sum() == round(fraction * 101)
        np.testing.assert_array_equal(x_decoy[~has_patch], x[~has_patch])   # unpatched: as is
        assert (masks[has_patch].sum(axis=(1, 2)) == 16).all()
        patched[fraction] = has_patch
    assert not patched[0.0].any() and patched[1.0].all()
    assert (patched[0.25] <= patched[0.5]).all()           # 25 % of them are among the 50 %


@pytest.mark.parametrize("kwargs, message", [
    (dict(y=np.array([0, 10])), r"y must be int labels in 0\.\.9 .*got \[10\]"),
    (dict(y=np.array([-1, 3])), r"y must be int labels in 0\.\.9 .*got \[-1\]"),
    (dict(y=np.array([0.0, 1.0])), r"y must be int labels in 0\.\.9, got dtype float64"),
    (dict(y=np.array([0, 1, 2])), r"y must hold one label per image of x, shape \(2,\)"),
    (dict(patch=7), r"patch must be an int from 1 to 6 \(the image is 6x8\), got 7"),
    (dict(patch=0), r"patch must be an int from 1 to 6"),
    (dict(patch=2.0), r"patch must be an int from 1 to 6"),
    (dict(x=np.zeros((2, 6, 8))), r"x must be a batch of grey images \(N, 1, H, W\), got "
                                  r"shape \(2, 6, 8\)"),
    (dict(x=np.zeros((2, 3, 6, 8))), r"x must be a batch of grey images \(N, 1, H, W\)"),
    (dict(x=np.zeros((2, 1, 6, 8), np.uint8)), r"x must hold float images in \[0, 1\].*"
                                                r"got dtype uint8"),
    (dict(fraction=1.5), r"fraction must be a number from 0 to 1"),
    (dict(seed=None), r"seed must be an int, got None"),
])
def test_errors_name_the_argument(kwargs, message):
    arguments = dict(x=np.zeros((2, 1, 6, 8), np.float32), y=np.array([3, 4]))
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        decoy_mnist(**arguments)


def test_patch_scores_on_hand_built_maps():
    """Lesson 13's scores: energy_in_mask of the map (positive part) and of |map|, and the
    pointing game, where the answer is known."""
    masks = np.zeros((4, 6, 6), bool)
    masks[:, :2, :2] = True                                # a 2x2 patch: 4 of 36 pixels
    maps = np.zeros((4, 6, 6))
    maps[0, :2, :2] = 1.0                                  # all on the patch
    maps[1] = 1.0                                          # spread evenly: the area's share
    maps[2, 4:, 4:] = 1.0                                  # negative control: other corner
    maps[3, :2, :2], maps[3, 5, 5] = -3.0, 1.0             # the patch is negative evidence
    np.testing.assert_allclose(metrics.energy_in_mask(maps, masks, per_image=True),
                               [1.0, 4 / 36, 0.0, 0.0])
    np.testing.assert_allclose(metrics.energy_in_mask(np.abs(maps), masks, per_image=True),
                               [1.0, 4 / 36, 0.0, 12 / 13])
    np.testing.assert_array_equal(metrics.pointing_game(maps, masks, per_image=True),
                                  [True, True, False, False])   # a flat map peaks at (0, 0)
    np.testing.assert_array_equal(metrics.pointing_game(np.abs(maps), masks, per_image=True),
                                  [True, True, False, True])
    random_maps = np.random.default_rng(0).random((400, 6, 6))  # the random control
    random_masks = np.broadcast_to(masks[:1], (400, 6, 6))
    assert abs(metrics.energy_in_mask(random_maps, random_masks) - 4 / 36) < 0.01
    assert abs(metrics.pointing_game(random_maps, random_masks) - 4 / 36) < 0.05
