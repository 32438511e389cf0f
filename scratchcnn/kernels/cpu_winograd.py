"""Numba twins of ``winograd.winograd_input`` / ``winograd_output`` (F(2x2, 3x3)).

Same rules as ``cpu.py``: each thread owns whole (image group, channel) planes of the
output, so there is no race and the bits are the same every run.

Three things make these fast, all visible in the code:

* **Phases instead of tiles.** Split the zero-padded input plane into its four
  *phases*, ``phase[r, s][i, j] = padded[2i + r, 2j + s]`` (r, s = row, column
  parity). Entry (r, s) of tile (ty, tx) is then ``phase[r % 2, s % 2][ty + r // 2,
  tx + s // 2]``: for every r, s it is one phase plane shifted by a constant. So each
  step of B^T d B is a loop over all tiles at once that reads two shifted planes
  and writes one: a unit-stride loop that LLVM turns into SIMD instructions.
* **Images side by side** (``lanes`` > 1). Entry ``lane`` of every element belongs
  to image ``group * lanes + lane``: the phase planes hold ``lanes`` numbers per pixel,
  and V's columns run (group, ty, tx, lane). Every loop of steps 2 and 3 then runs over
  ``TW * lanes`` numbers instead of TW, which is what small planes need (a 14x14 map
  has rows of 6 or 7 tiles, fewer than AVX's 8 float32 lanes). With lanes = 1 the
  kernels are the row-wise ones, index for index.
* **Unsigned indices** (``u(...)``). With a signed index, Numba checks every access
  for a negative (wrap-around) index, and that check stops LLVM from vectorizing
  the loop: 1.41 vs 0.14 ns per element for ``c[k] = a[k] + a[n + k]`` on this
  machine (BENCHMARKS.md). Every offset below is non-negative by construction.
"""
import numba
import numpy as np
from numba import njit, prange
from numba import uint64 as u

from .winograd import winograd_tiles


@njit(cache=True, parallel=True)
def _winograd_input(x, v, ph, pw, th, tw, lanes, blocks):
    n, c, h, w = x.shape
    qh, qw = th + 1, tw + 1                     # phase plane size: tiles + 1 overlap
    q, tiles = qh * qw, th * tw
    groups = (n + lanes - 1) // lanes           # images side by side, ``lanes`` at a time
    pixels = groups * lanes * tiles             # columns of V (missing images: zeros)
    planes = groups * c
    x_flat, v_flat = x.ravel(), v.ravel()
    entry = u(c * pixels)                       # distance between V[k] and V[k + 1]
    L = u(lanes)                                # every element below is L images wide
    for block in prange(blocks):                # thread owns planes [first, last) of V
        phases = np.zeros(4 * q * lanes, x.dtype)   # phase (r, s) starts at (2r + s) * q * L;
                                                # its padding borders are never written: 0
        rows = np.empty(8 * th * qw * lanes, x.dtype)   # B^T d for each column parity s
        first, last = block * planes // blocks, (block + 1) * planes // blocks
        for plane in range(first, last):
            group, ch = plane // c, plane % c
            # 1. copy the planes of the group's images into the phases, image ``lane``
            #    at offset ``lane`` of each element (padding stays zero; an image past
            #    the batch's end is written as zeros)
            for lane in range(lanes):
                image = group * lanes + lane
                for p in range(2 * qh):         # padded row p = input row p - ph
                    y = p - ph
                    if y < 0 or y >= h:
                        continue
                    for s in range(2):          # column parity
                        low = max(0, (pw - s + 1) // 2)            # first j inside the image
                        high = min(qw, (w - 1 + pw - s) // 2 + 1)
                        dst = u(((2 * (p % 2) + s) * qh + p // 2) * qw + low) * L + u(lane)
                        if image >= n:
                            for j in range(u(max(0, high - low))):
                                phases[dst + L * j] = 0
                            continue
                        src = u((image * c + ch) * h + y) * u(w) + u(2 * low + s - pw)
                        for j in range(u(max(0, high - low))):
                            phases[dst + L * j] = x_flat[src + u(2) * j]
            # 2. B^T d: rows a = 0..3 of each tile from padded rows 2ty + (0, 1, 2, 3),
            #    i.e. phase row parity 0 at ty, 1 at ty, 0 at ty+1, 1 at ty+1.
            #    B^T rows: (1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1).
            span = u(th * qw) * L               # every tile row, all qw columns, all lanes
            for s in range(2):
                d0, d1 = u(s * q) * L, u((2 + s) * q) * L           # d0, d1 at ty
                d2, d3 = d0 + u(qw) * L, d1 + u(qw) * L             # d2, d3 at ty + 1
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
            #    2tx + (0, 1, 2, 3) = parity 0 at tx, 1 at tx, 0 at tx+1, 1 at tx+1.
            out = u(ch * pixels) + u(group * tiles) * L
            row_span = u(tw) * L                # one row of tiles, all lanes
            for a in range(4):
                for ty in range(th):
                    e0 = u((a * 2) * th * qw + ty * qw) * L     # parity 0 at tx
                    o0 = e0 + span                              # parity 1 at tx
                    e1, o1 = e0 + L, o0 + L                     # ... at tx + 1
                    v0 = u(4 * a) * entry + out + u(ty * tw) * L
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


def _check_contiguous(out, function):
    # The kernels write ``out`` through a flat view; on a strided array that view
    # would be a copy and the result would be silently lost.
    if not out.flags.c_contiguous:
        raise ValueError(f"{function}: out must be C-contiguous (it is written as flat planes)")


def winograd_input(x, padding, out=None, lanes=1):
    """See ``winograd.winograd_input``. x: (N, C, H, W) -> V: (16, C, G*lanes*TH*TW),
    G = ceil(N / lanes), columns in (group, ty, tx, lane) order."""
    n, c, h, w = x.shape
    th, tw = winograd_tiles(h, w, padding)
    groups = -(-n // lanes)
    if out is None:
        out = np.empty((16, c, groups * lanes * th * tw), dtype=x.dtype)
    _check_contiguous(out, "winograd_input")
    blocks = min(groups * c, 8 * numba.get_num_threads())
    return _winograd_input(np.ascontiguousarray(x), out, padding[0], padding[1], th, tw,
                           lanes, blocks)


@njit(cache=True, parallel=True)
def _winograd_output(m, bias, y, lanes, blocks):
    n, o, oh, ow = y.shape
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    tiles = th * tw
    groups = (n + lanes - 1) // lanes
    pixels = groups * lanes * tiles             # columns of M
    planes = groups * o
    m_flat, y_flat = m.ravel(), y.ravel()
    entry = u(o * pixels)                       # distance between M[k] and M[k + 1]
    L = u(lanes)
    span = u(tiles) * L                         # every tile, all lanes
    for block in prange(blocks):                # thread owns output planes [first, last)
        rows = np.empty(8 * tiles * lanes, m.dtype)     # A^T m: rows[(4i + j) * span + ...]
        corners = np.empty(4 * tiles * lanes, m.dtype)  # A^T m A + b: corners[(2i + j) * span + ...]
        first, last = block * planes // blocks, (block + 1) * planes // blocks
        for plane in range(first, last):
            group, oc = plane // o, plane % o
            src = u(oc * pixels) + u(group * tiles) * L
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
            bo = bias[oc]
            for i in range(2):
                r0 = u(4 * i) * span
                r1, r2, r3 = r0 + span, r0 + u(2) * span, r0 + u(3) * span
                left, right = u(2 * i) * span, u(2 * i + 1) * span
                for k in range(span):
                    corners[left + k] = rows[r0 + k] + rows[r1 + k] + rows[r2 + k] + bo
                for k in range(span):
                    corners[right + k] = rows[r1 + k] - rows[r2 + k] - rows[r3 + k] + bo
            # 3. interleave: y[image, 2ty + i, 2tx + j] = corners[2i + j][ty, tx, lane]
            for lane in range(min(lanes, n - group * lanes)):
                image = group * lanes + lane
                for row in range(oh):
                    ty, i = row // 2, row % 2
                    left = (u(2 * i * tiles + ty * tw)) * L + u(lane)
                    right = (u((2 * i + 1) * tiles + ty * tw)) * L + u(lane)
                    dst = u(((image * o + oc) * oh + row) * ow)
                    for tx in range(u(ow // 2)):
                        y_flat[dst + u(2) * tx] = corners[left + L * tx]
                        y_flat[dst + u(2) * tx + u(1)] = corners[right + L * tx]
                    if ow % 2:                  # odd width: the last tile's left column
                        y_flat[dst + u(ow - 1)] = corners[left + L * u(tw - 1)]
    return y


def winograd_output(m, bias, out, lanes=1):
    """See ``winograd.winograd_output``. m: (16, O, G*lanes*TH*TW), columns in (group,
    ty, tx, lane) order (G = ceil(N / lanes)) -> out: (N, O, OH, OW)."""
    _check_contiguous(out, "winograd_output")
    n, o = out.shape[:2]
    blocks = min(-(-n // lanes) * o, 8 * numba.get_num_threads())
    return _winograd_output(np.ascontiguousarray(m), bias.astype(m.dtype), out, lanes,
                            blocks)


@njit(cache=True, parallel=True)
def _winograd_output_adjoint(dy, dm, lanes, blocks):
    n, o, oh, ow = dy.shape
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    tiles = th * tw
    groups = (n + lanes - 1) // lanes
    pixels = groups * lanes * tiles             # columns of dM
    planes = groups * o
    dy_flat, dm_flat = dy.ravel(), dm.ravel()
    entry = u(o * pixels)                       # distance between dM[k] and dM[k + 1]
    L = u(lanes)
    line = u(2 * tw) * L                        # one row of the plane, every lane
    for block in prange(blocks):                # thread owns planes [first, last) of dM
        plane = np.zeros(2 * th * 2 * tw * lanes, dy.dtype)   # (row, col, lane); past OH or
                                                # OW never written: 0 (the dropped entries)
        rows = np.empty(4 * th * 2 * tw * lanes, dy.dtype)     # A dY: (xi, ty, col, lane)
        first, last = block * planes // blocks, (block + 1) * planes // blocks
        for index in range(first, last):
            group, oc = index // o, index % o
            # 1. the group's planes of dy, image ``lane`` at offset lane (zeros past N)
            for lane in range(lanes):
                image = group * lanes + lane
                for r in range(oh):
                    dst = u(r) * line + u(lane)
                    if image >= n:
                        for j in range(u(ow)):
                            plane[dst + L * j] = 0
                        continue
                    src = u(((image * o + oc) * oh + r) * ow)
                    for j in range(u(ow)):
                        plane[dst + L * j] = dy_flat[src + j]
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
            # 3. (A dY) A^T along each tile's two columns, every lane at once
            out = u(oc * pixels) + u(group * tiles) * L
            for xi in range(4):
                for ty in range(th):
                    row = u(xi * th + ty) * line
                    for tx in range(tw):
                        e0 = row + u(2 * tx) * L
                        e1 = e0 + L
                        v0 = u(4 * xi) * entry + out + u(ty * tw + tx) * L
                        v1, v2, v3 = v0 + entry, v0 + u(2) * entry, v0 + u(3) * entry
                        for lane in range(L):
                            a, b = rows[e0 + lane], rows[e1 + lane]
                            dm_flat[v0 + lane] = a
                            dm_flat[v1 + lane] = a + b
                            dm_flat[v2 + lane] = a - b
                            dm_flat[v3 + lane] = -b
    return dm


def winograd_output_adjoint(dy, lanes=1, out=None):
    """See ``winograd.winograd_output_adjoint``. dy: (N, O, OH, OW) -> dM: (16, O,
    G*lanes*TH*TW), columns in (group, ty, tx, lane) order; written into ``out`` if given."""
    n, o, oh, ow = dy.shape
    groups = -(-n // lanes)
    shape = (16, o, groups * lanes * ((oh + 1) // 2) * ((ow + 1) // 2))
    dm = np.empty(shape, dtype=dy.dtype) if out is None else out
    _check_contiguous(dm, "winograd_output_adjoint")
    blocks = min(groups * o, 8 * numba.get_num_threads())
    return _winograd_output_adjoint(np.ascontiguousarray(dy), dm, lanes, blocks)


@njit(cache=True, parallel=True)
def _winograd_input_adjoint(dv, dx, ph, pw, th, tw, lanes, blocks):
    n, c, h, w = dx.shape
    tiles = th * tw
    groups = (n + lanes - 1) // lanes
    pixels = groups * lanes * tiles             # columns of dV
    planes = groups * c
    dv_flat, dx_flat = dv.ravel(), dx.ravel()
    entry = u(c * pixels)                       # distance between dV[k] and dV[k + 1]
    L = u(lanes)
    width = 2 * tw + 2                          # the padded plane the tiles cover
    line = u(width) * L
    for block in prange(blocks):                # thread owns planes [first, last) of dx
        rows = np.empty(4 * th * width * lanes, dv.dtype)      # dV B: (xi, ty, col, lane)
        padded = np.empty((2 * th + 2) * width * lanes, dv.dtype)   # (row, col, lane)
        first, last = block * planes // blocks, (block + 1) * planes // blocks
        for index in range(first, last):
            group, ch = index // c, index % c
            rows[:] = 0
            padded[:] = 0
            # 1. dV B^T's transpose along each tile's columns, added onto columns 2tx + s
            #    (tiles overlap by two columns): B^T's columns give s = 0: v0,
            #    1: v1 - v2 + v3, 2: -v0 + v1 + v2, 3: -v3
            src = u(ch * pixels) + u(group * tiles) * L
            for xi in range(4):
                for ty in range(th):
                    row = u(xi * th + ty) * line
                    for tx in range(tw):
                        v0 = u(4 * xi) * entry + src + u(ty * tw + tx) * L
                        v1, v2, v3 = v0 + entry, v0 + u(2) * entry, v0 + u(3) * entry
                        e0 = row + u(2 * tx) * L
                        e1, e2, e3 = e0 + L, e0 + u(2) * L, e0 + u(3) * L
                        for lane in range(L):
                            a, b = dv_flat[v0 + lane], dv_flat[v1 + lane]
                            cc, d = dv_flat[v2 + lane], dv_flat[v3 + lane]
                            rows[e0 + lane] += a
                            rows[e1 + lane] += b - cc + d
                            rows[e2 + lane] += -a + b + cc
                            rows[e3 + lane] -= d
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
            # 3. the image's part of the padded plane into dx (the padding dropped)
            for lane in range(min(lanes, n - group * lanes)):
                image = group * lanes + lane
                for y in range(h):
                    src_row = u((y + ph) * width + pw) * L + u(lane)
                    dst = u(((image * c + ch) * h + y) * w)
                    for x in range(u(w)):
                        dx_flat[dst + x] = padded[src_row + L * x]
    return dx


def winograd_input_adjoint(dv, x_shape, padding, lanes=1):
    """See ``winograd.winograd_input_adjoint``. dv: (16, C, G*lanes*TH*TW) -> dx:
    x_shape (N, C, H, W)."""
    n, c, h, w = x_shape
    th, tw = winograd_tiles(h, w, padding)
    dx = np.empty(x_shape, dtype=dv.dtype)
    blocks = min(-(-n // lanes) * c, 8 * numba.get_num_threads())
    return _winograd_input_adjoint(np.ascontiguousarray(dv), dx, padding[0], padding[1],
                                   th, tw, lanes, blocks)
