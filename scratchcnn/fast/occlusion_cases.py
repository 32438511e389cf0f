"""Part of the cone (occlusion.py), equal to explain.occlusion.occluded_logits: the
first two convolutions from a table of the occluder's cases.

The cone (occlusion.py) runs every layer on a crop per occluder. For a network
that starts with a convolution A, pointwise layers f (ReLU, batch norm, ...) and a
convolution B, both of stride 1, the occluder's effect on B's output can be built
from far fewer operations, because an occluder is a constant box.

1. **Cases.** Output row r of A reads input rows r - p + a (a = 0..k-1; p: A's padding).
   An occluder covering rows [t, t + wh) covers the taps a with 0 <= r - p + a - t < wh:
   an interval of taps that depends only on the offset d = r - p - t, for
   d = -(k-1) .. wh-1 (beyond, no tap is covered). For k = 3 and wh = 7 there are 5
   intervals: taps {2} (d = -2), {1, 2} (d = -1), all three (d = 0..4), {0, 1} (d = 5)
   and {0} (d = 6) (``axis_cases``). A case is a pair (row interval, column interval):
   25 for a 7x7 window and a 3x3 filter.
2. **A's output in each case**, at every position, for one image x (``case_tables``):

       z_case(r, c) = b + sum over taps (a, a') of W_A[:, :, a, a'] . v(a, a'),
       v = baseline (every channel) on the covered taps, x_padded[:, r + a, c + a'] elsewhere

   and the change it makes to B's input: D_case = f(z_case) - f(z).
3. **B is linear**: on an occluded image, B's output at q is the unoccluded one plus B
   applied to the change, and the change at each of q's taps is one of the D_case:

       z_B(q; o) = z_B(q) + sum over taps t of W_B[t] D_case(q - p_B + t)            (*)

   with the case of position q - p_B + t relative to the occluder o (taps that no
   occluder reaches add nothing). So one matrix product gives every term of (*) for
   every case, position and tap: the table T[case, position, tap] = W_B[t] D_case(position),
   (cases * H_A * W_A, C) @ (C, taps * O): 0.6 GFLOP on the slides' model, against 2.6
   for B on the 484 crops of 7x7 occluders.
4. Each occluder's values of z_B on its box are then z_B plus at most kh_B * kw_B rows
   of T per value (``kernels.occluder_case_sums``), and the cone goes on from B's output
   as before.

The result is the same function as the crops (and as one full forward per occluder), up
to rounding: (*) adds the change to z_B instead of recomputing the sum. The table costs
the same for 4 occluders as for 484, the crops cost in proportion to the occluders:
``table_pays`` says which is cheaper.
"""
import numpy as np

from ..layers.base import input_checked_for_nan

POINTWISE_LAYERS = ("ReLU", "LeakyReLU", "BatchNorm2D", "Dropout", "Identity")  # also the cone's
# One addition of the sums (a table row read from memory) costs about as much as this
# many multiply-adds of a matrix product (BENCHMARKS.md, "Rules in the code": SUM_COST).
SUM_COST = 8


def cases_split(layers):
    """The index j of convolution B if ``layers`` (the cone's spatial layers) start with
    Conv2D A of stride 1, pointwise layers, then Conv2D B of stride 1; else None."""
    def stride_one_conv(layer):
        return type(layer).__name__ == "Conv2D" and tuple(layer.stride) == (1, 1)
    if not layers or not stride_one_conv(layers[0]):
        return None
    for j in range(1, len(layers)):
        kind = type(layers[j]).__name__
        if kind not in POINTWISE_LAYERS:
            return j if stride_one_conv(layers[j]) else None
    return None


def table_pays(second, cases, a_size, occluders, box):
    """Whether the table is cheaper than running convolution B on the crops, counting
    multiply-adds (the sums' additions at SUM_COST each):

        cases * H_A * W_A * C * taps + SUM_COST * N * bh * bw * taps * O   (table, sums)
          <  N * bh * bw * O * C * taps                                      (B on crops)

    second: convolution B, (O, C, kh, kw) weights; cases: the number of cases; a_size:
    (H_A, W_A), A's output; occluders: N; box: (bh, bw), each occluder's box of B's
    output. (Both sides hold taps; the crops' first convolution is left out: it is
    smaller than B, and leaving it out only favours the crops.)"""
    outputs, channels, kh, kw = second.params["W"].shape
    taps, pixels = kh * kw, occluders * box[0] * box[1]
    table = cases * a_size[0] * a_size[1] * channels * taps * outputs
    return table + SUM_COST * pixels * taps * outputs < pixels * outputs * channels * taps


def axis_cases(kernel, window):
    """Along one axis: the intervals of a filter's taps that an occluder covers.

    kernel: the filter's length k; window: the occluder's length w.
    returns (intervals, case_of): intervals[i] = (first, last) tap covered in case i;
    case_of[d + k - 1] = the case at offset d = (output position - padding - occluder's
    first row), for d = -(k-1) .. w-1 (every other offset covers no tap)."""
    intervals, case_of = [], []
    for d in range(-(kernel - 1), window):
        covered = (max(0, -d), min(kernel - 1, window - 1 - d))
        if covered not in intervals:
            intervals.append(covered)
        case_of.append(intervals.index(covered))
    return intervals, np.array(case_of)


def case_tables(first, pointwise, second, image, unoccluded, window, baseline):
    """The table T of the module docstring, for one image.

    first, pointwise, second: convolution A, the pointwise layers, convolution B (eval
    mode); image: (C, H, W); unoccluded: f(A(image)), B's input, (C_A, H_A, W_A);
    window: (wh, ww); baseline: the occluder's value.
    returns T: (cases, H_A * W_A, kh_B * kw_B, O_B), case = row case * (column cases) +
    column case (``axis_cases``), position = row * W_A + column, tap = a * kw_B + a'."""
    weights, bias = first.params["W"], first.params["b"]          # (C_A, C, kh, kw)
    (kh, kw), (ph, pw) = weights.shape[2:], first.padding
    channels, height, width = unoccluded.shape
    padded = np.pad(image, ((0, 0), (ph, ph), (pw, pw)))
    # each tap's part of A's sum, uncovered: W_A[:, :, a, a'] . x_padded[:, r + a, c + a']
    uncovered = np.stack([np.einsum("oc,chw->ohw", weights[:, :, a, b],
                                    padded[:, a:a + height, b:b + width])
                          for a in range(kh) for b in range(kw)])        # (taps, C_A, H_A, W_A)
    covered = baseline * weights.sum(axis=1).reshape(channels, -1).T      # (taps, C_A)
    rows, cols = axis_cases(kh, window[0])[0], axis_cases(kw, window[1])[0]
    is_covered = np.array([[lo <= a <= hi and left <= b <= right
                            for a in range(kh) for b in range(kw)]
                           for lo, hi in rows for left, right in cols], dtype=image.dtype)
    # z_case = b + sum of the uncovered taps' parts + sum of the covered taps' baselines
    z = ((1 - is_covered) @ uncovered.reshape(kh * kw, -1)).reshape(-1, channels, height, width)
    z += (is_covered @ covered)[:, :, None, None] + bias[:, None, None]
    with input_checked_for_nan():                 # the image was checked by the forward
        for layer in pointwise:
            z = layer.forward(z)
    change = z - unoccluded                                                # D_case
    w_b = second.params["W"]                                               # (O_B, C_A, kh_B, kw_B)
    by_tap = w_b.transpose(1, 2, 3, 0).reshape(channels, -1)               # (C_A, taps_B * O_B)
    table = np.ascontiguousarray(change.transpose(0, 2, 3, 1)).reshape(-1, channels) @ by_tap
    return table.reshape(len(change), height * width, w_b.shape[2] * w_b.shape[3], len(w_b))


def axis_plan(corner, extent, occluder, window, first, second, sizes):
    """Along one axis, for each occluder and each position of its box of B's output:
    which row of the table each of B's taps reads.

    corner (N,), extent: the boxes of B's output; occluder (N,): the occluders' first
    rows; window: their length; first, second: (kernel, padding) of A and of B along
    this axis; sizes: (length of A's output, length of B's output).
    returns (case (N, extent, k_B), position (N, extent, k_B), q (N, extent)): the case
    of the A-output position that tap t of box position i reads, -1 where no occluder's
    change reaches it (no tap of A covered, or B's padding), and that position (0 where
    -1); q: the box position in B's output, -1 outside it."""
    (ka, pa), (kb, pb), (length_a, length_b) = first, second, sizes
    case_of = axis_cases(ka, window)[1]
    q = corner[:, None] + np.arange(extent)                              # (N, extent)
    position = q[:, :, None] - pb + np.arange(kb)                        # (N, extent, k_B)
    offset = position - pa - occluder[:, None, None]                     # d of axis_cases
    reached = ((position >= 0) & (position < length_a) & (offset >= -(ka - 1))
               & (offset < window) & ((q >= 0) & (q < length_b))[:, :, None])
    case = np.where(reached, case_of[np.clip(offset + ka - 1, 0, len(case_of) - 1)], -1)
    return case, np.where(reached, position, 0), np.where((q >= 0) & (q < length_b), q, -1)
