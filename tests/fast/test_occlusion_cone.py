"""The occlusion cone (fast/occlusion.py) equals the definition, one full forward pass per
occluder (explain/occlusion.py), on the Numba and on the reference layers."""
import numpy as np
import pytest
from conftest import occlusion_by
from test_occlusion_cases import two_conv_net

import scratchcnn as sc
from scratchcnn.fast import occlusion as occlusion_cone
from scratchcnn.explain.occlusion import occlusion
from scratchcnn.fast.occlusion import cone_plan


def strided_net():
    """Padding, stride 2, average pooling, batch norm and LeakyReLU, a GAP head."""
    net = sc.Sequential([sc.Conv2D(2, 4, 3, stride=2, padding=1), sc.BatchNorm2D(4),
                         sc.LeakyReLU(0.1), sc.AvgPool2D(3, stride=1),
                         sc.Conv2D(4, 5, (2, 3), padding=(1, 0)), sc.ReLU(), sc.MaxPool2D(2),
                         sc.GlobalAvgPool2D(), sc.Linear(5, 3), sc.ReLU(), sc.Linear(3, 4)],
                        seed=4).astype(np.float64)
    net["bn1"].buffers["running_mean"][...] = [0.1, -0.2, 0.3, 0.0]
    net["bn1"].buffers["running_var"][...] = [0.5, 2.0, 1.5, 1.0]
    return net


def batchnorm_then_pool_net():
    """Batch norm with a negative scale right before a max pool (max and a decreasing map
    do not commute: the cone must not swap them), then ReLU -> max pool (it may)."""
    net = sc.Sequential([sc.Conv2D(1, 3, 3), sc.BatchNorm2D(3), sc.MaxPool2D(2), sc.ReLU(),
                         sc.MaxPool2D(2), sc.Flatten(), sc.Linear(3 * 3 * 3, 4)],
                        seed=6).astype(np.float64)
    net["bn1"].params["gamma"][...] = [-1.5, 0.5, -2.0]
    return net


@pytest.mark.parametrize("reference", [False, True], ids=["numba", "reference"])
@pytest.mark.parametrize("case", ["slides", "slides_crops", "gap", "strided", "batchnorm_pool",
                                  "two_conv"])
def test_the_cone_of_influence_equals_full_forward_passes(reference, case, monkeypatch):
    """The cone recomputes only what each occluder changes; it must give the numbers
    of one full forward per occluder (float64: 1e-10 relative), on the Numba and on the
    reference kernels, with padding, strides, pooling, batch norm, Flatten and GAP heads.
    The slides' model and two_conv_net take the table of the occluder's cases
    (occlusion_cases.py; the second with a window narrower than its first filter; forced
    here: with this few occluders the crops cost less; "slides_crops" leaves the choice to
    ``table_pays``, which takes the crops), the others the crops."""
    if case != "slides_crops":
        monkeypatch.setattr(occlusion_cone, "table_pays", lambda *args: True)
    rng = np.random.default_rng(3)
    if case == "two_conv":
        model, x, window, stride = two_conv_net(), rng.standard_normal((2, 2, 9, 10)), \
            (2, 4), (1, 2)
    elif case in ("slides", "slides_crops"):
        model, x, window, stride = sc.zoo.slides_mnist_model().astype(np.float64), \
            rng.random((1, 1, 28, 28)), (7, 7), (4, 5)
    elif case == "gap":
        model, x, window, stride = sc.zoo.gap_model(widths=(4, 8, 8)).astype(np.float64), \
            rng.random((1, 1, 16, 12)), (5, 3), (2, 3)
    elif case == "strided":
        model, x, window, stride = strided_net(), rng.standard_normal((2, 2, 15, 11)), \
            (4, 3), (1, 2)
    else:
        model, x, window, stride = batchnorm_then_pool_net(), \
            rng.standard_normal((2, 1, 14, 14)), (3, 3), (1, 1)
    with sc.use_reference(reference):
        full = occlusion_by("full", model, x, [1, 2][:len(x)], window, stride, baseline=0.3,
                         output="score")
        cone = occlusion_by("cone", model, x, [1, 2][:len(x)], window, stride, baseline=0.3,
                         output="score", batch_size=7)
    scale = np.abs(full).max()
    assert np.abs(cone - full).max() <= 1e-10 * scale
    other = occlusion_by("full", model, x, [1, 2][:len(x)], window, stride, baseline=0.0,
                         output="score")
    assert np.abs(other - full).max() > 1e-6 * scale           # the check can fail


def test_the_cone_in_float32_and_its_limits():
    """float32, the slides' model, 7x7 windows at stride 1 (484 per image): 1e-5 relative.
    A network the cone cannot follow (a residual Add) has no plan, and occlusion runs the
    definition for it."""
    rng = np.random.default_rng(5)
    model = sc.zoo.slides_mnist_model()
    x = rng.random((1, 1, 28, 28), dtype=np.float32)
    full = occlusion_by("full", model, x, 3)
    cone = occlusion_by("cone", model, x, 3)
    assert full.shape == (1, 22, 22)
    assert np.abs(cone - full).max() <= 1e-5 * np.abs(full).max()
    residual = sc.zoo.resnet_gap()
    assert cone_plan(residual) is None
    with pytest.raises(ValueError, match="the cone needs a chain"):
        occlusion_by("cone", residual, x, 0, window=14, stride=14)
    assert occlusion(residual, x, 0, window=14, stride=14).shape == (1, 2, 2)
