"""The damage sweep: its cut points, and each point against an independent computation
(a deep copy damaged by hand, evaluated with a full forward pass)."""
import copy

import numpy as np

import scratchcnn as sc
from scratchcnn.resilience import apply_masks, damage_masks
from scratchcnn.resilience.sweep import cut_before, damage_sweep


def skip_net():
    return sc.Network([
        ("conv1", sc.Conv2D(1, 3, 3, padding=1)), ("relu1", sc.ReLU()),
        ("conv2", sc.Conv2D(3, 3, 3, padding=1)), ("relu2", sc.ReLU()),
        ("conv3", sc.Conv2D(3, 3, 3, padding=1)), ("add", sc.Add(), ["relu1", "conv3"]),
        ("gap", sc.GlobalAvgPool2D()), ("fc", sc.Linear(3, 4))], seed=0).astype(np.float64)


def test_cut_points():
    """A cut is a node after which nothing reads an earlier node: in the ResNet each
    block's input; in skip_net conv3's cut is relu1 (add reads relu1), not relu2."""
    resnet = sc.zoo.resnet_gap()
    assert [cut_before(resnet, f"block{k}.conv1") for k in (1, 2, 3, 4)] == \
        ["block1.in", "block2.in", "block3.in", "block4.in"]
    net = skip_net()
    assert cut_before(net, "conv3") == "relu1"
    assert cut_before(net, "conv2") == "relu1"
    assert cut_before(net, "conv1") == "input"


def test_each_point_equals_a_copy_damaged_by_hand():
    """accuracy, HAR IoU and CAM correlation of every point against a deep copy damaged
    with the same masks and run from the input; fraction 0 gives IoU 1 and correlation 1;
    the model's state is bit-identical after the sweep."""
    rng = np.random.default_rng(0)
    model = sc.zoo.resnet_gap(widths=(4, 4, 8, 8)).astype(np.float64)
    x = rng.random((24, 1, 12, 12))
    y = rng.integers(0, 10, 24)
    sites = {"D2": ["block2.conv1"], "D1+D3": ["block1.conv1", "block3.conv1"]}
    before = {k: v.copy() for k, v in model.state_dict().items()}
    rows, intact = damage_sweep(model, x, y, sites, [0.0, 0.6], seeds=(0, 3), cam_images=x[:6],
                                batch_size=10)
    assert len(rows) == 2 * 2 * 2
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    assert intact == float((sc.predict(model, x).argmax(axis=1) == y).mean())
    for row in rows:
        damaged = copy.deepcopy(model)
        apply_masks(damaged, damage_masks(damaged, sites[row["site"]], row["fraction"],
                                          row["seed"]))
        expected = float((sc.predict(damaged, x).argmax(axis=1) == y).mean())
        assert row["accuracy"] == expected, row
        maps = sc.explain.upsample(sc.explain.cam(damaged, x[:6], y[:6]), (12, 12))
        intact_maps = sc.explain.upsample(sc.explain.cam(model, x[:6], y[:6]), (12, 12))
        correlation = np.mean([np.corrcoef(a.ravel(), b.ravel())[0, 1]
                               for a, b in zip(maps, intact_maps)])
        assert abs(row["cam_correlation"] - correlation) < 1e-9, row
        if row["fraction"] == 0:
            assert row["har_iou"] == 1.0 and abs(row["cam_correlation"] - 1) < 1e-12
    changed = [r for r in rows if r["fraction"] > 0]
    assert all(r["cam_correlation"] < 1 - 1e-6 for r in changed)       # the damage shows


def test_csv_and_seed_summary_by_hand(tmp_path):
    """The CSV reads back with the csv module as written; over_seeds gives the mean, min
    and max of each (site, fraction) over its seeds, fractions ascending."""
    import csv
    from scratchcnn.resilience.summary import over_seeds, write_csv
    rows = [{"site": s, "fraction": f, "seed": k, "accuracy": a, "har_iou": 0.5,
             "cam_correlation": -0.25}
            for s, f, k, a in [("D1", 0.5, 0, 0.2), ("D1", 0.5, 1, 0.4), ("D1", 0.1, 0, 0.9),
                               ("all", 0.1, 0, 0.7)]]
    path = write_csv(rows, tmp_path / "sweep.csv")
    with open(path) as f:
        read = list(csv.DictReader(f))
    assert [r["site"] for r in read] == ["D1", "D1", "D1", "all"]
    assert float(read[1]["accuracy"]) == 0.4 and float(read[3]["cam_correlation"]) == -0.25
    summary = over_seeds(rows, "accuracy")
    assert list(summary) == ["D1", "all"]
    fractions, mean, low, high = summary["D1"]
    np.testing.assert_array_equal(fractions, [0.1, 0.5])
    np.testing.assert_allclose(mean, [0.9, 0.3])
    np.testing.assert_array_equal(low, [0.9, 0.2])
    np.testing.assert_array_equal(high, [0.9, 0.4])
    import pytest
    with pytest.raises(ValueError, match="metric must be one of"):
        over_seeds(rows, "loss")


def test_har_threshold_reaches_every_point():
    """har_threshold is the one used for both HARs: the IoU of each point equals the IoU of
    HARs computed by hand at that threshold on a copy damaged by hand (and differs from
    the default threshold's somewhere, so the check can tell)."""
    from scratchcnn.resilience import highest_activation_region, region_iou
    rng = np.random.default_rng(1)
    model = sc.zoo.resnet_gap(widths=(4, 4, 8, 8)).astype(np.float64)
    x, y = rng.random((12, 1, 12, 12)), rng.integers(0, 10, 12)
    sites = {"D1": ["block1.conv1"]}
    at_half, _ = damage_sweep(model, x, y, sites, [0.3, 0.7], cam_images=x, har_threshold=0.5)
    default, _ = damage_sweep(model, x, y, sites, [0.3, 0.7], cam_images=x)
    intact = sc.explain.upsample(sc.explain.cam(model, x, y), (12, 12))
    for row, other in zip(at_half, default):
        damaged = copy.deepcopy(model)
        apply_masks(damaged, damage_masks(damaged, ["block1.conv1"], row["fraction"], 0))
        maps = sc.explain.upsample(sc.explain.cam(damaged, x, y), (12, 12))
        by_hand = np.mean([region_iou(highest_activation_region(a, 0.5),
                                      highest_activation_region(b, 0.5))
                           for a, b in zip(maps, intact)])
        assert abs(row["har_iou"] - by_hand) < 1e-12
    assert any(a["har_iou"] != b["har_iou"] for a, b in zip(at_half, default))


def test_a_site_given_as_a_string_is_a_clear_error():
    """sites={"D4": "block4.conv1"} (a string, not a list) names the site and the fix,
    instead of reading the string's letters as layer names."""
    import pytest
    model = sc.zoo.resnet_gap()
    x = np.zeros((2, 1, 28, 28), np.float32)
    with pytest.raises(TypeError, match=r"sites\['D4'\] must be a list of layer names"):
        damage_sweep(model, x, np.zeros(2, np.int64), {"D4": "block4.conv1"}, [0.5])
