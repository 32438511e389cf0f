"""Plain NumPy kernels: the readable math of convolution and max pooling.

These are the only loops over pixels in the library (as loops over kernel
offsets, each moving a whole strided slice), and the fast twins in ``cpu.py``
(Numba) and ``gpu.py`` (CuPy) have exactly these signatures and must agree with
them (tests/test_kernels.py).

Conventions
-----------
* Images are NCHW.
* A *patch matrix* ``cols`` has one column per output pixel and one row per
  (channel, kernel row, kernel column): shape ``(C*KH*KW, N*OH*OW)``, rows in
  (c, i, j) order, columns in (n, oh, ow) order (the Caffe/Chainer layout). A
  convolution is then one matrix product ``W.reshape(O, -1) @ cols``: each
  output pixel is a filter (a row of W) dotted with its patch (a column).
* The *switches* of a max pool are, for every output pixel, the flat index
  ``h * W + w`` of the winning input pixel inside its own (n, c) image plane
  (Zeiler & Fergus 2014, sec. 2.1: "switch" variables). Shape = pooled shape,
  dtype int64.
"""
import numpy as np

from ..backend import array_module


def conv_output_size(size, kernel, stride, padding):
    """Output length of a sliding window along one axis (floor mode)."""
    return (size + 2 * padding - kernel) // stride + 1


def im2col(x, kh, kw, stride, padding, out=None):
    """Unfold every (KH, KW) window of ``x`` into a row of a patch matrix.

    x: (N, C, H, W); stride, padding: (sh, sw), (ph, pw)
    returns cols: (C*KH*KW, N*OH*OW), with cols[(c, i, j), (n, oh, ow)] =
    x_padded[n, c, oh*sh + i, ow*sw + j]; written into ``out`` if given.
    """
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    x_padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = np.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    for i in range(kh):          # one strided slice per kernel offset (Chainer's im2col)
        for j in range(kw):
            window = x_padded[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]     # (N, C, OH, OW)
            windows[:, i, j] = window.transpose(1, 0, 2, 3)
    cols = windows.reshape(c * kh * kw, n * oh * ow)
    if out is None:
        return cols
    out[...] = cols
    return out


def col2im(cols, x_shape, kh, kw, stride, padding):
    """The adjoint of ``im2col``: add every patch-matrix entry back onto its pixel.

    cols: (C*KH*KW, N*OH*OW); x_shape: (N, C, H, W)
    returns dx: (N, C, H, W), with dx[n, c, y, x] = sum of every cols entry
    that ``im2col`` copied from that pixel (overlapping windows add up).
    """
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = x_shape
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    windows = cols.reshape(c, kh, kw, n, oh, ow)
    dx_padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):          # each slice touches distinct pixels, so += is exact
        for j in range(kw):
            window = windows[:, i, j].transpose(1, 0, 2, 3)               # (N, C, OH, OW)
            dx_padded[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += window
    return dx_padded[:, :, ph:ph + h, pw:pw + w]


def maxpool_forward(x, kh, kw, stride):
    """Max over every (KH, KW) window, remembering where each maximum was.

    x: (N, C, H, W); stride: (sh, sw)
    returns out: (N, C, OH, OW) and switches: (N, C, OH, OW) int64, the flat
    index h*W + w of the winner in its plane. Ties go to the first offset in
    row-major order (as in PyTorch).
    """
    sh, sw = stride
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kh, sh, 0), conv_output_size(w, kw, sw, 0)
    out = x[:, :, 0:sh * oh:sh, 0:sw * ow:sw].copy()
    rows = np.arange(oh)[:, None] * sh          # top-left corner of each window
    cols = np.arange(ow)[None, :] * sw
    switches = np.broadcast_to(rows * w + cols, out.shape).copy()
    for i in range(kh):
        for j in range(kw):
            if i == 0 and j == 0:
                continue
            candidate = x[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]
            wins = candidate > out               # strictly greater: first max keeps the switch
            out = np.where(wins, candidate, out)
            switches = np.where(wins, (rows + i) * w + (cols + j), switches)
    return out, switches


def max_unpool(values, switches, x_shape):
    """Place each value at its switch in a zero image (Zeiler & Fergus 2014, sec. 2.1: unpooling).

    values, switches: (N, C, OH, OW); x_shape: (N, C, H, W)
    returns (N, C, H, W). Where overlapping windows share a winner, their
    values add up, which makes this exactly the backward pass of
    ``maxpool_forward`` (values = dL/d out).
    """
    n, c, h, w = x_shape
    plane = np.arange(n * c).reshape(n, c, 1, 1) * (h * w)
    flat = np.bincount((plane + switches).ravel(), weights=values.ravel(),
                       minlength=n * c * h * w)
    return flat.astype(values.dtype, copy=False).reshape(x_shape)


def gather_at_switches(x, switches):
    """Read ``x`` at the switches: the adjoint of ``max_unpool``.

    x: (N, C, H, W); switches: (N, C, OH, OW) -> (N, C, OH, OW). Like the three
    functions below it works on NumPy and CuPy arrays alike (gpu.py reuses them).
    """
    n, c = x.shape[:2]
    return array_module(x).take_along_axis(x.reshape(n, c, -1), switches.reshape(n, c, -1),
                              axis=2).reshape(switches.shape)


def relu_forward(x):
    """y = max(x, 0) and the mask of active units. x: any shape -> (y, active bool)."""
    active = x > 0
    return x * active, active


def columns_to_nchw(out, bias, n, oh, ow):
    """A convolution's matrix-product result back to an image batch, plus the bias.

    out: (O, N*OH*OW) (one column per output pixel); bias: (O,) -> (N, O, OH, OW).
    """
    xp, channels = array_module(out), out.shape[0]
    y = xp.empty((n, channels, oh, ow), dtype=out.dtype)        # C order, whatever the view
    xp.add(out.reshape(channels, n, oh, ow).transpose(1, 0, 2, 3), bias.reshape(1, -1, 1, 1),
           out=y)
    return y


def nchw_to_columns(dy, out=None):
    """The inverse layout move: dy (N, O, OH, OW) -> (O, N*OH*OW), into ``out`` if given."""
    n, channels = dy.shape[:2]
    if out is None:
        out = array_module(dy).empty((channels, dy.size // channels), dtype=dy.dtype)
    out.reshape(channels, n, -1)[...] = dy.reshape(n, channels, -1).transpose(1, 0, 2)
    return out


# Winograd F(2x2, 3x3) (Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural
# Networks", arXiv:1509.09308, sec. 4): a 3x3 stride-1 convolution computed tile by
# tile. Each 2x2 output tile Y comes from a 4x4 input tile d (the tiles overlap by 2):
#     Y = A^T [ (G g G^T) * (B^T d B) ] A          (* is elementwise; g is a 3x3 filter)
# 16 products per tile instead of 36. Summed over channels, the elementwise product
# becomes 16 matrix products, one per tile entry (xi, nu):
#     M[xi, nu] = U[xi, nu] @ V[xi, nu],  U = G g G^T: (O, C),  V = B^T d B: (C, tiles).
WINOGRAD_BT = np.array([[1, 0, -1, 0],
                        [0, 1, 1, 0],
                        [0, -1, 1, 0],
                        [0, 1, 0, -1]], dtype=np.float64)      # (4, 4) input transform
WINOGRAD_G = np.array([[1, 0, 0],
                       [0.5, 0.5, 0.5],
                       [0.5, -0.5, 0.5],
                       [0, 0, 1]], dtype=np.float64)           # (4, 3) filter transform
WINOGRAD_AT = np.array([[1, 1, 1, 0],
                        [0, 1, -1, -1]], dtype=np.float64)     # (2, 4) output transform


def winograd_tiles(h, w, padding):
    """Tile grid (TH, TW) of F(2x2, 3x3) for an (h, w) input: one tile per 2x2 block of
    the (OH, OW) = (h + 2*ph - 2, w + 2*pw - 2) output, the last one cut off if odd."""
    ph, pw = padding
    return (h + 2 * ph - 1) // 2, (w + 2 * pw - 1) // 2


def winograd_input(x, padding, out=None):
    """Input transform V = B^T d B of every 4x4 input tile d.

    x: (N, C, H, W); padding: (ph, pw)
    returns V: (16, C, N*TH*TW), V[4*xi + nu, c, (n, ty, tx)] = (B^T d B)[xi, nu] for
    the tile d = x_padded[n, c, 2*ty:2*ty + 4, 2*tx:2*tx + 4] ((TH, TW) from
    ``winograd_tiles``; zeros beyond the padded input); written into ``out`` if given.
    """
    xp = array_module(x)
    (ph, pw), (n, c, h, w) = padding, x.shape
    th, tw = winograd_tiles(h, w, padding)
    padded = xp.zeros((n, c, 2 * th + 2, 2 * tw + 2), dtype=x.dtype)
    padded[:, :, ph:ph + h, pw:pw + w] = x
    tiles = xp.empty((4, 4, n, c, th, tw), dtype=x.dtype)       # tiles[r, s] = d[r, s]
    for r in range(4):
        for s in range(4):
            tiles[r, s] = padded[:, :, r:r + 2 * th:2, s:s + 2 * tw:2]
    bt = xp.asarray(WINOGRAD_BT, dtype=x.dtype)
    v = xp.einsum("ar,rsncyx,bs->abcnyx", bt, tiles, bt)         # B^T d B, every tile
    v = v.reshape(16, c, n * th * tw)
    if out is None:
        return xp.ascontiguousarray(v)
    out[...] = v
    return out


def winograd_output(m, bias, out):
    """Output transform Y = A^T m A of every tile, plus the bias, into ``out``.

    m: (16, O, N*TH*TW) (the 16 products M, tiles in (n, ty, tx) order); bias: (O,);
    out: (N, O, OH, OW) -> out, with out[n, o, 2*ty + i, 2*tx + j] = Y[i, j] + bias[o]
    (entries past OH or OW, from the last tiles of an odd size, are dropped).
    """
    xp = array_module(m)
    n, o, oh, ow = out.shape
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    at = xp.asarray(WINOGRAD_AT, dtype=m.dtype)
    m = m.reshape(4, 4, o, n, th, tw)
    y = xp.einsum("ia,abonyx,jb->noyixj", at, m, at)             # A^T m A: (N, O, TH, 2, TW, 2)
    y = y.reshape(n, o, 2 * th, 2 * tw)[:, :, :oh, :ow]
    xp.add(y, bias.reshape(1, -1, 1, 1), out=out)
    return out
