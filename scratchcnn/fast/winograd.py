"""Winograd F(4x4, 3x3) convolutions, equal to reference.conv.conv2d_forward and
conv2d_backward for 3x3, stride-1 filters (the algorithm: reference/winograd.py).

``applies`` says where Winograd runs (fast/conv2d.py asks it); ``conv3x3`` (eval),
``conv3x3_training`` and ``conv3x3_backward`` run it on chunks of images whose V and M
stay in the cache, with reused buffers and the Numba transforms of winograd_kernels.py
(or, passed as ``transforms``, reference/winograd.py's NumPy ones).
"""
import numpy as np

from ..backend import array_module
from ..reference.winograd import (F4, filter_transform, filter_transform_adjoint,
                                  winograd_tiles)
from . import recycle

# Where Winograd runs: 3x3, stride-1 filters with at least MIN_CHANNELS input channels, on
# a batch of at least MIN_TILES 4x4 output tiles; below, its fixed costs outweigh the
# multiply-adds it saves (BENCHMARKS.md, "Rules in the code": MIN_CHANNELS, MIN_TILES).
# Fixed, not measured at run time: the two algorithms round differently, and which one a
# layer runs (so its last bits) must not depend on the machine or the run.
MIN_CHANNELS = 16
MIN_TILES = 512
DEFAULT_CHUNK_BYTES = 8 << 20       # where the machine does not report its caches
# A training step's chunks take TRAINING_CHUNK_FACTOR times chunk_bytes() (the whole
# last-level cache): each chunk alternates matrix products and Numba transforms, and in a
# training step fewer alternations beat a smaller chunk (BENCHMARKS.md, "Rules in the
# code": chunk_bytes).
TRAINING_CHUNK_FACTOR = 4
SCHEME = F4                         # BENCHMARKS.md, "Rules in the code": SCHEME


def chunk_bytes(caches=None):
    """How many bytes of V and M one chunk of images may take in eval: a quarter of the
    last-level cache, at least 1 MB (BENCHMARKS.md, "Rules in the code": chunk_bytes);
    DEFAULT_CHUNK_BYTES if the cache is unknown. A training step's chunks take
    ``TRAINING_CHUNK_FACTOR`` times this.
    caches: {"L2": bytes, "L3": bytes, ...} (default: this machine's, machine.py)."""
    if caches is None:
        from .machine import this_machine
        caches = this_machine()["caches"]
    last = caches.get("L3") or caches.get("L2")
    return DEFAULT_CHUNK_BYTES if not last else max(1 << 20, last // 4)


def applies(x_shape, weights_shape, stride, padding):
    """True for a 3x3, stride-1 filter bank with at least MIN_CHANNELS input channels, on
    an input (N, C, H, W) of at least MIN_TILES tiles (N*TH*TW, ``winograd_tiles``)."""
    tiles = x_shape[0] * int(np.prod(winograd_tiles(x_shape[2], x_shape[3], padding)))
    return (tuple(weights_shape[2:]) == (3, 3) and tuple(stride) == (1, 1)
            and weights_shape[1] >= MIN_CHANNELS and tiles >= MIN_TILES)


def conv3x3(x, weights, bias, padding, transforms, out, scratch):
    """y = conv(x, weights) + bias for a 3x3, stride-1 filter bank, via ``SCHEME``.

    x: (N, C, H, W); weights: (O, C, 3, 3); bias: (O,); padding: (ph, pw);
    transforms: a module with ``winograd_input`` / ``winograd_output`` (winograd_kernels,
    or reference/winograd.py for the NumPy versions);
    out: (N, O, H + 2*ph - 2, W + 2*pw - 2), written and returned;
    scratch(key, shape, like): reused work buffers (conv2d.py's ``buffer``).
    Images go through in chunks whose V and M stay in cache (``chunk_bytes``).
    """
    xp = array_module(x)
    n, c = x.shape[:2]
    o = weights.shape[0]
    u_t = xp.ascontiguousarray(filter_transform(weights).transpose(0, 2, 1))  # U^T: (E, C, O)
    per_image = int(np.prod(winograd_tiles(*x.shape[2:], padding)))       # tiles per image
    chunks = list(_chunks(n, c + o, per_image, x.dtype.itemsize, chunk_bytes()))
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
    images, as in ``conv3x3`` but ``TRAINING_CHUNK_FACTOR`` times larger.

    x: (N, C, H, W); weights: (O, C, 3, 3); bias: (O,); padding: (ph, pw); transforms:
    winograd_kernels or reference/winograd.py; out: (N, O, OH, OW); scratch: reused buffers.
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
    chunks = list(_chunks(n, c + o, per_image, x.dtype.itemsize,
                          TRAINING_CHUNK_FACTOR * chunk_bytes()))
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
    dx = recycle.empty(x_shape, dy.dtype) if input_grad else None
    chunks = list(_chunks(n, c + o, per_image, dy.dtype.itemsize,
                          TRAINING_CHUNK_FACTOR * chunk_bytes()))
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


def _chunks(n, channels, per_image, itemsize, budget):
    """(images, rows) slices of the chunks of ``conv3x3``, ``conv3x3_training`` and
    ``conv3x3_backward``: the fewest chunks of whole images, as even as can be, whose
    V and M (E * tiles * (C + O) numbers, E = SCHEME.entries, ``channels`` = C + O) fit in
    ``budget`` bytes (a chunk holds one image at least): ``chunk_bytes()`` in eval,
    ``TRAINING_CHUNK_FACTOR`` times that in a training step; rows: their tiles' rows of
    V and M. 64 images of which 9 fit: 8 chunks of 8, not 7 of 9 and one of 1 (whose
    kernels would keep one thread busy)."""
    fit = max(1, budget // (SCHEME.entries * channels * per_image * itemsize))
    count = -(-n // fit)
    for index in range(count):
        first, last = n * index // count, n * (index + 1) // count
        yield slice(first, last), slice(first * per_image, last * per_image)
