"""The damage sweep: its cut points, and each point against an independent computation
(a deep copy damaged by hand, evaluated with a full forward pass)."""
import copy

import numpy as np

import scratchcnn as sc
from scratchcnn.resilience import apply_masks, damage_masks
from scratchcnn.resilience_sweep import cut_before, damage_sweep


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
