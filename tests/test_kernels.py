"""Every fast kernel equals its plain NumPy twin (kernels/reference.py).

float64 agrees to 1e-12 relative, float32 to 1e-5 (sums may be ordered
differently); switches agree exactly; repeated calls give identical bits.
The GPU (CuPy) versions run the same checks and skip cleanly without a GPU.
"""
import numpy as np
import pytest

from scratchcnn.backend import gpu_available
from scratchcnn.kernels import cpu, reference

BACKENDS = [pytest.param("cpu", id="numba"),
            pytest.param("gpu", id="cupy", marks=[pytest.mark.gpu, pytest.mark.skipif(
                not gpu_available(), reason="needs CuPy and a CUDA GPU")])]
TOL = {np.float64: 1e-12, np.float32: 1e-5}


def fast(backend):
    if backend == "cpu":
        return cpu, np.asarray, np.asarray
    import cupy
    from scratchcnn.kernels import gpu
    return gpu, cupy.asarray, cupy.asnumpy


def close(a, b, dtype):
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert float(np.max(np.abs(a - b), initial=0)) <= TOL[dtype] * scale


def conv_cases(seed=0, count=14):
    """Random geometries: odd sizes, strides, padding, non-square, batch 1 and 64."""
    rng = np.random.default_rng(seed)
    cases = [((64, 32, 26, 26), 3, 3, (1, 1), (0, 0)), ((1, 1, 28, 28), 3, 3, (1, 1), (0, 0)),
             ((2, 2, 1, 1), 5, 5, (1, 1), (2, 2)),      # kernel column 0 sees only padding
             ((1, 1, 3, 1), 3, 7, (1, 3), (1, 4))]      # ... and with a stride
    while len(cases) < count:
        kh, kw = rng.integers(1, 6, 2)
        sh, sw = rng.integers(1, 4, 2)
        ph, pw = rng.integers(0, 3, 2)
        h, w = rng.integers(max(kh - 2 * ph, 1), 17), rng.integers(max(kw - 2 * pw, 1), 17)
        n, c = rng.choice([1, 2, 5]), rng.integers(1, 5)
        cases.append(((int(n), int(c), int(h), int(w)), int(kh), int(kw), (int(sh), int(sw)),
                      (int(ph), int(pw))))
    return cases


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", conv_cases(),
                         ids=lambda c: f"{c[0]}k{c[1]}x{c[2]}s{c[3]}p{c[4]}")
def test_im2col_and_col2im_match_reference(backend, dtype, case):
    kernels, put, get = fast(backend)
    shape, kh, kw, stride, padding = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    expected_cols = reference.im2col(x, kh, kw, stride, padding)
    cols = kernels.im2col(put(x), kh, kw, stride, padding)
    close(get(cols), expected_cols, dtype)
    out = put(np.empty_like(expected_cols))
    assert kernels.im2col(put(x), kh, kw, stride, padding, out=out) is out
    d_cols = rng.standard_normal(expected_cols.shape).astype(dtype)
    expected_dx = reference.col2im(d_cols, shape, kh, kw, stride, padding)
    dx = kernels.col2im(put(d_cols), shape, kh, kw, stride, padding)
    close(get(dx), expected_dx, dtype)
    again = kernels.col2im(put(d_cols), shape, kh, kw, stride, padding)
    assert np.array_equal(get(again), get(dx))                     # deterministic bits


POOL_CASES = [((64, 64, 24, 24), 2, 2, (2, 2)), ((1, 3, 7, 9), 3, 3, (2, 2)),
              ((2, 2, 8, 5), 3, 2, (1, 1)), ((5, 1, 11, 6), 2, 3, (3, 1)),
              ((1, 1, 2, 2), 2, 2, (2, 2))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{c[0]}k{c[1]}x{c[2]}s{c[3]}")
def test_max_pool_kernels_match_reference(backend, dtype, case):
    kernels, put, get = fast(backend)
    shape, kh, kw, stride = case
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(dtype)
    x[..., 1, 0] = x[..., 0, 0]                 # exact ties: the first in row-major order wins
    out_ref, switches_ref = reference.maxpool_forward(x, kh, kw, stride)
    out, switches = kernels.maxpool_forward(put(x), kh, kw, stride)
    assert np.array_equal(get(out), out_ref) and np.array_equal(get(switches), switches_ref)
    values = rng.standard_normal(out_ref.shape).astype(dtype)
    expected = reference.max_unpool(values, switches_ref, shape)
    unpooled = kernels.max_unpool(put(values), put(switches_ref), shape)
    close(get(unpooled), expected, dtype)
    assert np.array_equal(get(kernels.max_unpool(put(values), put(switches_ref), shape)),
                          get(unpooled))
    gathered = kernels.gather_at_switches(put(x), put(switches_ref))
    assert np.array_equal(get(gathered), reference.gather_at_switches(x, switches_ref))
    assert np.array_equal(get(gathered), out_ref)                  # reading x at its own maxima


def test_reference_kernels_by_hand():
    """The slide example: transposed filtering of [[4, 3], [2, 0]] with a 3x3 kernel
    at stride 3 tiles scaled copies of the kernel (col2im of W^T x)."""
    kernel = np.array([[1, 1, 1], [1, 2, 1], [1, 1, 1]], np.float64)
    values = np.array([4.0, 3.0, 2.0, 0.0])                       # one value per output pixel
    cols = kernel.reshape(9, 1) * values.reshape(1, 4)             # (C*kh*kw, N*OH*OW)
    image = reference.col2im(cols, (1, 1, 6, 6), 3, 3, (3, 3), (0, 0))[0, 0]
    np.testing.assert_array_equal(image[:3, :3], 4 * kernel)
    np.testing.assert_array_equal(image[:3, 3:], 3 * kernel)
    np.testing.assert_array_equal(image[3:, :3], 2 * kernel)
    np.testing.assert_array_equal(image[3:, 3:], 0 * kernel)


def test_a_whole_model_agrees_on_both_cpu_paths():
    """Forward, parameter gradients and the input gradient of a small net: Numba
    path vs ``use_reference()``, float64 to 1e-12 relative."""
    import scratchcnn as sc
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 2, 11, 9))
    labels = np.array([0, 2, 1])
    results = []
    for reference_only in (False, True):
        model = sc.Sequential([sc.Conv2D(2, 4, 3, stride=2, padding=1), sc.ReLU(),
                               sc.MaxPool2D(2, stride=1), sc.Conv2D(4, 3, 2), sc.ReLU(),
                               sc.GlobalAvgPool2D(), sc.Linear(3, 3)], seed=5).astype(np.float64)
        with sc.use_reference(reference_only):
            logits = model.forward(x)
            _, dlogits = sc.softmax_cross_entropy(logits, labels)
            dx = model.backward(dlogits)
        results.append([logits, dx] + [g for layer in model for g in layer.grads.values()])
    for fast_value, reference_value in zip(*results):
        close(fast_value, reference_value, np.float64)


LAYOUT_CASES = [(64, 32, 26, 26), (1, 1, 1, 1), (3, 5, 7, 2), (2, 7, 1, 9)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", LAYOUT_CASES, ids=str)
def test_relu_and_layout_kernels_match_reference(backend, dtype, shape):
    """relu_forward, columns_to_nchw and nchw_to_columns: exact (no sums involved)."""
    kernels, put, get = fast(backend)
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[::3] = 0                                   # exact zeros are inactive: F > 0 is strict
    y_ref, active_ref = reference.relu_forward(x)
    y, active = kernels.relu_forward(put(x))
    assert active.dtype == np.bool_ and np.array_equal(get(active), active_ref)
    assert get(y).dtype == dtype and np.array_equal(get(y), y_ref)
    n, channels, oh, ow = shape
    columns = rng.standard_normal((channels, n * oh * ow)).astype(dtype)
    bias = rng.standard_normal(channels).astype(dtype)
    nchw = kernels.columns_to_nchw(put(columns), put(bias), n, oh, ow)
    assert np.array_equal(get(nchw), reference.columns_to_nchw(columns, bias, n, oh, ow))
    back = kernels.nchw_to_columns(put(x))
    assert np.array_equal(get(back), reference.nchw_to_columns(x))
    assert np.array_equal(get(kernels.relu_forward(put(x))[0]), get(y))   # same bits again


def test_close_catches_a_wrong_kernel():
    """Negative control for ``close``: one entry off by 10x the tolerance fails it."""
    expected = np.ones((4, 4), np.float32)
    wrong = expected.copy()
    wrong[2, 3] += 10 * TOL[np.float32]
    close(expected.copy(), expected, np.float32)
    with pytest.raises(AssertionError):
        close(wrong, expected, np.float32)
