"""datasets.colour_shapes: shapes, balance, determinism, bad input, and each of the three
cues measured on the images themselves (hue on the object's pixels, the texture's
spectrum, the outline's fill of its bounding box), independently of how they were drawn."""
import numpy as np
import pytest

from scratchcnn.datasets.colour_shapes import CLASS_NAMES, class_cues, colour_shapes

N = 64


@pytest.fixture(scope="module")
def data():
    return colour_shapes(N, size=32, seed=3)


def test_shapes_range_balance_and_names(data):
    x, y, masks = data
    assert x.shape == (N, 3, 32, 32) and x.dtype == np.float32 and y.dtype == np.int64
    assert masks.shape == (N, 32, 32) and masks.dtype == bool
    assert 0 <= x.min() and x.max() <= 1
    assert np.bincount(y, minlength=8).tolist() == [8] * 8
    assert len(CLASS_NAMES) == 8 == len(set(CLASS_NAMES))
    assert CLASS_NAMES[4 * 1 + 2 * 0 + 1] == "cool striped cross"
    assert [class_cues(c) for c in (0, 5, 6)] == [(0, 0, 0), (1, 0, 1), (1, 1, 0)]


def test_deterministic_and_seeded():
    a, b, c = (colour_shapes(8, size=20, seed=s) for s in (5, 5, 6))
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n must be a positive int"):
        colour_shapes(0)
    with pytest.raises(ValueError, match="size must be an int >= 16"):
        colour_shapes(4, size=8)


def test_colour_cue_is_in_every_object_pixel(data):
    """Warm objects: red above blue at (almost) every object pixel; cool: blue above red;
    the background is dull (its channels within 0.35 of each other on average)."""
    x, y, masks = data
    for i in range(N):
        red, blue = x[i, 0][masks[i]], x[i, 2][masks[i]]
        warm = class_cues(int(y[i]))[0] == 0
        assert np.mean(red > blue if warm else blue > red) > 0.97, i
        spread = np.ptp(x[i][:, ~masks[i]], axis=0).mean()
        assert spread < 0.35, i


def test_shape_cue_fills_its_box_differently(data):
    """A disc fills pi/4 = 0.785 of its bounding box, a plus-shaped cross with arms 0.6-0.8
    of its half-span wide 1 - (1 - arm)^2 <= 0.64 of it."""
    _, y, masks = data
    for i in range(N):
        rows, cols = np.flatnonzero(masks[i].any(axis=1)), np.flatnonzero(masks[i].any(axis=0))
        box = (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
        fill = masks[i].sum() / box
        if class_cues(int(y[i]))[2] == 0:
            assert 0.7 < fill < 0.87, (i, fill)
        else:
            assert 0.4 < fill < 0.66, (i, fill)
        assert 0.5 * 32 < max(np.ptp(rows), np.ptp(cols)) + 1 <= 26


def test_texture_cue_stripes_have_one_direction_dots_two(data):
    """On a large object (a disc's central square), the brightness spectrum's strongest
    non-zero frequency k has a partner at k rotated by 90 degrees for dots (two crossed
    waves) and none for stripes (one wave): compare the power there with the peak's."""
    x, y, masks = data
    ratios = {0: [], 1: []}
    for i in np.flatnonzero(np.array([class_cues(int(v))[2] == 0 for v in y])):
        rows, cols = np.nonzero(masks[i])
        cy, cx = int(rows.mean()), int(cols.mean())
        patch = x[i, :, cy - 6:cy + 6, cx - 6:cx + 6].sum(axis=0)             # 12x12
        power = np.abs(np.fft.fft2((patch - patch.mean()) * np.outer(np.hanning(12),
                                                                      np.hanning(12)))) ** 2
        power[0, 0] = 0
        ky, kx = np.unravel_index(np.argmax(power), power.shape)
        fy, fx = (ky + 6) % 12 - 6, (kx + 6) % 12 - 6                          # signed
        best = 0.0
        for dy in (-1, 0, 1):                                                   # bin leakage
            for dx in (-1, 0, 1):
                best = max(best, power[(-fx + dy) % 12, (fy + dx) % 12])
        ratios[class_cues(int(y[i]))[1]].append(best / power[ky, kx])
    assert len(ratios[0]) >= 8 and len(ratios[1]) >= 8
    assert np.median(ratios[0]) < 0.15 < 0.4 < np.median(ratios[1]), ratios
