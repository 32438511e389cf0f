"""Numba twins of the four transforms of winograd.py (F(2x2, 3x3)): the input and output
transforms and their adjoints.

Same rules as ``cpu.py``: each thread owns whole images, so there is no race and the
bits are the same every run.

Three things make these fast, all visible in the code:

* **Channels innermost.** Every number below is a vector of an image's channels (``C``
  of them in the input transform and its adjoint, ``O`` in the output transform and
  its adjoint): the transforms do the same adds for every channel, so each step is a loop
  over (tile, channel) pairs that LLVM turns into SIMD instructions, whatever the
  plane's width (a 7x7 map still gives 4 x C numbers per row of tiles). V, M and their
  gradients have the channels innermost too (winograd.py says why).
* **Phases instead of tiles.** Split the zero-padded input plane into its four
  *phases*, ``phase[r, s][i, j] = padded[2i + r, 2j + s]`` (r, s = row, column
  parity). Entry (r, s) of tile (ty, tx) is then ``phase[r % 2, s % 2][ty + r // 2,
  tx + s // 2]``: for every r, s it is one phase plane shifted by a constant. So each
  step of B^T d B is a loop over all tiles at once that reads two shifted planes
  and writes one: a unit-stride loop.
* **Unsigned indices** (``u(...)``). With a signed index, Numba checks every access
  for a negative (wrap-around) index, and that check stops LLVM from vectorizing
  the loop: 1.41 vs 0.14 ns per element for ``c[k] = a[k] + a[n + k]`` on this
  machine (BENCHMARKS.md). Every offset below is non-negative by construction.

The one step that is not a unit-stride loop is the copy between an image's planes
(N, C, H, W) and the channels-innermost buffers: a transpose, one read and one write
per pixel of the layer's input or output, against 16 per tile for V and M.
"""
import numba
import numpy as np
from numba import njit, prange
from numba import uint64 as u

from .winograd import winograd_tiles


@njit(cache=True, parallel=True)
def _winograd_input(x, v, ph, pw, th, tw, blocks):
    n, c, h, w = x.shape
    qh, qw = th + 1, tw + 1                     # phase plane size: tiles + 1 overlap
    q, tiles = qh * qw, th * tw
    x_flat, v_flat = x.ravel(), v.ravel()
    entry = u(n * tiles * c)                    # distance between V[k] and V[k + 1]
    C = u(c)                                    # every element below is C channels wide
    for block in prange(blocks):                # thread owns images [first, last)
        phases = np.zeros(4 * q * c, x.dtype)   # phase (r, s) starts at (2r + s) * q * C;
                                                # its padding borders are never written: 0
        rows = np.empty(8 * th * qw * c, x.dtype)   # B^T d for each column parity s
        first, last = block * n // blocks, (block + 1) * n // blocks
        for image in range(first, last):
            # 1. copy the image's planes into the phases, channel ``ch`` at offset ``ch``
            #    of each element (the transpose; the padding stays zero)
            for ch in range(c):
                for p in range(2 * qh):         # padded row p = input row p - ph
                    y = p - ph
                    if y < 0 or y >= h:
                        continue
                    for s in range(2):          # column parity
                        low = max(0, (pw - s + 1) // 2)            # first j inside the image
                        high = min(qw, (w - 1 + pw - s) // 2 + 1)
                        dst = u(((2 * (p % 2) + s) * qh + p // 2) * qw + low) * C + u(ch)
                        src = u((image * c + ch) * h + y) * u(w) + u(2 * low + s - pw)
                        for j in range(u(max(0, high - low))):
                            phases[dst + C * j] = x_flat[src + u(2) * j]
            # 2. B^T d: rows a = 0..3 of each tile from padded rows 2ty + (0, 1, 2, 3),
            #    i.e. phase row parity 0 at ty, 1 at ty, 0 at ty+1, 1 at ty+1.
            #    B^T rows: (1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1).
            span = u(th * qw) * C               # every tile row, all qw columns, all channels
            for s in range(2):
                d0, d1 = u(s * q) * C, u((2 + s) * q) * C           # d0, d1 at ty
                d2, d3 = d0 + u(qw) * C, d1 + u(qw) * C             # d2, d3 at ty + 1
                r0, r1 = u(s) * span, u(2 + s) * span             # rows a = 0, 1 ...
                r2, r3 = u(4 + s) * span, u(6 + s) * span         # ... and 2, 3
                for k in range(span):
                    rows[r0 + k] = phases[d0 + k] - phases[d2 + k]
                for k in range(span):
                    rows[r1 + k] = phases[d1 + k] + phases[d2 + k]
                for k in range(span):
                    rows[r2 + k] = phases[d2 + k] - phases[d1 + k]
                for k in range(span):
                    rows[r3 + k] = phases[d1 + k] - phases[d3 + k]
            # 3. (B^T d) B: the same combination along each tile row's columns
            #    2tx + (0, 1, 2, 3) = parity 0 at tx, 1 at tx, 0 at tx+1, 1 at tx+1;
            #    V's rows (image, ty, tx), a row of tiles is one run of TW * C numbers.
            first_row = u(image * tiles) * C    # V's row of the image's first tile
            row_span = u(tw) * C                # one row of tiles, all channels
            for a in range(4):
                for ty in range(th):
                    e0 = u((a * 2) * th * qw + ty * qw) * C     # even column 2tx (parity 0)
                    o0 = e0 + span                              # odd column 2tx + 1
                    e1, o1 = e0 + C, o0 + C                     # ... 2tx + 2 and 2tx + 3
                    v0 = u(4 * a) * entry + first_row + u(ty * tw) * C
                    v1, v2, v3 = v0 + entry, v0 + u(2) * entry, v0 + u(3) * entry
                    for k in range(row_span):
                        v_flat[v0 + k] = rows[e0 + k] - rows[e1 + k]
                    for k in range(row_span):
                        v_flat[v1 + k] = rows[o0 + k] + rows[e1 + k]
                    for k in range(row_span):
                        v_flat[v2 + k] = rows[e1 + k] - rows[o0 + k]
                    for k in range(row_span):
                        v_flat[v3 + k] = rows[o0 + k] - rows[o1 + k]
    return v


def _check_shape(array, name, shape, function):
    # The kernels index flat views without bounds checks: an array of the wrong shape
    # would be read in the wrong layout, or written past its end.
    if tuple(array.shape) != tuple(shape):
        raise ValueError(f"{function}: {name} must have shape {tuple(shape)}, got {array.shape}")


def _check_out(out, shape, function):
    # ``out`` is written through a flat view: on a strided array that view would be a
    # copy and the result silently lost.
    _check_shape(out, "out", shape, function)
    if not out.flags.c_contiguous:
        raise ValueError(f"{function}: out must be C-contiguous (it is written as flat planes)")


def _blocks(n):
    """Thread blocks of whole images: up to 8 per thread, so that uneven images balance."""
    return max(1, min(n, 8 * numba.get_num_threads()))


def winograd_input(x, padding, out=None):
    """See ``winograd.winograd_input``. x: (N, C, H, W) -> V: (16, N*TH*TW, C)."""
    n, c, h, w = x.shape
    th, tw = winograd_tiles(h, w, padding)
    if out is None:
        out = np.empty((16, n * th * tw, c), dtype=x.dtype)
    _check_out(out, (16, n * th * tw, c), "winograd_input")
    return _winograd_input(np.ascontiguousarray(x), out, padding[0], padding[1], th, tw,
                           _blocks(n))


@njit(cache=True, parallel=True)
def _winograd_output(m, bias, y, blocks):
    n, o, oh, ow = y.shape
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    tiles = th * tw
    m_flat, y_flat = m.ravel(), y.ravel()
    entry = u(n * tiles * o)                    # distance between M[k] and M[k + 1]
    O = u(o)                                    # every element below is O channels wide
    span = u(tiles) * O                         # an image's tiles, all channels
    for block in prange(blocks):                # thread owns images [first, last)
        rows = np.empty(8 * tiles * o, m.dtype)      # A^T m: rows[(4i + j) * span + ...]
        corners = np.empty(4 * tiles * o, m.dtype)   # A^T m A + b: corners[(2i + j) * span + ...]
        biases = np.empty(tiles * o, m.dtype)        # the bias of each (tile, channel)
        for t in range(tiles):
            biases[t * o:(t + 1) * o] = bias
        first, last = block * n // blocks, (block + 1) * n // blocks
        for image in range(first, last):
            src = u(image * tiles) * O
            # 1. A^T m, A^T rows (1, 1, 1, 0) and (0, 1, -1, -1), over entry rows xi
            for j in range(4):
                m0 = u(j) * entry + src         # M[xi = 0, nu = j]
                m1, m2, m3 = m0 + u(4) * entry, m0 + u(8) * entry, m0 + u(12) * entry
                top, bottom = u(j) * span, u(4 + j) * span
                for k in range(span):
                    rows[top + k] = m_flat[m0 + k] + m_flat[m1 + k] + m_flat[m2 + k]
                for k in range(span):
                    rows[bottom + k] = m_flat[m1 + k] - m_flat[m2 + k] - m_flat[m3 + k]
            # 2. (A^T m) A + bias, the same rows over the columns nu
            for i in range(2):
                r0 = u(4 * i) * span
                r1, r2, r3 = r0 + span, r0 + u(2) * span, r0 + u(3) * span
                left, right = u(2 * i) * span, u(2 * i + 1) * span
                for k in range(span):
                    corners[left + k] = rows[r0 + k] + rows[r1 + k] + rows[r2 + k] + biases[k]
                for k in range(span):
                    corners[right + k] = rows[r1 + k] - rows[r2 + k] - rows[r3 + k] + biases[k]
            # 3. interleave (the transpose): y[image, oc, 2ty + i, 2tx + j] =
            #    corners[2i + j][(ty, tx), oc]
            for oc in range(o):
                for row in range(oh):
                    ty, i = row // 2, row % 2
                    left = u(2 * i * tiles + ty * tw) * O + u(oc)
                    right = u((2 * i + 1) * tiles + ty * tw) * O + u(oc)
                    dst = u(((image * o + oc) * oh + row) * ow)
                    for tx in range(u(ow // 2)):
                        y_flat[dst + u(2) * tx] = corners[left + O * tx]
                        y_flat[dst + u(2) * tx + u(1)] = corners[right + O * tx]
                    if ow % 2:                  # odd width: the last tile's left column
                        y_flat[dst + u(ow - 1)] = corners[left + O * u(tw - 1)]
    return y


def winograd_output(m, bias, out):
    """See ``winograd.winograd_output``. m: (16, N*TH*TW, O) -> out: (N, O, OH, OW)."""
    n, o, oh, ow = out.shape
    _check_out(out, out.shape, "winograd_output")       # its shape sets M's: contiguity
    _check_shape(m, "m", (16, n * ((oh + 1) // 2) * ((ow + 1) // 2), o),
                 "winograd_output")
    return _winograd_output(np.ascontiguousarray(m), bias.astype(m.dtype), out,
                            _blocks(out.shape[0]))


@njit(cache=True, parallel=True)
def _winograd_output_adjoint(dy, dm, blocks):
    n, o, oh, ow = dy.shape
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    tiles = th * tw
    dy_flat, dm_flat = dy.ravel(), dm.ravel()
    entry = u(n * tiles * o)                    # distance between dM[k] and dM[k + 1]
    O = u(o)
    line = u(2 * tw) * O                        # one row of the plane, every channel
    for block in prange(blocks):                # thread owns images [first, last)
        plane = np.zeros(2 * th * 2 * tw * o, dy.dtype)   # (row, col, channel); past OH or
                                                # OW never written: 0 (the dropped entries)
        rows = np.empty(4 * th * 2 * tw * o, dy.dtype)     # A dY: (xi, ty, col, channel)
        first, last = block * n // blocks, (block + 1) * n // blocks
        for image in range(first, last):
            # 1. the image's planes of dy, channel ``oc`` at offset oc (the transpose)
            for oc in range(o):
                for r in range(oh):
                    dst = u(r) * line + u(oc)
                    src = u(((image * o + oc) * oh + r) * ow)
                    for j in range(u(ow)):
                        plane[dst + O * j] = dy_flat[src + j]
            # 2. A dY down each column, A^T rows (1, 1, 1, 0) and (0, 1, -1, -1):
            #    xi = 0: d0, 1: d0 + d1, 2: d0 - d1, 3: -d1 (d0, d1: rows 2ty, 2ty + 1)
            for ty in range(th):
                top = u(2 * ty) * line
                r0 = u(ty) * line
                r1, r2, r3 = r0 + u(th) * line, r0 + u(2 * th) * line, r0 + u(3 * th) * line
                for k in range(line):
                    d0, d1 = plane[top + k], plane[top + line + k]
                    rows[r0 + k] = d0
                    rows[r1 + k] = d0 + d1
                    rows[r2 + k] = d0 - d1
                    rows[r3 + k] = -d1
            # 3. (A dY) A^T along each tile's two columns, every channel at once
            first_row = u(image * tiles) * O    # dM's row of the image's first tile
            for xi in range(4):
                for ty in range(th):
                    row = u(xi * th + ty) * line
                    for tx in range(tw):
                        left = row + u(2 * tx) * O      # the tile's columns 2tx, 2tx + 1
                        right = left + O
                        m0 = u(4 * xi) * entry + first_row + u(ty * tw + tx) * O
                        m1, m2, m3 = m0 + entry, m0 + u(2) * entry, m0 + u(3) * entry
                        for oc in range(O):
                            a, b = rows[left + oc], rows[right + oc]
                            dm_flat[m0 + oc] = a
                            dm_flat[m1 + oc] = a + b
                            dm_flat[m2 + oc] = a - b
                            dm_flat[m3 + oc] = -b
    return dm


def winograd_output_adjoint(dy, out=None):
    """See ``winograd.winograd_output_adjoint``. dy: (N, O, OH, OW) -> dM: (16, N*TH*TW,
    O); written into ``out`` if given."""
    n, o, oh, ow = dy.shape
    shape = (16, n * ((oh + 1) // 2) * ((ow + 1) // 2), o)
    dm = np.empty(shape, dtype=dy.dtype) if out is None else out
    _check_out(dm, shape, "winograd_output_adjoint")
    return _winograd_output_adjoint(np.ascontiguousarray(dy), dm, _blocks(n))


@njit(cache=True, parallel=True)
def _winograd_input_adjoint(dv, dx, ph, pw, th, tw, blocks):
    n, c, h, w = dx.shape
    tiles = th * tw
    dv_flat, dx_flat = dv.ravel(), dx.ravel()
    entry = u(n * tiles * c)                    # distance between dV[k] and dV[k + 1]
    C = u(c)
    width = 2 * tw + 2                          # the padded plane the tiles cover
    line = u(width) * C
    for block in prange(blocks):                # thread owns images [first, last)
        rows = np.empty(4 * th * width * c, dv.dtype)      # dV B^T: (xi, ty, col, channel)
        padded = np.empty((2 * th + 2) * width * c, dv.dtype)   # (row, col, channel)
        first, last = block * n // blocks, (block + 1) * n // blocks
        for image in range(first, last):
            rows[:] = 0
            padded[:] = 0
            # 1. dV B^T: each tile row's four entries v0..v3 combined by the columns of
            #    B^T and added onto plane columns 2tx + s (tiles overlap by two columns):
            #    s = 0: v0, 1: v1 - v2 + v3, 2: -v0 + v1 + v2, 3: -v3
            src = u(image * tiles) * C
            for xi in range(4):
                for ty in range(th):
                    row = u(xi * th + ty) * line
                    for tx in range(tw):
                        v0 = u(4 * xi) * entry + src + u(ty * tw + tx) * C
                        v1, v2, v3 = v0 + entry, v0 + u(2) * entry, v0 + u(3) * entry
                        e0 = row + u(2 * tx) * C
                        e1, e2, e3 = e0 + C, e0 + u(2) * C, e0 + u(3) * C
                        for ch in range(C):
                            a, b = dv_flat[v0 + ch], dv_flat[v1 + ch]
                            cc, d = dv_flat[v2 + ch], dv_flat[v3 + ch]
                            rows[e0 + ch] += a
                            rows[e1 + ch] += b - cc + d
                            rows[e2 + ch] += -a + b + cc
                            rows[e3 + ch] -= d
            # 2. the same combination down each column, added onto rows 2ty + r
            for ty in range(th):
                r0 = u(ty) * line
                r1, r2, r3 = r0 + u(th) * line, r0 + u(2 * th) * line, r0 + u(3 * th) * line
                top = u(2 * ty) * line
                for k in range(line):
                    a, b, cc, d = rows[r0 + k], rows[r1 + k], rows[r2 + k], rows[r3 + k]
                    padded[top + k] += a
                    padded[top + line + k] += b - cc + d
                    padded[top + u(2) * line + k] += -a + b + cc
                    padded[top + u(3) * line + k] -= d
            # 3. the image's part of the padded plane into dx (the transpose; the padding
            #    dropped)
            for ch in range(c):
                for y in range(h):
                    src_row = u((y + ph) * width + pw) * C + u(ch)
                    dst = u(((image * c + ch) * h + y) * w)
                    for x in range(u(w)):
                        dx_flat[dst + x] = padded[src_row + C * x]
    return dx


def winograd_input_adjoint(dv, x_shape, padding, out=None):
    """See ``winograd.winograd_input_adjoint``. dv: (16, N*TH*TW, C) -> dx: x_shape
    (N, C, H, W), written into ``out`` if given."""
    n, c, h, w = x_shape
    th, tw = winograd_tiles(h, w, padding)
    _check_shape(dv, "dv", (16, n * th * tw, c), "winograd_input_adjoint")
    dx = np.empty(x_shape, dtype=dv.dtype) if out is None else out
    _check_out(dx, x_shape, "winograd_input_adjoint")
    return _winograd_input_adjoint(np.ascontiguousarray(dv), dx, padding[0], padding[1],
                                   th, tw, _blocks(n))
