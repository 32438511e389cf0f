"""Part of the cone (occlusion.py), equal to explain.occlusion.occluded_logits: its two
dense steps, in NumPy and in Numba:
``subtract_into_band`` and ``occluder_case_sums`` are the Numba twins of
``subtract_into_band_numpy`` and ``occluder_case_sums_numpy``.

These exist only for the cone, a speed-up of explain/occlusion.py; the NumPy versions are
the readable statement of each step and the tests' reference.
"""
import numpy as np
from numba import njit, prange


def subtract_into_band_numpy(values, maps, top, left, band):
    """Each occluder's change on its box, written into its row band (the occlusion
    cone's dense step, occlusion.py).

    values: (B, K, bh, bw), the new values on each box; maps: (K, H, W), the old ones;
    top, left: (B,), each box's corner; band: (B, bh, K, W), rows of the map laid out
    row-major by (map row, channel, column):
        band[b, r, k, left[b] + c] = values[b, k, r, c] - maps[k, top[b] + r, left[b] + c]
    for r < bh, c < bw; the other entries of band are left as they are. returns band.
    """
    bh, bw = values.shape[2:]
    for b, (t, l) in enumerate(zip(top, left)):
        change = values[b] - maps[:, t:t + bh, l:l + bw]               # (K, bh, bw)
        band[b, :, :, l:l + bw] = change.transpose(1, 0, 2)
    return band


def occluder_case_sums_numpy(table, maps, rows, cols, column_cases, width, out):
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


@njit(cache=True, parallel=True)
def _subtract_into_band(values, maps, top, left, band):
    n, k, bh, bw = values.shape
    for b in prange(n):                       # thread owns occluder b's band
        t, l = top[b], left[b]
        for r in range(bh):
            for ch in range(k):
                for c in range(bw):
                    band[b, r, ch, l + c] = values[b, ch, r, c] - maps[ch, t + r, l + c]
    return band


def subtract_into_band(values, maps, top, left, band):
    """See ``subtract_into_band_numpy``. values (B, K, bh, bw), maps (K, H, W),
    top, left (B,) -> band (B, bh, K, W), written on each box."""
    return _subtract_into_band(values, maps, top.astype(np.int64), left.astype(np.int64),
                               band)


@njit(cache=True, parallel=True)
def _occluder_case_sums(table, maps_by_pixel, row_case, row_position, row_q, col_case,
                        col_position, col_q, column_cases, width, out):
    n, o, bh, bw = out.shape
    kh, kw = row_case.shape[2], col_case.shape[2]
    for k in prange(n):                       # thread owns occluder k's box
        box = np.zeros((bh, bw, o), table.dtype)      # 0 outside B's output
        for i in range(bh):
            for j in range(bw):
                qr, qc = row_q[k, i], col_q[k, j]
                if qr < 0 or qc < 0:          # outside B's output
                    continue
                acc = box[i, j]               # a view: the channels of one pixel
                for ch in range(o):
                    acc[ch] = maps_by_pixel[qr, qc, ch]
                for a in range(kh):
                    r_case = row_case[k, i, a]
                    if r_case < 0:
                        continue
                    for b in range(kw):
                        c_case = col_case[k, j, b]
                        if c_case < 0:
                            continue
                        case = r_case * column_cases + c_case
                        position = row_position[k, i, a] * width + col_position[k, j, b]
                        tap = a * kw + b
                        for ch in range(o):
                            acc[ch] += table[case, position, tap, ch]
        for ch in range(o):                   # (bh, bw, O) -> out[k]: (O, bh, bw)
            for i in range(bh):
                for j in range(bw):
                    out[k, ch, i, j] = box[i, j, ch]
    return out


def occluder_case_sums(table, maps, rows, cols, column_cases, width, out):
    """See ``occluder_case_sums_numpy``. table (cases, H_A*W_A, taps, O), maps (O, H_B,
    W_B), rows / cols (case, position, q) -> out (N, O, bh, bw)."""
    (row_case, row_position, row_q), (col_case, col_position, col_q) = (
        [np.ascontiguousarray(a, dtype=np.int64) for a in axis] for axis in (rows, cols))
    maps_by_pixel = np.ascontiguousarray(maps.transpose(1, 2, 0))        # (H_B, W_B, O)
    return _occluder_case_sums(np.ascontiguousarray(table), maps_by_pixel,
                               row_case, row_position, row_q, col_case, col_position, col_q,
                               int(column_cases), int(width), out)
