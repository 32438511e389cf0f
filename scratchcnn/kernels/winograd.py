"""Winograd F(2x2, 3x3): a faster algorithm for 3x3, stride-1 convolutions.

Lavin & Gray 2016 ("Fast Algorithms for Convolutional Neural Networks",
arXiv:1509.09308, sec. 4): every 2x2 output tile Y of a 3x3 filter g over a 4x4
input tile d (the tiles overlap by 2) is

    Y = A^T [ (G g G^T) * (B^T d B) ] A        (* elementwise)

which takes 16 multiplications instead of 36. Summed over input channels, the 16
elementwise products become 16 matrix products, one per tile entry k = (xi, nu):

    M[k] = V[k] @ U[k]^T,   V = B^T d B: (16, tiles, C),   U = G g G^T: (16, O, C)

so 2.25x fewer multiply-adds than im2col's single product, for the price of two
cheap transforms. The result is the same convolution up to rounding (1e-16
relative in float64, 1e-6 in float32; tests/test_winograd.py).

**Channels innermost.** V, M and their gradients hold a tile's channels in a row:
V[k] is a (tiles, C) matrix, tiles in (n, ty, tx) order. Each product then reduces
over the short, contiguous rows of a tall matrix (C = 32 or 64 numbers), the shape
BLAS runs fastest, and the transforms vectorize over channels, on planes of any width.
With the tiles innermost instead (V[k]: (C, tiles), this module's layout until
2026-12-05), the same products ran 1.1-1.4x slower on AMD Zen 4 (the forward's 6.8 ms
against 4.9 on the slides' conv2 at batch 64), and up to 2.8x slower in that virtual
machine's slow spells (13.1 against 4.7 ms; BENCHMARKS.md).

This module holds the matrices, the plain NumPy transforms (the readable math,
twins of the Numba kernels in cpu_winograd.py) and the drivers ``conv3x3`` (eval),
``conv3x3_training`` and ``conv3x3_backward``. ``kernels/__init__.py`` decides when
they run: on the Numba path only (the reference path stays plain im2col).
"""
import numpy as np

from ..backend import array_module

# Input channels from which Winograd runs: at 8 it broke even, at 1 it was 9x slower
# (BENCHMARKS.md). A fixed rule on purpose: the two algorithms round differently, so a
# threshold measured at run time would make the same model give different bits (in the
# last digits of a lesson's output) from run to run.
MIN_CHANNELS = 16
# Tiles per batch (rows of V: N*TH*TW) from which Winograd runs. Below, its fixed costs
# (16 small matrix products, four kernels) outweigh the multiply-adds it saves: against
# im2col, eval and training broke even between 1,000 and 2,400 tiles on the layers of
# the two models in BENCHMARKS.md (26x26 to 7x7 planes, 32 to 128 channels; 200-600 on
# two narrower 12x12 layers), and at 2,048 to 18,432 tiles Winograd was 1.05-1.37x
# faster (2026-12-05, AMD Zen 4). A batch of one 28x28 MNIST image (144 tiles at conv2)
# takes im2col, a training batch of 64 Winograd.
MIN_TILES = 2048
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


def winograd_input(x, padding, out=None):
    """Input transform V = B^T d B of every 4x4 input tile d (NumPy; cpu_winograd.py
    has the Numba twin).

    x: (N, C, H, W); padding: (ph, pw)
    returns V: (16, N*TH*TW, C), V[4*xi + nu, (n, ty, tx), c] = (B^T d B)[xi, nu] for
    the tile d = x_padded[n, c, 2*ty:2*ty + 4, 2*tx:2*tx + 4] ((TH, TW) from
    ``winograd_tiles``; zeros beyond the padded input); written into ``out`` if given.
    """
    xp = array_module(x)
    (ph, pw), (n, c, h, w) = padding, x.shape
    th, tw = winograd_tiles(h, w, padding)
    padded = xp.zeros((n, c, 2 * th + 2, 2 * tw + 2), dtype=x.dtype)
    padded[:, :, ph:ph + h, pw:pw + w] = x
    tiles = xp.empty((4, 4, n, c, th, tw), dtype=x.dtype)     # tiles[r, s] = d[r, s]
    for r in range(4):
        for s in range(4):
            tiles[r, s] = padded[:, :, r:r + 2 * th:2, s:s + 2 * tw:2]
    bt = xp.asarray(WINOGRAD_BT, dtype=x.dtype)
    v = xp.einsum("ar,rsncyx,bs->abnyxc", bt, tiles, bt)         # B^T d B, every tile
    return _rows(v, out)


def _rows(values, out=None):
    """Tile values (4, 4, N, TH, TW, channels) as V's or M's layout (16, N*TH*TW,
    channels), written into ``out`` if given."""
    rows = values.reshape(16, -1, values.shape[-1])
    if out is None:
        return array_module(values).ascontiguousarray(rows)
    out[...] = rows
    return out


def winograd_output(m, bias, out):
    """Output transform Y = A^T m A of every tile, plus the bias, into ``out`` (NumPy;
    cpu_winograd.py has the Numba twin).

    m: (16, N*TH*TW, O) (the 16 products M, tiles in (n, ty, tx) order); bias: (O,);
    out: (N, O, OH, OW) -> out, with out[n, o, 2*ty + i, 2*tx + j] = Y[i, j] + bias[o]
    (entries past OH or OW, from the last tiles of an odd size, are dropped).
    """
    xp = array_module(m)
    n, o, oh, ow = out.shape
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    at = xp.asarray(WINOGRAD_AT, dtype=m.dtype)
    m = m.reshape(4, 4, n, th, tw, o)
    y = xp.einsum("ia,abnyxo,jb->noyixj", at, m, at)             # A^T m A: (N, O, TH, 2, TW, 2)
    y = y.reshape(n, o, 2 * th, 2 * tw)[:, :, :oh, :ow]
    xp.add(y, bias.reshape(1, -1, 1, 1), out=out)
    return out


def winograd_output_adjoint(dy, out=None):
    """The adjoint (transpose) of the output transform, for dL/dM: dM = A dY A^T for every
    2x2 tile dY of dy (NumPy; cpu_winograd.py has the Numba twin).

    From Y = A^T M A (module docstring), dL/dM[xi, nu] = sum over i, j of
    A^T[i, xi] dY[i, j] A^T[j, nu]. Entries past OH or OW (the last tiles of an odd size)
    were dropped by the forward: their dY is 0.
    dy: (N, O, OH, OW) -> dM: (16, N*TH*TW, O), laid out as ``winograd_output`` reads M;
    written into ``out`` if given."""
    xp = array_module(dy)
    n, o, oh, ow = dy.shape
    th, tw = -(-oh // 2), -(-ow // 2)
    padded = xp.zeros((n, o, 2 * th, 2 * tw), dtype=dy.dtype)
    padded[:, :, :oh, :ow] = dy
    tiles = padded.reshape(n, o, th, 2, tw, 2)                            # (n, o, ty, i, tx, j)
    at = xp.asarray(WINOGRAD_AT, dtype=dy.dtype)
    dm = xp.einsum("ia,noyixj,jb->abnyxo", at, tiles, at)                 # A dY A^T, every tile
    return _rows(dm, out)


def winograd_input_adjoint(dv, x_shape, padding, out=None):
    """The adjoint of the input transform, for dL/dx: each tile's B dV B^T added back onto
    the 4x4 input tile it came from (tiles overlap by 2: overlaps add), the padding
    dropped (NumPy; cpu_winograd.py has the Numba twin).

    From V = B^T d B, dL/dd[r, s] = sum over xi, nu of B^T[xi, r] dV[xi, nu] B^T[nu, s].
    dv: (16, N*TH*TW, C), laid out as ``winograd_input`` gives V; x_shape: (N, C, H, W)
    of the forward's input; padding: (ph, pw) -> dx: (N, C, H, W), written into ``out``
    if given."""
    xp = array_module(dv)
    (n, c, h, w), (ph, pw) = x_shape, padding
    th, tw = winograd_tiles(h, w, padding)
    bt = xp.asarray(WINOGRAD_BT, dtype=dv.dtype)
    dd = xp.einsum("ar,abnyxc,bs->rsncyx", bt, dv.reshape(4, 4, n, th, tw, c), bt)  # B dV B^T
    padded = xp.zeros((n, c, 2 * th + 2, 2 * tw + 2), dtype=dv.dtype)
    for r in range(4):                          # the forward's gather, reversed: scatter-add
        for s in range(4):
            padded[:, :, r:r + 2 * th:2, s:s + 2 * tw:2] += dd[r, s]
    if out is None:
        return xp.ascontiguousarray(padded[:, :, ph:ph + h, pw:pw + w])
    out[...] = padded[:, :, ph:ph + h, pw:pw + w]
    return out


def filter_transform_adjoint(du):
    """The adjoint of ``filter_transform``, for dL/dW: G^T dU G for every (output, input)
    channel pair. du: (16, O, C) -> dW: (O, C, 3, 3)."""
    xp = array_module(du)
    g = xp.asarray(WINOGRAD_G, dtype=du.dtype)
    du = du.reshape(4, 4, *du.shape[1:]).transpose(2, 3, 0, 1)            # (O, C, 4, 4)
    return g.T @ du @ g


def applies(x_shape, weights_shape, stride, padding):
    """True for a 3x3, stride-1 filter bank with at least MIN_CHANNELS input channels, on
    an input (N, C, H, W) of at least MIN_TILES tiles (N*TH*TW, ``winograd_tiles``)."""
    tiles = x_shape[0] * int(np.prod(winograd_tiles(x_shape[2], x_shape[3], padding)))
    return (tuple(weights_shape[2:]) == (3, 3) and tuple(stride) == (1, 1)
            and weights_shape[1] >= MIN_CHANNELS and tiles >= MIN_TILES)


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


def conv3x3(x, weights, bias, padding, transforms, out, scratch):
    """y = conv(x, weights) + bias for a 3x3, stride-1 filter bank, via F(2x2, 3x3).

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
    u_t = xp.ascontiguousarray(filter_transform(weights).transpose(0, 2, 1))  # U^T: (16, C, O)
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
    returns (out, saved), saved = (V (16, N*TH*TW, C), U (16, O, C)) for
    ``conv3x3_backward``."""
    xp = array_module(x)
    n, c = x.shape[:2]
    o = weights.shape[0]
    per_image = int(np.prod(winograd_tiles(*x.shape[2:], padding)))
    u = filter_transform(weights)                                          # U = G g G^T
    u_t = xp.ascontiguousarray(u.transpose(0, 2, 1))                       # U^T: (16, C, O)
    v = transforms.winograd_input(x, padding, out=scratch(
        "winograd_v", (16, n * per_image, c), x))                          # V = B^T d B
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

        dM = A dY A^T                  (every 2x2 tile dY of dy: winograd_output_adjoint)
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
    du = xp.zeros((16, o, c), dtype=dy.dtype) if param_grads else None
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
    """A reused buffer for (16, rows of a chunk, channels) arrays, sized for the widest
    chunk: returns rows -> that array (a view of the buffer's first entries)."""
    widest = max(rows.stop - rows.start for _, rows in chunks)
    flat = scratch(key, (16 * widest * channels,), like)
    return lambda rows: flat[:16 * (rows.stop - rows.start) * channels].reshape(
        16, rows.stop - rows.start, channels)


def _chunks(n, channels, per_image, itemsize):
    """(images, rows) slices of the chunks of ``conv3x3``, ``conv3x3_training`` and
    ``conv3x3_backward``: the fewest chunks of whole images, as even as can be, whose
    V and M (16 * tiles * (C + O) numbers, ``channels`` = C + O) fit in ``chunk_bytes()``
    (a chunk holds one image at least); rows: their tiles' rows of V and M. 64 images of
    which 9 fit: 8 chunks of 8, not 7 of 9 and one of 1 (whose kernels would keep one
    thread busy)."""
    fit = max(1, chunk_bytes() // (16 * channels * per_image * itemsize))
    count = -(-n // fit)
    for index in range(count):
        first, last = n * index // count, n * (index + 1) // count
        yield slice(first, last), slice(first * per_image, last * per_image)
