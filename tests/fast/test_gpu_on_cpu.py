"""Every CUDA kernel of fast/gpu_sources.py, run on the CPU, and the GPU path's Python side
(fast/gpu.py and everything above it) on a strict stand-in for CuPy. No GPU needed.

* Each ElementwiseKernel body is compiled with g++ inside a loop that runs it once per
  output index, as CUDA's threads would (cuda_on_cpu.py), and fast/gpu.py calls it with
  exactly the arguments it passes on a GPU (fake_cupy.py puts the compiled bodies behind
  ``cupy.ElementwiseKernel``). im2col, col2im, max pooling (ties included: the first
  maximum wins, and a value within the image's tie tolerance ties) and unpooling
  (segment sums, overlapping windows) equal the plain room's
  twins on odd shapes, strides and paddings, in float32 and float64: exactly where no
  sum is reordered, to 1e-12 (float64) / 1e-5 (float32) relative where one is.
* Negative control: im2col with one index broken (the column padding forgotten) is
  caught by the same comparison.
* A whole model's forward and backward and two explanation methods run on FakeArrays,
  which refuse an implicit conversion to NumPy as CuPy's arrays do, and give the CPU's
  results: a stray ``np.`` call on a device array would fail here.
Skipped cleanly where g++ is missing. What this does not prove is said in cuda_on_cpu.py.
"""
import numpy as np
import pytest
from cuda_on_cpu import compile_kernel, compiler
from test_kernels import close, conv_cases

import scratchcnn as sc
from scratchcnn.fast.gpu_sources import IM2COL
from scratchcnn.reference import conv, pool

pytestmark = pytest.mark.skipif(compiler() is None, reason="needs g++ (apt-get install g++)")
DTYPES = [pytest.param(np.float64, id="f64"), pytest.param(np.float32, id="f32")]


@pytest.fixture
def gpu(monkeypatch):
    """fast/gpu.py imported with the stand-in for CuPy; returns (gpu module, fake cupy)."""
    import fake_cupy
    return fake_cupy.install(monkeypatch), fake_cupy


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", conv_cases(seed=21, count=10),
                         ids=lambda c: f"{c[0]}k{c[1]}x{c[2]}s{c[3]}p{c[4]}")
def test_im2col_and_col2im_bodies_equal_the_reference(gpu, dtype, case):
    kernels, cp = gpu
    shape, kh, kw, stride, padding = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    cols = cp.asnumpy(kernels.im2col(cp.asarray(x), kh, kw, stride, padding))
    np.testing.assert_array_equal(cols, conv.im2col(x, kh, kw, stride, padding))
    d_cols = rng.standard_normal(cols.shape).astype(dtype)
    dx = cp.asnumpy(kernels.col2im(cp.asarray(d_cols), shape, kh, kw, stride, padding))
    close(dx, conv.col2im(d_cols, shape, kh, kw, stride, padding), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [((2, 3, 6, 7), (2, 2), (2, 2)), ((1, 2, 7, 9), (3, 3), (2, 2)),
                                  ((2, 1, 5, 8), (2, 3), (1, 2)), ((1, 1, 4, 4), (4, 4), (1, 1))],
                         ids=str)
def test_max_pooling_and_unpooling_bodies_equal_the_reference(gpu, dtype, case):
    """Small integers, so every window holds ties; overlapping windows share winners."""
    kernels, cp = gpu
    shape, (kh, kw), stride = case
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, shape).astype(dtype)
    out, switches = kernels.maxpool_forward(cp.asarray(x), kh, kw, stride)
    expected_out, expected_switches = pool.maxpool_loops(x, kh, kw, stride)
    np.testing.assert_array_equal(cp.asnumpy(out), expected_out)
    np.testing.assert_array_equal(cp.asnumpy(switches), expected_switches)
    values = rng.standard_normal(expected_out.shape).astype(dtype)
    unpooled = kernels.max_unpool(cp.asarray(values), switches, shape)
    close(cp.asnumpy(unpooled), pool.max_unpool(values, expected_switches, shape), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_max_pool_body_keeps_the_tie_rule(gpu, dtype):
    """A value within the image's tie tolerance of the maximum ties with it (the first wins,
    the output is its value); one beyond it does not: image 0's largest |x| is 4, image
    1's is 1, the gap is 100 eps * 4 in both (reference/pool.py, the tie rule)."""
    kernels, cp = gpu
    x = np.zeros((2, 3, 4, 6), dtype)
    x[0, :, 3, 5], x[1, :, 3, 5] = -4.0, -1.0
    x[:, :, 0, 0] = dtype(0.5)
    x[:, :, 0, 1] = dtype(0.5) + dtype(100 * np.finfo(dtype).eps * 4)
    for kh, kw, stride in ((2, 2, (2, 2)), (3, 3, (2, 2))):
        out, switches = kernels.maxpool_forward(cp.asarray(x), kh, kw, stride)
        expected_out, expected_switches = pool.maxpool_loops(x, kh, kw, stride)
        np.testing.assert_array_equal(cp.asnumpy(switches), expected_switches)
        np.testing.assert_array_equal(cp.asnumpy(out), expected_out)
        assert (expected_switches[0, :, 0, 0] == 0).all()
        assert (expected_switches[1, :, 0, 0] == 1).all()


def test_a_broken_index_is_caught():
    """Negative control: IM2COL with the column padding forgotten differs from im2col."""
    broken = IM2COL._replace(operation=IM2COL.operation.replace("xo * sw + kj - pw",
                                                                "xo * sw + kj"),
                             name="scratchcnn_im2col_broken")
    assert broken.operation != IM2COL.operation
    kernel = compile_kernel(broken)
    x = np.random.default_rng(2).standard_normal((2, 3, 5, 6))
    expected = conv.im2col(x, 3, 3, (1, 1), (1, 1))
    cols = np.empty_like(expected)
    kernel(x, 3, 5, 6, 3, 3, 1, 1, 1, 1, 5, 6, 2 * 5 * 6, cols)
    assert not np.array_equal(cols, expected)
    compile_kernel(IM2COL)(x, 3, 5, 6, 3, 3, 1, 1, 1, 1, 5, 6, 2 * 5 * 6, cols)
    np.testing.assert_array_equal(cols, expected)                    # the right one passes


def test_the_stand_in_refuses_what_cupy_refuses(gpu):
    _, cp = gpu
    a = cp.asarray(np.ones((2, 3)))
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match="NumPy array"):
        a + np.ones((2, 3))
    np.testing.assert_array_equal(cp.asnumpy(a * 2 + 1), np.full((2, 3), 3.0))


def test_a_model_and_two_methods_run_on_device_arrays(gpu):
    """The slides' model (float64): forward, backward with weight gradients, saliency and
    Grad-CAM on FakeArrays equal the CPU's to 1e-10 relative."""
    _, cp = gpu
    rng = np.random.default_rng(3)
    x = rng.random((3, 1, 28, 28))
    labels = np.array([1, 4, 7])
    results = []
    for device in ("cpu", "gpu"):
        model = sc.zoo.slides_mnist_model().astype(np.float64).to(device)
        inputs = sc.to_device(x, device)
        logits = model.forward(inputs)
        _, dlogits = sc.softmax_cross_entropy(logits, sc.to_device(labels, device))
        dx = model.backward(dlogits)
        maps = [sc.explain.saliency(model, inputs, labels),
                sc.explain.grad_cam(model, inputs, labels, layer="relu2")]
        if device == "gpu":
            assert isinstance(logits, cp.FakeArray) and isinstance(dx, cp.FakeArray)
        arrays = [logits, dx, model["conv1"].grads["W"], model["fc1"].grads["W"]] + maps
        results.append([sc.to_numpy(a) for a in arrays])
    for on_cpu, on_device in zip(*results):
        assert np.abs(on_device - on_cpu).max() <= 1e-10 * np.abs(on_cpu).max()
