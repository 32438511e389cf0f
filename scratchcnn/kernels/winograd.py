"""Winograd F(m x m, 3x3): faster algorithms for 3x3, stride-1 convolutions.

Lavin & Gray 2016 ("Fast Algorithms for Convolutional Neural Networks",
arXiv:1509.09308, sec. 4): every m x m output tile Y of a 3x3 filter g over an
(m + 2) x (m + 2) input tile d (the tiles overlap by 2) is

    Y = A^T [ (G g G^T) * (B^T d B) ] A        (* elementwise; Lavin & Gray eq. 8)

which takes (m + 2)^2 multiplications instead of 9 m^2. Summed over input channels,
the elementwise products become (m + 2)^2 matrix products, one per tile entry
k = (xi, nu):

    M[k] = V[k] @ U[k]^T,   V = B^T d B: ((m+2)^2, tiles, C),   U = G g G^T: ((m+2)^2, O, C)

Two schemes are here. ``F2`` = F(2x2, 3x3), whose matrices hold only 0, +-1/2 and +-1
(the one to read first), takes 16 products per 4 outputs: 2.25x fewer multiply-adds
than im2col. ``F4`` = F(4x4, 3x3) takes 36 per 16: 4x fewer, for larger transforms
and more rounding (float32: worst relative error 3.8e-6 against F2's 1.2e-6 on
random tiles; BENCHMARKS.md). Conv2D runs ``SCHEME`` = F4: a training step (forward and
backward) of the slides' conv2 at batch 64 took 17.3-17.7 ms against F2's 25.4-26.1, and
F4 was faster on every layer of the two models (AMD Zen 4, BENCHMARKS.md). The result is
the same convolution up to rounding (tests/test_winograd.py checks both schemes against
im2col's convolution).

**Channels innermost.** V, M and their gradients hold a tile's channels in a row:
V[k] is a (tiles, C) matrix, tiles in (n, ty, tx) order. Each product then reduces
over the short, contiguous rows of a tall matrix (C = 32 or 64 numbers), the shape
BLAS runs fastest, and the transforms vectorize over channels, on planes of any width.
With the tiles innermost instead (V[k]: (C, tiles), this module's layout until
2026-12-05), the same products ran 1.1-1.4x slower on AMD Zen 4 (the forward's 6.8 ms
against 4.9 on the slides' conv2 at batch 64, F2), and up to 2.8x slower in that
virtual machine's slow spells (13.1 against 4.7 ms; BENCHMARKS.md).

This module holds the matrices, the plain NumPy transforms for either scheme (the
readable math, twins of the Numba kernels in cpu_winograd.py, which are written for
F4) and the drivers ``conv3x3`` (eval), ``conv3x3_training`` and ``conv3x3_backward``.
``kernels/__init__.py`` decides when they run: on the Numba path only (the reference
path stays plain im2col).
"""
from typing import NamedTuple

import numpy as np

from ..backend import array_module

# Input channels from which Winograd runs: at 8 it broke even, at 1 it was 9x slower
# (BENCHMARKS.md). A fixed rule on purpose: the two algorithms round differently, so a
# threshold measured at run time would make the same model give different bits (in the
# last digits of a lesson's output) from run to run.
MIN_CHANNELS = 16
# Tiles per batch (rows of V: N*TH*TW, in F(4x4, 3x3)'s 4x4 tiles) from which Winograd
# runs. Below, its fixed costs (36 small matrix products, four kernels) outweigh the
# multiply-adds it saves: against im2col, eval broke even between 128 and 800 tiles on
# five layer shapes (28x28 to 7x7 planes, 16 to 64 input channels; BENCHMARKS.md) and
# training between 72 and 512; at 512 tiles and more Winograd was 1.05-2.3x faster,
# except a 0.8-1.0x eval of a 16-channel 28x28 layer (2026-12-05, AMD Zen 4). With both
# libraries held to AVX2 on the same CPU the same rule held (1.04-2.2x from 512 tiles
# on), except that 16-channel eval again (0.66-0.98x up to 1,568 tiles). A batch of one
# 28x28 MNIST image (36 tiles at conv2) takes im2col, a training batch of 64 Winograd.
# 512 tiles are 8,192 output positions, the same as the 2,048 F(2x2, 3x3) tiles of this
# rule until F4 came. Fixed, like MIN_CHANNELS, for the same reason: which algorithm a
# layer runs, and so how it rounds, does not depend on the machine or the run.
MIN_TILES = 512
DEFAULT_CHUNK_BYTES = 8 << 20       # where the machine does not report its caches


def chunk_bytes(caches=None):
    """How many bytes of V and M one chunk of images may take: a quarter of the
    last-level cache, so that they stay there between the transforms and the products
    (8 MB of the 32 MB L3 of the machine in BENCHMARKS.md, where 4-8 MB measured alike
    and 16 MB slower), at least 1 MB; DEFAULT_CHUNK_BYTES if the cache is unknown.
    caches: {"L2": bytes, "L3": bytes, ...} (default: this machine's, machine.py)."""
    if caches is None:
        from ..machine import this_machine
        caches = this_machine()["caches"]
    last = caches.get("L3") or caches.get("L2")
    return DEFAULT_CHUNK_BYTES if not last else max(1 << 20, last // 4)

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
# them more accurate in float32 than Lavin & Gray's 0, +-1, +-2 (measured here on 200
# random 32-channel tiles: worst relative error 3.8e-6 against 9.6e-6; BENCHMARKS.md).
# tests/test_winograd.py builds the same matrices from the points. Every entry of B^T
# and A^T is exact in float32 (halves, quarters, eighths).
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
SCHEME = F4             # what Conv2D runs (the module docstring says why)


def winograd_tiles(h, w, padding, scheme=SCHEME):
    """Tile grid (TH, TW) of F(m x m, 3x3) for an (h, w) input: one tile per m x m block
    of the (OH, OW) = (h + 2*ph - 2, w + 2*pw - 2) output, the last one cut off where m
    does not divide it."""
    (ph, pw), m = padding, scheme.m
    return -(-(h + 2 * ph - 2) // m), -(-(w + 2 * pw - 2) // m)


def winograd_input(x, padding, out=None, scheme=SCHEME):
    """Input transform V = B^T d B of every (m + 2) x (m + 2) input tile d (NumPy;
    cpu_winograd.py has the Numba twin).

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


def winograd_output(products, bias, out, scheme=SCHEME):
    """Output transform Y = A^T M A of every tile, plus the bias, into ``out`` (NumPy;
    cpu_winograd.py has the Numba twin).

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


def winograd_output_adjoint(dy, out=None, scheme=SCHEME):
    """The adjoint (transpose) of the output transform, for dL/dM: dM = A dY A^T for every
    m x m tile dY of dy (NumPy; cpu_winograd.py has the Numba twin).

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


def winograd_input_adjoint(dv, x_shape, padding, out=None, scheme=SCHEME):
    """The adjoint of the input transform, for dL/dx: each tile's B dV B^T added back onto
    the input tile it came from (tiles overlap by 2: overlaps add), the padding dropped
    (NumPy; cpu_winograd.py has the Numba twin).

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


def filter_transform(weights, scheme=SCHEME):
    """U = G g G^T for every (output, input) channel pair.

    weights: (O, C, 3, 3) -> U: ((m+2)^2, O, C), U[(m+2)*xi + nu, o, c] =
    (G g G^T)[xi, nu] for g = weights[o, c].
    """
    xp = array_module(weights)
    g = xp.asarray(scheme.g, dtype=weights.dtype)
    u = g @ weights @ g.T                                       # (O, C, m+2, m+2)
    o, c = weights.shape[:2]
    return xp.ascontiguousarray(u.transpose(2, 3, 0, 1)).reshape(scheme.entries, o, c)


def filter_transform_adjoint(du, scheme=SCHEME):
    """The adjoint of ``filter_transform``, for dL/dW: G^T dU G for every (output, input)
    channel pair. du: ((m+2)^2, O, C) -> dW: (O, C, 3, 3)."""
    xp = array_module(du)
    g = xp.asarray(scheme.g, dtype=du.dtype)
    t = scheme.m + 2
    du = du.reshape(t, t, *du.shape[1:]).transpose(2, 3, 0, 1)            # (O, C, m+2, m+2)
    return g.T @ du @ g


def applies(x_shape, weights_shape, stride, padding):
    """True for a 3x3, stride-1 filter bank with at least MIN_CHANNELS input channels, on
    an input (N, C, H, W) of at least MIN_TILES tiles (N*TH*TW, ``winograd_tiles``)."""
    tiles = x_shape[0] * int(np.prod(winograd_tiles(x_shape[2], x_shape[3], padding)))
    return (tuple(weights_shape[2:]) == (3, 3) and tuple(stride) == (1, 1)
            and weights_shape[1] >= MIN_CHANNELS and tiles >= MIN_TILES)


def conv3x3(x, weights, bias, padding, transforms, out, scratch):
    """y = conv(x, weights) + bias for a 3x3, stride-1 filter bank, via ``SCHEME``.

    x: (N, C, H, W); weights: (O, C, 3, 3); bias: (O,); padding: (ph, pw);
    transforms: a module with ``winograd_input`` / ``winograd_output`` (cpu_winograd,
    or this module for the NumPy versions);
    out: (N, O, H + 2*ph - 2, W + 2*pw - 2), written and returned;
    scratch(key, shape, like): reused work buffers (``Layer.scratch``).
    Images go through in chunks whose V and M stay in cache (``chunk_bytes``).
    """
    xp = array_module(x)
    n, c = x.shape[:2]
    o = weights.shape[0]
    u_t = xp.ascontiguousarray(filter_transform(weights).transpose(0, 2, 1))  # U^T: (E, C, O)
    per_image = int(np.prod(winograd_tiles(*x.shape[2:], padding)))       # tiles per image
    chunks = list(_chunks(n, c + o, per_image, x.dtype.itemsize))
    v_buffer = _chunk_buffer(scratch, "winograd_v", c, chunks, x)
    m_buffer = _chunk_buffer(scratch, "winograd_m", o, chunks, x)
    for images, rows in chunks:
        v = transforms.winograd_input(x[images], padding, out=v_buffer(rows))   # B^T d B
        m = xp.matmul(v, u_t, out=m_buffer(rows))                   # M[k] = V[k] U[k]^T
        transforms.winograd_output(m, bias, out[images])                    # A^T M A + b
    return out


def conv3x3_training(x, weights, bias, padding, transforms, out, scratch):
    """``conv3x3`` for a training step: y = conv(x, weights) + bias, and what its backward
    needs. V is kept for the whole batch (dL/dW needs it); M goes through in chunks of
    images, as in ``conv3x3``, so that it stays in cache and small.

    x: (N, C, H, W); weights: (O, C, 3, 3); bias: (O,); padding: (ph, pw); transforms:
    cpu_winograd or this module; out: (N, O, OH, OW); scratch: reused buffers.
    returns (out, saved), saved = (V (E, N*TH*TW, C), U (E, O, C)) for
    ``conv3x3_backward`` (E = SCHEME.entries)."""
    xp = array_module(x)
    n, c = x.shape[:2]
    o = weights.shape[0]
    per_image = int(np.prod(winograd_tiles(*x.shape[2:], padding)))
    u = filter_transform(weights)                                          # U = G g G^T
    u_t = xp.ascontiguousarray(u.transpose(0, 2, 1))                       # U^T: (E, C, O)
    v = transforms.winograd_input(x, padding, out=scratch(
        "winograd_v", (SCHEME.entries, n * per_image, c), x))              # V = B^T d B
    chunks = list(_chunks(n, c + o, per_image, x.dtype.itemsize))
    m_buffer = _chunk_buffer(scratch, "winograd_m", o, chunks, x)
    for images, rows in chunks:
        m = xp.matmul(v[:, rows], u_t, out=m_buffer(rows))                 # M[k] = V[k] U[k]^T
        transforms.winograd_output(m, bias, out[images])                   # A^T M A + b
    return out, (v, u)


def conv3x3_backward(dy, saved, x_shape, padding, transforms, scratch,
                     param_grads=True, input_grad=True):
    """dL/dW and dL/dx of ``conv3x3_training``, by the chain rule through its three steps,
    each step's adjoint in reverse order:

        dM = A dY A^T                  (every m x m tile dY of dy: winograd_output_adjoint)
        dU[k] = dM[k]^T V[k],          dL/dW = G^T dU G        (filter_transform_adjoint)
        dV[k] = dM[k] U[k],            dL/dx = B dV B^T, tiles added back where they
                                       overlap, the padding dropped (winograd_input_adjoint)

    A chunk of images at a time (dU summed over the chunks), as in the forward.
    dy: (N, O, OH, OW); saved: (V, U) of the forward; x_shape: (N, C, H, W).
    returns (dL/dW (O, C, 3, 3) or None, dL/dx (N, C, H, W) or None)."""
    xp = array_module(dy)
    v, u = saved
    n, o = dy.shape[:2]
    c = x_shape[1]
    per_image = v.shape[1] // n
    du = xp.zeros((SCHEME.entries, o, c), dtype=dy.dtype) if param_grads else None
    dx = xp.empty(x_shape, dtype=dy.dtype) if input_grad else None
    chunks = list(_chunks(n, c + o, per_image, dy.dtype.itemsize))
    dm_buffer = _chunk_buffer(scratch, "winograd_m", o, chunks, dy)
    dv_buffer = _chunk_buffer(scratch, "winograd_dv", c, chunks, dy)
    for images, rows in chunks:
        dm = transforms.winograd_output_adjoint(dy[images], out=dm_buffer(rows))  # A dY A^T
        if param_grads:
            du += xp.matmul(dm.transpose(0, 2, 1), v[:, rows])             # dU[k] += dM^T V
        if input_grad:
            dv = xp.matmul(dm, u, out=dv_buffer(rows))                     # dV[k] = dM U
            transforms.winograd_input_adjoint(dv, dx[images].shape, padding,
                                              out=dx[images])                # B dV B^T
    return (filter_transform_adjoint(du) if param_grads else None), dx


def _chunk_buffer(scratch, key, channels, chunks, like):
    """A reused buffer for (E, rows of a chunk, channels) arrays (E = SCHEME.entries),
    sized for the widest chunk: returns rows -> that array (a view of the buffer's first
    entries)."""
    entries = SCHEME.entries
    widest = max(rows.stop - rows.start for _, rows in chunks)
    flat = scratch(key, (entries * widest * channels,), like)
    return lambda rows: flat[:entries * (rows.stop - rows.start) * channels].reshape(
        entries, rows.stop - rows.start, channels)


def _chunks(n, channels, per_image, itemsize):
    """(images, rows) slices of the chunks of ``conv3x3``, ``conv3x3_training`` and
    ``conv3x3_backward``: the fewest chunks of whole images, as even as can be, whose
    V and M (E * tiles * (C + O) numbers, E = SCHEME.entries, ``channels`` = C + O) fit in
    ``chunk_bytes()`` (a chunk holds one image at least); rows: their tiles' rows of V
    and M. 64 images of which 9 fit: 8 chunks of 8, not 7 of 9 and one of 1 (whose
    kernels would keep one thread busy)."""
    fit = max(1, chunk_bytes() // (SCHEME.entries * channels * per_image * itemsize))
    count = -(-n // fit)
    for index in range(count):
        first, last = n * index // count, n * (index + 1) // count
        yield slice(first, last), slice(first * per_image, last * per_image)
