"""Winograd F(2x2, 3x3): the transforms, their Numba twins, and Conv2D's eval and training paths.

* The matrices B^T, G, A^T give a 3x3 correlation of one 4x4 tile exactly.
* cpu_winograd.winograd_input / winograd_output equal their NumPy twins (winograd.py) (float64 to 1e-12
  relative, float32 to 1e-5; ``close`` from test_kernels) with identical bits on a
  second call, over odd, non-square sizes, padding on one axis only, batch 1 and 64.
* Conv2D in eval mode (Winograd) equals Conv2D in training mode (im2col) to 1e-12
  relative in float64, and its gradients pass the finite-difference check of
  test_layers (relative_error < 1e-6). The reference path (use_reference) never
  runs Winograd: it is the plain im2col algorithm.
* Negative control: a transform with one wrong sign is caught.
* When it runs: 3x3, stride 1, 16+ input channels, and a batch of at least
  ``image_lanes`` images (then side by side in the transforms) or rows of at least
  ``min_tiles_per_row()`` output tiles (12 with AVX's 8 lanes, 6 with SSE's 4). The
  other tests run it on small planes (``any_plane_size``). With images side by side
  (lanes 2 and 4, a padded last group) it gives im2col's convolution.
* Elsewhere eval mode runs im2col a chunk of images at a time: the whole-batch output
  to 1e-12 in float64, a partial last chunk included.
* Training by Winograd: the adjoints of the three transforms pass the dot-product test
  <T a, b> = <a, T* b> (1e-12; a wrong adjoint fails it), their Numba twins equal the
  NumPy ones, and a training step (forward, dL/dx, dL/dW, dL/db, in chunks) equals
  im2col's to 1e-12 in float64 and passes the finite-difference check. It runs where the
  batch fills the lanes and the rows hold WIDE_ROW_TILES tiles.
"""
import numpy as np
import pytest
from test_kernels import close

from scratchcnn import Conv2D, use_reference
from scratchcnn.gradcheck import check_layer
from scratchcnn.kernels import cpu_winograd, fast_conv2d_applies, im2col_chunks, winograd
from scratchcnn.kernels.winograd import WINOGRAD_AT, WINOGRAD_BT, WINOGRAD_G, filter_transform

CASES = [  # (x shape, padding)
    ((64, 32, 26, 26), (0, 0)),          # the slides' conv2 input
    ((1, 1, 3, 3), (0, 0)),              # a single tile, one output pixel
    ((2, 3, 7, 9), (0, 0)),              # odd output sizes: the last tiles are cut off
    ((3, 2, 8, 5), (1, 1)),
    ((1, 4, 4, 3), (2, 1)),              # padding wider than the image
    ((2, 2, 6, 6), (0, 2)),              # padding on one axis only
    ((5, 3, 1, 7), (1, 0)),              # one image row
]


@pytest.fixture(autouse=True)
def any_plane_size(monkeypatch):
    """Winograd on planes of every width, so that small shapes test its algorithm (the
    rule of when it pays is tested by itself, below)."""
    monkeypatch.setattr(winograd, "MIN_ROW_VECTORS", 0)


def test_one_tile_by_hand():
    """A^T [(G g G^T) * (B^T d B)] A is the 3x3 correlation of d's four windows."""
    rng = np.random.default_rng(0)
    d, g = rng.standard_normal((4, 4)), rng.standard_normal((3, 3))
    y = WINOGRAD_AT @ ((WINOGRAD_G @ g @ WINOGRAD_G.T) * (WINOGRAD_BT @ d @ WINOGRAD_BT.T)) \
        @ WINOGRAD_AT.T
    direct = np.array([[np.sum(d[i:i + 3, j:j + 3] * g) for j in range(2)] for i in range(2)])
    assert np.abs(y - direct).max() < 1e-12


@pytest.mark.parametrize("lanes", [1, 4], ids=["rows", "4-lanes"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}p{c[1]}")
def test_transform_kernels_match_reference(dtype, case, lanes):
    """lanes=4: images side by side, batches of 1, 2, 3 and 5 padded with zero images."""
    shape, padding = case
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(dtype)
    expected_v = winograd.winograd_input(x, padding, lanes=lanes)
    v = cpu_winograd.winograd_input(x, padding, lanes=lanes)
    close(v, expected_v, dtype)
    assert np.array_equal(cpu_winograd.winograd_input(x, padding, lanes=lanes), v)  # same bits
    out = np.empty_like(expected_v)
    assert cpu_winograd.winograd_input(x, padding, out=out, lanes=lanes) is out
    with pytest.raises(ValueError, match="C-contiguous"):
        cpu_winograd.winograd_input(x, padding, out=np.empty(out.shape + (2,), dtype)[..., 0])

    n, _, h, w = shape
    oh, ow = h + 2 * padding[0] - 2, w + 2 * padding[1] - 2
    m = rng.standard_normal((16, 3, v.shape[2])).astype(dtype)
    bias = rng.standard_normal(3).astype(dtype)
    expected_y = winograd.winograd_output(m, bias, np.empty((n, 3, oh, ow), dtype), lanes=lanes)
    y = cpu_winograd.winograd_output(m, bias, np.empty((n, 3, oh, ow), dtype), lanes=lanes)
    close(y, expected_y, dtype)
    assert np.array_equal(cpu_winograd.winograd_output(m, bias, np.empty_like(y), lanes=lanes), y)
    if n > 1:
        with pytest.raises(ValueError, match="C-contiguous"):
            cpu_winograd.winograd_output(m, bias, np.empty((3, n, oh, ow), dtype).transpose(1, 0, 2, 3))


@pytest.mark.parametrize("transforms", [cpu_winograd, winograd], ids=["numba", "numpy"])
@pytest.mark.parametrize("lanes", [2, 4])
def test_images_side_by_side_give_the_convolution(transforms, lanes):
    """conv3x3 with lanes images side by side (5 images: the last group padded) equals
    im2col's convolution (Conv2D in training mode) to 1e-12 in float64; in V, the
    columns of the padded images are zeros, the columns of image 4 (group 1, lane 0 or
    4 % lanes) are that image's tiles of the lanes=1 layout."""
    rng = np.random.default_rng(9)
    channels = 40            # more (group, channel) planes than the kernel's thread blocks:
    x, padding = rng.standard_normal((5, channels, 7, 6)), (1, 0)   # a block's buffer is reused
    layer = Conv2D(channels, 4, 3, padding=padding).astype(np.float64)
    im2col = layer.forward(x)
    out, buffers = np.empty_like(im2col), {}
    winograd.conv3x3(x, layer.params["W"], layer.params["b"], padding, transforms, out,
                     lambda key, shape, like: buffers.setdefault(key, np.empty(shape)),
                     lanes=lanes)
    assert np.abs(out - im2col).max() <= 1e-12 * np.abs(im2col).max()
    v = transforms.winograd_input(x, padding, lanes=lanes)
    tiles = int(np.prod(winograd.winograd_tiles(7, 6, padding)))
    by_image = v.reshape(16, channels, -1, tiles, lanes)      # (16, C, group, tile, lane)
    assert by_image.shape[2] == -(-5 // lanes)
    assert not by_image[:, :, -1, :, 5 % lanes or lanes:].any()   # images 5 .. : zeros
    rows = transforms.winograd_input(x, padding).reshape(16, channels, 5, tiles)
    close(by_image[:, :, 4 // lanes, :, 4 % lanes], rows[:, :, 4], np.float64)


def eval_and_train_outputs(layer, x):
    """(eval-mode output, training-mode output by im2col); the first must have run
    Winograd (its buffers are there), the second im2col (its patch matrix is kept; a
    training batch that fills the lanes would take Winograd too, so it is turned off)."""
    layer.training = False
    layer._scratch.clear()
    fast = layer.forward(x)
    assert "winograd_m" in layer._scratch, "the eval forward did not take the Winograd path"
    layer.training, layer.use_winograd = True, False
    im2col = layer.forward(x)
    layer.use_winograd = True
    assert layer.cols is not None
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
        assert not fast_conv2d_applies(x, layer.params["W"], layer.stride, layer.padding)
        layer.training = False
        evaluated = layer.forward(x)
        assert layer.cols is not None
        layer.training = True
        np.testing.assert_array_equal(evaluated, layer.forward(x))
    assert fast_conv2d_applies(x, layer.params["W"], layer.stride, layer.padding)


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
    assert layer.cols is None                              # Winograd ran
    errors = check_layer(layer, x)
    assert max(errors.values()) < 1e-6, errors


def ran_winograd(conv, training=False, width=8, batch=1):
    """Whether a forward of conv took the Winograd path (its buffers are the sign)."""
    conv.training = training
    conv._scratch.clear()
    conv.forward(np.zeros((batch, conv.in_channels, 8, width), np.float32))
    return "winograd_m" in conv._scratch


def test_when_winograd_is_used():
    assert ran_winograd(Conv2D(16, 8, 3))
    assert ran_winograd(Conv2D(16, 8, 3, padding=1))
    assert not ran_winograd(Conv2D(16, 8, 3), training=True)     # training, 1 image: im2col
    conv = Conv2D(16, 8, 3)
    conv.use_winograd = False
    assert not ran_winograd(conv)
    for other in (Conv2D(16, 8, 3, stride=2), Conv2D(16, 8, 5), Conv2D(8, 8, 3)):
        assert not ran_winograd(other)


def test_when_winograd_pays(monkeypatch):
    """From a batch that fills the float32 lanes on (8 with AVX, 4 without:
    ``image_lanes``) the transforms put images side by side and Winograd runs on any
    plane. A smaller batch loops over a row of output tiles: Winograd runs where a row
    holds at least 1.5 vectors of them (12 tiles with 8 lanes: the slides' conv2, 26
    columns in, 24 out), not on a 14x14 map (7 tiles with padding 1, 6 without) nor 7x7."""
    monkeypatch.setattr(winograd, "MIN_ROW_VECTORS", 1.5)
    assert winograd.min_tiles_per_row(8) == 12 and winograd.min_tiles_per_row(4) == 6
    assert winograd.image_lanes(7, lanes=8) == 1 and winograd.image_lanes(8, lanes=8) == 8
    assert winograd.image_lanes(3, lanes=4) == 1 and winograd.image_lanes(100, lanes=4) == 4
    # 16 lanes (AVX-512 as Zen 4 compiles it) only on rows of >= 8 tiles, else 8
    assert winograd.image_lanes(256, tiles_per_row=12, lanes=16) == 16
    assert winograd.image_lanes(256, tiles_per_row=6, lanes=16) == 8
    assert winograd.image_lanes(12, tiles_per_row=12, lanes=16) == 8    # fills 8, not 16
    assert winograd.image_lanes(7, tiles_per_row=12, lanes=16) == 1
    lanes = winograd.image_lanes(10 ** 6)
    weights, stride = (64, 32, 3, 3), (1, 1)
    fewest = winograd.min_tiles_per_row()
    for width, padding, tiles in ((26, 0, 12), (24, 1, 12), (23, 0, 11), (14, 1, 7),
                                  (14, 0, 6), (7, 1, 4)):
        assert winograd.winograd_tiles(width, width, (padding, padding))[1] == tiles
        assert winograd.applies((lanes - 1, 32, width, width), weights, stride,
                                (padding,) * 2) == (tiles >= fewest)
        assert winograd.applies((lanes, 32, width, width), weights, stride, (padding,) * 2)
    wide = 2 * fewest + 2                # an unpadded input whose rows hold `fewest` tiles
    assert winograd.applies((1, 32, 3, wide), weights, stride, (0, 0))   # rows count, not H
    assert not winograd.applies((1, 32, wide, 3), weights, stride, (0, 0))
    assert not winograd.applies((8, 32, 26, 26), (64, 8, 3, 3), stride, (0, 0))  # 8 channels
    assert ran_winograd(Conv2D(16, 8, 3), width=wide) and not ran_winograd(Conv2D(16, 8, 3))
    assert ran_winograd(Conv2D(16, 8, 3), batch=lanes)             # 6 columns, side by side


def test_a_wrong_transform_is_caught():
    """Negative control: flip one sign of V (as a B^T with a wrong entry would)."""
    x = np.random.default_rng(5).standard_normal((2, 3, 6, 6))
    v = cpu_winograd.winograd_input(x, (0, 0))
    wrong = v.copy()
    wrong[5] *= -1
    with pytest.raises(AssertionError):
        close(wrong, winograd.winograd_input(x, (0, 0)), np.float64)


def test_filter_transform_layout():
    g = np.random.default_rng(6).standard_normal((4, 3, 3, 3))
    u = filter_transform(g)
    assert u.shape == (16, 4, 3)
    assert np.allclose(u[:, 2, 1].reshape(4, 4), WINOGRAD_G @ g[2, 1] @ WINOGRAD_G.T)


@pytest.mark.parametrize("case", [((5, 1, 9, 8), 3, 1, 0), ((5, 3, 11, 7), 5, 2, 2),
                                  ((3, 16, 6, 6), 3, 1, 1)],
                         ids=["one-channel", "5x5-stride2", "small-plane"])
def test_eval_conv_in_chunks_equals_im2col(monkeypatch, case):
    """Where Winograd does not run, eval mode builds the patch matrix a chunk of images
    at a time (kernels/im2col_chunks.py): the training-mode (whole-batch) output to
    1e-12 in float64, with chunks of 2 images, so that the last one is partial."""
    monkeypatch.setattr(winograd, "MIN_ROW_VECTORS", 1.5)     # small planes: no Winograd
    shape, kernel, stride, padding = case
    layer = Conv2D(shape[1], 4, kernel, stride=stride, padding=padding).astype(np.float64)
    per_image = (layer.params["W"][0].size + 4) * np.prod(layer.output_shape(shape)[2:]) * 8
    monkeypatch.setattr(im2col_chunks, "chunk_bytes", lambda: 2 * per_image)
    x = np.random.default_rng(8).standard_normal(shape)
    layer.training = False
    chunked = layer.forward(x)
    assert layer.cols is None and "chunk_cols" in layer._scratch     # the chunked path ran
    assert layer._scratch["chunk_cols"].size == 2 * layer.params["W"][0].size * \
        np.prod(chunked.shape[2:])                                   # two images per chunk
    layer.training = True
    whole = layer.forward(x)
    assert np.abs(chunked - whole).max() <= 1e-12 * np.abs(whole).max()
    with use_reference():                                    # the reference: plain im2col
        layer.training = False
        layer.forward(x)
        assert layer.cols is not None


@pytest.mark.parametrize("lanes", [1, 4], ids=["rows", "4-lanes"])
@pytest.mark.parametrize("case", CASES[1:], ids=lambda c: f"{c[0]}p{c[1]}")
def test_adjoints_by_the_dot_product(monkeypatch, case, lanes):
    """The definition of an adjoint: <T a, b> = <a, T* b> for every a, b. Checked on
    random a, b (float64, 1e-12 relative) for the input, output and filter transforms
    against winograd_input_adjoint, winograd_output_adjoint, filter_transform_adjoint.
    Negative control: the input adjoint with B^T in place of B fails it."""
    shape, padding = case
    rng = np.random.default_rng(11)
    n, c, h, w = shape
    oh, ow = h + 2 * padding[0] - 2, w + 2 * padding[1] - 2

    def agree(left, right):
        return abs(left - right) <= 1e-12 * max(abs(left), abs(right), 1.0)

    x = rng.standard_normal(shape)
    v = winograd.winograd_input(x, padding, lanes=lanes)
    dv = rng.standard_normal(v.shape)
    assert agree(np.sum(v * dv), np.sum(x * winograd.winograd_input_adjoint(dv, shape, padding,
                                                                           lanes)))
    m = rng.standard_normal((16, 3, v.shape[2]))
    y = winograd.winograd_output(m, np.zeros(3), np.empty((n, 3, oh, ow)), lanes=lanes)
    dy = rng.standard_normal(y.shape)
    assert agree(np.sum(y * dy), np.sum(m * winograd.winograd_output_adjoint(dy, lanes)))
    g = rng.standard_normal((3, c, 3, 3))
    u = filter_transform(g)
    du = rng.standard_normal(u.shape)
    assert agree(np.sum(u * du), np.sum(g * winograd.filter_transform_adjoint(du)))
    monkeypatch.setattr(winograd, "WINOGRAD_BT", WINOGRAD_BT.T)       # a wrong adjoint
    assert not agree(np.sum(v * dv), np.sum(x * winograd.winograd_input_adjoint(
        dv, shape, padding, lanes)))


@pytest.mark.parametrize("lanes", [1, 4], ids=["rows", "4-lanes"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}p{c[1]}")
def test_adjoint_kernels_match_reference(dtype, case, lanes):
    """cpu_winograd's adjoints equal their NumPy twins (``close``), the same bits twice."""
    shape, padding = case
    rng = np.random.default_rng(12)
    n, c, h, w = shape
    oh, ow = h + 2 * padding[0] - 2, w + 2 * padding[1] - 2
    dy = rng.standard_normal((n, 3, oh, ow)).astype(dtype)
    expected = winograd.winograd_output_adjoint(dy, lanes)
    dm = cpu_winograd.winograd_output_adjoint(dy, lanes)
    close(dm, expected, dtype)
    assert np.array_equal(cpu_winograd.winograd_output_adjoint(dy, lanes), dm)
    out = np.empty_like(dm)
    assert cpu_winograd.winograd_output_adjoint(dy, lanes, out=out) is out
    dv = rng.standard_normal((16, c, dm.shape[2])).astype(dtype)   # the same tile columns
    expected = winograd.winograd_input_adjoint(dv, shape, padding, lanes)
    dx = cpu_winograd.winograd_input_adjoint(dv, shape, padding, lanes)
    close(dx, expected, dtype)
    assert np.array_equal(cpu_winograd.winograd_input_adjoint(dv, shape, padding, lanes), dx)


def four_lanes(monkeypatch, any_width=True):
    """Images side by side 4 at a time from a batch of 4 on (any machine), and training
    by Winograd on rows of any width (unless any_width=False)."""
    monkeypatch.setattr(winograd, "image_lanes",
                        lambda n, tiles_per_row=None, lanes=None: 4 if n >= 4 else 1)
    if any_width:
        monkeypatch.setattr(winograd, "WIDE_ROW_TILES", 0)


@pytest.mark.parametrize("padding", [0, 1])
def test_training_by_winograd_equals_im2col_and_finite_differences(monkeypatch, padding):
    """A training step of Conv2D by Winograd (a batch of 5 at 4 lanes: a padded last group;
    chunks of one group, so two chunks) gives im2col's y, dL/dx, dL/dW and dL/db to 1e-12
    in float64, with param_grads or input_grad off too, and a second backward after the
    same forward again; it passes the finite-difference check of test_layers
    (relative_error < 1e-6)."""
    four_lanes(monkeypatch)
    monkeypatch.setattr(winograd, "chunk_bytes", lambda: 1)         # one group per chunk
    rng = np.random.default_rng(13)
    layer = Conv2D(16, 3, 3, padding=padding).astype(np.float64)
    plain = Conv2D(16, 3, 3, padding=padding).astype(np.float64)
    plain.params["W"][...], plain.params["b"][...] = layer.params["W"], layer.params["b"]
    plain.use_winograd = False
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

    for flags in ({}, {"param_grads": False}, {"input_grad": False}):
        plain.training = layer.training = True
        plain.forward(x)
        assert plain.winograd_saved is None and plain.cols is not None      # im2col ran
        layer.forward(x)
        assert layer.winograd_saved is not None and layer.cols is None      # Winograd ran
        plain_y, plain_dx, plain_grads = step(plain, **flags)
        y, dx, grads = step(layer, **flags)
        assert agree(y, plain_y)
        assert (dx is None) == (plain_dx is None) and (dx is None or agree(dx, plain_dx))
        for key in grads:
            assert agree(grads[key], plain_grads[key]) if flags.get("param_grads", True) \
                else not grads[key].any()
    layer.forward(x)
    layer.zero_grad()
    layer.backward(dy)
    assert agree(layer.backward(dy), step(plain)[1])            # a second backward
    assert agree(layer.grads["W"], 2 * plain.grads["W"])        # the grads add up
    errors = check_layer(layer, x)                  # training mode: the Winograd path
    assert max(errors.values()) < 1e-6, errors


def test_when_training_takes_winograd(monkeypatch):
    """kernels.winograd_training: where Winograd applies, the batch fills the lanes (4
    here) and the output rows hold WIDE_ROW_TILES (8) tiles or more (a 6x16 input padded
    by 1: 8 tiles per row; 6x14: 7), never on the reference path; the images side by
    side, else 0."""
    from scratchcnn.kernels import winograd_training
    four_lanes(monkeypatch, any_width=False)
    assert winograd.WIDE_ROW_TILES == 8
    weights, stride, padding = np.zeros((8, 16, 3, 3)), (1, 1), (1, 1)
    assert winograd_training(np.zeros((4, 16, 6, 16)), weights, stride, padding) == 4
    assert winograd_training(np.zeros((4, 16, 6, 14)), weights, stride, padding) == 0
    assert winograd_training(np.zeros((3, 16, 6, 16)), weights, stride, padding) == 0
    assert winograd_training(np.zeros((4, 16, 6, 16)), weights, (2, 2), padding) == 0
    assert winograd_training(np.zeros((4, 8, 6, 16)), np.zeros((8, 8, 3, 3)), stride,
                             padding) == 0
    with use_reference():
        assert winograd_training(np.zeros((4, 16, 6, 16)), weights, stride, padding) == 0
