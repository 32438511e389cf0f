"""Every fast kernel equals its plain NumPy twin (reference/: conv, pool, activation, norm,
adam; fast/occlusion_kernels.py's NumPy versions for the cone's two steps).

float64 agrees to 1e-12 relative, float32 to 1e-5 (sums may be ordered
differently); switches agree exactly; repeated calls give identical bits.
The GPU (CuPy) versions run the same checks and skip cleanly without a GPU.
"""
import ast
import inspect
import types
from pathlib import Path

import numpy as np
import pytest

from scratchcnn.backend import gpu_available
from scratchcnn import fast
from scratchcnn.fast import activation as fast_activation
from scratchcnn.fast import adam as fast_adam
from scratchcnn.fast import conv as fast_conv
from scratchcnn.fast import norm as fast_norm
from scratchcnn.fast import occlusion_kernels
from scratchcnn.fast import pool as fast_pool
from scratchcnn.reference import activation, adam, conv, norm, pool

FAMILIES = {"conv": (conv, fast_conv), "pool": (pool, fast_pool),
            "activation": (activation, fast_activation), "norm": (norm, fast_norm),
            "adam": (adam, fast_adam)}


def _public(module):
    """{name: function} defined (not imported) in ``module``, without the leading _."""
    return {name: f for name, f in vars(module).items() if inspect.isfunction(f)
            and f.__module__ == module.__name__ and not name.startswith("_")}


def _together(modules, **more):
    """One namespace holding every public function of ``modules`` (and ``more``)."""
    functions = {}
    for module in modules:
        functions.update({name: getattr(module, name) for name in dir(module)
                          if not name.startswith("_") and callable(getattr(module, name))})
    return types.SimpleNamespace(**functions, **more)


# The plain twins and the Numba kernels, each as one namespace of functions:
reference = _together([plain for plain, _ in FAMILIES.values()],
                      subtract_into_band=occlusion_kernels.subtract_into_band_numpy,
                      occluder_case_sums=occlusion_kernels.occluder_case_sums_numpy,
                      __name__="reference")
cpu = _together([numba for _, numba in FAMILIES.values()],
                subtract_into_band=occlusion_kernels.subtract_into_band,
                occluder_case_sums=occlusion_kernels.occluder_case_sums, __name__="numba")

BACKENDS = [pytest.param("cpu", id="numba"),
            pytest.param("gpu", id="cupy", marks=[pytest.mark.gpu, pytest.mark.skipif(
                not gpu_available(), reason="needs CuPy and a CUDA GPU")])]
TOL = {np.float64: 1e-12, np.float32: 1e-5}


def kernels_of(backend):
    if backend == "cpu":
        return cpu, np.asarray, np.asarray
    import cupy
    from scratchcnn.fast import gpu
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
    kernels, put, get = kernels_of(backend)
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
              ((1, 1, 2, 2), 2, 2, (2, 2)), ((2, 3, 7, 9), 2, 2, (2, 2))]   # 2x2: cpu's own kernel


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{c[0]}k{c[1]}x{c[2]}s{c[3]}")
def test_max_pool_kernels_match_reference(backend, dtype, case):
    kernels, put, get = kernels_of(backend)
    shape, kh, kw, stride = case
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(dtype)
    x[..., :2, :2] = x[..., :1, :1]             # exact ties: the first in row-major order wins
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
    """Forward, parameter gradients and the input gradient of a small net (batch norm in
    training mode included): Numba path vs ``use_reference()``, float64 to 1e-12 relative."""
    import scratchcnn as sc
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 2, 11, 9))
    labels = np.array([0, 2, 1])
    results = []
    for reference_only in (False, True):
        model = sc.Sequential([sc.Conv2D(2, 4, 3, stride=2, padding=1), sc.BatchNorm2D(4),
                               sc.ReLU(),
                               sc.MaxPool2D(2, stride=1), sc.Conv2D(4, 3, 2), sc.ReLU(),
                               sc.GlobalAvgPool2D(), sc.Linear(3, 3)], seed=5).astype(np.float64)
        with sc.use_reference(reference_only):
            logits = model.forward(x)
            _, dlogits = sc.softmax_cross_entropy(logits, labels)
            dx = model.backward(dlogits)
        results.append([logits, dx] + [g for layer in model for g in layer.grads.values()])
    for fast_value, reference_value in zip(*results):
        close(fast_value, reference_value, np.float64)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("param_grads, input_grad", [(True, True), (False, True), (True, False)])
def test_batchnorm_layer_agrees_on_both_cpu_paths(training, param_grads, input_grad):
    """BatchNorm2D alone, float32, every backward option: y, dx and the parameter gradients
    on the Numba path equal the reference path's to 1e-5 relative; dx does not depend on
    ``param_grads``, and ``param_grads=False`` adds nothing to the gradients."""
    import scratchcnn as sc
    rng = np.random.default_rng(7)
    x, dy = rng.standard_normal((4, 3, 5, 7), dtype=np.float32), \
        rng.standard_normal((4, 3, 5, 7), dtype=np.float32)
    results = []
    for reference_only in (False, True):
        layer = sc.BatchNorm2D(3)
        layer.params["gamma"][...], layer.params["beta"][...] = [1.5, 0.5, -1], [0.1, 0, -2]
        layer.buffers["running_mean"][...], layer.buffers["running_var"][...] = 0.3, 2
        layer.training = training
        with sc.use_reference(reference_only):
            y = layer.forward(x)
            dx = layer.backward(dy, param_grads=param_grads, input_grad=input_grad)
            first = [g.copy() for g in layer.grads.values()]
            full_dx = layer.backward(dy)                  # both: adds dL/dgamma, dL/dbeta
        grads = [g - g_first for g, g_first in zip(layer.grads.values(), first)]
        assert (dx is None) != input_grad
        if input_grad:
            close(dx, full_dx, np.float32)
        for g_first, g in zip(first, grads):
            close(g_first, g if param_grads else 0 * g, np.float32)
        results.append([y, full_dx, layer.buffers["running_mean"], layer.buffers["running_var"]]
                       + grads)
    for fast_value, reference_value in zip(*results):
        close(fast_value, reference_value, np.float32)


LAYOUT_CASES = [(64, 32, 26, 26), (1, 1, 1, 1), (3, 5, 7, 2), (2, 7, 1, 9)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", LAYOUT_CASES, ids=str)
def test_relu_and_layout_kernels_match_reference(backend, dtype, shape):
    """relu_forward, columns_to_nchw and nchw_to_columns: exact (no sums involved)."""
    kernels, put, get = kernels_of(backend)
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
    into = put(np.zeros(shape, dtype))
    assert kernels.columns_to_nchw(put(columns), put(bias), n, oh, ow, into=into) is into
    assert np.array_equal(get(into), get(nchw))
    back = kernels.nchw_to_columns(put(x))
    assert np.array_equal(get(back), reference.nchw_to_columns(x))
    assert np.array_equal(get(kernels.relu_forward(put(x))[0]), get(y))   # same bits again


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", [(9216, 64), (64,), (3, 5, 7)], ids=str)
def test_adam_update_matches_reference(backend, dtype, shape):
    """Five Adam steps (optim.Adam's scalars for steps 1-5, zero and tiny gradients
    included) by the fast kernel and by the reference: param, m and v agree (``close``),
    the same bits on a second run. A strided param takes the reference (its flat view
    would be a copy): its update is not lost."""
    kernels, put, get = kernels_of(backend)
    rng = np.random.default_rng(21)
    b1, b2, lr, eps = 0.9, 0.999, 1e-3, 1e-8

    def five_steps(update, arrays):
        param, m, v = arrays
        for t in range(1, 6):
            grad = rng_steps.standard_normal(shape).astype(dtype)
            grad.flat[::4] = 0
            grad.flat[1::4] *= 1e-9
            update(param, put(grad), m, v, b1, b2, lr / (1 - b1 ** t), 1 - b2 ** t, eps)
        return [get(a) for a in (param, m, v)]

    start = rng.standard_normal(shape).astype(dtype)
    rng_steps = np.random.default_rng(22)
    expected = five_steps(reference.adam_update, [start.copy(), np.zeros(shape, dtype),
                                                  np.zeros(shape, dtype)])
    assert np.abs(expected[0] - start).max() > 1e-3                  # the steps moved it
    results = []
    for _ in range(2):
        rng_steps = np.random.default_rng(22)
        results.append(five_steps(kernels.adam_update, [put(start.copy()),
                                                         put(np.zeros(shape, dtype)),
                                                         put(np.zeros(shape, dtype))]))
    for got, want in zip(results[0], expected):
        assert got.dtype == dtype
        close(got, want, dtype)
    assert all(np.array_equal(a, b) for a, b in zip(*results))           # same bits
    if backend == "cpu" and len(shape) == 2:
        wide = np.zeros((shape[0], 2 * shape[1]), dtype)
        strided = wide[:, ::2]
        strided[...] = start
        grad, m, v = np.ones(shape, dtype), np.zeros(shape, dtype), np.zeros(shape, dtype)
        cpu.adam_update(strided, grad, m, v, b1, b2, lr / (1 - b1), 1 - b2, eps)
        close(strided, start - dtype(lr / (1 + eps)), dtype)  # step 1: lr g / (|g| + eps)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", [(5, 3, 2, 4, 6, 9), (1, 1, 1, 1, 1, 1), (7, 4, 3, 3, 5, 3)],
                         ids=str)
def test_subtract_into_band_matches_reference_and_by_hand(dtype, shape):
    """The occlusion cone's band (reference.subtract_into_band): row r of occluder b's
    band is row top[b] + r of (new map - old map), where the new map is the old one with
    the box replaced by the occluder's values: built here by pasting, one occluder at a
    time. Outside the boxes the band keeps what it held (here 7). Exact: one subtraction."""
    b, k, bh, bw, h, w = shape
    rng = np.random.default_rng(8)
    values = rng.standard_normal((b, k, bh, bw)).astype(dtype)
    maps = rng.standard_normal((k, h, w)).astype(dtype)
    top, left = rng.integers(0, h - bh + 1, b), rng.integers(0, w - bw + 1, b)
    left[0] = w - bw                                  # one box at the right edge
    expected = np.full((b, bh, k, w), 7, dtype)
    for i in range(b):
        new = maps.copy()
        new[:, top[i]:top[i] + bh, left[i]:left[i] + bw] = values[i]
        rows = slice(top[i], top[i] + bh)
        change = (new - maps)[:, rows].transpose(1, 0, 2)                       # (bh, K, W)
        inside = np.zeros(w, bool)
        inside[left[i]:left[i] + bw] = True
        expected[i][:, :, inside] = change[:, :, inside]
    for kernels in (reference, cpu):
        band = np.full((b, bh, k, w), 7, dtype)
        assert kernels.subtract_into_band(values, maps, top, left, band) is band
        assert np.array_equal(band, expected), kernels.__name__


BATCHNORM_CASES = [(3, 5, 7, 6), (64, 8, 28, 28), (2, 64, 4, 4), (1, 3, 1, 2), (4, 2, 1, 9)]


def check_batchnorm_kernels(kernels, put, get, x, dy, dtype):
    """The four batch norm kernels of ``kernels`` against the reference, step by step
    as BatchNorm2D calls them: statistics of x, forward, the backward sums for dy, dx.
    Sums agree to TOL; the elementwise kernels give exactly the reference's bits."""
    rng = np.random.default_rng(6)
    c = x.shape[1]
    gamma, beta = (rng.uniform(0.5, 1.5, c).astype(dtype), rng.standard_normal(c).astype(dtype))
    mean_ref, var_ref = reference.batchnorm_statistics(x)
    mean, var = kernels.batchnorm_statistics(put(x))
    close(get(mean), mean_ref, dtype)
    close(get(var), var_ref, dtype)
    inv_std = 1 / (var_ref + dtype(1e-5)) ** 0.5
    x_hat_ref, y_ref = reference.batchnorm_forward(x, mean_ref, inv_std, gamma, beta)
    x_hat, y = kernels.batchnorm_forward(put(x), *map(put, (mean_ref, inv_std, gamma, beta)))
    assert np.array_equal(get(x_hat), x_hat_ref) and np.array_equal(get(y), y_ref)
    sums_ref = reference.batchnorm_backward_sums(dy, x_hat_ref)
    sums = kernels.batchnorm_backward_sums(put(dy), put(x_hat_ref))
    for value, expected in zip(sums, sums_ref):
        close(get(value), expected, dtype)
    means = [gamma * s / (x.size // c) for s in sums_ref]
    dx_ref = reference.batchnorm_input_grad(dy, x_hat_ref, gamma, inv_std, *means)
    dx = kernels.batchnorm_input_grad(put(dy), put(x_hat_ref), *map(put, [gamma, inv_std] + means))
    assert np.array_equal(get(dx), dx_ref)
    again = kernels.batchnorm_backward_sums(put(dy), put(x_hat_ref))        # deterministic bits
    assert all(np.array_equal(get(a), get(b)) for a, b in zip(again, sums))
    assert np.array_equal(get(kernels.batchnorm_statistics(put(x))[1]), get(var))


def batchnorm_inputs(shape, dtype, layout):
    """x around 3 with spread 2 (a mean far from 0 tests the variance's accuracy) and dy;
    ``layout="strided"``: both as non-contiguous views (channel-major storage)."""
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(shape) * 2 + 3, rng.standard_normal(shape)]
    if layout == "strided":
        arrays = [np.ascontiguousarray(a.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
                  for a in arrays]
    return [a.astype(dtype, copy=False) for a in arrays]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
@pytest.mark.parametrize("shape", BATCHNORM_CASES, ids=str)
def test_batchnorm_kernels_match_reference(backend, dtype, layout, shape):
    kernels, put, get = kernels_of(backend)
    x, dy = batchnorm_inputs(shape, dtype, layout)
    assert layout == "contiguous" or not x.flags.c_contiguous or 1 in shape[:2]
    check_batchnorm_kernels(kernels, put, get, x, dy, dtype)


def _unbiased_statistics(x):
    mean, var = cpu.batchnorm_statistics(x)
    m = x.size // x.shape[1]
    return mean, var * x.dtype.type(m / (m - 1))


WRONG_BATCHNORM_KERNELS = {     # one wrong function each, the rest the Numba kernels
    "unbiased variance": dict(batchnorm_statistics=_unbiased_statistics),
    "forward without beta": dict(batchnorm_forward=lambda x, mean, inv_std, gamma, beta:
                                 cpu.batchnorm_forward(x, mean, inv_std, gamma, 0 * beta)),
    "sums swapped": dict(batchnorm_backward_sums=lambda dy, x_hat:
                         cpu.batchnorm_backward_sums(dy, x_hat)[::-1]),
    "dx without the variance term": dict(
        batchnorm_input_grad=lambda dy, x_hat, gamma, inv_std, mean_dx_hat, mean_dx_hat_x_hat:
        cpu.batchnorm_input_grad(dy, x_hat, gamma, inv_std, mean_dx_hat, 0 * mean_dx_hat_x_hat)),
}


@pytest.mark.parametrize("wrong", WRONG_BATCHNORM_KERNELS)
def test_batchnorm_check_catches_a_wrong_kernel(wrong):
    """Negative control for ``check_batchnorm_kernels``: each wrong twin fails it,
    in float32, on the smallest odd shape."""
    functions = {name: getattr(cpu, name) for name in (
        "batchnorm_statistics", "batchnorm_forward", "batchnorm_backward_sums",
        "batchnorm_input_grad")}
    kernels = types.SimpleNamespace(**{**functions, **WRONG_BATCHNORM_KERNELS[wrong]})
    x, dy = batchnorm_inputs((3, 5, 7, 6), np.float32, "contiguous")
    check_batchnorm_kernels(types.SimpleNamespace(**functions), np.asarray, np.asarray, x, dy,
                            np.float32)                          # the right ones pass
    with pytest.raises(AssertionError):
        check_batchnorm_kernels(kernels, np.asarray, np.asarray, x, dy, np.float32)


def test_every_backend_has_every_kernel_with_the_same_signature():
    """Each fast/<family>.py defines or imports every public function of its plain twin
    reference/<family>.py, with the same arguments, and so does gpu.py for every family
    (parsed, not imported, so this runs without CuPy)."""
    tree = ast.parse((Path(fast.__file__).parent / "gpu.py").read_text())
    gpu_defined = {node.name: [a.arg for a in node.args.args] for node in tree.body
                   if isinstance(node, ast.FunctionDef)}
    gpu_imported = {alias.name for node in tree.body if isinstance(node, ast.ImportFrom)
                    and (node.module or "").startswith("reference") for alias in node.names}
    for family, (plain, numba) in FAMILIES.items():
        public = {name: inspect.signature(f) for name, f in _public(plain).items()
                  if not name.endswith("_loops") and name not in ("conv2d_forward",
                                                                  "conv2d_backward")}
        assert {name: inspect.signature(getattr(numba, name, None) or (lambda: None))
                for name in public} == public, family
        assert set(public) <= set(gpu_defined) | gpu_imported, family
        for name, arguments in gpu_defined.items():
            if name in public:
                assert arguments == list(public[name].parameters), name


def test_close_catches_a_wrong_kernel():
    """Negative control for ``close``: one entry off by 10x the tolerance fails it."""
    expected = np.ones((4, 4), np.float32)
    wrong = expected.copy()
    wrong[2, 3] += 10 * TOL[np.float32]
    close(expected.copy(), expected, np.float32)
    with pytest.raises(AssertionError):
        close(wrong, expected, np.float32)
