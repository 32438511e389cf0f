"""Numba twins of reference/winograd.py's winograd_input, winograd_output and their adjoints,
written for F(4x4, 3x3) (6x6 input tiles, 4x4 output tiles).

Same rules as ``conv.py``: each thread owns whole images, so there is no race and the
bits are the same every run.

Each transform is two passes of one small matrix, as in the math: for B^T d B, first
B^T d (row a of the result combines the tile's 6 rows by B^T[a, :]), then (B^T d) B
(column b combines its 6 columns by B^T[b, :]). Every pass is a call of ``_combine6``
or ``_combine4``: one output line as a weighted sum of 6 (or 4) input lines,
``dst[k] = row[0] * src0[k] + ... + row[5] * src5[k]`` (the input lines equally spaced),
with a row of the matrix as the weights (its zeros included: a multiply-add costs less
than a branch).
What makes them fast, all visible in the code:

* **Channels innermost.** An image is first copied (transposed) into a plane of
  (row, column, channel) with its zero padding; V, M and their gradients have the
  channels innermost too (winograd.py says why). Every line combined is then a run of
  contiguous numbers: a whole padded row (all columns, all channels) in the pass down
  the columns, one tile's channels (C or O numbers) in the pass along the rows. LLVM
  turns each into SIMD instructions, on planes of any width.
* **All terms of a line in one loop.** The forward transforms write each number once,
  as the sum of its 6 (or 4) terms, not term by term (which reads and writes the line
  once per term: slower, BENCHMARKS.md, "Rules in the code": SCHEME); the adjoints add a
  line's terms onto it where tiles overlap. A thread's work between passes (its
  image's plane and rows) stays in its cache.
* **Unsigned indices** (``u(...)``), as in conv.py: every offset below is
  non-negative by construction.

The adjoints run the same passes in reverse order with the transposed matrices; where
tiles overlap (the input's 6x6 tiles share 2 rows and 2 columns), they add.
"""
import numba
import numpy as np
from numba import njit, prange
from numba import uint64 as u

from ..reference.winograd import F4, winograd_tiles


@njit(inline="always")
def _combine6(dst, d, src, first, spacing, row, length, accumulate):
    """dst[d + k] = sum over i < 6 of row[i] * src[first + i * spacing + k] for k < length
    (added onto dst if ``accumulate``): 6 lines of src, ``spacing`` apart, weighted by a
    row of a transform matrix."""
    o0, o1, o2 = first, first + spacing, first + u(2) * spacing
    o3, o4, o5 = first + u(3) * spacing, first + u(4) * spacing, first + u(5) * spacing
    c0, c1, c2, c3, c4, c5 = row[0], row[1], row[2], row[3], row[4], row[5]
    if accumulate:
        for k in range(u(length)):
            dst[d + k] += (c0 * src[o0 + k] + c1 * src[o1 + k] + c2 * src[o2 + k]
                           + c3 * src[o3 + k] + c4 * src[o4 + k] + c5 * src[o5 + k])
    else:
        for k in range(u(length)):
            dst[d + k] = (c0 * src[o0 + k] + c1 * src[o1 + k] + c2 * src[o2 + k]
                          + c3 * src[o3 + k] + c4 * src[o4 + k] + c5 * src[o5 + k])


@njit(inline="always")
def _combine6_bias(dst, d, src, first, spacing, row, bias, length):
    """``_combine6`` plus bias[k]."""
    o0, o1, o2 = first, first + spacing, first + u(2) * spacing
    o3, o4, o5 = first + u(3) * spacing, first + u(4) * spacing, first + u(5) * spacing
    c0, c1, c2, c3, c4, c5 = row[0], row[1], row[2], row[3], row[4], row[5]
    for k in range(u(length)):
        dst[d + k] = (c0 * src[o0 + k] + c1 * src[o1 + k] + c2 * src[o2 + k]
                      + c3 * src[o3 + k] + c4 * src[o4 + k] + c5 * src[o5 + k] + bias[k])


@njit(inline="always")
def _combine4(dst, d, src, first, spacing, row, length):
    """dst[d + k] = sum over i < 4 of row[i] * src[first + i * spacing + k] for k < length."""
    o0, o1 = first, first + spacing
    o2, o3 = first + u(2) * spacing, first + u(3) * spacing
    c0, c1, c2, c3 = row[0], row[1], row[2], row[3]
    for k in range(u(length)):
        dst[d + k] = c0 * src[o0 + k] + c1 * src[o1 + k] + c2 * src[o2 + k] + c3 * src[o3 + k]


@njit(cache=True, parallel=True)
def _winograd_input(x, v, bt, ph, pw, th, tw, blocks):
    n, c, h, w = x.shape
    t = bt.shape[0]                             # input tile size m + 2 = 6
    m = t - 2
    pr, pc = m * th + 2, m * tw + 2             # the padded plane the tiles cover
    tiles = th * tw
    x_flat, v_flat = x.ravel(), v.ravel()
    entry = u(n * tiles * c)                    # distance between V[k] and V[k + 1]
    C = u(c)                                    # every element below is C channels wide
    line = u(pc) * C                            # one row of the padded plane
    for block in prange(blocks):                # thread owns images [first, last)
        padded = np.zeros(pr * pc * c, x.dtype)        # (row, col, ch); its padding
                                                       # border is never written: 0
        rows = np.empty(t * th * pc * c, x.dtype)      # B^T d: (a, ty, col, ch)
        first, last = block * n // blocks, (block + 1) * n // blocks
        for image in range(first, last):
            # 1. the image into the padded plane, channel ``ch`` at offset ``ch`` of each
            #    pixel (the transpose)
            for ch in range(c):
                for y in range(h):
                    dst = u((y + ph) * pc + pw) * C + u(ch)
                    src = u((image * c + ch) * h + y) * u(w)
                    for col in range(u(w)):
                        padded[dst + C * col] = x_flat[src + col]
            # 2. B^T d: row a of every tile in tile row ty combines padded rows m*ty + r,
            #    r = 0..5, by B^T[a, r]: whole padded rows at once
            for a in range(t):
                for ty in range(th):
                    dst = u(a * th + ty) * line
                    o0 = u(m * ty) * line
                    _combine6(rows, dst, padded, o0, line, bt[a], line, False)
            # 3. (B^T d) B: entry (a, b) of tile (ty, tx) combines columns m*tx + s of
            #    its row a by B^T[b, s], into V's row of the tile (all channels)
            first_row = u(image * tiles) * C    # V's row of the image's first tile
            for a in range(t):
                for ty in range(th):
                    for tx in range(tw):
                        o0 = u(a * th + ty) * line + u(m * tx) * C
                        for b in range(t):
                            dst = u(a * t + b) * entry + first_row + u(ty * tw + tx) * C
                            _combine6(v_flat, dst, rows, o0, C, bt[b], C, False)
    return v


@njit(cache=True, parallel=True)
def _winograd_output(products, bias, y, at, blocks):
    n, o, oh, ow = y.shape
    m, t = at.shape                             # output tile size 4, input tile size 6
    th, tw = (oh + m - 1) // m, (ow + m - 1) // m
    tiles = th * tw
    m_flat, y_flat = products.ravel(), y.ravel()
    entry = u(n * tiles * o)                    # distance between M[k] and M[k + 1]
    O = u(o)                                    # every element below is O channels wide
    span = u(tiles) * O                         # an image's tiles, all channels
    width = u(m * tw) * O                       # a row of the plane (col, oc)
    for block in prange(blocks):                # thread owns images [first, last)
        rows = np.empty(m * t * tiles * o, y.dtype)      # A^T M: (i, b, tile, oc)
        plane = np.empty(m * th * m * tw * o, y.dtype)   # A^T M A + bias: (row, col, oc)
        first, last = block * n // blocks, (block + 1) * n // blocks
        for image in range(first, last):
            src0 = u(image * tiles) * O         # M's row of the image's first tile
            # 1. A^T M: row i of every tile combines M[a, b], a = 0..5, by A^T[i, a]:
            #    all of the image's tiles at once
            for i in range(m):
                for b in range(t):
                    dst = u(i * t + b) * span
                    o0 = u(b) * entry + src0
                    step = u(t) * entry
                    _combine6(rows, dst, m_flat, o0, step, at[i], span, False)
            # 2. (A^T M) A + bias: output (m*ty + i, m*tx + j) combines row i's entries
            #    b = 0..5 by A^T[j, b]
            for i in range(m):
                for ty in range(th):
                    for tx in range(tw):
                        o0 = u(i * t) * span + u(ty * tw + tx) * O
                        for j in range(m):
                            dst = u(m * ty + i) * width + u(m * tx + j) * O
                            _combine6_bias(plane, dst, rows, o0, span, at[j], bias, O)
            # 3. the plane into y (the transpose; rows and columns past OH, OW dropped)
            for oc in range(o):
                for row in range(oh):
                    dst = u(((image * o + oc) * oh + row) * ow)
                    src = u(row) * width + u(oc)
                    for col in range(u(ow)):
                        y_flat[dst + col] = plane[src + O * col]
    return y


@njit(cache=True, parallel=True)
def _winograd_output_adjoint(dy, dm, at, blocks):
    n, o, oh, ow = dy.shape
    m, t = at.shape
    a_t = np.ascontiguousarray(at.T)
    th, tw = (oh + m - 1) // m, (ow + m - 1) // m
    tiles = th * tw
    dy_flat, dm_flat = dy.ravel(), dm.ravel()
    entry = u(n * tiles * o)                    # distance between dM[k] and dM[k + 1]
    O = u(o)
    width = u(m * tw) * O                       # a row of the plane (col, oc)
    line = u(tw) * O                            # a row of tiles, all channels
    for block in prange(blocks):                # thread owns images [first, last)
        plane = np.zeros(m * th * m * tw * o, dy.dtype)   # (row, col, oc); past OH or OW
                                                # never written: 0 (the dropped entries)
        cols = np.empty(t * m * th * tw * o, dy.dtype)    # dY A^T: (b, row, tx, oc)
        first, last = block * n // blocks, (block + 1) * n // blocks
        for image in range(first, last):
            # 1. the image's planes of dy, channel ``oc`` at offset oc (the transpose)
            for oc in range(o):
                for r in range(oh):
                    src = u(((image * o + oc) * oh + r) * ow)
                    dst = u(r) * width + u(oc)
                    for col in range(u(ow)):
                        plane[dst + O * col] = dy_flat[src + col]
            # 2. dY A^T along each tile's columns m*tx + j, j = 0..3: entry b by A^T[j, b]
            for b in range(t):
                for r in range(m * th):
                    for tx in range(tw):
                        dst = u((b * m * th + r) * tw + tx) * O
                        o0 = u(r) * width + u(m * tx) * O
                        _combine4(cols, dst, plane, o0, O, a_t[b], O)
            # 3. A (dY A^T) down each tile's rows m*ty + i: entry a by A^T[i, a], a whole
            #    row of tiles at once, into dM
            first_row = u(image * tiles) * O    # dM's row of the image's first tile
            for a in range(t):
                for b in range(t):
                    for ty in range(th):
                        dst = u(a * t + b) * entry + first_row + u(ty * tw) * O
                        o0 = u(b * m * th + m * ty) * line
                        _combine4(dm_flat, dst, cols, o0, line, a_t[a], line)
    return dm


@njit(cache=True, parallel=True)
def _winograd_input_adjoint(dv, dx, bt, ph, pw, th, tw, blocks):
    n, c, h, w = dx.shape
    t = bt.shape[0]
    m = t - 2
    b_t = np.ascontiguousarray(bt.T)
    pr, pc = m * th + 2, m * tw + 2
    tiles = th * tw
    dv_flat, dx_flat = dv.ravel(), dx.ravel()
    entry = u(n * tiles * c)                    # distance between dV[k] and dV[k + 1]
    C = u(c)
    line = u(pc) * C                            # one row of the padded plane
    for block in prange(blocks):                # thread owns images [first, last)
        padded = np.empty(pr * pc * c, dv.dtype)       # (row, col, ch)
        rows = np.empty(t * th * pc * c, dv.dtype)     # dV B^T: (a, ty, col, ch)
        first, last = block * n // blocks, (block + 1) * n // blocks
        for image in range(first, last):
            rows[:] = 0
            padded[:] = 0
            # 1. the adjoint of the input transform's step 3: column m*tx + s of row a
            #    gets entry (a, b) of tile (ty, tx) times B^T[b, s], b = 0..5 (added:
            #    neighbouring tiles share two columns)
            first_row = u(image * tiles) * C
            for a in range(t):
                for ty in range(th):
                    for tx in range(tw):
                        o0 = u(a * t) * entry + first_row + u(ty * tw + tx) * C
                        for s in range(t):
                            dst = u(a * th + ty) * line + u(m * tx + s) * C
                            _combine6(rows, dst, dv_flat, o0, entry, b_t[s], C, True)
            # 2. the adjoint of step 2: padded row m*ty + r gets row a of tile row ty times
            #    B^T[a, r], a = 0..5 (added: tile rows share two padded rows)
            step = u(th) * line
            for ty in range(th):
                for r in range(t):
                    dst = u(m * ty + r) * line
                    o0 = u(ty) * line
                    _combine6(padded, dst, rows, o0, step, b_t[r], line, True)
            # 3. the image's part of the padded plane into dx (the transpose; the padding
            #    dropped)
            for ch in range(c):
                for y in range(h):
                    src = u((y + ph) * pc + pw) * C + u(ch)
                    dst = u((image * c + ch) * h + y) * u(w)
                    for col in range(u(w)):
                        dx_flat[dst + col] = padded[src + C * col]
    return dx


def _check_shape(array, name, shape, function):
    # The kernels index flat views without bounds checks: an array of the wrong shape
    # would be read in the wrong layout, or written past its end.
    if tuple(array.shape) != tuple(shape):
        raise ValueError(f"{function}: {name} must have shape {tuple(shape)}, got {array.shape}")


def _check_out(out, shape, function, dtype):
    # ``out`` is written through a flat view: on a strided array that view would be a
    # copy and the result silently lost; of another dtype, it would be rounded.
    _check_shape(out, "out", shape, function)
    if out.dtype != dtype:
        raise ValueError(f"{function}: out must have dtype {np.dtype(dtype)}, got {out.dtype}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{function}: out must be C-contiguous (it is written as flat planes)")


def _check_scheme(scheme, function):
    if scheme.m != 4:
        raise ValueError(f"{function}: the Numba transforms are written for F(4x4, 3x3) "
                         f"(6x6 tiles); got F({scheme.m}x{scheme.m}, 3x3): use reference/winograd.py's "
                         f"NumPy transforms for it")


def _blocks(n):
    """Thread blocks of whole images: up to 8 per thread, so that uneven images balance."""
    return max(1, min(n, 8 * numba.get_num_threads()))


def winograd_input(x, padding, out=None, scheme=F4):
    """See ``reference.winograd.winograd_input``. x: (N, C, H, W) -> V: (36, N*TH*TW, C)."""
    _check_scheme(scheme, "winograd_input")
    n, c, h, w = x.shape
    th, tw = winograd_tiles(h, w, padding, scheme)
    shape = (scheme.entries, n * th * tw, c)
    if out is None:
        out = np.empty(shape, dtype=x.dtype)
    _check_out(out, shape, "winograd_input", x.dtype)
    return _winograd_input(np.ascontiguousarray(x), out, scheme.bt.astype(x.dtype),
                           padding[0], padding[1], th, tw, _blocks(n))


def winograd_output(products, bias, out, scheme=F4):
    """See ``reference.winograd.winograd_output``. products: (36, N*TH*TW, O), bias: (O,) ->
    out: (N, O, OH, OW)."""
    _check_scheme(scheme, "winograd_output")
    n, o, oh, ow = out.shape
    _check_out(out, out.shape, "winograd_output", products.dtype)   # its shape sets the
    size = scheme.m                                                 # others': contiguity
    _check_shape(products, "products",
                 (scheme.entries, n * -(-oh // size) * -(-ow // size), o), "winograd_output")
    _check_shape(bias, "bias", (o,), "winograd_output")
    return _winograd_output(np.ascontiguousarray(products), bias.astype(products.dtype),
                            out, scheme.at.astype(products.dtype), _blocks(n))


def winograd_output_adjoint(dy, out=None, scheme=F4):
    """See ``reference.winograd.winograd_output_adjoint``. dy: (N, O, OH, OW) -> dM: (36, N*TH*TW,
    O); written into ``out`` if given."""
    _check_scheme(scheme, "winograd_output_adjoint")
    n, o, oh, ow = dy.shape
    size = scheme.m
    shape = (scheme.entries, n * -(-oh // size) * -(-ow // size), o)
    dm = np.empty(shape, dtype=dy.dtype) if out is None else out
    _check_out(dm, shape, "winograd_output_adjoint", dy.dtype)
    return _winograd_output_adjoint(np.ascontiguousarray(dy), dm, scheme.at.astype(dy.dtype),
                                    _blocks(n))


def winograd_input_adjoint(dv, x_shape, padding, out=None, scheme=F4):
    """See ``reference.winograd.winograd_input_adjoint``. dv: (36, N*TH*TW, C) -> dx: x_shape
    (N, C, H, W), written into ``out`` if given."""
    _check_scheme(scheme, "winograd_input_adjoint")
    n, c, h, w = x_shape
    th, tw = winograd_tiles(h, w, padding, scheme)
    _check_shape(dv, "dv", (scheme.entries, n * th * tw, c), "winograd_input_adjoint")
    dx = np.empty(x_shape, dtype=dv.dtype) if out is None else out
    _check_out(dx, x_shape, "winograd_input_adjoint", dv.dtype)
    return _winograd_input_adjoint(np.ascontiguousarray(dv), dx, scheme.bt.astype(dv.dtype),
                                   padding[0], padding[1], th, tw, _blocks(n))
