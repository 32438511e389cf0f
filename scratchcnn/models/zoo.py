"""The architectures the lessons and benchmarks use, by name."""
from .blocks import residual_block
from ..weight_init import he_normal
from ..layers import (BatchNorm2D, Conv2D, Dropout, Flatten, GlobalAvgPool2D, Linear, MaxPool2D,
                     ReLU)
from ..model import Network, Sequential


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


def resnet_gap(in_channels=1, num_classes=10, widths=(8, 16, 32, 64), seed=0):
    """A small ResNet with global average pooling, shaped like ResNet-50's four stages
    (He et al. 2016) at MNIST scale: a 3x3 stem, then one residual block per stage
    (blocks.residual_block; stride 2 from the second stage on), GAP and one Linear
    layer, so CAM applies (Zhou et al. 2016). He-initialized.

    Nodes: stem.conv, stem.bn, stem.relu, block1.* ... block4.*, gap, fc. The first
    convolution of each block, ``block{k}.conv1``, is damage site D{k} of Vasu &
    Savakis (see ``damage_sites``). x: (N, in_channels, H, W) -> logits (N, num_classes);
    a 28x28 input gives 28, 14, 7 and 4 pixel feature maps in the four stages.
    """
    nodes = [("stem.conv", Conv2D(in_channels, widths[0], 3, padding=1)),
             ("stem.bn", BatchNorm2D(widths[0])), ("stem.relu", ReLU())]
    channels = widths[0]
    for stage, width in enumerate(widths, start=1):
        nodes += residual_block(channels, width, stride=1 if stage == 1 else 2,
                                name=f"block{stage}")
        channels = width
    nodes += [("gap", GlobalAvgPool2D()), ("fc", Linear(channels, num_classes))]
    return he_normal(Network(nodes, seed=seed), seed)


def damage_sites(model):
    """{"D1": "block1.conv1", "D2": "block2.conv1", ...}: the first convolution of each
    residual block of ``model`` (Vasu & Savakis: the sites D1-D4 of their ResNet-50)."""
    sites, stage = {}, 1
    while f"block{stage}.conv1" in model.names:
        sites[f"D{stage}"] = f"block{stage}.conv1"
        stage += 1
    return sites


def tang_mnist_model(num_classes=10, seed=0):
    """The MNIST network of Tang, Yao, Jiang & Liu, "How the Deep Convolutional Networks
    see the World" (seed 004, sec. 2): two 3x3 convolutions with stride 2 (32 and 64
    channels), each followed by ReLU and a 2x2 max pool, then fully connected 128 with
    ReLU and 30% dropout, then 10. The paper does not give the padding; we pad by 1, so
    28x28 -> 14 -> 7 -> 4 -> 2: 64 * 2 * 2 = 256 features. Paper: 0.991 train, 0.982 test.
    x: (N, 1, 28, 28) -> logits (N, num_classes)."""
    return Sequential([
        Conv2D(1, 32, 3, stride=2, padding=1, name="conv1"), ReLU(name="relu1"),
        MaxPool2D(2, name="pool1"),
        Conv2D(32, 64, 3, stride=2, padding=1, name="conv2"), ReLU(name="relu2"),
        MaxPool2D(2, name="pool2"),
        Flatten(name="flatten"), Linear(64 * 2 * 2, 128, name="fc1"), ReLU(name="relu3"),
        Dropout(0.3, name="dropout"), Linear(128, num_classes, name="fc2"),
    ], seed=seed)


def tang_deep_model(num_classes=5, in_channels=1, seed=0):
    """Tang et al.'s own 5-class network (seed 004, sec. 4.1), "conv-pool-norm x4, full,
    full": four blocks of 3x3 convolution (32, 64, 128, 128 channels) + ReLU + 2x2 max
    pool + batch norm, then fully connected 128 (ReLU, 30% dropout) and num_classes.
    The paper's 224x224 ImageNet images allow stride-2 convolutions; on our 28x28
    stand-in (5 Fashion-MNIST classes) the convolutions have stride 1 and padding 1, so
    the four pools take 28 -> 14 -> 7 -> 3 -> 1. Paper (ImageNet): 0.879 train, 0.801 test.
    Nodes: conv1..conv4, relu1..relu4, pool1..pool4, bn1..bn4, flatten, fc1, relu5,
    dropout, fc2. x: (N, in_channels, 28, 28) -> logits (N, num_classes)."""
    layers, channels = [], in_channels
    for block, width in enumerate((32, 64, 128, 128), start=1):
        layers += [Conv2D(channels, width, 3, padding=1, name=f"conv{block}"),
                   ReLU(name=f"relu{block}"), MaxPool2D(2, name=f"pool{block}"),
                   BatchNorm2D(width, name=f"bn{block}")]
        channels = width
    layers += [Flatten(name="flatten"), Linear(channels, 128, name="fc1"), ReLU(name="relu5"),
               Dropout(0.3, name="dropout"), Linear(128, num_classes, name="fc2")]
    return he_normal(Sequential(layers, seed=seed), seed)


def vgg_colour_model(num_classes=8, in_channels=3, widths=(16, 16, 32, 32, 64, 64), seed=0):
    """A small VGG-style colour network (Simonyan & Zisserman 2015: stacks of 3x3
    convolutions, padding 1, a 2x2 max pool after every second one), our stand-in for the
    VGG16 of Tang et al. (seed 004, sec. 3.2) on datasets.colour_shapes: six conv layers,
    each followed by ReLU, with pools after conv2, conv4 and conv6, then global average
    pooling and one Linear layer. He-initialized.

    Nodes: conv1, relu1, conv2, relu2, pool1, conv3, relu3, conv4, relu4, pool2, conv5,
    relu5, conv6, relu6, pool3, gap, fc (``widths`` gives one width per conv, so its
    length sets the depth; it must be even). x: (N, in_channels, H, W) -> logits
    (N, num_classes); a 32x32 input gives 32, 32, 16, 16, 8, 8 pixel maps at conv1-conv6.
    """
    if len(widths) < 2 or len(widths) % 2:
        raise ValueError(f"widths must list an even number (>= 2) of conv widths, got "
                         f"{widths!r}")
    nodes, channels = [], in_channels
    for i, width in enumerate(widths, start=1):
        nodes += [Conv2D(channels, width, 3, padding=1, name=f"conv{i}"), ReLU(name=f"relu{i}")]
        if i % 2 == 0:
            nodes.append(MaxPool2D(2, name=f"pool{i // 2}"))
        channels = width
    nodes += [GlobalAvgPool2D(name="gap"), Linear(channels, num_classes, name="fc")]
    return he_normal(Sequential(nodes, seed=seed), seed)
