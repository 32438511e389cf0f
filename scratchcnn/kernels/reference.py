"""Plain NumPy kernels: the readable math of convolution, pooling, batch norm and Adam's
update.

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


def avgpool_forward(x, kh, kw, stride):
    """Mean over every (KH, KW) window: one strided slice per kernel offset.

    x: (N, C, H, W); stride: (sh, sw) -> (N, C, OH, OW). Plain array slices, the
    same on NumPy and CuPy (cpu.py and gpu.py reuse this function).
    """
    sh, sw = stride
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kh, sh, 0), conv_output_size(w, kw, sw, 0)
    total = array_module(x).zeros((n, c, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            total += x[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]
    return total / x.dtype.type(kh * kw)


def avgpool_backward(dy, x_shape, kh, kw, stride):
    """The adjoint of ``avgpool_forward``: each window spreads dy / (KH*KW) over its pixels.

    dy: (N, C, OH, OW); x_shape: (N, C, H, W) -> dx (N, C, H, W). Within one kernel
    offset the slice touches distinct pixels, so ``+=`` adds overlapping windows exactly.
    """
    sh, sw = stride
    oh, ow = dy.shape[2:]
    share = dy / dy.dtype.type(kh * kw)
    dx = array_module(dy).zeros(x_shape, dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += share
    return dx


def relu_forward(x):
    """y = max(x, 0) and the mask of active units. x: any shape -> (y, active bool)."""
    active = x > 0
    return x * active, active


def columns_to_nchw(out, bias, n, oh, ow, into=None):
    """A convolution's matrix-product result back to an image batch, plus the bias.

    out: (O, N*OH*OW) (one column per output pixel); bias: (O,) -> (N, O, OH, OW),
    written into ``into`` (C-contiguous) if given.
    """
    xp, channels = array_module(out), out.shape[0]
    y = xp.empty((n, channels, oh, ow), dtype=out.dtype) if into is None else into
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


def batchnorm_statistics(x):
    """The batch's mean and biased variance per channel (Ioffe & Szegedy 2015, Alg. 1).

    x: (N, C, H, W) -> mean (C,), var (C,), each over the m = N*H*W values of a channel:
    mean = 1/m sum x, var = 1/m sum (x - mean)^2 (biased: the one used to normalize).
    """
    return x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))


def batchnorm_forward(x, mean, inv_std, gamma, beta):
    """Normalize per channel, then scale and shift (Ioffe & Szegedy 2015, Alg. 1).

    x: (N, C, H, W); mean, inv_std = 1 / sqrt(var + eps), gamma, beta: (C,)
    -> x_hat = (x - mean) * inv_std and y = gamma * x_hat + beta, both (N, C, H, W).
    """
    shape = (1, -1, 1, 1)
    x_hat = (x - mean.reshape(shape)) * inv_std.reshape(shape)
    return x_hat, gamma.reshape(shape) * x_hat + beta.reshape(shape)


def batchnorm_backward_sums(dy, x_hat):
    """The two per-channel sums of batch norm's backward pass (Ioffe & Szegedy 2015, sec. 3.1).

    dy, x_hat: (N, C, H, W) -> sum dy (C,), sum dy * x_hat (C,), over (N, H, W):
    dL/dbeta and dL/dgamma.
    """
    return dy.sum(axis=(0, 2, 3)), (dy * x_hat).sum(axis=(0, 2, 3))


def batchnorm_input_grad(dy, x_hat, gamma, inv_std, mean_dx_hat, mean_dx_hat_x_hat):
    """dL/dx of training-mode batch norm (Ioffe & Szegedy 2015, sec. 3.1), per channel:

        dx = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)),
        dx_hat = dL/dx_hat = gamma * dy.

    dy, x_hat: (N, C, H, W); gamma, inv_std and the two means over (N, H, W): (C,)
    -> dx (N, C, H, W).
    """
    shape = (1, -1, 1, 1)
    dx_hat = dy * gamma.reshape(shape)
    return inv_std.reshape(shape) * (dx_hat - mean_dx_hat.reshape(shape)
                                     - x_hat * mean_dx_hat_x_hat.reshape(shape))


def subtract_into_band(values, maps, top, left, band):
    """Each occluder's change on its box, written into its row band (the occlusion
    cone's dense step, explain/occlusion_cone.py).

    values: (B, K, bh, bw), the new values on each box; maps: (K, H, W), the old ones;
    top, left: (B,), each box's corner; band: (B, bh, K, W), rows of the map laid out
    row-major by (map row, channel, column):
        band[b, r, k, left[b] + c] = values[b, k, r, c] - maps[k, top[b] + r, left[b] + c]
    for r < bh, c < bw; the other entries of band are left as they are. returns band.
    (The cone runs on the CPU; gpu.py imports this NumPy version, which CuPy also runs.)
    """
    bh, bw = values.shape[2:]
    for b, (t, l) in enumerate(zip(top, left)):
        change = values[b] - maps[:, t:t + bh, l:l + bw]               # (K, bh, bw)
        band[b, :, :, l:l + bw] = change.transpose(1, 0, 2)
    return band


def occluder_case_sums(table, maps, rows, cols, column_cases, width, out):
    """Each occluder's values of a convolution B's output on its box, from the table of
    the occluder's cases (explain/occlusion_cases.py, eq. (*)):

        out[n, :, i, j] = maps[:, qr, qc] + sum over taps (a, b) of table[case, position, a*kw + b]

    with (qr, qc) = (rows' q[n, i], cols' q[n, j]), case = rows' case[n, i, a] *
    column_cases + cols' case[n, j, b], position = rows' position[n, i, a] * width + cols'
    position[n, j, b]. A tap adds nothing where either case is -1; out is 0 where either
    q is -1 (outside B's output).

    table: (cases, H_A * W_A, kh * kw, O); maps: B's unoccluded output (O, H_B, W_B);
    rows, cols: (case (N, bh or bw, kh or kw), position (same shape), q (N, bh or bw)),
    from ``occlusion_cases.axis_plan``; column_cases: the number of column cases; width:
    W_A; out: (N, O, bh, bw). returns out.
    (The cone runs on the CPU; gpu.py imports this NumPy version, which CuPy also runs.)
    """
    (row_case, row_position, row_q), (col_case, col_position, col_q) = rows, cols
    kw = col_case.shape[2]
    inside = (row_q >= 0)[:, :, None] & (col_q >= 0)[:, None, :]             # (N, bh, bw)
    values = maps[:, np.maximum(row_q, 0)[:, :, None], np.maximum(col_q, 0)[:, None, :]]
    values = values.transpose(1, 2, 3, 0) * inside[..., None]                # (N, bh, bw, O)
    for a in range(row_case.shape[2]):
        for b in range(kw):
            r_case, c_case = row_case[:, :, a, None], col_case[:, None, :, b]
            reached = (r_case >= 0) & (c_case >= 0) & inside                  # (N, bh, bw)
            case = np.where(reached, r_case * column_cases + c_case, 0)
            position = np.where(reached, row_position[:, :, a, None] * width
                                + col_position[:, None, :, b], 0)
            values += np.where(reached[..., None], table[case, position, a * kw + b], 0)
    out[...] = values.transpose(0, 3, 1, 2)
    return out


def adam_update(param, grad, m, v, b1, b2, step_size, bias2, eps):
    """One step of Adam, in place (Kingma & Ba 2015, Algorithm 1, in PyTorch's form with
    eps outside the square root; optim.Adam says more):

        m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2;
        param -= step_size * m / (sqrt(v / bias2) + eps)

    step_size = lr / (1 - b1^t) and bias2 = 1 - b2^t carry the bias corrections of
    step t. param, grad, m, v: arrays of one shape; m and v are updated too."""
    m *= b1
    m += (1 - b1) * grad
    v *= b2
    v += (1 - b2) * grad * grad
    denom = (v / bias2) ** 0.5 + eps
    param -= (param.dtype.type(step_size) * m / denom).astype(param.dtype, copy=False)
