"""The graders' own oracles, written from the definitions as plain loops, independently
of the library (none of them calls scratchcnn): if the library were wrong, ``check NAME
--solution`` would fail against these.

Shapes are NCHW; stride and padding are pairs (sh, sw), (ph, pw).
"""
import math
from collections import deque

import numpy as np


def out_size(size, kernel, stride, padding=0):
    """Sliding-window output length along one axis: (size + 2 p - k) // s + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def padded(x, padding):
    """x (N, C, H, W) with ph zero rows above and below and pw zero columns each side."""
    ph, pw = padding
    n, c, h, w = x.shape
    out = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def conv_loops(x, weights, bias, stride, padding):
    """y[n, o, r, c] = b[o] + sum_{ch, i, j} W[o, ch, i, j] x_pad[n, ch, r sh + i, c sw + j],
    one output value per iteration. x (N, C, H, W), W (O, C, KH, KW) -> (N, O, OH, OW)."""
    (sh, sw), xp = stride, padded(x, padding)
    n, _, h, w = x.shape
    o, c, kh, kw = weights.shape
    oh, ow = out_size(h, kh, sh, padding[0]), out_size(w, kw, sw, padding[1])
    y = np.zeros((n, o, oh, ow))
    for image in range(n):
        for f in range(o):
            for r in range(oh):
                for col in range(ow):
                    total = bias[f]
                    for ch in range(c):
                        for i in range(kh):
                            for j in range(kw):
                                total += weights[f, ch, i, j] * xp[image, ch, r * sh + i,
                                                                   col * sw + j]
                    y[image, f, r, col] = total
    return y


def conv_offsets(x, weights, bias, stride, padding):
    """The same sum, one kernel offset (i, j) at a time over every output pixel at once:
    fast enough for finite differences. x (N, C, H, W), W (O, C, KH, KW) -> (N, O, OH, OW)."""
    (sh, sw), xp = stride, padded(x, padding)
    o, c, kh, kw = weights.shape
    oh = out_size(x.shape[2], kh, sh, padding[0])
    ow = out_size(x.shape[3], kw, sw, padding[1])
    y = np.zeros((x.shape[0], o, oh, ow)) + bias[None, :, None, None]
    for i in range(kh):
        for j in range(kw):
            window = xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            y += np.tensordot(window, weights[:, :, i, j], axes=([1], [1])).transpose(0, 3, 1, 2)
    return y


def conv_transpose_loops(dy, weights, x_shape, stride, padding):
    """Every dy[n, o, r, c] sent back along the weights it was computed with:
    dx_pad[n, ch, r sh + i, c sw + j] += W[o, ch, i, j] dy[n, o, r, c], then the padding cut.
    dy (N, O, OH, OW) -> (N, C, H, W)."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = x_shape
    _, _, kh, kw = weights.shape
    dx = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
    for image in range(n):
        for f in range(dy.shape[1]):
            for r in range(dy.shape[2]):
                for col in range(dy.shape[3]):
                    dx[image, :, r * sh:r * sh + kh, col * sw:col * sw + kw] += \
                        weights[f] * dy[image, f, r, col]
    return dx[:, :, ph:ph + h, pw:pw + w]


def im2col_loops(x, kh, kw, stride, padding):
    """cols[(ch, i, j), (n, r, c)] = x_pad[n, ch, r sh + i, c sw + j], one entry at a time.
    x (N, C, H, W) -> (C KH KW, N OH OW)."""
    (sh, sw), xp = stride, padded(x, padding)
    n, c, h, w = x.shape
    oh, ow = out_size(h, kh, sh, padding[0]), out_size(w, kw, sw, padding[1])
    cols = np.zeros((c * kh * kw, n * oh * ow))
    for image in range(n):
        for r in range(oh):
            for col in range(ow):
                column = (image * oh + r) * ow + col
                for ch in range(c):
                    for i in range(kh):
                        for j in range(kw):
                            cols[(ch * kh + i) * kw + j, column] = xp[image, ch, r * sh + i,
                                                                      col * sw + j]
    return cols


def col2im_loops(cols, x_shape, kh, kw, stride, padding, assign=False):
    """The adjoint of im2col_loops: every cols entry added back onto the pixel it was
    copied from (``assign=True``: written over instead, the typical mistake), then the
    padding cut. cols (C KH KW, N OH OW) -> (N, C, H, W)."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = x_shape
    oh, ow = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    dx = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
    for image in range(n):
        for r in range(oh):
            for col in range(ow):
                column = (image * oh + r) * ow + col
                for ch in range(c):
                    for i in range(kh):
                        for j in range(kw):
                            value = cols[(ch * kh + i) * kw + j, column]
                            if assign:
                                dx[image, ch, r * sh + i, col * sw + j] = value
                            else:
                                dx[image, ch, r * sh + i, col * sw + j] += value
    return dx[:, :, ph:ph + h, pw:pw + w]


def coverage(x_shape, kh, kw, stride, padding):
    """How many windows cover each pixel: (H, W) int."""
    ones = np.ones((1, 1) + tuple(x_shape[2:]))
    cols = im2col_loops(ones, kh, kw, stride, padding)
    mask = (cols != 0).astype(float)
    return np.rint(col2im_loops(mask, (1, 1) + tuple(x_shape[2:]), kh, kw, stride,
                                padding)[0, 0]).astype(int)


def maxpool_loops(x, kh, kw, stride):
    """out[n, c, r, q] = max of the (KH, KW) window at (r sh, q sw) and switches[n, c, r, q]
    = h W + w of that maximum in its (n, c) plane (the first in row-major order on a tie).
    x (N, C, H, W) -> (out, switches), both (N, C, OH, OW)."""
    sh, sw = stride
    n, c, h, w = x.shape
    oh, ow = out_size(h, kh, sh), out_size(w, kw, sw)
    out, switches = np.zeros((n, c, oh, ow)), np.zeros((n, c, oh, ow), dtype=np.int64)
    for image in range(n):
        for ch in range(c):
            for r in range(oh):
                for q in range(ow):
                    best, where = -math.inf, -1
                    for i in range(kh):
                        for j in range(kw):
                            row, col = r * sh + i, q * sw + j
                            if x[image, ch, row, col] > best:
                                best, where = x[image, ch, row, col], row * w + col
                    out[image, ch, r, q], switches[image, ch, r, q] = best, where
    return out, switches


def unpool_loops(values, switches, x_shape, assign=False):
    """Zeros of x_shape with every value added at its switch (``assign=True``: written over
    instead). values, switches (N, C, OH, OW) -> (N, C, H, W)."""
    n, c, h, w = x_shape
    out = np.zeros(x_shape)
    for image in range(n):
        for ch in range(c):
            for r in range(values.shape[2]):
                for q in range(values.shape[3]):
                    row, col = divmod(int(switches[image, ch, r, q]), w)
                    if assign:
                        out[image, ch, row, col] = values[image, ch, r, q]
                    else:
                        out[image, ch, row, col] += values[image, ch, r, q]
    return out


def cross_entropy_rows(logits, labels):
    """Mean over rows of -log softmax(z)[y], row by row with Python floats and the row's
    maximum subtracted first: log sum_k exp(z_k) = m + log sum_k exp(z_k - m)."""
    total = 0.0
    for row, label in zip(logits, labels):
        m = max(float(v) for v in row)
        log_sum = m + math.log(math.fsum(math.exp(float(v) - m) for v in row))
        total += log_sum - float(row[label])
    return total / len(labels)


def softmax_rows(logits):
    """Row-wise softmax (N, K) -> (N, K), each row shifted by its maximum."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def relu(z):
    return np.where(z > 0, z, 0.0)


def regions(inside, connectivity=4):
    """Connected regions of a bool map (H, W) by breadth-first search: a list of sets of
    (row, col), in row-major order of each region's first pixel."""
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if connectivity == 8:
        steps += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    h, w = inside.shape
    seen, found = np.zeros_like(inside, dtype=bool), []
    for r in range(h):
        for c in range(w):
            if inside[r, c] and not seen[r, c]:
                region, todo = set(), deque([(r, c)])
                seen[r, c] = True
                while todo:
                    i, j = todo.popleft()
                    region.add((i, j))
                    for di, dj in steps:
                        a, b = i + di, j + dj
                        if 0 <= a < h and 0 <= b < w and inside[a, b] and not seen[a, b]:
                            seen[a, b] = True
                            todo.append((a, b))
                found.append(region)
    return found


def as_mask(region, shape):
    mask = np.zeros(shape, dtype=bool)
    for i, j in region:
        mask[i, j] = True
    return mask
