"""The architectures the lessons and benchmarks use, by name."""
from .init import he_normal
from .layers import Conv2D, Flatten, GlobalAvgPool2D, Linear, MaxPool2D, ReLU
from .model import Sequential


def slides_mnist_model(in_channels=1, num_classes=10, image_size=28, seed=0):
    """The MNIST model of "Making the Training Visible" (Ruhr-Universität Bochum):
    Conv 32 3x3 - ReLU - Conv 64 3x3 - ReLU - MaxPool 2 - Flatten - Dense 64 - ReLU - Dense 10.
    x: (N, in_channels, image_size, image_size) -> logits (N, num_classes)."""
    side = (image_size - 4) // 2
    return Sequential([
        Conv2D(in_channels, 32, 3), ReLU(), Conv2D(32, 64, 3), ReLU(), MaxPool2D(2),
        Flatten(), Linear(64 * side * side, 64), ReLU(), Linear(64, num_classes),
    ], seed=seed)


def gap_model(in_channels=1, num_classes=10, widths=(32, 64, 128), seed=0):
    """A class-activation-map network: Conv-ReLU-Pool blocks with padding 1, a last
    Conv-ReLU, global average pooling and one Linear layer (Zhou et al. 2016), e.g.
    Conv 32 - Pool - Conv 64 - Pool - Conv 128 - GAP - Linear 10, He-initialized
    (init.he_normal: the default init trains such networks slowly).
    x: (N, in_channels, H, W) -> logits (N, num_classes), any H, W >= 4."""
    layers, channels = [], in_channels
    for i, width in enumerate(widths):
        layers += [Conv2D(channels, width, 3, padding=1), ReLU()]
        if i < len(widths) - 1:
            layers.append(MaxPool2D(2))
        channels = width
    layers += [GlobalAvgPool2D(), Linear(channels, num_classes)]
    return he_normal(Sequential(layers, seed=seed), seed)
