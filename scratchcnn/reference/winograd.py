"""Winograd's minimal filtering F(m x m, 3x3), plain NumPy: the algorithm as a lesson.

Lavin & Gray 2016 ("Fast Algorithms for Convolutional Neural Networks",
arXiv:1509.09308, sec. 4): every m x m output tile Y of a 3x3 filter g over an
(m + 2) x (m + 2) input tile d (the tiles overlap by 2) is

    Y = A^T [ (G g G^T) * (B^T d B) ] A        (* elementwise; Lavin & Gray eq. 8)

which takes (m + 2)^2 multiplications instead of 9 m^2. Summed over input channels,
the elementwise products become (m + 2)^2 matrix products, one per tile entry
k = (xi, nu):

    M[k] = V[k] @ U[k]^T,   V = B^T d B: ((m+2)^2, tiles, C),   U = G g G^T: ((m+2)^2, O, C)

``conv3x3_winograd`` puts the three steps together; it is reference/conv.py's
convolution for 3x3, stride-1 filters, up to rounding. ``F2`` = F(2x2, 3x3), whose
matrices hold only 0, +-1/2 and +-1, is the one to read first: 2.25x fewer
multiply-adds than im2col. ``F4`` = F(4x4, 3x3): 4x fewer, and more rounding. The
adjoint transforms give the backward pass (dL/dW and dL/dx). V, M and their gradients
hold a tile's channels innermost: V[k] is a (tiles, C) matrix, tiles in (n, ty, tx)
order.

The fast room runs F4 with Numba transforms (fast/winograd.py, fast/winograd_kernels.py),
twins of the transforms here.
"""
from typing import NamedTuple

import numpy as np

from ..backend import array_module

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

# F(4x4, 3x3) by the Toom-Cook construction (Lavin & Gray sec. 4.1) at the points 0, 1,
# -1, 1/2, -2 and infinity: Barabasz et al. 2020 ("Error analysis and improving the
# accuracy of Winograd convolution for deep neural networks", ACM TOMS 46(4)) found
# them more accurate in float32 than Lavin & Gray's 0, +-1, +-2 (BENCHMARKS.md, "Rules in
# the code": SCHEME). tests/fast/test_winograd.py builds the same matrices from the
# points. Every entry of B^T and A^T is exact in float32 (halves, quarters, eighths).
F4_BT = np.array([[1, -1.5, -2, 1.5, 1, 0],
                  [0, -1, 0.5, 2.5, 1, 0],
                  [0, 1, -2.5, 0.5, 1, 0],
                  [0, -2, -1, 2, 1, 0],
                  [0, 0.5, -1, -0.5, 1, 0],
                  [0, 1, -1.5, -2, 1.5, 1]], dtype=np.float64)   # (6, 6) input transform

F4_G = np.array([[1, 0, 0],
                 [1 / 3, 1 / 3, 1 / 3],
                 [-1 / 3, 1 / 3, -1 / 3],
                 [-16 / 15, -8 / 15, -4 / 15],
                 [1 / 15, -2 / 15, 4 / 15],
                 [0, 0, 1]], dtype=np.float64)                   # (6, 3) filter transform

F4_AT = np.array([[1, 1, 1, 1, 1, 0],
                  [0, 1, -1, 0.5, -2, 0],
                  [0, 1, 1, 0.25, 4, 0],
                  [0, 1, -1, 0.125, -8, 1]], dtype=np.float64)   # (4, 6) output transform


class Scheme(NamedTuple):
    """F(m x m, 3x3): m x m output tiles from (m + 2) x (m + 2) input tiles, moved by m.
    bt: (m + 2, m + 2) = B^T; g: (m + 2, 3) = G; at: (m, m + 2) = A^T."""
    m: int
    bt: np.ndarray
    g: np.ndarray
    at: np.ndarray

    @property
    def entries(self):
        """Entries of a transformed tile, (m + 2)^2: the number of matrix products."""
        return (self.m + 2) ** 2


F2 = Scheme(2, WINOGRAD_BT, WINOGRAD_G, WINOGRAD_AT)

F4 = Scheme(4, F4_BT, F4_G, F4_AT)


def winograd_tiles(h, w, padding, scheme=F4):
    """Tile grid (TH, TW) of F(m x m, 3x3) for an (h, w) input: one tile per m x m block
    of the (OH, OW) = (h + 2*ph - 2, w + 2*pw - 2) output, the last one cut off where m
    does not divide it."""
    (ph, pw), m = padding, scheme.m
    return -(-(h + 2 * ph - 2) // m), -(-(w + 2 * pw - 2) // m)


def winograd_input(x, padding, out=None, scheme=F4):
    """Input transform V = B^T d B of every (m + 2) x (m + 2) input tile d (NumPy;
    fast/winograd_kernels.py has the Numba twin).

    x: (N, C, H, W); padding: (ph, pw)
    returns V: ((m+2)^2, N*TH*TW, C), V[(m+2)*xi + nu, (n, ty, tx), c] = (B^T d B)[xi, nu]
    for the tile d = x_padded[n, c, m*ty:m*ty + m + 2, m*tx:m*tx + m + 2] ((TH, TW) from
    ``winograd_tiles``; zeros beyond the padded input); written into ``out`` if given.
    """
    xp = array_module(x)
    (ph, pw), (n, c, h, w), m = padding, x.shape, scheme.m
    th, tw = winograd_tiles(h, w, padding, scheme)
    padded = xp.zeros((n, c, m * th + 2, m * tw + 2), dtype=x.dtype)
    padded[:, :, ph:ph + h, pw:pw + w] = x
    tiles = xp.empty((m + 2, m + 2, n, c, th, tw), dtype=x.dtype)   # tiles[r, s] = d[r, s]
    for r in range(m + 2):
        for s in range(m + 2):
            tiles[r, s] = padded[:, :, r:r + m * th:m, s:s + m * tw:m]
    bt = xp.asarray(scheme.bt, dtype=x.dtype)
    v = xp.einsum("ar,rsncyx,bs->abnyxc", bt, tiles, bt)         # B^T d B, every tile
    return _rows(v, out)


def _rows(values, out=None):
    """Tile values (m+2, m+2, N, TH, TW, channels) as V's or M's layout ((m+2)^2,
    N*TH*TW, channels), written into ``out`` if given."""
    rows = values.reshape(values.shape[0] * values.shape[1], -1, values.shape[-1])
    if out is None:
        return array_module(values).ascontiguousarray(rows)
    out[...] = rows
    return out


def winograd_output(products, bias, out, scheme=F4):
    """Output transform Y = A^T M A of every tile, plus the bias, into ``out`` (NumPy;
    fast/winograd_kernels.py has the Numba twin).

    products: ((m+2)^2, N*TH*TW, O) (the products M, tiles in (n, ty, tx) order);
    bias: (O,); out: (N, O, OH, OW) -> out, with out[n, o, m*ty + i, m*tx + j] =
    Y[i, j] + bias[o] (entries past OH or OW, from the last tiles where m does not
    divide the size, are dropped).
    """
    xp = array_module(products)
    n, o, oh, ow = out.shape
    size, t = scheme.m, scheme.m + 2
    th, tw = -(-oh // size), -(-ow // size)
    at = xp.asarray(scheme.at, dtype=products.dtype)
    tiles = products.reshape(t, t, n, th, tw, o)
    y = xp.einsum("ia,abnyxo,jb->noyixj", at, tiles, at)         # A^T M A: (N, O, TH, m, TW, m)
    y = y.reshape(n, o, size * th, size * tw)[:, :, :oh, :ow]
    xp.add(y, bias.reshape(1, -1, 1, 1), out=out)
    return out


def winograd_output_adjoint(dy, out=None, scheme=F4):
    """The adjoint (transpose) of the output transform, for dL/dM: dM = A dY A^T for every
    m x m tile dY of dy (NumPy; fast/winograd_kernels.py has the Numba twin).

    From Y = A^T M A (module docstring), dL/dM[xi, nu] = sum over i, j of
    A^T[i, xi] dY[i, j] A^T[j, nu]. Entries past OH or OW (the last tiles where m does
    not divide the size) were dropped by the forward: their dY is 0.
    dy: (N, O, OH, OW) -> dM: ((m+2)^2, N*TH*TW, O), laid out as ``winograd_output``
    reads M; written into ``out`` if given."""
    xp = array_module(dy)
    n, o, oh, ow = dy.shape
    size = scheme.m
    th, tw = -(-oh // size), -(-ow // size)
    padded = xp.zeros((n, o, size * th, size * tw), dtype=dy.dtype)
    padded[:, :, :oh, :ow] = dy
    tiles = padded.reshape(n, o, th, size, tw, size)                      # (n, o, ty, i, tx, j)
    at = xp.asarray(scheme.at, dtype=dy.dtype)
    dm = xp.einsum("ia,noyixj,jb->abnyxo", at, tiles, at)                 # A dY A^T, every tile
    return _rows(dm, out)


def winograd_input_adjoint(dv, x_shape, padding, out=None, scheme=F4):
    """The adjoint of the input transform, for dL/dx: each tile's B dV B^T added back onto
    the input tile it came from (tiles overlap by 2: overlaps add), the padding dropped
    (NumPy; fast/winograd_kernels.py has the Numba twin).

    From V = B^T d B, dL/dd[r, s] = sum over xi, nu of B^T[xi, r] dV[xi, nu] B^T[nu, s].
    dv: ((m+2)^2, N*TH*TW, C), laid out as ``winograd_input`` gives V; x_shape:
    (N, C, H, W) of the forward's input; padding: (ph, pw) -> dx: (N, C, H, W), written
    into ``out`` if given."""
    xp = array_module(dv)
    (n, c, h, w), (ph, pw), m = x_shape, padding, scheme.m
    th, tw = winograd_tiles(h, w, padding, scheme)
    bt = xp.asarray(scheme.bt, dtype=dv.dtype)
    dd = xp.einsum("ar,abnyxc,bs->rsncyx", bt, dv.reshape(m + 2, m + 2, n, th, tw, c),
                   bt)                                                    # B dV B^T
    padded = xp.zeros((n, c, m * th + 2, m * tw + 2), dtype=dv.dtype)
    for r in range(m + 2):                      # the forward's gather, reversed: scatter-add
        for s in range(m + 2):
            padded[:, :, r:r + m * th:m, s:s + m * tw:m] += dd[r, s]
    if out is None:
        return xp.ascontiguousarray(padded[:, :, ph:ph + h, pw:pw + w])
    out[...] = padded[:, :, ph:ph + h, pw:pw + w]
    return out


def filter_transform(weights, scheme=F4):
    """U = G g G^T for every (output, input) channel pair.

    weights: (O, C, 3, 3) -> U: ((m+2)^2, O, C), U[(m+2)*xi + nu, o, c] =
    (G g G^T)[xi, nu] for g = weights[o, c].
    """
    xp = array_module(weights)
    g = xp.asarray(scheme.g, dtype=weights.dtype)
    u = g @ weights @ g.T                                       # (O, C, m+2, m+2)
    o, c = weights.shape[:2]
    return xp.ascontiguousarray(u.transpose(2, 3, 0, 1)).reshape(scheme.entries, o, c)


def filter_transform_adjoint(du, scheme=F4):
    """The adjoint of ``filter_transform``, for dL/dW: G^T dU G for every (output, input)
    channel pair. du: ((m+2)^2, O, C) -> dW: (O, C, 3, 3)."""
    xp = array_module(du)
    g = xp.asarray(scheme.g, dtype=du.dtype)
    t = scheme.m + 2
    du = du.reshape(t, t, *du.shape[1:]).transpose(2, 3, 0, 1)            # (O, C, m+2, m+2)
    return g.T @ du @ g


def conv3x3_winograd(x, weights, bias, padding=(1, 1), scheme=F2):
    """y = conv(x, weights) + bias for a 3x3, stride-1 filter bank, by Winograd.

    x: (N, C, H, W); weights: (O, C, 3, 3); bias: (O,); padding: (ph, pw)
    returns y: (N, O, H + 2*ph - 2, W + 2*pw - 2), equal to reference.conv.conv2d_forward's
    up to rounding.
    """
    (n, _, h, w), o, (ph, pw) = x.shape, weights.shape[0], padding
    v = winograd_input(x, padding, scheme=scheme)              # V = B^T d B: (E, tiles, C)
    u = filter_transform(weights, scheme)                      # U = G g G^T: (E, O, C)
    m = v @ u.transpose(0, 2, 1)                               # M[k] = V[k] U[k]^T: (E, tiles, O)
    y = np.empty((n, o, h + 2 * ph - 2, w + 2 * pw - 2), dtype=x.dtype)
    return winograd_output(m, bias, y, scheme)                 # Y = A^T M A, plus the bias
