"""Winograd F(2x2, 3x3): a faster algorithm for 3x3, stride-1 convolutions.

Lavin & Gray 2016 ("Fast Algorithms for Convolutional Neural Networks",
arXiv:1509.09308, sec. 4): every 2x2 output tile Y of a 3x3 filter g over a 4x4
input tile d (the tiles overlap by 2) is

    Y = A^T [ (G g G^T) * (B^T d B) ] A        (* elementwise)

which takes 16 multiplications instead of 36. Summed over input channels, the 16
elementwise products become 16 matrix products, one per tile entry (xi, nu):

    M[k] = U[k] @ V[k],   U = G g G^T: (16, O, C),   V = B^T d B: (16, C, tiles)

so 2.25x fewer multiply-adds than im2col's single product, for the price of two
cheap transforms. The result is the same convolution up to rounding (1e-16
relative in float64, 1e-6 in float32; tests/test_winograd.py).

This module holds the matrices, the plain NumPy transforms (the readable math,
twins of the Numba kernels in cpu_winograd.py) and the driver ``conv3x3``.
``kernels.fast_conv2d`` decides when it runs: Conv2D in eval mode on the Numba
path only (dL/dW needs im2col's patch matrix; the reference path stays plain im2col).
"""
import numpy as np

from ..backend import array_module

# Input channels from which Winograd runs: at 8 it broke even, at 1 it was 9x slower
# (BENCHMARKS.md). A fixed rule on purpose: the two algorithms round differently, so a
# threshold measured at run time would make the same model give different bits (in the
# last digits of a lesson's output) from run to run.
MIN_CHANNELS = 16
# Output tiles per row from which Winograd runs on a batch of fewer images than the
# machine's float32 vector lanes (``machine.float32_lanes``; from that many images on,
# the transforms put images side by side instead, ``image_lanes``). The row-wise
# transforms loop over a row of tiles (cpu_winograd.py), and a row shorter than 1.5
# vectors runs mostly in the loop's scalar remainder. With 8 lanes (AVX2) that is 12
# tiles, an output of 23 or more columns: there Winograd was as fast as im2col or
# faster, every time we measured; on 14x14 and 7x7 planes (7 and 4 tiles) im2col was
# 1.2-1.4x faster on 2026-12-02 (BENCHMARKS.md).
MIN_ROW_VECTORS = 1.5
# Images side by side beyond one 256-bit vector of float32 (AVX-512 as compiled for AMD
# Zen 4: 16) only on output rows of at least WIDE_ROW_TILES tiles (``image_lanes``).
NARROW_LANES = 8
WIDE_ROW_TILES = 8
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


def winograd_tiles(h, w, padding):
    """Tile grid (TH, TW) of F(2x2, 3x3) for an (h, w) input: one tile per 2x2 block of
    the (OH, OW) = (h + 2*ph - 2, w + 2*pw - 2) output, the last one cut off if odd."""
    ph, pw = padding
    return (h + 2 * ph - 1) // 2, (w + 2 * pw - 1) // 2


def winograd_input(x, padding, out=None, lanes=1):
    """Input transform V = B^T d B of every 4x4 input tile d (NumPy; cpu_winograd.py
    has the Numba twin).

    x: (N, C, H, W); padding: (ph, pw)
    returns V: (16, C, N*TH*TW), V[4*xi + nu, c, (n, ty, tx)] = (B^T d B)[xi, nu] for
    the tile d = x_padded[n, c, 2*ty:2*ty + 4, 2*tx:2*tx + 4] ((TH, TW) from
    ``winograd_tiles``; zeros beyond the padded input); written into ``out`` if given.
    lanes > 1: the images side by side, ``lanes`` at a time, as the Numba kernel lays
    them out to fill its vectors: columns in (group, ty, tx, lane) order, image
    n = group*lanes + lane, G = ceil(N / lanes) groups, images past N all zeros:
    V: (16, C, G*lanes*TH*TW). The products M[k] = U[k] @ V[k] do not care about the
    column order; ``winograd_output`` with the same lanes puts them back.
    """
    xp = array_module(x)
    (ph, pw), (n, c, h, w) = padding, x.shape
    th, tw = winograd_tiles(h, w, padding)
    groups = -(-n // lanes)
    padded = xp.zeros((groups * lanes, c, 2 * th + 2, 2 * tw + 2), dtype=x.dtype)
    padded[:n, :, ph:ph + h, pw:pw + w] = x
    tiles = xp.empty((4, 4, groups * lanes, c, th, tw), dtype=x.dtype)   # tiles[r, s] = d[r, s]
    for r in range(4):
        for s in range(4):
            tiles[r, s] = padded[:, :, r:r + 2 * th:2, s:s + 2 * tw:2]
    bt = xp.asarray(WINOGRAD_BT, dtype=x.dtype)
    v = xp.einsum("ar,rsncyx,bs->abcnyx", bt, tiles, bt)         # B^T d B, every tile
    return _to_columns(v.reshape(16, c, groups * lanes, th, tw), lanes, out)


def _to_columns(values, lanes, out=None):
    """Tile values (16, R, images, TH, TW) as V's or M's columns: (16, R, G*lanes*TH*TW)
    in (group, ty, tx, lane) order, image = group*lanes + lane (``winograd_input``);
    written into ``out`` if given."""
    e, rows, images, th, tw = values.shape
    columns = values.reshape(e, rows, images // lanes, lanes, th, tw)
    columns = columns.transpose(0, 1, 2, 4, 5, 3).reshape(e, rows, -1)
    if out is None:
        return array_module(values).ascontiguousarray(columns)
    out[...] = columns
    return out


def _from_columns(columns, lanes, th, tw):
    """The inverse of ``_to_columns``: (16, R, G*lanes*TH*TW) -> (4, 4, R, G*lanes, TH, TW)."""
    rows = columns.shape[1]
    tiles = columns.reshape(4, 4, rows, -1, th, tw, lanes).transpose(0, 1, 2, 3, 6, 4, 5)
    return tiles.reshape(4, 4, rows, -1, th, tw)


def winograd_output(m, bias, out, lanes=1):
    """Output transform Y = A^T m A of every tile, plus the bias, into ``out`` (NumPy;
    cpu_winograd.py has the Numba twin).

    m: (16, O, N*TH*TW) (the 16 products M, tiles in (n, ty, tx) order); bias: (O,);
    out: (N, O, OH, OW) -> out, with out[n, o, 2*ty + i, 2*tx + j] = Y[i, j] + bias[o]
    (entries past OH or OW, from the last tiles of an odd size, are dropped).
    lanes > 1: m's columns in (group, ty, tx, lane) order, as ``winograd_input`` with
    the same lanes gives them: m (16, O, G*lanes*TH*TW), the images past N dropped.
    """
    xp = array_module(m)
    n, o, oh, ow = out.shape
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    at = xp.asarray(WINOGRAD_AT, dtype=m.dtype)
    m = _from_columns(m, lanes, th, tw)[:, :, :, :n]
    y = xp.einsum("ia,abonyx,jb->noyixj", at, m, at)             # A^T m A: (N, O, TH, 2, TW, 2)
    y = y.reshape(n, o, 2 * th, 2 * tw)[:, :, :oh, :ow]
    xp.add(y, bias.reshape(1, -1, 1, 1), out=out)
    return out


def winograd_output_adjoint(dy, lanes=1, out=None):
    """The adjoint (transpose) of the output transform, for dL/dM: dM = A dY A^T for every
    2x2 tile dY of dy (NumPy; cpu_winograd.py has the Numba twin).

    From Y = A^T M A (module docstring), dL/dM[xi, nu] = sum over i, j of
    A^T[i, xi] dY[i, j] A^T[j, nu]. Entries past OH or OW (the last tiles of an odd size)
    were dropped by the forward: their dY is 0.
    dy: (N, O, OH, OW) -> dM: (16, O, G*lanes*TH*TW), the columns as ``winograd_input``
    lays them out with the same lanes (zeros for the images past N); written into ``out``
    if given."""
    xp = array_module(dy)
    n, o, oh, ow = dy.shape
    th, tw = -(-oh // 2), -(-ow // 2)
    groups = -(-n // lanes)
    padded = xp.zeros((groups * lanes, o, 2 * th, 2 * tw), dtype=dy.dtype)
    padded[:n, :, :oh, :ow] = dy
    tiles = padded.reshape(groups * lanes, o, th, 2, tw, 2)                # (n, o, ty, i, tx, j)
    at = xp.asarray(WINOGRAD_AT, dtype=dy.dtype)
    dm = xp.einsum("ia,noyixj,jb->abonyx", at, tiles, at)                 # A dY A^T, every tile
    return _to_columns(dm.reshape(16, o, groups * lanes, th, tw), lanes, out)


def winograd_input_adjoint(dv, x_shape, padding, lanes=1):
    """The adjoint of the input transform, for dL/dx: each tile's B dV B^T added back onto
    the 4x4 input tile it came from (tiles overlap by 2: overlaps add), the padding
    dropped (NumPy; cpu_winograd.py has the Numba twin).

    From V = B^T d B, dL/dd[r, s] = sum over xi, nu of B^T[xi, r] dV[xi, nu] B^T[nu, s].
    dv: (16, C, G*lanes*TH*TW), columns as ``winograd_input`` lays them out; x_shape:
    (N, C, H, W) of the forward's input; padding: (ph, pw) -> dx: (N, C, H, W)."""
    xp = array_module(dv)
    (n, c, h, w), (ph, pw) = x_shape, padding
    th, tw = winograd_tiles(h, w, padding)
    groups = -(-n // lanes)
    dv = _from_columns(dv, lanes, th, tw)
    bt = xp.asarray(WINOGRAD_BT, dtype=dv.dtype)
    dd = xp.einsum("ar,abcnyx,bs->rsncyx", bt, dv, bt)                    # B dV B^T, every tile
    padded = xp.zeros((groups * lanes, c, 2 * th + 2, 2 * tw + 2), dtype=dv.dtype)
    for r in range(4):                          # the forward's gather, reversed: scatter-add
        for s in range(4):
            padded[:, :, r:r + 2 * th:2, s:s + 2 * tw:2] += dd[r, s]
    return xp.ascontiguousarray(padded[:n, :, ph:ph + h, pw:pw + w])


def filter_transform_adjoint(du):
    """The adjoint of ``filter_transform``, for dL/dW: G^T dU G for every (output, input)
    channel pair. du: (16, O, C) -> dW: (O, C, 3, 3)."""
    xp = array_module(du)
    g = xp.asarray(WINOGRAD_G, dtype=du.dtype)
    du = du.reshape(4, 4, *du.shape[1:]).transpose(2, 3, 0, 1)            # (O, C, 4, 4)
    return g.T @ du @ g


def min_tiles_per_row(lanes=None):
    """The fewest output tiles per row for which Winograd runs: MIN_ROW_VECTORS vectors
    of ``lanes`` float32 numbers (default: this machine's, machine.float32_lanes)."""
    if lanes is None:
        from ..machine import float32_lanes
        lanes = float32_lanes()
    return int(MIN_ROW_VECTORS * lanes)


def image_lanes(n, tiles_per_row=None, lanes=None):
    """How many images the transforms put side by side for a batch of n whose output
    rows hold ``tiles_per_row`` tiles: the machine's float32 vector lanes (``lanes``,
    default machine.float32_lanes: 16 where the compiler uses AVX-512's vectors, 8 with
    AVX, 4 without) once the batch fills them, else 1 (tiles side by side, along a row).

    Side by side, every loop of the transforms runs over TW*lanes numbers whatever the
    plane's width. On 2026-12-02 (BENCHMARKS.md, Zen 3), 8 images side by side were
    faster than the row-wise transforms on every plane measured (1.17x at 26x26, 1.3-1.5x
    at 14x14 and 4x4) and than im2col (1.1-1.4x). Wider than ``NARROW_LANES`` (16 on Zen
    4) pays only on rows of at least ``WIDE_ROW_TILES`` tiles (1.05-1.24x faster than 8
    there, 0.94-1.0x on rows of 4-6 tiles; 2026-12-04, Zen 4): narrower rows, and batches
    of fewer images than the lanes, take NARROW_LANES. A batch that is not a multiple of
    the lanes is padded with zero images: at most lanes - 1 images of wasted work per call."""
    if lanes is None:
        from ..machine import float32_lanes
        lanes = float32_lanes()
    if lanes > NARROW_LANES and (n < lanes or (tiles_per_row or 0) < WIDE_ROW_TILES):
        lanes = NARROW_LANES
    return lanes if n >= lanes else 1


def applies(x_shape, weights_shape, stride, padding):
    """True for a 3x3, stride-1 filter bank with at least MIN_CHANNELS input channels, on
    an input (N, C, H, W) of at least ``image_lanes`` images, or else one whose output
    rows hold at least ``min_tiles_per_row()`` tiles."""
    tiles_per_row = winograd_tiles(x_shape[2], x_shape[3], padding)[1]
    return (tuple(weights_shape[2:]) == (3, 3) and tuple(stride) == (1, 1)
            and weights_shape[1] >= MIN_CHANNELS
            and (image_lanes(x_shape[0], tiles_per_row) > 1
                 or tiles_per_row >= min_tiles_per_row()))


def filter_transform(weights):
    """U = G g G^T for every (output, input) channel pair.

    weights: (O, C, 3, 3) -> U: (16, O, C), U[4*xi + nu, o, c] = (G g G^T)[xi, nu]
    for g = weights[o, c].
    """
    xp = array_module(weights)
    g = xp.asarray(WINOGRAD_G, dtype=weights.dtype)
    u = g @ weights @ g.T                                       # (O, C, 4, 4)
    o, c = weights.shape[:2]
    return xp.ascontiguousarray(u.transpose(2, 3, 0, 1)).reshape(16, o, c)


def conv3x3(x, weights, bias, padding, transforms, out, scratch, lanes=1):
    """y = conv(x, weights) + bias for a 3x3, stride-1 filter bank, via F(2x2, 3x3).

    x: (N, C, H, W); weights: (O, C, 3, 3); bias: (O,); padding: (ph, pw);
    transforms: a module with ``winograd_input`` / ``winograd_output`` (cpu_winograd,
    or this module for the NumPy versions);
    out: (N, O, H + 2*ph - 2, W + 2*pw - 2), written and returned;
    scratch(key, shape, like): reused work buffers (``Layer.scratch``);
    lanes: images side by side in the transforms (see ``winograd_input``; ``image_lanes``).
    Images go through in chunks whose V and M stay in cache (``chunk_bytes``), a
    multiple of ``lanes`` images each.
    """
    xp = array_module(x)
    n, c, h, w = x.shape
    o = weights.shape[0]
    u = filter_transform(weights)                               # (16, O, C)
    th, tw = winograd_tiles(h, w, padding)
    per_image = th * tw                                         # tiles per image
    fit = chunk_bytes() // (16 * (c + o) * per_image * x.dtype.itemsize)
    chunk = max(lanes, min(-(-n // lanes) * lanes, fit // lanes * lanes))
    v_buffer = scratch("winograd_v", (16 * c * chunk * per_image,), x)
    m_buffer = scratch("winograd_m", (16 * o * chunk * per_image,), x)
    for start in range(0, n, chunk):
        images = x[start:start + chunk]
        tiles = -(-len(images) // lanes) * lanes * per_image    # columns, missing images too
        v = v_buffer[:16 * c * tiles].reshape(16, c, tiles)
        m = m_buffer[:16 * o * tiles].reshape(16, o, tiles)
        transforms.winograd_input(images, padding, out=v, lanes=lanes)     # V = B^T d B
        xp.matmul(u, v, out=m)                                  # M[k] = U[k] @ V[k]
        transforms.winograd_output(m, bias, out[start:start + chunk], lanes=lanes)  # A^T M A + b
    return out


def conv3x3_training(x, weights, bias, padding, transforms, out, scratch, lanes):
    """``conv3x3`` for a training step: y = conv(x, weights) + bias, and what its backward
    needs. V is kept for the whole batch (dL/dW needs it); M goes through in chunks of
    images, as in ``conv3x3``, so that it stays in cache and small.

    x: (N, C, H, W); weights: (O, C, 3, 3); bias: (O,); padding: (ph, pw); transforms:
    cpu_winograd or this module; out: (N, O, OH, OW); scratch: reused buffers; lanes > 1.
    returns (out, saved), saved = (V (16, C, cols), U (16, O, C)) for ``conv3x3_backward``."""
    xp = array_module(x)
    n, c, h, w = x.shape
    o = weights.shape[0]
    per_group = lanes * int(np.prod(winograd_tiles(h, w, padding)))    # columns per group
    u = filter_transform(weights)                                          # U = G g G^T
    v = transforms.winograd_input(x, padding, lanes=lanes, out=scratch(
        "winograd_v", (16, c, -(-n // lanes) * per_group), x))             # V = B^T d B
    chunks = list(_chunks(n, c + o, per_group, lanes, x.dtype.itemsize))
    m_buffer = _chunk_buffer(scratch, "winograd_m", o, chunks, x)
    for images, columns in chunks:
        m = xp.matmul(u, v[:, :, columns], out=m_buffer(columns))         # M[k] = U[k] V[k]
        transforms.winograd_output(m, bias, out[images], lanes=lanes)      # A^T M A + b
    return out, (v, u)


def conv3x3_backward(dy, saved, x_shape, padding, transforms, scratch, lanes,
                     param_grads=True, input_grad=True):
    """dL/dW and dL/dx of ``conv3x3_training``, by the chain rule through its three steps,
    each step's adjoint in reverse order:

        dM = A dY A^T                  (every 2x2 tile dY of dy: winograd_output_adjoint)
        dU[k] = dM[k] V[k]^T,          dL/dW = G^T dU G        (filter_transform_adjoint)
        dV[k] = U[k]^T dM[k],          dL/dx = B dV B^T, tiles added back where they
                                       overlap, the padding dropped (winograd_input_adjoint)

    A chunk of images at a time (dU summed over the chunks), as in the forward.
    dy: (N, O, OH, OW); saved: (V, U) of the forward; x_shape: (N, C, H, W).
    returns (dL/dW (O, C, 3, 3) or None, dL/dx (N, C, H, W) or None)."""
    xp = array_module(dy)
    v, u = saved
    n, o = dy.shape[:2]
    c = x_shape[1]
    per_group = v.shape[2] // -(-n // lanes)
    du = xp.zeros((16, o, c), dtype=dy.dtype) if param_grads else None
    dx = xp.empty(x_shape, dtype=dy.dtype) if input_grad else None
    chunks = list(_chunks(n, c + o, per_group, lanes, dy.dtype.itemsize))
    dm_buffer = _chunk_buffer(scratch, "winograd_m", o, chunks, dy)
    dv_buffer = _chunk_buffer(scratch, "winograd_dv", c, chunks, dy)
    for images, columns in chunks:
        dm = transforms.winograd_output_adjoint(dy[images], lanes,
                                                out=dm_buffer(columns))    # dM = A dY A^T
        if param_grads:
            du += xp.matmul(dm, v[:, :, columns].transpose(0, 2, 1))       # dU[k] += dM V^T
        if input_grad:
            dv = xp.matmul(u.transpose(0, 2, 1), dm, out=dv_buffer(columns))  # dV = U^T dM
            dx[images] = transforms.winograd_input_adjoint(
                dv, (images.stop - images.start,) + tuple(x_shape[1:]), padding, lanes)
    return (filter_transform_adjoint(du) if param_grads else None), dx


def _chunk_buffer(scratch, key, rows, chunks, like):
    """A reused buffer for (16, rows, columns of a chunk) arrays, sized for the widest
    chunk: returns columns -> that array (a view of the buffer's first entries)."""
    widest = max(columns.stop - columns.start for _, columns in chunks)
    flat = scratch(key, (16 * rows * widest,), like)
    return lambda columns: flat[:16 * rows * (columns.stop - columns.start)].reshape(
        16, rows, columns.stop - columns.start)


def _chunks(n, channels, per_group, lanes, itemsize):
    """(images, columns) slices of the chunks of ``conv3x3_training``: whole groups of
    ``lanes`` images whose E = 16 rows of ``channels`` (C + O) columns fit in
    ``chunk_bytes()``, as in ``conv3x3``."""
    groups = -(-n // lanes)
    fit = max(1, chunk_bytes() // (16 * channels * per_group * itemsize))
    for first in range(0, groups, fit):
        last = min(groups, first + fit)
        yield (slice(first * lanes, min(n, last * lanes)),
               slice(first * per_group, last * per_group))
