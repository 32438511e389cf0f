"""LRP: a hand case per rule, conservation with its stated remainder, and the
gradient x input identity on bias-free ReLU networks (chains and residual)."""
import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import explain


def linear_net(rng):
    net = sc.Sequential([sc.Flatten(), sc.Linear(6, 3)]).astype(np.float64)
    net["fc1"].params["W"][...] = rng.standard_normal((3, 6))
    net["fc1"].params["b"][...] = [0.5, -0.25, 0.125]
    return net


def test_epsilon_and_zplus_rules_by_hand(rng):
    """One Linear layer: R_i = x_i w_ci S_c / (z_c + eps) (epsilon rule), and
    R_i = x_i w+_ci S_c / sum_i x_i w+_ci (z+ rule). The biases keep b_c S_c / z_c."""
    net = linear_net(rng)
    x = rng.random((2, 1, 2, 3))
    targets = np.array([2, 0])
    relevance, totals = explain.lrp(net, x, targets, epsilon=1e-6, return_totals=True)
    plus = explain.lrp(net, x, targets, rule="zplus")
    weights, bias = net["fc1"].params["W"], net["fc1"].params["b"]
    for n, c in enumerate(targets):
        pixels = x[n].ravel()
        z = pixels @ weights[c] + bias[c]                              # the score S_c
        expected = pixels * weights[c] * z / (z + 1e-6 * np.sign(z))
        np.testing.assert_allclose(relevance[n].ravel(), expected, rtol=1e-12)
        np.testing.assert_allclose(totals["input"][n], z - (bias[c] + 1e-6 * np.sign(z))
                                   * z / (z + 1e-6 * np.sign(z)), rtol=1e-12)
        positive = np.maximum(weights[c], 0)
        np.testing.assert_allclose(plus[n].ravel(),
                                   pixels * positive * z / (pixels @ positive), rtol=1e-9)
        assert abs(totals["input"][n] - z) > 1e-3 * abs(z)        # the bias share is real
    np.testing.assert_allclose(totals["fc1"], [x[0].ravel() @ weights[2] + bias[2],
                                               x[1].ravel() @ weights[0] + bias[0]])


def bias_free(net):
    for _, layer, key in net.named_parameters():
        if key == "b":
            layer.params[key][...] = 0
    return net


def chain(seed=0):
    net = sc.Sequential([sc.Conv2D(2, 4, 3, padding=1), sc.ReLU(), sc.MaxPool2D(2),
                         sc.Conv2D(4, 5, 3, stride=2, padding=1), sc.LeakyReLU(0.1),
                         sc.AvgPool2D(2, stride=1), sc.Conv2D(5, 6, 1), sc.ReLU(),
                         sc.Dropout(0.5), sc.Flatten(), sc.Linear(6 * 1 * 1, 8), sc.ReLU(),
                         sc.Linear(8, 3)], seed=seed).astype(np.float64)
    return bias_free(net).eval()


def residual(seed=0):
    net = sc.zoo.resnet_gap(in_channels=2, num_classes=3, widths=(3, 4, 4, 5), seed=seed)
    net.astype(np.float64)
    rng = np.random.default_rng(seed)
    for node in net.nodes:                      # batch norm with beta = a * mean: b' = 0
        if isinstance(node.layer, sc.BatchNorm2D):
            bn = node.layer
            bn.params["gamma"][...] = rng.uniform(0.5, 1.5, bn.num_features)
            bn.buffers["running_mean"][...] = rng.uniform(-0.2, 0.2, bn.num_features)
            bn.buffers["running_var"][...] = rng.uniform(0.5, 2.0, bn.num_features)
            scale = bn.params["gamma"] / np.sqrt(bn.buffers["running_var"] + bn.eps)
            bn.params["beta"][...] = scale * bn.buffers["running_mean"]
    return bias_free(net).eval()


@pytest.mark.parametrize("build", [chain, residual], ids=["chain", "residual"])
def test_epsilon_rule_is_gradient_times_input_without_biases(rng, build):
    """Bias-free ReLU networks (conv, max/avg pool, LeakyReLU, Dropout, GAP, Add, batch
    norm folded to a bias-free conv): LRP-epsilon (eps 1e-12) = x * dS_c/dx to 1e-8
    relative (max abs error / max abs value), and the relevance is conserved: sum R = S_c
    to 1e-8 relative."""
    net = build()
    x = rng.standard_normal((3, 2, 8, 8))
    targets = np.array([0, 2, 1])
    relevance, totals = explain.lrp(net, x, targets, epsilon=1e-12, return_totals=True)
    expected = x * explain.saliency(net, x, targets)
    scale = np.abs(expected).max()
    assert np.abs(relevance - expected).max() <= 1e-8 * scale
    scores = net.forward(x)[np.arange(3), targets]
    np.testing.assert_allclose(totals["input"], scores, rtol=1e-8)
    # negative controls: a large eps absorbs relevance (no identity); biases break the
    # conservation (they keep their share), though not the identity: at every node
    # R = value * gradient, by induction, for any eps -> 0
    absorbed = explain.lrp(net, x, targets, epsilon=0.1)
    assert np.abs(absorbed - expected).max() > 1e-4 * scale
    for _, layer, key in net.named_parameters():
        if key == "b":
            layer.params[key][...] = 0.05
    relevance, totals = explain.lrp(net, x, targets, epsilon=1e-12, return_totals=True)
    expected = x * explain.saliency(net, x, targets)
    assert np.abs(relevance - expected).max() <= 1e-8 * np.abs(expected).max()
    scores = net.forward(x)[np.arange(3), targets]
    assert np.abs(totals["input"] - scores).max() > 1e-3 * np.abs(scores).max()


def test_zplus_rule_is_positive_and_conserved_without_biases(rng):
    """z+ on inputs >= 0 with a positive score: every relevance >= 0, and on a bias-free
    ReLU net nothing is lost (sum R = S_c) wherever the positive parts do not vanish."""
    net = sc.Sequential([sc.Conv2D(1, 4, 3), sc.ReLU(), sc.MaxPool2D(2), sc.Flatten(),
                         sc.Linear(4 * 3 * 3, 5), sc.ReLU(), sc.Linear(5, 2)], seed=3)
    net = bias_free(net.astype(np.float64))
    net["fc2"].params["W"][...] = np.abs(net["fc2"].params["W"])     # scores >= 0
    x = rng.random((4, 1, 8, 8))
    scores = net.forward(x)
    targets = scores.argmax(axis=1)
    assert (scores[np.arange(4), targets] > 0).all()
    relevance, totals = explain.lrp(net, x, targets, rule="zplus", return_totals=True)
    assert relevance.min() >= 0
    np.testing.assert_allclose(totals["input"], scores[np.arange(4), targets], rtol=1e-6)
    epsilon_rule = explain.lrp(net, x, targets)
    assert np.abs(epsilon_rule - relevance).max() > 1e-3 * np.abs(relevance).max()   # differ


def test_lrp_errors(rng):
    net = chain()
    x = rng.standard_normal((1, 2, 8, 8))
    with pytest.raises(ValueError, match="rule must be one of"):
        explain.lrp(net, x, 0, rule="alpha2beta1")
    with pytest.raises(ValueError, match="epsilon must be > 0"):
        explain.lrp(net, x, 0, epsilon=0)
    with pytest.raises(ValueError, match="z\\+ rule needs inputs >= 0, but conv1"):
        explain.lrp(net, x, 0, rule="zplus")                  # x ~ N(0, 1) has negatives
    with pytest.raises(ValueError, match=r"class ids in \[0, 2\]"):
        explain.lrp(net, x, 3)
    loose_bn = sc.Sequential([sc.Conv2D(2, 3, 3), sc.ReLU(), sc.BatchNorm2D(3),
                              sc.GlobalAvgPool2D(), sc.Linear(3, 2)], seed=0)
    with pytest.raises(ValueError, match="'bn1' .BatchNorm2D. reads 'relu1'"):
        explain.lrp(loose_bn.astype(np.float64), x, 0)
    upsampling = sc.Sequential([sc.ConvTranspose2D(2, 2, 2, stride=2), sc.GlobalAvgPool2D(),
                                sc.Linear(2, 2)], seed=0)
    with pytest.raises(ValueError, match="no rule for node 'deconv1'"):
        explain.lrp(upsampling.astype(np.float64), x, 0)
