"""Pooling exercises (lessons 02 and 07): max pooling with its switches, unpooling
through them (Zeiler & Fergus's DeconvNet), and global average pooling."""
import numpy as np

from . import oracles
from .grading import (Exercise, Mistake, call, describe, distinct_values, expect_close,
                      expect_tuple, pair)
from .stubs import stub

# A hand-computed 4x4 plane, 2x2 windows, stride 2: maxima 5, 8, 9, 7 at (0, 1), (1, 2),
# (3, 0), (2, 3), so the switches (h*W + w) are 1, 6, 12, 11.
HAND_X = np.array([[[[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 6, 7], [9, 1, 3, 2]]]], dtype=np.float64)
HAND_OUT = np.array([[[[5, 8], [9, 7]]]], dtype=np.float64)
HAND_SWITCHES = np.array([[[[1, 6], [12, 11]]]], dtype=np.int64)

POOL_CASES = [((2, 3, 6, 7), (2, 2), 2), ((1, 2, 7, 8), (3, 2), (2, 1)),
              ((2, 1, 5, 9), (3, 3), (1, 3))]


def _switch_mistakes(switches, x_shape, kh, kw, stride):
    n, c, h, w = x_shape
    rows, cols = np.divmod(switches, w)
    sh, sw = pair(stride)
    top = np.arange(switches.shape[2])[:, None] * sh
    left = np.arange(switches.shape[3])[None, :] * sw
    whole = (np.arange(n)[:, None, None, None] * c + np.arange(c)[None, :, None, None]) * h * w
    return [
        Mistake("switches counted inside the window (i*KW + j)",
                "a switch is the flat index h*W + w of the winner in its whole (H, W) plane, "
                "so unpooling can put the value back without knowing the window.",
                (rows - top) * kw + (cols - left)),
        Mistake("switches counted in the whole batch ((n*C + c)*H*W + h*W + w)",
                "count inside the winner's own (n, c) plane: h*W + w.", whole + switches),
        Mistake("switches in column-major order (w*H + h)", "row-major: h*W + w.",
                cols * h + rows)]


def _grade_maxpool(fn):
    checked = []
    cases = [("the hand-computed case (a 4x4 plane, 2x2 windows, stride 2)", HAND_X, (2, 2), 2,
              (HAND_OUT, HAND_SWITCHES))]
    rng = np.random.default_rng(35)
    for k, (shape, (kh, kw), stride) in enumerate(POOL_CASES, 1):
        x = distinct_values(rng, shape)            # no ties: one winner per window
        shown = describe(x=x, kh=kh, kw=kw, stride=stride)
        cases.append((f"case {k} of {len(POOL_CASES)} ({shown})",
                      x, (kh, kw), stride, oracles.maxpool_loops(x, kh, kw, pair(stride))))
    for case, x, (kh, kw), stride, (out, switches) in cases:
        got_out, got_switches = expect_tuple(call(fn, case, x, kh, kw, stride), 2,
                                             "out, switches", case)
        axes = "(N, C, OH, OW), OH = (H - KH) // sh + 1"
        expect_close(got_out, out, "out", case, [Mistake(
            "the mean of each window instead of its maximum", "max pooling keeps the largest "
            "value of each window.", lambda x=x, kh=kh, kw=kw, stride=stride: _window_mean(
                x, kh, kw, pair(stride)))], axes=axes)
        expect_close(got_switches, switches, "switches", case,
                     _switch_mistakes(switches, x.shape, kh, kw, stride), axes=axes, kind="i")
    checked.append("a 4x4 plane pooled by hand: maxima and switches")
    checked.append(f"{len(POOL_CASES)} random cases without ties against loops (overlapping "
                   "windows, strides 2, (2, 1), (1, 3), non-square): the maxima and the "
                   "switches h*W + w")
    return checked


def _window_mean(x, kh, kw, stride):
    n, c, h, w = x.shape
    oh, ow = oracles.out_size(h, kh, stride[0]), oracles.out_size(w, kw, stride[1])
    out = np.zeros((n, c, oh, ow))
    for i in range(kh):
        for j in range(kw):
            out += x[:, :, i:i + stride[0] * (oh - 1) + 1:stride[0],
                     j:j + stride[1] * (ow - 1) + 1:stride[1]]
    return out / (kh * kw)


MAXPOOL_STUB = stub("maxpool_forward", "max pooling that remembers where each maximum was", '''
import numpy as np


def maxpool_forward(x, kh, kw, stride):
    """Max pooling with switches: the maximum of every (KH, KW) window, and WHERE it was.

    Pooling shrinks a feature map by keeping the strongest response of each window
    (seed 002, "Visual Explanation of Neural Networks in Deep Learning", pooling). The
    DeconvNet needs to undo it, so it records each maximum's location, the "switch"
    (Zeiler & Fergus 2014, sec. 2.1; seed 003, "Making the Training Visible": unpooling
    with switches):

        out[n, c, r, q]      = max over i < KH, j < KW of x[n, c, r*sh + i, q*sw + j]
        switches[n, c, r, q] = h*W + w, where (h, w) is that maximum's row and column
                               in the (H, W) plane of image n, channel c

    x: (N, C, H, W); kh, kw: the window; stride: an int or a pair (sh, sw); no padding
    returns (out (N, C, OH, OW), switches (N, C, OH, OW) int64),
    OH = (H - KH) // sh + 1, OW = (W - KW) // sw + 1.
    On a tie the first maximum in row-major order wins (the graders avoid ties).
    """
    raise NotImplementedError("exercise maxpool_forward: return (out, switches)")
''')

MAXPOOL_FORWARD = Exercise(
    name="maxpool_forward",
    description="max pooling with switches: each window's maximum and its flat index h*W + w",
    lessons=("02",),
    stub=MAXPOOL_STUB,
    hints=(
        "Loop over n, c, r, q; take window = x[n, c, r*sh : r*sh + KH, q*sw : q*sw + KW].",
        "k = np.argmax(window) is the flat index INSIDE the window; i, j = divmod(k, KW).",
        "The switch is in the whole plane: (r*sh + i) * W + (q*sw + j). Make switches with "
        "np.zeros(..., dtype=np.int64).",
        "The library's versions: maxpool_loops and maxpool_forward in "
        "scratchcnn/reference/pool.py.",
    ),
    solution=lambda x, kh, kw, stride: _reference_maxpool(x, kh, kw, stride),
    grade=_grade_maxpool,
)


def _reference_maxpool(x, kh, kw, stride):
    from ..reference import pool
    return pool.maxpool_forward(x, kh, kw, pair(stride))


# ----- unpooling ---------------------------------------------------------------------------
UNPOOL_CASES = [((1, 2, 5, 6), (3, 3), 1), ((2, 3, 7, 8), (3, 2), (2, 1)),
                ((2, 1, 6, 6), (2, 2), 2)]


def _grade_unpool(fn):
    cases = [("the hand-computed case (the switches 1, 6, 12, 11 of a 4x4 plane)",
              np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), HAND_SWITCHES, (1, 1, 4, 4))]
    rng = np.random.default_rng(36)
    for k, (shape, (kh, kw), stride) in enumerate(UNPOOL_CASES, 1):
        _, switches = oracles.maxpool_loops(distinct_values(rng, shape), kh, kw, pair(stride))
        values = rng.standard_normal(switches.shape)
        cases.append((f"case {k} of {len(UNPOOL_CASES)} ({describe(values=values, x_shape=shape)}"
                      f", switches of {kh}x{kw} windows, stride {stride})",
                      values, switches, shape))
    shared = False
    for case, values, switches, x_shape in cases:
        expected = oracles.unpool_loops(values, switches, x_shape)
        wins = oracles.unpool_loops(np.ones(values.shape), switches, x_shape)   # windows won
        shared = shared or bool((wins > 1).any())

        def assigns(got, expected=expected, wins=wins):
            return (got.shape == expected.shape and np.allclose(got[wins <= 1], expected[wins <= 1])
                    and not np.allclose(got[wins > 1], expected[wins > 1]))
        got = call(fn, case, values, switches, x_shape)
        expect_close(got, expected, "unpooled", case, [
            Mistake("unpooling assigns instead of accumulating where windows share a winner",
                    "overlapping windows can pick the same pixel: it must get the SUM of their "
                    "values (np.add.at, or np.bincount with weights), exactly as the max "
                    "pool's backward pass adds their gradients.", test=assigns)],
            axes="(N, C, H, W) = x_shape")
    assert shared, "the unpooling cases must include a pixel that wins several windows"
    return ["4 values put back at hand-picked switches",
            f"{len(UNPOOL_CASES)} random cases against loops that add each value at its switch, "
            "with overlapping windows that share a winner (the sum, not the last value)"]


UNPOOL_STUB = stub("max_unpool", "unpooling: put each value back where its maximum was", '''
import numpy as np


def max_unpool(values, switches, x_shape):
    """Unpooling through the switches (Zeiler & Fergus 2014, sec. 2.1; seed 003, "Making the
    Training Visible": the DeconvNet's unpooling with switches): a zero image of x_shape,
    with each pooled value put back at the location its window's maximum came from.

        out[n, c, h, w] = sum of values[n, c, r, q] over every (r, q) whose switch
                          switches[n, c, r, q] equals h*W + w

    Where overlapping windows picked the same pixel their values ADD: this is exactly the
    backward pass of max pooling (values = dL/d out).

    values:   (N, C, OH, OW) floats
    switches: (N, C, OH, OW) ints, flat indices h*W + w in each (H, W) plane
    x_shape:  (N, C, H, W), the pooled input's shape
    returns (N, C, H, W)
    """
    raise NotImplementedError("exercise max_unpool: add each value at its switch")
''')

MAX_UNPOOL = Exercise(
    name="max_unpool",
    description="unpooling: each value back at its switch, summed where windows overlap",
    lessons=("02", "07"),
    stub=UNPOOL_STUB,
    hints=(
        "h, w = divmod(switch, W) turns a switch back into a row and a column.",
        "Loops work: out[n, c, h, w] += values[n, c, r, q]. Note the +=.",
        "Without loops: view out as (N*C, H*W) and call np.add.at(out2d, (plane_index, "
        "switches_flat), values_flat); plain fancy assignment out2d[...] = v keeps only one "
        "of two values that land on the same pixel.",
        "The library's version: max_unpool in scratchcnn/reference/pool.py (np.bincount).",
    ),
    solution=lambda values, switches, x_shape: _reference_unpool(values, switches, x_shape),
    grade=_grade_unpool,
)


def _reference_unpool(values, switches, x_shape):
    from ..reference import pool
    return pool.max_unpool(values, switches, tuple(x_shape))


# ----- global average pooling ------------------------------------------------------------------
GAP_HAND_X = np.array([[[[1, 2, 3], [4, 5, 6]], [[0, 0, 1], [-1, 0, 6]]]], dtype=np.float64)
GAP_HAND_Y = np.array([[3.5, 1.0]])


def _gap_mistakes(x):
    h, w = x.shape[2:]
    mean = x.sum(axis=(2, 3)) / (h * w)
    return [Mistake("the sum of each map instead of its mean",
                    "divide by the number of positions H*W.", mean * h * w),
            Mistake("the maximum of each map (global MAX pooling)",
                    "global AVERAGE pooling takes the mean.", x.max(axis=(2, 3))),
            Mistake("the spatial axes kept (N, C, 1, 1)",
                    "return one number per channel: (N, C) (mean over axis=(2, 3)).",
                    mean[:, :, None, None])]


def _grade_gap(fn):
    case = "the hand-computed case (two 2x3 maps: means 3.5 and 1.0)"
    expect_close(call(fn, case, GAP_HAND_X), GAP_HAND_Y, "y", case, _gap_mistakes(GAP_HAND_X),
                 axes="(N, C)")
    x = np.random.default_rng(37).standard_normal((3, 4, 5, 7))
    case = f"a random batch ({describe(x=x)})"
    expected = np.array([[sum(float(v) for v in plane.ravel()) / plane.size for plane in image]
                         for image in x])
    expect_close(call(fn, case, x), expected, "y", case, _gap_mistakes(x), axes="(N, C)")
    return ["two 2x3 maps averaged by hand",
            "a random (3, 4, 5, 7) batch against a sum over each plane divided by H*W"]


GAP_STUB = stub("global_avg_pool", "global average pooling", '''
import numpy as np


def global_avg_pool(x):
    """Global average pooling: one number per feature map, its mean over all positions
    (Lin, Chen & Yan 2014, "Network in Network"; seed 002, "Visual Explanation of Neural
    Networks in Deep Learning", on GAP and why CAM needs it).

        y[n, c] = 1/(H*W) * sum over (h, w) of x[n, c, h, w]

    x: (N, C, H, W) feature maps
    returns y: (N, C)
    """
    raise NotImplementedError("exercise global_avg_pool: the mean of every map")
''')

GLOBAL_AVG_POOL = Exercise(
    name="global_avg_pool",
    description="global average pooling: the mean of every feature map, (N, C, H, W) -> (N, C)",
    lessons=("02",),
    stub=GAP_STUB,
    hints=(
        "Average over the two spatial axes only: axis=(2, 3).",
        "x.mean(axis=(2, 3)) has shape (N, C); keepdims would leave (N, C, 1, 1).",
        "The library's version: GlobalAvgPool2D in scratchcnn/layers/pool.py.",
    ),
    solution=lambda x: _reference_gap(x),
    grade=_grade_gap,
)


def _reference_gap(x):
    from ..layers import GlobalAvgPool2D
    return GlobalAvgPool2D().forward(x)


EXERCISES = [MAXPOOL_FORWARD, MAX_UNPOOL, GLOBAL_AVG_POOL]
