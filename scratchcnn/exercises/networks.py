"""The small networks the model-based exercises are graded on, each twice: as plain
float64 arrays with the grader's own forward pass (and, for the MLP, its gradient and
exact Integrated Gradients, derived by hand), and as a scratchcnn model with the same
weights, which is what the learner's function receives."""
import numpy as np

from . import oracles


def _set(layer, weights, bias):
    layer.params["W"][...], layer.params["b"][...] = weights, bias


class SmallMLP:
    """flatten -> fc1 (D -> hidden) -> ReLU -> fc2 (-> classes); ``linear=True``: flatten ->
    fc (D -> classes) alone, whose gradient is the same everywhere."""

    def __init__(self, rng, image, hidden=6, classes=3, linear=False):
        self.image, self.linear = tuple(image), linear
        d = int(np.prod(image))
        if linear:
            self.w2, self.b2 = rng.standard_normal((classes, d)), rng.standard_normal(classes)
        else:
            self.w1, self.b1 = rng.standard_normal((hidden, d)) * 0.6, rng.standard_normal(hidden)
            self.w2, self.b2 = rng.standard_normal((classes, hidden)), rng.standard_normal(classes)

    def scores(self, x):
        """x (N, C, H, W) -> class scores (N, classes)."""
        h = x.reshape(len(x), -1)
        if not self.linear:
            h = oracles.relu(h @ self.w1.T + self.b1)
        return h @ self.w2.T + self.b2

    def gradient(self, x, targets):
        """dS_target/dx (N, C, H, W): W1^T (1(z > 0) * W2[target]), z = W1 x + b1."""
        if self.linear:
            return self.w2[targets].reshape(x.shape).copy()
        z = x.reshape(len(x), -1) @ self.w1.T + self.b1
        return (((z > 0) * self.w2[targets]) @ self.w1).reshape(x.shape)

    def exact_path_mean(self, x, baseline, targets):
        """The mean of dS/dx along the straight path from the baseline to x, exactly:
        hidden unit j is active on the part of [0, 1] where z0_j + a dz_j > 0 (a root at
        a = -z0_j / dz_j), so the mean is W1^T (t * W2[target]), t the active lengths."""
        if self.linear:
            return self.gradient(x, targets)
        z0 = baseline.reshape(len(x), -1) @ self.w1.T + self.b1
        dz = (x - baseline).reshape(len(x), -1) @ self.w1.T
        with np.errstate(divide="ignore", invalid="ignore"):
            root = np.clip(np.where(dz != 0, -z0 / dz, 0.0), 0.0, 1.0)
        active = np.where(dz > 0, 1.0 - root, np.where(dz < 0, root, (z0 > 0).astype(float)))
        return ((active * self.w2[targets]) @ self.w1).reshape(x.shape)

    def model(self):
        from ..layers import Flatten, Linear, ReLU
        from ..model import Sequential
        d = int(np.prod(self.image))
        if self.linear:
            fc = Linear(d, self.w2.shape[0])
            net = Sequential([Flatten(), fc]).astype(np.float64)
            _set(fc, self.w2, self.b2)
            return net
        fc1, fc2 = Linear(d, self.w1.shape[0]), Linear(self.w1.shape[0], self.w2.shape[0])
        net = Sequential([Flatten(), fc1, ReLU(), fc2]).astype(np.float64)
        _set(fc1, self.w1, self.b1)
        _set(fc2, self.w2, self.b2)
        return net


class SmallConvNet:
    """conv (C -> 3, 3x3, padding 1) -> ReLU -> flatten -> fc (-> 4 classes)."""

    def __init__(self, rng, image, classes=4):
        c, h, w = image
        self.image = tuple(image)
        self.w1, self.b1 = rng.standard_normal((3, c, 3, 3)) * 0.5, rng.standard_normal(3) * 0.2
        self.w2 = rng.standard_normal((classes, 3 * h * w)) * 0.3
        self.b2 = rng.standard_normal(classes) * 0.5

    def scores(self, x):
        a = oracles.relu(oracles.conv_offsets(x, self.w1, self.b1, (1, 1), (1, 1)))
        return a.reshape(len(x), -1) @ self.w2.T + self.b2

    def probabilities(self, x):
        return oracles.softmax_rows(self.scores(x))

    def model(self):
        from ..layers import Conv2D, Flatten, Linear, ReLU
        from ..model import Sequential
        conv, fc = Conv2D(self.image[0], 3, 3, padding=1), Linear(self.w2.shape[1],
                                                                  self.w2.shape[0])
        net = Sequential([conv, ReLU(), Flatten(), fc]).astype(np.float64)
        _set(conv, self.w1, self.b1)
        _set(fc, self.w2, self.b2)
        return net


class SmallCNN:
    """conv1 (2 -> 3, 3x2, padding 1) -> relu1 -> conv2 (3 -> 4, 2x2) -> relu2 -> flatten
    -> fc (-> 5 classes), with a forward pass that can start at any of its layers."""

    def __init__(self, rng, image=(2, 6, 5)):
        c, h, w = image
        self.w1, self.b1 = rng.standard_normal((3, c, 3, 2)) * 0.7, rng.standard_normal(3) * 0.3
        self.w2, self.b2 = rng.standard_normal((4, 3, 2, 2)) * 0.5, rng.standard_normal(4) * 0.3
        h2, w2 = h - 1, w               # conv1 keeps H and adds a column; conv2 takes one of each
        self.w3, self.b3 = rng.standard_normal((5, 4 * h2 * w2)) * 0.3, rng.standard_normal(5)

    def up_to(self, x, layer):
        """The activations of ``layer`` ("relu1", "conv2" or "relu2") for images x."""
        a = oracles.relu(oracles.conv_offsets(x, self.w1, self.b1, (1, 1), (1, 1)))
        if layer == "relu1":
            return a
        z = oracles.conv_offsets(a, self.w2, self.b2, (1, 1), (0, 0))
        return z if layer == "conv2" else oracles.relu(z)

    def head(self, a, layer):
        """The class scores (N, 5) from the activations of ``layer``."""
        if layer == "relu1":
            a = oracles.conv_offsets(a, self.w2, self.b2, (1, 1), (0, 0))
        if layer in ("relu1", "conv2"):
            a = oracles.relu(a)
        return a.reshape(len(a), -1) @ self.w3.T + self.b3

    def model(self):
        from ..layers import Conv2D, Flatten, Linear, ReLU
        from ..model import Sequential
        conv1, conv2 = Conv2D(self.w1.shape[1], 3, (3, 2), padding=1), Conv2D(3, 4, 2)
        fc = Linear(self.w3.shape[1], 5)
        net = Sequential([conv1, ReLU(), conv2, ReLU(), Flatten(), fc]).astype(np.float64)
        for layer, w, b in ((conv1, self.w1, self.b1), (conv2, self.w2, self.b2),
                            (fc, self.w3, self.b3)):
            _set(layer, w, b)
        return net
