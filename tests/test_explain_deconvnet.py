"""The explicit Zeiler-Fergus DeconvNet equals backward with the "deconvnet" rule."""
import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import explain


def deconv_test_net():
    return sc.Sequential([
        sc.Conv2D(3, 4, 3, stride=2, padding=1), sc.BatchNorm2D(4), sc.ReLU(),
        sc.MaxPool2D(3, stride=2),                       # overlapping pool
        sc.Conv2D(4, 5, (2, 3), stride=(2, 1)), sc.ReLU(),   # strided: floors a row away
        sc.Flatten(), sc.Linear(5 * 1 * 1, 3),
    ], seed=3).astype(np.float64)


@pytest.mark.parametrize("layer", ["relu2", "conv2", "pool1", "relu1"])
def test_explicit_deconvnet_equals_the_deconvnet_rule(rng, layer):
    model = deconv_test_net()
    model["bn1"].buffers["running_var"][...] = rng.uniform(0.5, 2, 4)
    model["bn1"].params["gamma"][...] = rng.uniform(0.5, 2, 4)
    x = rng.standard_normal((2, 3, 14, 15))
    model.eval()
    maps = model.forward(x, stop=layer)            # a channel active in both images
    channel = int(np.argmax(maps.reshape(2, maps.shape[1], -1).max(axis=2).min(axis=0)))
    projection, positions = explain.DeconvNet(model).project(x, layer, channel=channel)
    assert projection.shape == x.shape and positions.shape == (2, 2)
    model.forward(x)
    seed, _ = explain.top_activation_seed(model.outputs[layer], channel)
    assert np.all(seed.reshape(2, -1).max(axis=1) > 0)
    by_rule = model.backward(seed, relu_rule="deconvnet", start=layer, param_grads=False)
    np.testing.assert_allclose(projection, by_rule, rtol=1e-12, atol=1e-14)
    assert np.abs(projection).sum() > 0


def test_project_a_chosen_position(rng):
    model = deconv_test_net()
    x = rng.standard_normal((1, 3, 14, 15))
    projection, positions = explain.DeconvNet(model).project(x, "relu1", channel=2,
                                                             position=(1, 2))
    assert positions.tolist() == [[1, 2]]
    # the seed holds the activation at that place only
    model.eval()
    model.forward(x)
    seed, _ = explain.top_activation_seed(model.outputs["relu1"], 2, (1, 2))
    assert np.count_nonzero(seed) <= 1
    with pytest.raises(ValueError, match="position must be inside"):
        explain.DeconvNet(model).project(x, "relu1", channel=2, position=(9, 9))
    with pytest.raises(ValueError, match="channel must be in"):
        explain.DeconvNet(model).project(x, "relu1", channel=7)
    with pytest.raises(ValueError, match="not feature maps"):
        explain.DeconvNet(model).project(x, "fc1", channel=0)


def test_one_deconvnet_projects_inputs_of_different_sizes(rng):
    """The mirror layers adapt their output padding to each input anew."""
    model = deconv_test_net().eval()
    deconvnet = explain.DeconvNet(model)
    for shape in [(1, 3, 14, 15), (1, 3, 13, 16), (1, 3, 14, 15)]:
        x = rng.standard_normal(shape)
        maps = model.forward(x, stop="relu1")
        channel = int(np.argmax(maps[0].reshape(len(maps[0]), -1).max(axis=1)))
        projection, _ = deconvnet.project(x, "relu1", channel=channel)
        model.forward(x)
        seed, _ = explain.top_activation_seed(model.outputs["relu1"], channel)
        by_rule = model.backward(seed, relu_rule="deconvnet", start="relu1", param_grads=False)
        assert np.abs(by_rule).sum() > 0
        np.testing.assert_allclose(projection, by_rule, rtol=1e-12, atol=1e-14)
