"""Winograd F(m x m, 3x3): the transforms, their Numba twins, and Conv2D's eval and training paths.

* The matrices B^T, G, A^T of F(2x2, 3x3) and F(4x4, 3x3) give a 3x3 correlation of one
  tile exactly; F4's A^T and G are the Toom-Cook matrices of its points (0, 1, -1, 1/2,
  -2, infinity), built here from the points.
* The layout, channels innermost: V[6*xi + nu, (n, ty, tx), c] is B^T d B of that tile of
  channel c, computed here tile by tile from the padded input (an independent route);
  for F2 too (the NumPy transforms take either scheme; the Numba ones refuse F2).
* winograd_kernels' four transforms equal their NumPy twins (winograd.py) (float64 to 1e-12
  relative, float32 to 1e-5; ``close`` from test_kernels) with identical bits on a
  second call, over odd, non-square sizes, padding on one axis only, batch 1 and 64,
  with at most 3 thread blocks (``few_blocks``: a block reuses its buffers for several
  images); an ``out``, M or dV of the wrong shape is refused with the expected shape.
* Conv2D in eval mode (Winograd) equals Conv2D in training mode (im2col) to 1e-12
  relative in float64 (``conv3x3`` also in chunks of 1 image, and of 1, 2 and 2), and
  its gradients pass the finite-difference check of test_layers (relative_error < 1e-6).
  The reference path (use_reference) never runs Winograd: it is the plain im2col
  algorithm.
* Negative control: a transform with one wrong sign is caught.
* When it runs: 3x3, stride 1, 16+ input channels, and at least MIN_TILES (512) 4x4 tiles
  in the batch. The other tests run it on any number of tiles (``any_batch``).
* Elsewhere eval mode runs im2col a chunk of images at a time: the whole-batch output
  to 1e-12 in float64, a partial last chunk included.
* Training by Winograd: the adjoints of the three transforms pass the dot-product test
  <T a, b> = <a, T* b> (1e-12; a wrong adjoint fails it), and a training step (forward,
  dL/dx, dL/dW, dL/db, in chunks) equals im2col's to 1e-12 in float64 and passes the
  finite-difference check. It runs wherever Winograd applies, never on the reference path.
"""
import numpy as np
import pytest
from test_kernels import close

from scratchcnn import Conv2D, ops, use_reference
from scratchcnn.gradcheck import check_layer
from scratchcnn.fast import winograd
from scratchcnn.fast import winograd_kernels as cpu_winograd
from scratchcnn.fast.conv2d import winograd_applies, without_winograd
from scratchcnn.fast.winograd import SCHEME
from scratchcnn.reference import winograd as plain_winograd
from scratchcnn.reference.winograd import F2, F4, filter_transform

E = SCHEME.entries          # 36 products: F(4x4, 3x3), what Conv2D runs

CASES = [  # (x shape, padding)
    ((64, 32, 26, 26), (0, 0)),          # the slides' conv2 input
    ((1, 1, 3, 3), (0, 0)),              # a single tile, one output pixel
    ((2, 3, 7, 9), (0, 0)),              # odd output sizes: the last tiles are cut off
    ((3, 2, 8, 5), (1, 1)),
    ((1, 4, 4, 3), (2, 1)),              # padding wider than the image
    ((2, 2, 6, 6), (0, 2)),              # padding on one axis only
    ((5, 3, 1, 7), (1, 0)),              # one image row
    ((40, 3, 5, 4), (1, 1)),             # many images per thread block
]
REAL_MIN_TILES = winograd.MIN_TILES


@pytest.fixture(autouse=True)
def any_batch(monkeypatch):
    """Winograd on any number of tiles, so that small shapes test its algorithm (the
    rule of when it pays is tested by itself, below)."""
    monkeypatch.setattr(winograd, "MIN_TILES", 0)


@pytest.mark.parametrize("scheme", [F2, F4], ids=["F2", "F4"])
def test_one_tile_by_hand(scheme):
    """A^T [(G g G^T) * (B^T d B)] A is the 3x3 correlation of the (m + 2) x (m + 2) tile
    d's m x m windows; with one entry of B^T changed it is not."""
    rng = np.random.default_rng(0)
    m = scheme.m
    d, g = rng.standard_normal((m + 2, m + 2)), rng.standard_normal((3, 3))

    def winograd_tile(bt):
        return scheme.at @ ((scheme.g @ g @ scheme.g.T) * (bt @ d @ bt.T)) @ scheme.at.T
    direct = np.array([[np.sum(d[i:i + 3, j:j + 3] * g) for j in range(m)] for i in range(m)])
    assert np.abs(winograd_tile(scheme.bt) - direct).max() < 1e-12
    wrong = scheme.bt.copy()
    wrong[1, 2] += 0.5
    assert np.abs(winograd_tile(wrong) - direct).max() > 1e-3


def test_f4_matrices_from_their_points():
    """Toom-Cook at the points 0, 1, -1, 1/2, -2 and infinity (Lavin & Gray sec. 4.1):
    A^T[i, j] = p_j^i (infinity: the column (0, 0, 0, 1)), and G's row j is
    (1, p_j, p_j^2) / prod over k != j of (p_j - p_k) (infinity: (0, 0, 1)). B^T is then
    fixed by the by-hand test above. B^T and A^T hold no rounding in float32."""
    points = np.array([0, 1, -1, 0.5, -2])
    vandermonde = points[None, :] ** np.arange(4)[:, None]                 # (4, 5)
    assert np.array_equal(F4.at, np.hstack([vandermonde, [[0], [0], [0], [1]]]))
    for j, p in enumerate(points):
        scale = np.prod([p - q for k, q in enumerate(points) if k != j])
        assert np.allclose(F4.g[j], np.array([1, p, p * p]) / scale, rtol=0, atol=1e-15)
    assert np.array_equal(F4.g[5], [0, 0, 1])
    for exact in (F4.bt, F4.at):
        assert np.array_equal(exact.astype(np.float32).astype(np.float64), exact)


@pytest.fixture
def few_blocks(monkeypatch):
    """At most 3 thread blocks per kernel call, so that on any machine a block owns
    several images and reuses its buffers (the kernels must clear what they reuse)."""
    monkeypatch.setattr(cpu_winograd, "_blocks", lambda n: min(n, 3))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}p{c[1]}")
def test_transform_kernels_match_reference(dtype, case, few_blocks):
    """winograd_kernels' input and output transforms equal their NumPy twins (``close``),
    the same bits twice; an ``out`` that is strided, of the wrong shape or of the wrong
    dtype, and a bias of the wrong length, are refused."""
    shape, padding = case
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(dtype)
    expected_v = plain_winograd.winograd_input(x, padding)
    v = cpu_winograd.winograd_input(x, padding)
    close(v, expected_v, dtype)
    assert np.array_equal(cpu_winograd.winograd_input(x, padding), v)     # same bits
    out = np.empty_like(expected_v)
    assert cpu_winograd.winograd_input(x, padding, out=out) is out
    with pytest.raises(ValueError, match="C-contiguous"):
        cpu_winograd.winograd_input(x, padding, out=np.empty(out.shape + (2,), dtype)[..., 0])
    with pytest.raises(ValueError, match=r"out must have shape \(36, "):
        cpu_winograd.winograd_input(x, padding,
                                    out=np.empty(out.shape[:2] + (shape[1] + 1,), dtype))

    n, _, h, w = shape
    oh, ow = h + 2 * padding[0] - 2, w + 2 * padding[1] - 2
    m = rng.standard_normal((E, v.shape[1], 3)).astype(dtype)
    bias = rng.standard_normal(3).astype(dtype)                    # a different bias per channel
    expected_y = plain_winograd.winograd_output(m, bias, np.empty((n, 3, oh, ow), dtype))
    y = cpu_winograd.winograd_output(m, bias, np.empty((n, 3, oh, ow), dtype))
    close(y, expected_y, dtype)
    assert np.array_equal(cpu_winograd.winograd_output(m, bias, np.empty_like(y)), y)
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        cpu_winograd.winograd_output(m, bias[:2], np.empty_like(y))
    other = np.float32 if dtype == np.float64 else np.float64
    with pytest.raises(ValueError, match="out must have dtype"):
        cpu_winograd.winograd_output(m, bias, np.empty(y.shape, other))
    with pytest.raises(ValueError, match="out must have dtype"):
        cpu_winograd.winograd_input(x, padding, out=np.empty(expected_v.shape, other))
    if n > 1:
        with pytest.raises(ValueError, match="C-contiguous"):
            strided = np.empty((3, n, oh, ow), dtype).transpose(1, 0, 2, 3)
            cpu_winograd.winograd_output(m, bias, strided)


@pytest.mark.parametrize("transforms, scheme", [(cpu_winograd, F4), (plain_winograd, F4),
                                               (plain_winograd, F2)],
                         ids=["numba-F4", "numpy-F4", "numpy-F2"])
def test_channels_innermost(transforms, scheme):
    """V[(m+2)*xi + nu, (n, ty, tx), c] = (B^T d B)[xi, nu] for the (m+2) x (m+2) tile d
    of channel c at rows m*ty.., columns m*tx.. of the zero-padded image n: every tile of
    every channel, computed one at a time from the padded input (float64, 1e-12)."""
    x, padding = np.random.default_rng(9).standard_normal((3, 5, 11, 6)), (1, 0)
    m, t = scheme.m, scheme.m + 2
    th, tw = plain_winograd.winograd_tiles(11, 6, padding, scheme)
    padded = np.zeros((3, 5, m * th + 2, m * tw + 2))
    padded[:, :, 1:12, 0:6] = x
    v = transforms.winograd_input(x, padding, scheme=scheme)
    assert v.shape == (t * t, 3 * th * tw, 5)
    for n in range(3):
        for ty in range(th):
            for tx in range(tw):
                for c in range(5):
                    d = padded[n, c, m * ty:m * ty + t, m * tx:m * tx + t]
                    row = (n * th + ty) * tw + tx
                    assert np.abs(v[:, row, c].reshape(t, t)
                                  - scheme.bt @ d @ scheme.bt.T).max() < 1e-12


@pytest.mark.parametrize("call", [
    lambda: cpu_winograd.winograd_input(np.zeros((1, 2, 6, 6)), (0, 0), scheme=F2),
    lambda: cpu_winograd.winograd_output(np.zeros((16, 4, 2)), np.zeros(2),
                                         np.empty((1, 2, 4, 4)), scheme=F2),
    lambda: cpu_winograd.winograd_output_adjoint(np.zeros((1, 2, 4, 4)), scheme=F2),
    lambda: cpu_winograd.winograd_input_adjoint(np.zeros((16, 4, 2)), (1, 2, 6, 6), (0, 0),
                                                scheme=F2)],
    ids=["input", "output", "output-adjoint", "input-adjoint"])
def test_numba_transforms_refuse_f2(call):
    """The Numba kernels are written for 6x6 tiles: F2 (arrays of its shapes) is refused
    by name, not misread."""
    with pytest.raises(ValueError, match=r"written for F\(4x4, 3x3\).*F\(2x2, 3x3\)"):
        call()


@pytest.mark.parametrize("scheme", [F2, F4], ids=["F2", "F4"])
def test_both_schemes_give_the_convolution(scheme):
    """The NumPy transforms of either scheme, with U = G g G^T and the products
    M[k] = V[k] U[k]^T, give im2col's convolution (Conv2D in training mode) on an odd,
    padded geometry (float64, 1e-12 relative)."""
    rng = np.random.default_rng(14)
    x, padding = rng.standard_normal((2, 3, 9, 7)), (1, 0)
    layer = Conv2D(3, 4, 3, padding=padding).astype(np.float64)
    with without_winograd():
        im2col = layer.forward(x)
    v = plain_winograd.winograd_input(x, padding, scheme=scheme)
    u = filter_transform(layer.params["W"], scheme)
    out = plain_winograd.winograd_output(v @ u.transpose(0, 2, 1), layer.params["b"],
                                   np.empty_like(im2col), scheme)
    assert np.abs(out - im2col).max() <= 1e-12 * np.abs(im2col).max()


@pytest.mark.parametrize("transforms", [cpu_winograd, plain_winograd], ids=["numba", "numpy"])
@pytest.mark.parametrize("per_chunk", [1, 2, None],
                         ids=["one-image-chunks", "chunks-1-2-2", "one-chunk"])
def test_conv3x3_gives_the_convolution(monkeypatch, transforms, per_chunk):
    """conv3x3 on 5 images (in chunks of one image; of 1, 2 and 2; or all in one) equals
    im2col's convolution (Conv2D in training mode) to 1e-12 in float64."""
    rng = np.random.default_rng(9)
    x, padding = rng.standard_normal((5, 20, 7, 6)), (1, 0)
    tiles = int(np.prod(plain_winograd.winograd_tiles(7, 6, padding)))              # 2 x 1
    if per_chunk:                     # bytes for per_chunk images' V and M (C + O = 24)
        monkeypatch.setattr(winograd, "chunk_bytes", lambda: per_chunk * E * 24 * tiles * 8)
    layer = Conv2D(20, 4, 3, padding=padding).astype(np.float64)
    with without_winograd():
        im2col = layer.forward(x)
    out, buffers = np.empty_like(im2col), {}
    winograd.conv3x3(x, layer.params["W"], layer.params["b"], padding, transforms, out,
                     lambda key, shape, like: buffers.setdefault(key, np.empty(shape)))
    assert np.abs(out - im2col).max() <= 1e-12 * np.abs(im2col).max()
    assert buffers["winograd_m"].size == E * (per_chunk or 5) * tiles * 4   # rows x O


def eval_and_train_outputs(layer, x):
    """(eval-mode output, training-mode output by im2col); the first must have run
    Winograd (its buffers are there), the second im2col (its patch matrix is kept; a
    training batch would take Winograd too, so it is turned off)."""
    layer.training = False
    layer.workspace.clear()
    fast = layer.forward(x)
    assert "winograd_m" in layer.workspace, "the eval forward did not take the Winograd path"
    layer.training = True
    with without_winograd():
        im2col = layer.forward(x)
    assert layer.saved["cols"] is not None
    return fast, im2col


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}p{c[1]}")
def test_eval_conv_equals_im2col_conv(monkeypatch, case):
    shape, padding = case
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    rng = np.random.default_rng(3)
    layer = Conv2D(shape[1], 5, 3, padding=padding).astype(np.float64)
    x = rng.standard_normal(shape)
    fast, im2col = eval_and_train_outputs(layer, x)
    assert fast.shape == im2col.shape
    assert np.abs(fast - im2col).max() <= 1e-12 * np.abs(im2col).max()


def test_the_reference_path_never_runs_winograd():
    """use_reference() is the plain algorithm: an eval forward builds the patch matrix,
    and gives the training-mode (im2col) output to the bit."""
    layer = Conv2D(16, 4, 3, padding=1).astype(np.float64)
    x = np.random.default_rng(7).standard_normal((2, 16, 6, 6))
    with use_reference():
        assert not ops.runs_fast(x)
        layer.training = False
        evaluated = layer.forward(x)
        assert layer.saved["cols"] is not None and not layer.workspace  # plain im2col
        layer.training = True
        np.testing.assert_array_equal(evaluated, layer.forward(x))
    assert ops.runs_fast(x)
    assert winograd_applies(x, layer.params["W"], layer.stride, layer.padding)


def test_float32_eval_conv_stays_close_to_im2col():
    rng = np.random.default_rng(4)
    layer = Conv2D(32, 64, 3)
    x = rng.standard_normal((4, 32, 12, 12)).astype(np.float32)
    fast, im2col = eval_and_train_outputs(layer, x)
    assert fast.dtype == np.float32
    close(fast, im2col, np.float32)


@pytest.mark.parametrize("padding", [0, 1])
def test_eval_conv_gradients(rng, padding):
    """Winograd forward, then dx by col2im and dW from a patch matrix built on demand."""
    layer = Conv2D(16, 3, 3, padding=padding).astype(np.float64)
    layer.training = False
    x = rng.standard_normal((2, 16, 5, 6))
    layer.forward(x)
    assert layer.saved["cols"] is None                              # Winograd ran
    errors = check_layer(layer, x)
    assert max(errors.values()) < 1e-6, errors


def ran_winograd(conv, training=False, width=8, batch=1):
    """Whether a forward of conv took the Winograd path (its buffers are the sign)."""
    conv.training = training
    conv.workspace.clear()
    conv.forward(np.zeros((batch, conv.in_channels, 8, width), np.float32))
    return "winograd_m" in conv.workspace


def test_when_winograd_is_used():
    assert ran_winograd(Conv2D(16, 8, 3))
    assert ran_winograd(Conv2D(16, 8, 3, padding=1))
    assert ran_winograd(Conv2D(16, 8, 3), training=True)
    conv = Conv2D(16, 8, 3)
    with without_winograd():
        assert not ran_winograd(conv) and not ran_winograd(conv, training=True)
    for other in (Conv2D(16, 8, 3, stride=2), Conv2D(16, 8, 5), Conv2D(8, 8, 3)):
        assert not ran_winograd(other) and not ran_winograd(other, training=True)


def test_when_winograd_pays(monkeypatch):
    """From MIN_TILES (512) 4x4 tiles in the batch on: 15 MNIST images at conv2 (26x26
    in, 36 tiles each: 540), not 14 (504); 32 14x14 maps padded by 1 (16 tiles each), not
    31; 128 7x7 maps padded by 1 (4 tiles each, the last ones cut off), not 127. Never
    with 8 input channels."""
    assert REAL_MIN_TILES == 512
    monkeypatch.setattr(winograd, "MIN_TILES", REAL_MIN_TILES)
    weights, stride = (64, 32, 3, 3), (1, 1)
    for width, padding, tiles, fewest_images in ((26, 0, 36, 15), (14, 1, 16, 32),
                                                 (7, 1, 4, 128)):
        assert np.prod(plain_winograd.winograd_tiles(width, width, (padding, padding))) == tiles
        assert not winograd.applies((fewest_images - 1, 32, width, width), weights, stride,
                                    (padding,) * 2)
        assert winograd.applies((fewest_images, 32, width, width), weights, stride,
                                (padding,) * 2)
    assert winograd.applies((15, 32, 26, 26), weights, stride, (0, 0))
    assert not winograd.applies((14, 32, 26, 26), weights, stride, (0, 0))
    assert winograd.applies((1, 32, 3, 2050), weights, stride, (0, 0))   # one row of 512
    assert not winograd.applies((1, 32, 3, 2046), weights, stride, (0, 0))  # ... of 511
    assert not winograd.applies((64, 32, 26, 26), (64, 8, 3, 3), stride, (0, 0))  # 8 channels
    assert not winograd.applies((64, 32, 26, 26), weights, (2, 2), (0, 0))
    assert not winograd.applies((64, 32, 26, 26), (64, 32, 5, 5), stride, (0, 0))
    # 8x8 in, a 2x2 grid of 4x4 tiles each: 512 tiles from 128 images on, not 127 (508)
    assert ran_winograd(Conv2D(16, 8, 3), batch=128)
    assert not ran_winograd(Conv2D(16, 8, 3), batch=127)


def test_a_wrong_transform_is_caught():
    """Negative control for the checker ``close`` that the twin tests use: a V with one
    tile entry's sign flipped (as a B^T with a wrong entry would give) must fail it."""
    x = np.random.default_rng(5).standard_normal((2, 3, 6, 6))
    v = cpu_winograd.winograd_input(x, (0, 0))
    wrong = v.copy()
    wrong[5] *= -1
    with pytest.raises(AssertionError):
        close(wrong, plain_winograd.winograd_input(x, (0, 0)), np.float64)


def test_filter_transform_layout():
    g = np.random.default_rng(6).standard_normal((4, 3, 3, 3))
    u = filter_transform(g)
    assert u.shape == (36, 4, 3)
    assert np.allclose(u[:, 2, 1].reshape(6, 6), F4.g @ g[2, 1] @ F4.g.T)
    assert np.allclose(filter_transform(g, F2)[:, 2, 1].reshape(4, 4),
                       F2.g @ g[2, 1] @ F2.g.T)


@pytest.mark.parametrize("case", [((5, 1, 9, 8), 3, 1, 0), ((5, 3, 11, 7), 5, 2, 2),
                                  ((3, 16, 6, 6), 3, 1, 1)],
                         ids=["one-channel", "5x5-stride2", "small-plane"])
def test_eval_conv_in_chunks_equals_im2col(monkeypatch, case):
    """Where Winograd does not run, eval mode builds the patch matrix a chunk of images
    at a time (fast/conv2d.py): the training-mode (whole-batch) output to
    1e-12 in float64, with chunks of 2 images, so that the last one is partial."""
    monkeypatch.setattr(winograd, "MIN_TILES", 10 ** 9)       # no Winograd
    shape, kernel, stride, padding = case
    layer = Conv2D(shape[1], 4, kernel, stride=stride, padding=padding).astype(np.float64)
    per_image = (layer.params["W"][0].size + 4) * np.prod(layer.output_shape(shape)[2:]) * 8
    monkeypatch.setattr(winograd, "chunk_bytes", lambda: 2 * per_image)
    x = np.random.default_rng(8).standard_normal(shape)
    layer.training = False
    chunked = layer.forward(x)
    assert layer.saved["cols"] is None and "chunk_cols" in layer.workspace     # the chunked path ran
    assert layer.workspace["chunk_cols"].size == 2 * layer.params["W"][0].size * \
        np.prod(chunked.shape[2:])                                   # two images per chunk
    layer.training = True
    whole = layer.forward(x)
    assert np.abs(chunked - whole).max() <= 1e-12 * np.abs(whole).max()
    with use_reference():                                    # the reference: plain im2col
        layer.training = False
        layer.forward(x)
        assert layer.saved["cols"] is not None


@pytest.mark.parametrize("scheme", [F2, F4], ids=["F2", "F4"])
@pytest.mark.parametrize("case", CASES[1:], ids=lambda c: f"{c[0]}p{c[1]}")
def test_adjoints_by_the_dot_product(case, scheme):
    """The definition of an adjoint: <T a, b> = <a, T* b> for every a, b. Checked on
    random a, b (float64, 1e-12 relative) for the input, output and filter transforms
    against winograd_input_adjoint, winograd_output_adjoint, filter_transform_adjoint,
    for both schemes. Negative control: the input adjoint with B^T in place of B fails it."""
    shape, padding = case
    rng = np.random.default_rng(11)
    n, c, h, w = shape
    oh, ow = h + 2 * padding[0] - 2, w + 2 * padding[1] - 2

    def agree(left, right):
        return abs(left - right) <= 1e-12 * max(abs(left), abs(right), 1.0)

    x = rng.standard_normal(shape)
    v = plain_winograd.winograd_input(x, padding, scheme=scheme)
    dv = rng.standard_normal(v.shape)
    assert agree(np.sum(v * dv), np.sum(x * plain_winograd.winograd_input_adjoint(
        dv, shape, padding, scheme=scheme)))
    m = rng.standard_normal((scheme.entries, v.shape[1], 3))
    y = plain_winograd.winograd_output(m, np.zeros(3), np.empty((n, 3, oh, ow)), scheme)
    dy = rng.standard_normal(y.shape)
    assert agree(np.sum(y * dy), np.sum(m * plain_winograd.winograd_output_adjoint(
        dy, scheme=scheme)))
    g = rng.standard_normal((3, c, 3, 3))
    u = filter_transform(g, scheme)
    du = rng.standard_normal(u.shape)
    assert agree(np.sum(u * du), np.sum(g * plain_winograd.filter_transform_adjoint(du, scheme)))
    wrong = scheme._replace(bt=scheme.bt.T)                            # a wrong adjoint
    assert not agree(np.sum(v * dv), np.sum(x * plain_winograd.winograd_input_adjoint(
        dv, shape, padding, scheme=wrong)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}p{c[1]}")
def test_adjoint_kernels_match_reference(dtype, case, few_blocks):
    """winograd_kernels' adjoints equal their NumPy twins (``close``), the same bits twice."""
    shape, padding = case
    rng = np.random.default_rng(12)
    n, c, h, w = shape
    oh, ow = h + 2 * padding[0] - 2, w + 2 * padding[1] - 2
    dy = rng.standard_normal((n, 3, oh, ow)).astype(dtype)
    expected = plain_winograd.winograd_output_adjoint(dy)
    dm = cpu_winograd.winograd_output_adjoint(dy)
    close(dm, expected, dtype)
    assert np.array_equal(cpu_winograd.winograd_output_adjoint(dy), dm)
    out = np.empty_like(dm)
    assert cpu_winograd.winograd_output_adjoint(dy, out=out) is out
    dv = rng.standard_normal((E, dm.shape[1], c)).astype(dtype)    # the same tile rows
    expected = plain_winograd.winograd_input_adjoint(dv, shape, padding)
    dx = cpu_winograd.winograd_input_adjoint(dv, shape, padding)
    close(dx, expected, dtype)
    assert np.array_equal(cpu_winograd.winograd_input_adjoint(dv, shape, padding), dx)
    with pytest.raises(ValueError, match="dv must have shape"):
        cpu_winograd.winograd_input_adjoint(dv[:, :-1], shape, padding)
    with pytest.raises(ValueError, match="out must have shape"):
        cpu_winograd.winograd_input_adjoint(dv, shape, padding, out=np.empty((n + 1,) + shape[1:]))
    with pytest.raises(ValueError, match="out must have shape"):
        cpu_winograd.winograd_output_adjoint(dy, out=np.empty(dm.shape[:2] + (4,), dtype))
    with pytest.raises(ValueError, match="products must have shape"):
        cpu_winograd.winograd_output(dm[:, :, :2], np.zeros(3, dtype), np.empty(dy.shape, dtype))
    for transforms in (cpu_winograd, plain_winograd):
        out = np.empty(shape, dtype)
        assert transforms.winograd_input_adjoint(dv, shape, padding, out=out) is out
        close(out, expected, dtype)


@pytest.mark.parametrize("padding", [0, 1])
def test_training_by_winograd_equals_im2col_and_finite_differences(monkeypatch, padding):
    """A training step of Conv2D by Winograd (a batch of 5 in chunks of 1, 2 and 2) gives
    im2col's y, dL/dx, dL/dW and dL/db to 1e-12 in float64, with param_grads or
    input_grad off too, and a second backward after the same forward again; it passes
    the finite-difference check of test_layers (relative_error < 1e-6)."""
    tiles = int(np.prod(plain_winograd.winograd_tiles(5, 6, (padding, padding))))
    monkeypatch.setattr(winograd, "chunk_bytes",                     # chunks of 1, 2, 2
                        lambda: 2 * E * (16 + 3) * tiles * 8 // winograd.TRAINING_CHUNK_FACTOR)
    rng = np.random.default_rng(13)
    layer = Conv2D(16, 3, 3, padding=padding).astype(np.float64)
    plain = Conv2D(16, 3, 3, padding=padding).astype(np.float64)
    plain.params["W"][...], plain.params["b"][...] = layer.params["W"], layer.params["b"]
    x = rng.standard_normal((5, 16, 5, 6))
    dy = rng.standard_normal(layer.output_shape(x.shape))

    def step(conv, **flags):
        conv.training = True
        y = conv.forward(x)
        conv.zero_grad()
        dx = conv.backward(dy, **flags)
        return y, dx, {key: grad.copy() for key, grad in conv.grads.items()}

    def agree(a, b):
        return np.abs(a - b).max() <= 1e-12 * np.abs(b).max()

    def im2col_step(**flags):
        with without_winograd():
            return step(plain, **flags)

    for flags in ({}, {"param_grads": False}, {"input_grad": False}):
        plain.training = layer.training = True
        with without_winograd():
            plain.forward(x)
        assert plain.saved["winograd"] is None and plain.saved["cols"] is not None      # im2col ran
        layer.forward(x)
        assert layer.saved["winograd"] is not None and layer.saved["cols"] is None      # Winograd ran
        plain_y, plain_dx, plain_grads = im2col_step(**flags)
        y, dx, grads = step(layer, **flags)
        assert agree(y, plain_y)
        assert (dx is None) == (plain_dx is None) and (dx is None or agree(dx, plain_dx))
        for key in grads:
            assert agree(grads[key], plain_grads[key]) if flags.get("param_grads", True) \
                else not grads[key].any()
    layer.forward(x)
    layer.zero_grad()
    layer.backward(dy)
    assert agree(layer.backward(dy), im2col_step()[1])            # a second backward
    assert agree(layer.grads["W"], 2 * plain.grads["W"])        # the grads add up
    errors = check_layer(layer, x)                  # training mode: the Winograd path
    assert max(errors.values()) < 1e-6, errors


def test_when_training_takes_winograd(monkeypatch):
    """A training step takes Winograd where an eval forward does (``winograd_applies``:
    MIN_TILES, 512 tiles, is 15 MNIST images at conv2), never on the reference path."""
    monkeypatch.setattr(winograd, "MIN_TILES", REAL_MIN_TILES)
    conv = Conv2D(16, 8, 3)
    for batch, expected in ((15, True), (14, False)):
        conv.workspace.clear()
        conv.training = True
        conv.forward(np.zeros((batch, 16, 26, 26), np.float32))
        assert (conv.saved.get("winograd") is not None) == expected
        assert ("winograd_m" in conv.workspace) == expected
    with use_reference():
        conv.forward(np.zeros((15, 16, 26, 26), np.float32))
        assert conv.saved.get("winograd") is None and conv.saved["cols"] is not None


def test_a_training_step_takes_chunks_training_chunk_factor_times_larger(monkeypatch):
    """With chunk_bytes() room for one image's V and M, eval runs M one image at a time
    and a training step (forward and backward) TRAINING_CHUNK_FACTOR images at a time."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 16, 6, 6))
    tiles = int(np.prod(plain_winograd.winograd_tiles(6, 6, (1, 1))))
    monkeypatch.setattr(winograd, "chunk_bytes", lambda: E * (16 + 4) * tiles * 8)
    layer = Conv2D(16, 4, 3, padding=1).astype(np.float64)
    rows_of_m = {}
    for mode in ("eval", "train"):
        buffers = {}
        scratch = lambda key, shape, like: buffers.setdefault(key, np.empty(shape))  # noqa: E731
        out = np.empty((8, 4, 6, 6))
        if mode == "eval":
            winograd.conv3x3(x, layer.params["W"], layer.params["b"], (1, 1), cpu_winograd,
                             out, scratch)
        else:
            _, saved = winograd.conv3x3_training(x, layer.params["W"], layer.params["b"],
                                                 (1, 1), cpu_winograd, out, scratch)
            winograd.conv3x3_backward(rng.standard_normal(out.shape), saved, x.shape, (1, 1),
                                      cpu_winograd, scratch)
            assert buffers["winograd_dv"].size == E * 4 * tiles * 16
        rows_of_m[mode] = buffers["winograd_m"].size // (E * 4)
    assert rows_of_m == {"eval": tiles, "train": winograd.TRAINING_CHUNK_FACTOR * tiles}


def test_chunks_are_even_and_fit():
    """_chunks: every image once, in order; the fewest chunks that fit (ceil(N / fit));
    sizes that differ by one at most; rows = the chunk's images times the tiles per image."""
    def chunk_sizes(n, fit, per_image=3):
        chunks = list(winograd._chunks(n, 5, per_image, 8, fit * E * 5 * per_image * 8))
        assert [c[0].start for c in chunks] == [0] + [c[0].stop for c in chunks[:-1]]
        assert chunks[-1][0].stop == n
        for images, rows in chunks:
            assert (rows.start, rows.stop) == (images.start * per_image, images.stop * per_image)
        return [c[0].stop - c[0].start for c in chunks]
    assert chunk_sizes(64, 9) == [8] * 8            # not 7 chunks of 9 and one of 1
    assert chunk_sizes(5, 2) == [1, 2, 2]
    assert chunk_sizes(5, 100) == [5]
    assert chunk_sizes(3, 0) == [1, 1, 1]            # at least one image per chunk
    assert chunk_sizes(10, 3) == [2, 3, 2, 3]
