"""Weight damage (exact counts, seeds, held at zero while training) and the highest
activation region of a CAM (Vasu & Savakis, seed 001), each checker with a negative
control that shows it can fail."""
import warnings

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import resilience as rs
from scratchcnn.resize import upsample


def odd_model():
    """conv1: W (5, 3, 7, 7) = 735 weights; fc1: W (7, 15) = 105 weights; both odd."""
    return sc.Sequential([sc.Conv2D(3, 5, 7), sc.ReLU(), sc.GlobalAvgPool2D(),
                          sc.Linear(5, 15), sc.ReLU(), sc.Linear(15, 7)], seed=0)


def assert_zero_count(mask, expected):
    """Exactly ``expected`` entries of a keep-mask are False."""
    assert mask.dtype == bool
    assert int(np.count_nonzero(~mask)) == expected


# ----- damage_masks: counts and rounding ----------------------------------------------

@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.95, 1.0])
def test_mask_counts_exact_for_odd_sizes(fraction):
    """Each layer loses exactly floor(fraction * N + 0.5) of its N weights, for odd N
    (735 and 105), including 0 % (no zero) and 100 % (all zero); masks have W's shape
    and the bias is left alone by default."""
    model = odd_model()
    masks = rs.damage_masks(model, ["conv1", "fc2"], fraction, seed=3)
    assert sorted(masks) == ["conv1.W", "fc2.W"]
    for key, n in (("conv1.W", 735), ("fc2.W", 105)):
        layer = model[key.split(".")[0]]
        assert masks[key].shape == layer.params["W"].shape
        assert_zero_count(masks[key], int(np.floor(fraction * n + 0.5)))
    assert_zero_count(rs.damage_masks(model, ["conv1"], 0.0)["conv1.W"], 0)
    assert_zero_count(rs.damage_masks(model, ["conv1"], 1.0)["conv1.W"], 735)


def test_count_checker_negative_control():
    """A mask with one zero too many (or too few) fails the exact-count assertion."""
    mask = rs.damage_masks(odd_model(), ["fc2"], 0.5)["fc2.W"]
    assert_zero_count(mask, 53)
    extra = mask.copy()
    extra.flat[np.flatnonzero(mask)[0]] = False
    with pytest.raises(AssertionError):
        assert_zero_count(extra, 53)
    fewer = mask.copy()
    fewer.flat[np.flatnonzero(~mask)[0]] = True
    with pytest.raises(AssertionError):
        assert_zero_count(fewer, 53)


def test_rounding_is_half_up_not_bankers():
    """A half case rounds up: 0.5 * 105 = 52.5 -> 53 zeros and 0.5 * 21 = 10.5 -> 11,
    where Python's round() (half to even) would give 52 and 10."""
    assert round(52.5) == 52 and round(10.5) == 10        # the half cases are real
    assert rs.damage_count(0.5, 105) == 53
    assert rs.damage_count(0.5, 21) == 11
    model = sc.Sequential([sc.Linear(3, 7), sc.Linear(7, 15)], seed=0)   # 21, 105 weights
    masks = rs.damage_masks(model, ["fc1", "fc2"], 0.5)
    assert_zero_count(masks["fc1.W"], 11)
    assert_zero_count(masks["fc2.W"], 53)
    assert rs.damage_count(0.05, 735) == 37                # 36.75 -> 37
    assert rs.damage_count(0.05, 730) == 37                # 36.5 -> 37 (round(): 36)


def test_include_bias_damages_the_bias_too():
    """include_bias=True adds a mask for "b" with its own exact count; a layer
    without a bias is fine."""
    model = odd_model()
    masks = rs.damage_masks(model, ["conv1", "fc2"], 0.4, include_bias=True)
    assert sorted(masks) == ["conv1.W", "conv1.b", "fc2.W", "fc2.b"]
    assert_zero_count(masks["conv1.b"], 2)                  # 0.4 * 5 = 2
    assert_zero_count(masks["fc2.b"], 3)                    # 0.4 * 7 = 2.8 -> 3


# ----- damage_masks: seeds --------------------------------------------------------------

def test_same_seed_same_masks_different_seed_different_masks():
    """A seed reproduces every mask bit for bit; another seed draws other weights
    (same counts)."""
    model = odd_model()
    first = rs.damage_masks(model, ["conv1", "fc2"], 0.3, seed=7)
    again = rs.damage_masks(model, ["conv1", "fc2"], 0.3, seed=7)
    other = rs.damage_masks(model, ["conv1", "fc2"], 0.3, seed=8)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
        assert not np.array_equal(first[key], other[key])
        assert np.count_nonzero(~first[key]) == np.count_nonzero(~other[key])


def test_layers_in_one_call_are_independent_draws():
    """Two layers of the same shape get different masks from one call (one generator,
    drawn in turn, not one pattern reused); the first layer's mask is the one it gets
    alone, and the whole dict is reproducible."""
    model = sc.Sequential([sc.Linear(9, 9), sc.Linear(9, 9)], seed=0)
    masks = rs.damage_masks(model, ["fc1", "fc2"], 0.5, seed=1)
    assert not np.array_equal(masks["fc1.W"], masks["fc2.W"])
    np.testing.assert_array_equal(masks["fc1.W"],
                                  rs.damage_masks(model, ["fc1"], 0.5, seed=1)["fc1.W"])
    again = rs.damage_masks(model, ["fc1", "fc2"], 0.5, seed=1)
    for key in masks:
        np.testing.assert_array_equal(masks[key], again[key])
    swapped = rs.damage_masks(model, ["fc2", "fc1"], 0.5, seed=1)    # order matters
    np.testing.assert_array_equal(swapped["fc2.W"], masks["fc1.W"])


def test_damage_masks_errors():
    """fraction outside [0, 1] (or NaN): ValueError; an unknown layer: the model's
    KeyError listing the names; a layer without weights: ValueError; a name twice:
    ValueError."""
    model = odd_model()
    for bad in (-0.01, 1.01, float("nan")):
        with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\]"):
            rs.damage_masks(model, ["conv1"], bad)
    with pytest.raises(KeyError, match="valid names"):
        rs.damage_masks(model, ["conv9"], 0.5)
    with pytest.raises(ValueError, match="no weights 'W'"):
        rs.damage_masks(model, ["relu1"], 0.5)
    with pytest.raises(ValueError, match="twice"):
        rs.damage_masks(model, ["conv1", "conv1"], 0.5)


# ----- masks while training -------------------------------------------------------------

def tiny_net():
    return sc.Sequential([sc.Conv2D(2, 4, 3, padding=1), sc.ReLU(),
                          sc.Conv2D(4, 6, 3, padding=1), sc.ReLU(),
                          sc.GlobalAvgPool2D(), sc.Linear(6, 3)], seed=0).astype(np.float64)


def train_steps(model, opt, steps=5):
    """Real gradients: forward, cross-entropy, backward on fixed random data."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 2, 6, 6)), rng.integers(0, 3, 16)
    for _ in range(steps):
        model.zero_grad()
        _, dlogits = sc.softmax_cross_entropy(model.forward(x), y)
        model.backward(dlogits, input_grad=False)
        opt.step()


@pytest.mark.parametrize("make", [lambda m, k: sc.SGD(m, lr=0.1, momentum=0.9, masks=k),
                                  lambda m, k: sc.Adam(m, lr=0.01, masks=k)],
                         ids=["sgd-momentum", "adam"])
def test_damaged_weights_stay_zero_while_training(make):
    """After 5 SGD-momentum or Adam steps with masks=damage_masks(...), the damaged
    weights of both layers are exactly 0 and every kept weight has moved (Vasu &
    Savakis sec. 3.2: only the undamaged weights are retrained)."""
    model = tiny_net()
    masks = rs.damage_masks(model, ["conv1", "conv2"], 0.4, seed=2)
    before = {key: model[key.split(".")[0]].params["W"].copy() for key in masks}
    opt = make(model, masks)
    train_steps(model, opt)
    for key, keep in masks.items():
        w = model[key.split(".")[0]].params["W"]
        assert np.all(w[~keep] == 0.0)
        assert np.all(w[keep] != before[key][keep])


def test_apply_masks_without_optimizer_masks_drifts_negative_control():
    """Negative control: damage applied once but an optimizer without masks moves the
    damaged weights off zero, so the exact-zero check above can fail."""
    model = tiny_net()
    masks = rs.damage_masks(model, ["conv1"], 0.4, seed=2)
    rs.apply_masks(model, masks)
    assert np.all(model["conv1"].params["W"][~masks["conv1.W"]] == 0.0)
    train_steps(model, sc.Adam(model, lr=0.01))
    assert np.any(model["conv1"].params["W"][~masks["conv1.W"]] != 0.0)


# ----- apply_masks ----------------------------------------------------------------------

def small_resnet():
    return sc.zoo.resnet_gap(widths=(4, 4, 8, 8), seed=0)


def test_zero_damage_leaves_predictions_bit_identical():
    """apply_masks with 0 % damage at D1-D4 leaves every weight and the logits
    bit-identical; 50 % damage (control) zeroes exactly half and changes them."""
    model = small_resnet()
    sites = list(sc.zoo.damage_sites(model).values())
    x = np.random.default_rng(0).standard_normal((3, 1, 16, 16)).astype(np.float32)
    logits = sc.predict(model, x)
    state = {k: v.copy() for k, v in model.state_dict().items()}
    assert rs.apply_masks(model, rs.damage_masks(model, sites, 0.0)) is model
    for key, value in model.state_dict().items():
        assert value.tobytes() == state[key].tobytes()
    assert sc.predict(model, x).tobytes() == logits.tobytes()
    masks = rs.damage_masks(model, sites, 0.5)
    rs.apply_masks(model, masks)
    for key, keep in masks.items():
        w = model[key.rsplit(".", 1)[0]].params["W"]
        assert_zero_count(w != 0, rs.damage_count(0.5, w.size))
    assert not np.array_equal(sc.predict(model, x), logits)


def test_apply_masks_errors_change_nothing():
    """apply_masks checks like the optimizers: an unknown key is a KeyError listing
    the valid keys, a wrong shape a ValueError, and nothing is zeroed before it."""
    model = odd_model()
    w = model["conv1"].params["W"].copy()
    zeros = {"conv1.W": np.zeros(w.shape, bool)}
    with pytest.raises(KeyError, match="valid keys"):
        rs.apply_masks(model, {**zeros, "conv9.W": np.ones(3, bool)})
    with pytest.raises(ValueError, match="shape"):
        rs.apply_masks(model, {**zeros, "fc2.W": np.ones((15, 7), bool)})
    np.testing.assert_array_equal(model["conv1"].params["W"], w)


# ----- highest activation region ----------------------------------------------------------

def test_har_larger_blob_wins():
    """Two blobs above the threshold: the larger (5 pixels) is the HAR even though the
    smaller one (2 pixels) holds the maximum."""
    m = np.zeros((6, 8))
    m[1, 1:3] = [10.0, 9.0]                   # small blob with the maximum
    m[3:5, 4:7] = 5.0                         # 6 pixels ...
    m[4, 6] = 0.0                             # ... 5 of them
    har = rs.highest_activation_region(m)
    expected = np.zeros((6, 8), bool)
    expected[3, 4:7] = True
    expected[4, 4:6] = True
    np.testing.assert_array_equal(har, expected)


def test_har_value_at_threshold_is_inside():
    """A pixel exactly at threshold * max is inside (>=): with max 4 and threshold
    0.25, a 1.0 joins its region; a value one ulp below 1.0 does not."""
    m = np.zeros((3, 5))
    m[1, 0:3] = [4.0, 2.0, 1.0]
    har = rs.highest_activation_region(m, threshold=0.25)
    assert har.sum() == 3 and har[1, 2]
    m[1, 2] = np.nextafter(1.0, 0.0)
    har = rs.highest_activation_region(m, threshold=0.25)
    assert har.sum() == 2 and not har[1, 2]
    m5 = np.array([[5.0, 1.0, 0.0]])           # the default 0.2: 0.2 * 5 == 1.0
    assert rs.highest_activation_region(m5).tolist() == [[True, True, False]]


def test_har_size_ties():
    """Equal-size regions: the one holding the maximum wins, wherever it is; if the
    maximum lies in a smaller region, the first of the tied in row-major order."""
    m = np.zeros((5, 5))
    m[0, 0:2] = 3.0                           # region A (first in row-major order)
    m[4, 3:5] = [3.0, 9.0]                    # region B holds the maximum
    assert rs.highest_activation_region(m)[4, 3:5].all()
    assert rs.highest_activation_region(m).sum() == 2
    m[4, 4] = 3.0
    m[2, 2] = 9.0                             # the maximum alone, a smaller region
    har = rs.highest_activation_region(m)
    assert har[0, 0:2].all() and har.sum() == 2


def diagonal_blobs():
    """Two 2x2 blobs that touch only at one corner: (1, 1)-(2, 2) and (3, 3)-(4, 4)
    plus one more pixel on the second, so the second is larger."""
    m = np.zeros((6, 6))
    m[1:3, 1:3] = 8.0
    m[3:5, 3:5] = 6.0
    m[5, 4] = 6.0
    return m


def test_har_diagonal_contact_is_not_connected():
    """4-connectivity: blobs touching only diagonally are two regions; the HAR is the
    larger (5 pixels), not the 9-pixel union."""
    m = diagonal_blobs()
    har = rs.highest_activation_region(m)
    assert har.sum() == 5 and har[3:5, 3:5].all() and not har[1:3, 1:3].any()
    labels, count = rs.label_regions(m > 0)
    assert count == 2


def test_labelling_8_connectivity_negative_control():
    """Negative control: 8-connectivity merges the diagonal blobs into one region of
    9 pixels, so the 4-connectivity test above does guard something."""
    labels, count = rs.label_regions(diagonal_blobs() > 0, connectivity=8)
    assert count == 1 and np.count_nonzero(labels) == 9


def test_labelling_numbers_regions_in_row_major_order():
    """label_regions numbers regions by their first pixel in row-major order; a
    U-shape (joined only at the bottom) is one region."""
    inside = np.array([[1, 0, 1, 0, 1],
                       [1, 0, 1, 0, 0],
                       [1, 1, 1, 0, 1]], bool)
    labels, count = rs.label_regions(inside)
    assert count == 3
    assert labels[0, 0] == labels[0, 2] == labels[2, 1] == 1
    assert labels[0, 4] == 2 and labels[2, 4] == 3


@pytest.mark.parametrize("m", [np.zeros((4, 4)), -np.ones((4, 4)) - np.eye(4)],
                         ids=["all-zero", "negative"])
def test_har_of_map_without_positive_activation_is_empty(m):
    """An all-zero or all-negative map has no HAR: all False, no warning, no NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        har = rs.highest_activation_region(m)
    assert har.dtype == bool and har.shape == m.shape and not har.any()


def test_har_errors():
    """A batch instead of one map, a threshold outside [0, 1] or a NaN: ValueError."""
    with pytest.raises(ValueError, match="one map"):
        rs.highest_activation_region(np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match="threshold"):
        rs.highest_activation_region(np.ones((3, 3)), threshold=1.5)
    with pytest.raises(ValueError, match="NaN"):
        rs.highest_activation_region(np.array([[1.0, np.nan]]))


def test_har_of_upsampled_cam_of_resnet():
    """The paper's pipeline on the small (untrained) ResNet, 28x28: the class-3 CAM,
    upsampled to the image, has 3 regions above 0.2 * max; the HAR is one 4-connected
    region, the largest of them, not their union; 0 % damage keeps it (IoU 1)."""
    model = small_resnet()
    x = np.random.default_rng(0).standard_normal((1, 1, 28, 28)).astype(np.float32)
    cam_map = upsample(sc.explain.cam(model, x, [3]), 28)[0]
    labels, count = rs.label_regions(cam_map >= 0.2 * cam_map.max())
    assert count == 3                                   # so the choice matters
    har = rs.highest_activation_region(cam_map)
    assert har.shape == (28, 28) and rs.label_regions(har)[1] == 1
    assert har.sum() == np.bincount(labels.ravel())[1:].max()
    assert har.sum() < np.count_nonzero(labels)
    sites = list(sc.zoo.damage_sites(model).values())
    rs.apply_masks(model, rs.damage_masks(model, sites, 0.0))
    after = rs.highest_activation_region(upsample(sc.explain.cam(model, x, [3]), 28)[0])
    assert rs.region_iou(har, after) == 1.0


# ----- region_iou -----------------------------------------------------------------------

def test_region_iou_by_hand():
    """2 shared pixels of 6 in the union -> 1/3; identical -> 1; disjoint -> 0."""
    a = np.zeros((2, 4), bool)
    b = np.zeros((2, 4), bool)
    a[0, 0:4] = True                          # 4 pixels
    b[0, 2:4] = True
    b[1, 2:4] = True                          # 4 pixels, 2 shared, union 6
    assert rs.region_iou(a, b) == pytest.approx(1 / 3)
    assert rs.region_iou(a, a) == 1.0
    assert rs.region_iou(a, ~a) == 0.0


def test_region_iou_empty_and_errors():
    """Both empty: 1.0 (identical empty regions); one empty: 0.0; other shapes:
    ValueError; non-bool maps: TypeError."""
    empty = np.zeros((3, 3), bool)
    full = np.ones((3, 3), bool)
    assert rs.region_iou(empty, empty) == 1.0
    assert rs.region_iou(empty, full) == 0.0
    with pytest.raises(ValueError, match="one shape"):
        rs.region_iou(empty, np.zeros((3, 4), bool))
    with pytest.raises(TypeError, match="bool"):
        rs.region_iou(empty.astype(float), empty)


def breadth_first_labels(inside, steps):
    """The textbook labelling, written independently: scan in row-major order, and flood
    each new region breadth-first from its first pixel."""
    height, width = inside.shape
    labels, count = np.zeros(inside.shape, dtype=np.int64), 0
    for i in range(height):
        for j in range(width):
            if not inside[i, j] or labels[i, j]:
                continue
            count += 1
            labels[i, j], queue = count, [(i, j)]
            while queue:
                ci, cj = queue.pop(0)
                for di, dj in steps:
                    ni, nj = ci + di, cj + dj
                    if (0 <= ni < height and 0 <= nj < width and inside[ni, nj]
                            and not labels[ni, nj]):
                        labels[ni, nj] = count
                        queue.append((ni, nj))
    return labels, count


@pytest.mark.parametrize("connectivity", [4, 8])
def test_labelling_equals_breadth_first_search(connectivity):
    """label_regions on 60 random masks (densities 0.2-0.8, so many regions, long thin
    ones and holes), one at a time and as one batch, equals the breadth-first search;
    a spiral (one region 1 pixel wide, 60 pixels long) too."""
    steps = {4: [(-1, 0), (1, 0), (0, -1), (0, 1)],
             8: [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if a or b]}[connectivity]
    rng = np.random.default_rng(0)
    masks = rng.random((60, 9, 11)) < np.linspace(0.2, 0.8, 60)[:, None, None]
    spiral = np.zeros((9, 11), bool)
    spiral[0, :], spiral[:, 10], spiral[8, :], spiral[2:, 0] = True, True, True, True
    spiral[2, 0:9], spiral[2:7, 8], spiral[6, 2:9], spiral[4:7, 2], spiral[4, 2:7] = (True,) * 5
    masks = np.concatenate([masks, spiral[None]])
    batch_labels, batch_counts = rs.label_regions(masks, connectivity)
    for k, mask in enumerate(masks):
        expected, count = breadth_first_labels(mask, steps)
        labels, own_count = rs.label_regions(mask, connectivity)
        np.testing.assert_array_equal(labels, expected)
        np.testing.assert_array_equal(batch_labels[k], expected)
        assert own_count == count == batch_counts[k]
    assert rs.label_regions(spiral)[1] == 1


def test_batch_hars_equal_one_map_at_a_time():
    """highest_activation_regions of a batch (with an all-zero map in it) equals the HAR
    of each map alone."""
    rng = np.random.default_rng(3)
    maps = rng.standard_normal((8, 10, 12)).cumsum(axis=2)
    maps[5] = 0
    batch = rs.highest_activation_regions(maps, 0.4)
    for m, region in zip(maps, batch):
        np.testing.assert_array_equal(region, rs.highest_activation_region(m, 0.4))
    assert not batch[5].any() and batch[[0, 1, 2]].any()
