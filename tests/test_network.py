"""Network: graphs of named nodes with a residual Add, checked against finite differences
(the summed gradient at a node read by several), against Sequential, the explanations,
construction errors, transfer, checkpoints, AvgPool2D and the zoo's ResNet.

Gradients: central finite differences in float64, relative_error = max|a - n| /
max(1e-8, max(|a| + |n|)) < TOL = 1e-6 (scratchcnn/gradcheck.py); negative controls > 1e-3.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import away_from_zero

import scratchcnn as sc
from scratchcnn import explain
from scratchcnn.explain.cam import cam_layers
from scratchcnn.gradcheck import check_gradient, check_layer, check_model
from scratchcnn import ops

TOL = 1e-6
ROOT = Path(__file__).resolve().parent.parent


def residual_net(flatten=True, classes=10, head="fc", seed=0):
    """The issue's network: relu1 is read by conv2 and by add (two consumers).
    flatten=False ends GAP -> Linear instead of GAP -> Flatten -> Linear."""
    nodes = [("conv1", sc.Conv2D(1, 8, 3, padding=1)), ("relu1", sc.ReLU()),
             ("conv2", sc.Conv2D(8, 8, 3, padding=1)), ("relu2", sc.ReLU()),
             ("conv3", sc.Conv2D(8, 8, 3, padding=1)), ("add", sc.Add(), ["relu1", "conv3"]),
             ("relu3", sc.ReLU()), ("gap", sc.GlobalAvgPool2D())]
    nodes += [("flat", sc.Flatten())] if flatten else []
    return sc.Network(nodes + [(head, sc.Linear(8, classes))], seed=seed)


def block_net(seed=0):
    """A stem conv, a residual block with the identity shortcut, one with the projection
    shortcut (stride 2, 2 -> 3 channels), GAP and Linear: (N, 1, 6, 6) -> (N, 4)."""
    return sc.Network([("stem", sc.Conv2D(1, 2, 3, padding=1))]
                      + sc.residual_block(2, 2, name="b1")
                      + sc.residual_block(2, 3, stride=2, name="b2")
                      + [("gap", sc.GlobalAvgPool2D()), ("fc", sc.Linear(3, 4))], seed=seed)


def chain_layers():
    """A chain with every layer kind whose eval mode differs from its training mode."""
    return [sc.Conv2D(1, 2, 3, padding=1), sc.BatchNorm2D(2), sc.ReLU(), sc.MaxPool2D(2),
            sc.Dropout(0.5), sc.Flatten(), sc.Linear(18, 3)]


# ----- the issue's call -------------------------------------------------------------------
def test_the_issue_call_works_as_written(rng):
    """The issue's code runs as written (float32); add = relu1 + conv3, and the gradient
    seeded at relu2 and stopped at conv1 is relu1 <- conv2 <- relu2 by hand (array_equal)."""
    net = sc.Network([("conv1", sc.Conv2D(1, 8, 3, padding=1)), ("relu1", sc.ReLU()),
                      ("conv2", sc.Conv2D(8, 8, 3, padding=1)), ("relu2", sc.ReLU()),
                      ("conv3", sc.Conv2D(8, 8, 3, padding=1)),
                      ("add", sc.Add(), ["relu1", "conv3"]), ("relu3", sc.ReLU()),
                      ("gap", sc.GlobalAvgPool2D()), ("flat", sc.Flatten()),
                      ("fc", sc.Linear(8, 10))])
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    logits = net.forward(x)
    assert logits.shape == (2, 10)
    np.testing.assert_array_equal(net.outputs["add"],
                                  net.outputs["relu1"] + net.outputs["conv3"])
    assert net["conv1"].params["W"].shape == (8, 1, 3, 3)
    dy = rng.standard_normal(logits.shape).astype(np.float32)
    dx = net.backward(dy, relu_rule="guided")
    assert dx.shape == x.shape and dx.dtype == np.float32
    d = rng.standard_normal(net.outputs["relu2"].shape).astype(np.float32)
    g = net.backward(seeds={"relu2": d}, stop="conv1")
    by_hand = net["relu1"].backward(net["conv2"].backward(net["relu2"].backward(d)))
    np.testing.assert_array_equal(g, by_hand)


# ----- gradients through Add: the residual rule -------------------------------------------
def test_residual_network_gradients_match_finite_differences(rng):
    """check_model on the issue's network: the input and all 8 parameters, relative error < TOL."""
    net = residual_net().astype(np.float64)
    errors = check_model(net, away_from_zero((2, 1, 6, 6), rng), np.array([3, 7]))
    assert len(errors) == 1 + 8
    assert max(errors.values()) < TOL, errors


def loss_of_relu1(rng):
    """The issue's network after a forward pass, a fixed weighting R of its logits,
    relu1's output v, and f(v) = sum(R * logits) with relu1's output replaced by v
    (forward(v, start="relu1"): both consumers, conv2 and add, read v)."""
    net = residual_net().astype(np.float64)
    net.forward(away_from_zero((2, 1, 6, 6), rng))
    weights = rng.standard_normal((2, 10))
    v = net.outputs["relu1"].copy()
    return net, weights, v, lambda a: float(np.sum(net.forward(a, start="relu1") * weights))


def test_gradient_at_a_node_with_two_consumers_matches_finite_differences(rng):
    """backward(R, stop="relu1") equals the finite differences of f(v) w.r.t. relu1's output;
    relative error < TOL."""
    net, weights, v, f = loss_of_relu1(rng)
    assert net.consumers_of("relu1") == ["conv2", "add"]
    grad = net.backward(weights, stop="relu1", param_grads=False)
    assert check_gradient(f, v, grad) < TOL


def test_one_consumer_alone_fails_the_check_and_the_sum_passes(rng):
    """Negative control: the gradient through add alone and through conv2 alone (what an
    overwrite instead of a sum keeps) each fail the check (> 1e-3); their sum is what
    backward returns (rtol 1e-12) and passes it (< TOL)."""
    net, weights, v, f = loss_of_relu1(rng)
    at_add = net.backward(weights, stop="add", param_grads=False)
    through_add = at_add                                         # d add / d relu1 = identity
    through_conv2 = net.backward(seeds={"conv3": at_add}, stop="relu1", param_grads=False)
    summed = net.backward(weights, stop="relu1", param_grads=False)
    np.testing.assert_allclose(summed, through_add + through_conv2, rtol=1e-12, atol=1e-15)
    assert check_gradient(f, v, through_add) > 1e-3
    assert check_gradient(f, v, through_conv2) > 1e-3
    assert check_gradient(f, v, through_add + through_conv2) < TOL


def test_residual_blocks_with_batch_norm_match_finite_differences(rng):
    """residual_block nodes (identity, then projection with stride 2 and 2 -> 3 channels),
    batch norm in training mode: check_model, relative error < TOL. A conv bias feeding a
    training-mode BatchNorm has gradient 0 (the batch mean absorbs it): |grad| < 1e-12
    there, since its finite differences are pure round-off."""
    net = block_net().astype(np.float64)
    assert "b2.proj" in net.names and "b1.proj" not in net.names
    assert net.inputs_of("b2.add") == ("b2.bn2", "b2.proj_bn")
    errors = check_model(net, away_from_zero((2, 1, 6, 6), rng), np.array([1, 3]))
    assert net["b2.bn1"].used_batch_statistics
    assert net.outputs["b2.relu2"].shape == (2, 3, 3, 3)
    before_bn = {f"{name}.b" for name in net.names
                 if any(isinstance(net[c], sc.BatchNorm2D) for c in net.consumers_of(name))}
    assert before_bn == {"b1.conv1.b", "b1.conv2.b", "b2.conv1.b", "b2.conv2.b", "b2.proj.b"}
    for key, layer, param in net.named_parameters():
        if key in before_bn:
            assert np.abs(layer.grads[param]).max() < 1e-12, key
    checked = {key: error for key, error in errors.items() if key not in before_bn}
    assert len(checked) == 1 + 24 - 5
    assert max(checked.values()) < TOL, checked


# ----- a chain is a chain -----------------------------------------------------------------
def test_a_chain_as_network_equals_the_same_chain_as_sequential(rng):
    """The same seed draws the same weights; in eval mode (batch norm on set running
    statistics, dropout off) forward, input gradient and parameter gradients are array_equal."""
    seq = sc.Sequential(chain_layers(), seed=0).astype(np.float64)
    net = sc.Network(list(zip(seq.names, chain_layers())), seed=0).astype(np.float64)
    assert net.is_chain() and type(net) is sc.Network
    for key, value in seq.state_dict().items():
        np.testing.assert_array_equal(net.state_dict()[key], value)
    statistics = {"bn1.running_mean": rng.standard_normal(2),
                  "bn1.running_var": rng.uniform(0.5, 2, 2)}
    for model in (seq, net):
        model.load_state_dict(statistics, strict=False)
        model.eval()
    x = rng.standard_normal((2, 1, 6, 6))
    np.testing.assert_array_equal(net.forward(x), seq.forward(x))
    dy = rng.standard_normal((2, 3))
    seq.zero_grad()
    net.zero_grad()
    np.testing.assert_array_equal(net.backward(dy), seq.backward(dy))
    for (key, layer, param), (_, seq_layer, _) in zip(net.named_parameters(),
                                                       seq.named_parameters(), strict=True):
        np.testing.assert_array_equal(layer.grads[param], seq_layer.grads[param], err_msg=key)


# ----- explanations on a residual network -------------------------------------------------
def test_saliency_on_a_residual_network_is_the_gradient_of_the_class_score(rng):
    """saliency = dS_c/dx by finite differences (inputs away from kinks); relative error < TOL."""
    net = residual_net().astype(np.float64)
    x = away_from_zero((2, 1, 6, 6), rng)
    targets = np.array([3, 7])
    grad = explain.saliency(net, x, targets)
    assert check_gradient(lambda v: float(net.forward(v)[[0, 1], targets].sum()), x, grad) < TOL


def test_guided_backprop_equals_saliency_where_every_relu_passes_and_differs_otherwise(rng):
    """Positive weights and inputs: every ReLU active (F > 0) and every upstream gradient
    positive (G > 0), so guided backprop and the deconvnet rule equal saliency (array_equal).
    A class with all-negative Linear weights makes G < 0 at relu3: both give exactly 0
    while saliency is negative everywhere."""
    net = residual_net().astype(np.float64)
    for _, layer, key in net.named_parameters():
        layer.params[key][...] = rng.uniform(0.01, 0.1, layer.params[key].shape)
    net["fc"].params["W"][1] *= -1
    x = rng.uniform(0.1, 1.0, (2, 1, 6, 6))
    positive = explain.saliency(net, x, 0)
    assert all(net[name].active.all() for name in ("relu1", "relu2", "relu3"))
    assert (positive > 0).all()
    np.testing.assert_array_equal(explain.guided_backprop(net, x, 0), positive)
    np.testing.assert_array_equal(explain.deconvnet(net, x, 0), positive)
    assert (explain.saliency(net, x, 1) < 0).all()
    assert not explain.guided_backprop(net, x, 1).any()
    assert not explain.deconvnet(net, x, 1).any()


@pytest.mark.parametrize("layer", ["relu1", "relu3"])
def test_grad_cam_weights_on_a_residual_network_against_finite_differences(rng, layer):
    """w_k = d S_c / d(all-ones direction of channel k at the layer) / M by central
    differences (relu1 has two consumers); relative error < 1e-6, and 1.01x of it > 1e-3."""
    net = residual_net().astype(np.float64)
    x = rng.standard_normal((2, 1, 6, 6))
    weights, activations = explain.grad_cam_weights(net, x, [3, 1], layer=layer)
    step, m = 1e-6, activations.shape[2] * activations.shape[3]
    numeric = np.zeros_like(weights)
    for k in range(activations.shape[1]):
        direction = np.zeros_like(activations)
        direction[:, k] = 1
        up = net.forward(activations + step * direction, start=layer)[[0, 1], [3, 1]]
        down = net.forward(activations - step * direction, start=layer)[[0, 1], [3, 1]]
        numeric[:, k] = (up - down) / (2 * step * m)
    error = np.max(np.abs(weights - numeric)) / max(1e-8, np.max(np.abs(weights) + np.abs(numeric)))
    assert error < 1e-6
    assert np.max(np.abs(weights - 1.01 * numeric)) / np.max(np.abs(numeric)) > 1e-3   # control


@pytest.mark.parametrize("flatten", [False, True], ids=["gap-linear", "gap-flatten-linear"])
def test_cam_equals_grad_cam_times_pooled_size_on_a_residual_network(rng, flatten):
    """CAM = grad_cam(relu=False) * h * w at relu3 (the GAP's input), with and without the
    PyTorch habit of a Flatten between GAP and Linear; rtol 1e-10."""
    net = residual_net(flatten=flatten).astype(np.float64)
    assert cam_layers(net) == ("relu3", "fc")
    x = rng.standard_normal((2, 1, 6, 6))
    maps = explain.cam(net, x, [4, 9])
    signed = explain.grad_cam(net, x, [4, 9], layer="relu3", relu=False)
    assert maps.shape == (2, 6, 6)
    np.testing.assert_allclose(maps, signed * 6 * 6, rtol=1e-10, atol=1e-12)


def test_cam_refuses_a_residual_network_without_the_gap_linear_ending(rng):
    """A residual net ending Add -> Flatten -> Linear: cam raises the ValueError naming the
    ending it needs."""
    net = sc.Network([("conv1", sc.Conv2D(1, 2, 3, padding=1)), ("relu1", sc.ReLU()),
                      ("conv2", sc.Conv2D(2, 2, 3, padding=1)),
                      ("add", sc.Add(), ["relu1", "conv2"]), ("flat", sc.Flatten()),
                      ("fc", sc.Linear(72, 3))]).astype(np.float64)
    with pytest.raises(ValueError, match=r"cam needs a model ending in feature maps -> "
                                         r"GlobalAvgPool2D -> \[Flatten ->\] Linear.*ends in "
                                         r"Add.*grad_cam works on any architecture"):
        explain.cam(net, rng.standard_normal((1, 1, 6, 6)), 0)


def test_deconvnet_class_needs_a_chain_and_the_deconvnet_rule_works_on_the_graph(rng):
    """DeconvNet(net) on a graph with Add raises a ValueError naming the join; the
    'deconvnet' rule runs on it and differs from saliency and guided backprop."""
    net = residual_net().astype(np.float64)
    with pytest.raises(ValueError, match=r"mirrors a chain of layers.*nodes \['add'\] do not "
                                         r"read just the node before them.*explain.deconvnet"):
        explain.DeconvNet(net)
    x = rng.standard_normal((2, 1, 6, 6))
    rules = {method: getattr(explain, method)(net, x, 2)
             for method in ("saliency", "deconvnet", "guided_backprop")}
    assert rules["deconvnet"].shape == x.shape and np.isfinite(rules["deconvnet"]).all()
    assert np.abs(rules["deconvnet"]).sum() > 0
    assert not np.allclose(rules["deconvnet"], rules["saliency"])
    assert not np.allclose(rules["deconvnet"], rules["guided_backprop"])
    assert not np.allclose(rules["guided_backprop"], rules["saliency"])


# ----- construction errors ----------------------------------------------------------------
def one_layer_in_two_nodes():
    relu = sc.ReLU()
    return [("a", relu), ("b", relu)]


@pytest.mark.parametrize("nodes, error, message", [
    (lambda: [("a", sc.ReLU()), ("a", sc.ReLU())], ValueError,
     "node names must be unique, got 'a' twice"),
    (lambda: [("a", sc.ReLU()), ("b", sc.ReLU(), "nope")], ValueError,
     "node 'b' reads 'nope', which is not a node; valid names: ['input', 'a', 'b']"),
    (lambda: [("a", sc.ReLU(), "b"), ("b", sc.ReLU(), "a")], ValueError,
     "the nodes form a cycle: a -> b -> a"),
    (lambda: [("a", sc.ReLU(), "b"), ("b", sc.ReLU(), "input")], ValueError,
     "node 'a' reads ['b'], which come after it in the list"),
    (lambda: [("input", sc.ReLU())], ValueError, "the name 'input' is reserved"),
    (lambda: [("a", sc.ReLU()), ("add", sc.Add(), ["a"])], ValueError,
     "node 'add' (Add) takes two or more inputs, got ['a']"),
    (lambda: [("a", sc.ReLU()), ("b", sc.ReLU(), ["a", "input"])], ValueError,
     "node 'b' (ReLU) takes 1 input(s), got ['a', 'input']"),
    (one_layer_in_two_nodes, ValueError, "nodes 'a' and 'b' hold the same layer object"),
    (lambda: [], ValueError, "nodes must be a non-empty list"),
    (lambda: [("a", "relu")], TypeError, "node 'a': expected a Layer, got str"),
], ids=["duplicate", "unknown-input", "cycle", "reads-later", "reserved", "add-one-input",
        "two-inputs", "shared-layer", "empty", "not-a-layer"])
def test_construction_errors_are_clear(nodes, error, message):
    """Each malformed node list raises its error with this exact message (re.escape)."""
    with pytest.raises(error, match=re.escape(message)):
        sc.Network(nodes())


def test_sequential_construction_errors_are_clear():
    """Sequential: an empty list and a non-Layer raise with clear messages."""
    with pytest.raises(ValueError, match="layers must be a non-empty list of Layer objects"):
        sc.Sequential([])
    with pytest.raises(TypeError, match=r"layers\[1\] must be a Layer, got str"):
        sc.Sequential([sc.ReLU(), "relu"])


# ----- building changes nothing the user gave ---------------------------------------------
def hand_set_layers(rng):
    """A Conv2D named "edges" and a Linear, weights set by hand; and copies of those weights."""
    conv, fc = sc.Conv2D(1, 2, 3, name="edges"), sc.Linear(2, 3)
    conv.params["W"][...] = rng.standard_normal(conv.params["W"].shape)
    fc.params["b"][...] = [1, 2, 3]
    return conv, fc, {"edges.W": conv.params["W"].copy(), "b": fc.params["b"].copy()}


def test_building_keeps_the_weights_and_names_the_user_gave(rng):
    """Weights set by hand survive Sequential(...) and Network(...) without seed bitwise;
    given names are kept; a failed build names no layer."""
    conv, fc, given = hand_set_layers(rng)
    seq = sc.Sequential([conv, sc.ReLU(), sc.GlobalAvgPool2D(), fc])
    assert seq.names == ["edges", "relu1", "gap1", "fc1"]
    np.testing.assert_array_equal(seq.state_dict()["edges.W"], given["edges.W"])
    np.testing.assert_array_equal(seq.state_dict()["fc1.b"], given["b"])
    conv, fc, given = hand_set_layers(rng)
    net = sc.Network([("edges", conv), ("relu", sc.ReLU()), ("gap", sc.GlobalAvgPool2D()),
                      ("head", fc)])
    assert net.names == ["edges", "relu", "gap", "head"]
    np.testing.assert_array_equal(net.state_dict()["edges.W"], given["edges.W"])
    np.testing.assert_array_equal(net.state_dict()["head.b"], given["b"])
    relu = sc.ReLU()
    with pytest.raises(ValueError, match="not a node"):
        sc.Network([("a", relu), ("b", sc.ReLU(), "nope")])
    assert relu.name is None


def test_sequential_numbers_around_a_name_the_user_gave():
    """A given name that an automatic one would also take ("relu2") is kept, and the
    unnamed layers get other, distinct names."""
    names = sc.Sequential([sc.ReLU(name="relu2"), sc.ReLU(), sc.ReLU()]).names
    assert names[0] == "relu2" and len(set(names)) == 3


def test_a_layer_used_in_a_network_still_checks_its_input_for_nan(rng):
    """After the network has run (also after a forward that failed inside), its layers called
    alone still raise on NaN; network.forward raises on NaN, also with start=."""
    conv, relu = sc.Conv2D(1, 2, 3), sc.ReLU()
    net = sc.Network([("conv", conv), ("relu", relu)]).astype(np.float64)
    x = rng.standard_normal((1, 1, 5, 5))
    net.forward(x)
    with pytest.raises(ValueError, match="channels"):
        net.forward(rng.standard_normal((1, 3, 5, 5)))
    bad = x.copy()
    bad[0, 0, 2, 2] = np.nan
    with pytest.raises(ValueError, match="relu: x contains NaN or Inf"):
        relu.forward(bad)
    with pytest.raises(ValueError, match="conv: x contains NaN or Inf"):
        conv.forward(bad)
    with pytest.raises(ValueError, match="conv: x contains NaN or Inf"):
        net.forward(bad)
    with pytest.raises(ValueError, match="relu: x contains NaN or Inf"):
        net.forward(bad[:, :, :3, :3].repeat(2, axis=1), start="conv")


# ----- transfer: a new head, a backbone's weights -----------------------------------------
def test_replace_puts_a_new_head_and_keeps_the_rest(rng):
    """replace("fc", Linear(8, 3)) returns the old layer, the output has 3 classes, the node
    reads what it read, and every other array is untouched (array_equal)."""
    net = residual_net()
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    assert net.forward(x).shape == (2, 10)
    before = {key: value.copy() for key, value in net.state_dict().items()}
    old, head = net["fc"], sc.Linear(8, 3)
    assert net.replace("fc", head) is old
    assert net["fc"] is head and head.name == "fc" and net.inputs_of("fc") == ("flat",)
    assert net.forward(x).shape == (2, 3)
    after = net.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():
        if not key.startswith("fc."):
            np.testing.assert_array_equal(after[key], value, err_msg=key)
    with pytest.raises(ValueError, match="the new layer is already a node of this network"):
        net.replace("fc", net["conv1"])


def test_replace_checks_the_input_count_as_building_does():
    """replace refuses a layer that cannot read the node's inputs, with the messages of
    building: ReLU for the two-input add, and Add (two or more) for the one-input relu3."""
    net = residual_net()
    with pytest.raises(ValueError, match=re.escape("node 'add' (ReLU) takes 1 input(s), got "
                                                   "['relu1', 'conv3']")):
        net.replace("add", sc.ReLU())
    with pytest.raises(ValueError, match="two or more"):
        net.replace("relu3", sc.Add())


def test_load_a_backbone_under_a_different_head():
    """strict=False loads every shared key exactly and returns the head's keys as lists
    (missing: the new head's, unexpected: the old head's), leaving the new head as it was;
    strict=True raises KeyError naming both; a shape mismatch raises ValueError."""
    backbone = residual_net(seed=1)
    target = residual_net(classes=3, head="head", seed=2)
    head = {key: target.state_dict()[key].copy() for key in ("head.W", "head.b")}
    missing, unexpected = target.load_state_dict(backbone.state_dict(), strict=False)
    assert missing == ["head.W", "head.b"] and unexpected == ["fc.W", "fc.b"]
    assert type(missing) is list and type(unexpected) is list
    loaded = target.state_dict()
    for key, value in backbone.state_dict().items():
        np.testing.assert_array_equal(loaded.get(key, value), value, err_msg=key)
    for key, value in head.items():
        np.testing.assert_array_equal(loaded[key], value)
    with pytest.raises(KeyError, match=re.escape("missing ['head.W', 'head.b'], unexpected "
                                                 "['fc.W', 'fc.b']")):
        target.load_state_dict(backbone.state_dict())
    with pytest.raises(ValueError, match=re.escape("state_dict['fc.W'] has shape (10, 8), the "
                                                   "model expects (3, 8)")):
        residual_net(classes=3).load_state_dict(backbone.state_dict(), strict=False)


# ----- checkpoints ------------------------------------------------------------------------
def test_a_trained_residual_network_saves_and_loads_exactly(tmp_path, rng):
    """After 3 training steps (batch norm statistics moved off 0 and 1), save/load gives the
    same graph, the same state_dict (running statistics included) and the same eval-mode
    outputs, all array_equal."""
    net = block_net()
    x = rng.standard_normal((12, 1, 6, 6)).astype(np.float32)
    sc.fit(net, sc.Adam(net, lr=0.01), x, rng.integers(0, 4, 12), batch_size=4,
           max_batches=3, verbose=False)
    state = net.state_dict()
    assert not np.allclose(state["b1.bn1.running_mean"], 0)
    assert not np.allclose(state["b2.proj_bn.running_var"], 1)
    sc.save(net, tmp_path / "resnet.npz")
    loaded = sc.load(tmp_path / "resnet.npz")
    assert type(loaded) is sc.Network
    assert [(n.name, type(n.layer), n.inputs) for n in loaded.nodes] == \
        [(n.name, type(n.layer), n.inputs) for n in net.nodes]
    assert list(loaded.state_dict()) == list(state)
    for key, value in state.items():
        np.testing.assert_array_equal(loaded.state_dict()[key], value, err_msg=key)
    np.testing.assert_array_equal(loaded.eval().forward(x), net.eval().forward(x))


def test_a_sequential_round_trip_returns_a_sequential(tmp_path, rng):
    """save/load of a Sequential gives a Sequential with the same names and eval outputs."""
    model = sc.Sequential(chain_layers(), seed=0).eval()
    sc.save(model, tmp_path / "chain.npz")
    loaded = sc.load(tmp_path / "chain.npz").eval()
    assert type(loaded) is sc.Sequential and loaded.names == model.names
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))


def test_a_format_1_file_still_loads_as_a_sequential(tmp_path, rng):
    """A file written the way format 1 did ("scratchcnn-sequential-v1": a list of layers,
    no inputs) loads as a Sequential whose eval-mode outputs equal the original's (array_equal)."""
    model = sc.Sequential(chain_layers(), seed=0)
    model["bn1"].buffers["running_mean"][...] = [0.5, -0.5]
    model["bn1"].buffers["running_var"][...] = [2.0, 0.5]
    header = {"format": "scratchcnn-sequential-v1", "dtype": "float32",
              "architecture": [{"type": type(layer).__name__, "name": layer.name,
                                "config": layer.config()} for layer in model.layers]}
    path = tmp_path / "old.npz"
    np.savez(path, __scratchcnn__=np.array(json.dumps(header)),
             **{f"state/{key}": value for key, value in model.state_dict().items()})
    loaded = sc.load(path).eval()
    assert type(loaded) is sc.Sequential and loaded.names == model.names
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x), model.eval().forward(x))


# ----- AvgPool2D --------------------------------------------------------------------------
@pytest.mark.parametrize("kernel, stride, size", [(2, None, 6), (3, 1, 6), (3, 2, 7), (2, None, 7)],
                         ids=["2x2", "3x3-stride1", "3x3-stride2", "2x2-floors-a-row"])
def test_avgpool_input_gradient_matches_finite_differences(rng, kernel, stride, size):
    """check_layer on non-overlapping, overlapping and floored windows; relative error < TOL."""
    errors = check_layer(sc.AvgPool2D(kernel, stride), rng.standard_normal((2, 2, size, size)))
    assert errors.keys() == {"x"} and errors["x"] < TOL


def test_avgpool_by_hand():
    """[[1, 2], [3, 4]] pools to 2.5 and spreads dy = 1 as 1/4; 2x2 windows at stride 1 on
    a 3x3 input overlap and add up (exact)."""
    pool = sc.AvgPool2D(2)
    np.testing.assert_array_equal(pool.forward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]])),
                                  [[[[2.5]]]])
    np.testing.assert_array_equal(pool.backward(np.ones((1, 1, 1, 1))), np.full((1, 1, 2, 2), 0.25))
    overlapping = sc.AvgPool2D(2, stride=1)
    np.testing.assert_array_equal(overlapping.forward(np.arange(9.0).reshape(1, 1, 3, 3)),
                                  [[[[2.0, 3.0], [5.0, 6.0]]]])
    np.testing.assert_array_equal(overlapping.backward(np.ones((1, 1, 2, 2))),
                                  [[[[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]]]])


def test_avgpool_numba_path_and_reference_path_agree(rng):
    """ops runs the fast room by default, the plain room inside use_reference(); forward and
    backward agree bitwise (overlapping 3x3 windows, stride 2)."""
    pool = sc.AvgPool2D(3, stride=2)
    x, dy = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((2, 3, 3, 3))
    assert ops.runs_fast(x)
    y, dx = pool.forward(x), pool.backward(dy)
    with sc.use_reference():
        assert not ops.runs_fast(x)
        np.testing.assert_array_equal(pool.forward(x), y)
        np.testing.assert_array_equal(pool.backward(dy), dx)


def test_avgpool_kernel_larger_than_the_input_is_a_clear_error():
    """A 3x3 kernel on a 2x5 map raises ValueError naming both sizes."""
    with pytest.raises(ValueError, match=re.escape("kernel_size (3, 3) is larger than the "
                                                   "input's spatial size (2, 5)")):
        sc.AvgPool2D(3).forward(np.zeros((1, 1, 2, 5)))


# ----- the zoo's ResNet -------------------------------------------------------------------
def test_resnet_gap_shapes_and_damage_sites(rng):
    """(2, 1, 28, 28) -> (2, 10); D1-D4 are block{k}.conv1; the stages are 28, 14, 7, 4 pixels
    wide; cam finds block4.relu2 -> gap -> fc."""
    net = sc.zoo.resnet_gap()
    assert net.forward(rng.standard_normal((2, 1, 28, 28)).astype(np.float32)).shape == (2, 10)
    assert sc.zoo.damage_sites(net) == {f"D{k}": f"block{k}.conv1" for k in range(1, 5)}
    assert [net.outputs[f"block{k}.relu2"].shape[2:] for k in range(1, 5)] == \
        [(28, 28), (14, 14), (7, 7), (4, 4)]
    assert cam_layers(net) == ("block4.relu2", "fc")


# ----- importing changes nothing ----------------------------------------------------------
def test_importing_scratchcnn_sets_no_environment_variable():
    """In a fresh interpreter without them, import scratchcnn leaves OPENBLAS_THREAD_TIMEOUT
    and OMP_WAIT_POLICY unset (only sc.runtime.tune() sets them)."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY")}
    code = ("import os, scratchcnn; print(os.environ.get('OPENBLAS_THREAD_TIMEOUT')); "
            "print(os.environ.get('OMP_WAIT_POLICY'))")
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                            text=True, check=True)
    assert result.stdout.split() == ["None", "None"]


# ----- backward's options -----------------------------------------------------------------
def forward_and_seed(rng):
    """The issue's network (float64) after a forward pass, gradients zeroed, and a dL/dlogits."""
    net = residual_net().astype(np.float64)
    net.forward(rng.standard_normal((2, 1, 6, 6)))
    net.zero_grad()
    return net, rng.standard_normal((2, 10))


def test_param_grads_false_leaves_the_gradients_at_zero(rng):
    """backward(param_grads=False) returns dx and adds nothing to any parameter gradient."""
    net, dy = forward_and_seed(rng)
    assert net.backward(dy, param_grads=False).shape == (2, 1, 6, 6)
    for key, layer, param in net.named_parameters():
        assert not layer.grads[param].any(), key


def test_input_grad_false_returns_none_and_the_same_parameter_gradients(rng):
    """input_grad=False returns None and the parameter gradients of a full backward (to
    1e-12: the first conv then sums dL/dW image by image, in another order; test_layers)."""
    net, dy = forward_and_seed(rng)
    net.backward(dy)
    full = {key: layer.grads[param].copy() for key, layer, param in net.named_parameters()}
    net.zero_grad()
    assert net.backward(dy, input_grad=False) is None
    for key, layer, param in net.named_parameters():
        np.testing.assert_allclose(layer.grads[param], full[key], rtol=1e-12, atol=0,
                                   err_msg=key)


def test_a_node_no_gradient_reaches_gives_zeros_at_stop(rng):
    """Two branches from the input: a seed on one branch gives exactly zeros, shaped like
    its output, at the other branch's node."""
    net = sc.Network([("right", sc.ReLU(), "input"), ("left", sc.Identity(), "input"),
                      ("add", sc.Add(), ["left", "right"])])
    net.forward(rng.standard_normal((2, 3)))
    at_right = net.backward(seeds={"left": np.ones((2, 3))}, stop="right")
    np.testing.assert_array_equal(at_right, np.zeros((2, 3)))


def test_dy_and_seeds_at_the_same_node_raise(rng):
    """A node seeded by dy and by seeds at once is a ValueError naming it."""
    net, dy = forward_and_seed(rng)
    with pytest.raises(ValueError, match="node 'fc' is seeded twice"):
        net.backward(dy, seeds={"fc": dy})
    with pytest.raises(ValueError, match="node 'relu2' is seeded twice"):
        net.backward(np.ones((2, 8, 6, 6)), start="relu2", seeds={"relu2": np.ones((2, 8, 6, 6))})
