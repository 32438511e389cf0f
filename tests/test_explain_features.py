"""Feature-level methods: receptive fields against where the gradient of one activation
is non-zero, top-k activations against a brute-force sort of every activation."""
import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn.explain.features import feature_maps, receptive_field, top_activations


def gradient_support(model, x, layer, channel, position):
    """(row_start, row_stop, col_start, col_stop) of the non-zero entries of
    d activation / d x for one activation (stops exclusive)."""
    model.eval()
    model.forward(x)
    seed = np.zeros_like(model.outputs[layer])
    seed[0, channel, position[0], position[1]] = 1.0
    grad = np.abs(model.backward(seeds={layer: seed}, param_grads=False))[0].sum(axis=0)
    rows, cols = np.nonzero(grad)
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def linear_net():
    """No ReLU and no max pool, so every input in the box reaches the activation:
    the gradient support is the whole (clipped) box."""
    return sc.Network([
        ("conv1", sc.Conv2D(1, 3, 3, padding=1)),
        ("conv2", sc.Conv2D(3, 3, (3, 2), stride=2)),
        ("pool", sc.AvgPool2D(2, stride=1)),
        ("skip", sc.Conv2D(3, 3, 1)),
        ("conv3", sc.Conv2D(3, 3, 5, padding=2)),
        ("add", sc.Add(), ["skip", "conv3"]),
        ("bn", sc.BatchNorm2D(3)),
    ], seed=0).astype(np.float64)


@pytest.mark.parametrize("position", [(0, 0), (2, 3), (5, 6)])
def test_receptive_field_is_the_gradient_support(position):
    model = linear_net()
    x = np.random.default_rng(0).standard_normal((1, 1, 15, 17))
    box = receptive_field(model, "bn", position, image_size=(15, 17))
    assert box == gradient_support(model, x, "bn", 1, position)
    r0, r1, c0, c1 = box
    wrong = (r0, r1 + 1, c0, c1)                                    # off by one: caught
    assert wrong != gradient_support(model, x, "bn", 1, position)


def test_receptive_field_by_hand_and_errors():
    """The slides' model: two 3x3 convs and a 2x2 pool see 6x6 inputs, stride 2."""
    model = sc.zoo.slides_mnist_model()
    assert receptive_field(model, "pool1", (0, 0)) == (0, 6, 0, 6)
    assert receptive_field(model, "pool1", (3, 5)) == (6, 12, 10, 16)
    assert receptive_field(model, "conv1", (0, 0)) == (0, 3, 0, 3)
    with pytest.raises(ValueError, match="node 'fc1' is a Linear"):
        receptive_field(model, "fc1", (0, 0))


def test_receptive_field_contains_the_support_through_relu_and_max_pool():
    """ReLU and max pooling route the gradient to fewer pixels: inside the box."""
    model = sc.zoo.resnet_gap().astype(np.float64)
    x = np.random.default_rng(1).random((1, 1, 28, 28))
    maps = feature_maps(model, x, "block2.relu2")[0, 0]
    position = np.unravel_index(maps.argmax(), maps.shape)         # an active unit
    assert maps[position] > 0
    r0, r1, c0, c1 = receptive_field(model, "block2.relu2", position, image_size=(28, 28))
    s0, s1, t0, t1 = gradient_support(model, x, "block2.relu2", 0, position)
    assert r0 <= s0 and s1 <= r1 and c0 <= t0 and t1 <= c1
    assert (r1 - r0) * (c1 - c0) > (s1 - s0) * (t1 - t0) / 4        # not a trivial box


def test_top_activations_equal_a_brute_force_sort():
    rng = np.random.default_rng(2)
    model = sc.zoo.slides_mnist_model()
    x = rng.random((40, 1, 28, 28), dtype=np.float32)
    indices, positions, values = top_activations(model, x, "pool1", channel=6, k=7,
                                                 batch_size=16)
    maps = feature_maps(model, x, "pool1", batch_size=16)[:, 6]
    assert len(np.unique(maps.max(axis=(1, 2)))) == 40            # a live channel, no ties
    brute = sorted((-float(maps[n, r, c]), n, r, c) for n in range(40)
                   for r in range(maps.shape[1]) for c in range(maps.shape[2]))
    seen, expected = set(), []
    for negative, n, r, c in brute:                 # the strongest per image, each image once
        if n not in seen:
            seen.add(n)
            expected.append((n, r, c, -negative))
    expected = expected[:7]
    assert indices.tolist() == [e[0] for e in expected]
    assert positions.tolist() == [[e[1], e[2]] for e in expected]
    np.testing.assert_array_equal(values, [e[3] for e in expected])
    assert np.all(np.diff(values) <= 0)
    assert len(set(indices.tolist())) == 7
    with pytest.raises(ValueError, match="channel must be in"):
        top_activations(model, x, "pool1", channel=64)
    with pytest.raises(ValueError, match="k must be an int in"):
        top_activations(model, x, "pool1", channel=0, k=41)


def test_feature_maps_refuse_a_layer_without_maps():
    model = sc.zoo.slides_mnist_model()
    x = np.zeros((2, 1, 28, 28), np.float32)
    assert feature_maps(model, x, "relu2").shape == (2, 64, 24, 24)
    with pytest.raises(ValueError, match="not feature maps"):
        feature_maps(model, x, "fc1")
