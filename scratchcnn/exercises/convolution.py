"""Exercises on the convolution (lessons 01 and 03): the forward pass as loops, im2col and
the convolution as one matrix product, col2im, and the three backward equations.

Every grader compares with oracles.py's loops or with central finite differences, and
names a typical mistake by computing the mistaken formula on the same inputs.
"""
import numpy as np

from . import oracles
from .grading import (Exercise, Failure, Mistake, call, describe, expect_close,
                      expect_gradient, expect_tuple, finite_differences, pair)
from .stubs import stub

# ----- the cases every convolution exercise is graded on -------------------------------------
# (x shape (N, C, H, W), W shape (O, C, KH, KW), stride, padding): non-square, odd sizes,
# strides and paddings as ints and as pairs (the learner must accept both).
FORWARD_CASES = [((2, 3, 5, 7), (4, 3, 3, 2), 1, 0),
                 ((1, 2, 7, 6), (3, 2, 3, 3), (2, 1), (1, 2)),
                 ((2, 1, 6, 5), (2, 1, 2, 3), 2, 1),
                 ((1, 2, 8, 9), (3, 2, 3, 2), (1, 3), (0, 1))]

# The hand-computed case: y[r, c] = x[r, c] + 2 x[r+1, c] - x[r+1, c+1] + 0.5
HAND_X = np.array([[[[1, 2, 0, 1], [0, 1, 3, 2], [2, 1, 0, 1]]]], dtype=np.float64)
HAND_W = np.array([[[[1, 0], [2, -1]]]], dtype=np.float64)
HAND_B = np.array([0.5])
HAND_Y = np.array([[[[0.5, 1.5, 4.5], [3.5, 3.5, 2.5]]]])


def _forward_mistakes(x, w, b, stride, padding, matmul=False):
    s, p = pair(stride), pair(padding)
    mistakes = [
        Mistake("the kernel flipped (a true convolution instead of the cross-correlation)",
                "CNN layers do not flip the kernel: use W[o, ch, i, j] with x_pad[n, ch, "
                "r*sh + i, c*sw + j], not W[o, ch, KH-1-i, KW-1-j].",
                lambda: oracles.conv_loops(x, w[:, :, ::-1, ::-1], b, s, p)),
        Mistake("the bias is missing", "add b[o] to every output pixel of filter o.",
                lambda: oracles.conv_loops(x, w, np.zeros_like(b), s, p)),
        Mistake("the padding is ignored", "pad x with ph rows of zeros above and below "
                "and pw columns left and right first (np.pad).",
                lambda: oracles.conv_loops(x, w, b, s, (0, 0))),
    ]
    if s[0] != s[1] or p[0] != p[1]:
        mistakes.append(Mistake(
            "stride or padding read in the wrong order",
            "a pair is (rows, columns): stride (sh, sw) moves sh rows down and sw columns "
            "right; padding (ph, pw) adds ph rows and pw columns.",
            lambda: oracles.conv_loops(x, w, b, s[::-1], p[::-1])))
    if matmul:
        def unshuffled():
            y = oracles.conv_loops(x, w, b, s, p)
            return y.transpose(1, 0, 2, 3).reshape(w.shape[0], -1).reshape(y.shape)
        mistakes.append(Mistake(
            "the product (O, N*OH*OW) reshaped straight to (N, O, OH, OW)",
            "the product's rows are filters and its columns (n, oh, ow): reshape it to "
            "(O, N, OH, OW), then transpose(1, 0, 2, 3).", unshuffled))
    return mistakes


def _grade_forward(fn, matmul=False):
    checked = []
    case = "the hand-computed case (x (1, 1, 3, 4), W (1, 1, 2, 2), stride 1, padding 0)"
    y = call(fn, case, HAND_X, HAND_W, HAND_B, 1, 0)
    expect_close(y, HAND_Y, "y", case, _forward_mistakes(HAND_X, HAND_W, HAND_B, 1, 0, matmul),
                 axes="(N, O, OH, OW)")
    checked.append("a 3x4 image and a 2x2 kernel computed by hand")
    rng = np.random.default_rng(30)
    for k, (x_shape, w_shape, stride, padding) in enumerate(FORWARD_CASES, 1):
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        b = rng.standard_normal(w_shape[0])
        shown = describe(x=x, W=w, stride=stride, padding=padding)
        case = f"case {k} of {len(FORWARD_CASES)} ({shown})"
        y = call(fn, case, x, w, b, stride, padding)
        expected = oracles.conv_loops(x, w, b, pair(stride), pair(padding))
        expect_close(y, expected, "y", case,
                     _forward_mistakes(x, w, b, stride, padding, matmul),
                     axes="(N, O, OH, OW), OH = (H + 2*ph - KH) // sh + 1, "
                          "OW = (W + 2*pw - KW) // sw + 1")
    checked.append(f"{len(FORWARD_CASES)} random non-square cases against loops written "
                   "from the definition (strides 1, 2, (2, 1), (1, 3); paddings 0, 1, (1, 2), "
                   "(0, 1); ints and pairs)")
    return checked


CONV2D_FORWARD_STUB = stub("conv2d_forward", "a convolutional layer's forward pass, as loops", '''
import numpy as np


def conv2d_forward(x, W, b, stride, padding):
    """y = conv(x, W) + b, the forward pass of a convolutional layer.

    A convolution slides each filter over the image and takes a dot product at every
    position (seed 002, "Visual Explanation of Neural Networks in Deep Learning", its
    section on convolution). As in PyTorch and every CNN library it is a
    *cross-correlation*: the kernel is not flipped.

        y[n, o, r, c] = b[o] + sum over (ch, i, j) of
                        W[o, ch, i, j] * x_pad[n, ch, r*sh + i, c*sw + j]

    x_pad is x with ph rows of zeros above and below and pw columns of zeros left and right.

    x:       (N, C, H, X)   a batch of images, H rows and X columns each
    W:       (O, C, KH, KW) O filters
    b:       (O,)           one bias per filter
    stride:  an int s, meaning (s, s), or a pair (sh, sw) (rows, columns)
    padding: an int p, meaning (p, p), or a pair (ph, pw)
    returns y: (N, O, OH, OW), OH = (H + 2*ph - KH) // sh + 1, OW = (X + 2*pw - KW) // sw + 1

    Four loops (n, o, r, c) with a sum over each patch are fine: correct first, fast later.
    """
    raise NotImplementedError("exercise conv2d_forward: compute y (N, O, OH, OW) as in the "
                              "docstring")
''')

CONV2D_FORWARD = Exercise(
    name="conv2d_forward",
    description="a convolutional layer's forward pass as loops (cross-correlation, stride, "
                "padding)",
    lessons=("01",),
    stub=CONV2D_FORWARD_STUB,
    hints=(
        "Turn stride and padding into pairs first: "
        "sh, sw = (stride, stride) if np.isscalar(stride) else stride (the same for padding).",
        "np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) pads only the two image axes; "
        "then OH = (H + 2*ph - KH) // sh + 1.",
        "Inside the loops: patch = x_pad[n, :, r*sh : r*sh + KH, c*sw : c*sw + KW] (shape "
        "(C, KH, KW)); y[n, o, r, c] = np.sum(patch * W[o]) + b[o].",
        "Do not flip W: CNN layers compute a cross-correlation. The library's version, to "
        "compare after you pass: scratchcnn/reference/conv.py, conv2d_loops.",
    ),
    solution=lambda x, W, b, stride, padding: _reference_conv(x, W, b, stride, padding),
    grade=_grade_forward,
)


def _reference_conv(x, W, b, stride, padding):
    from ..reference import conv
    return conv.conv2d_loops(x, W, b, pair(stride), pair(padding))


# ----- im2col ----------------------------------------------------------------------------
IM2COL_HAND = np.arange(1.0, 13.0).reshape(1, 1, 3, 4)
IM2COL_HAND_COLS = np.array([[1, 2, 3, 5, 6, 7], [2, 3, 4, 6, 7, 8],
                             [5, 6, 7, 9, 10, 11], [6, 7, 8, 10, 11, 12]], dtype=np.float64)
IM2COL_CASES = [((2, 3, 5, 6), (3, 2), 1, 0), ((2, 2, 7, 6), (3, 3), (2, 1), (1, 2)),
                ((1, 2, 6, 8), (2, 3), 2, 1)]


def _im2col_mistakes(x, kh, kw, stride, padding):
    s, p = pair(stride), pair(padding)
    n, c = x.shape[:2]

    def cols():
        return oracles.im2col_loops(x, kh, kw, s, p)
    return [
        Mistake("the patch matrix transposed: (N*OH*OW, C*KH*KW)",
                "one COLUMN per output pixel and one ROW per (channel, kernel row, kernel "
                "column), so that the convolution is W.reshape(O, -1) @ cols.",
                lambda: cols().T),
        Mistake("rows in (kernel row, kernel column, channel) order",
                "row (ch*KH + i)*KW + j holds channel ch, kernel offset (i, j): the channel "
                "varies slowest, as in W.reshape(O, C*KH*KW).",
                lambda: cols().reshape(c, kh, kw, -1).transpose(1, 2, 0, 3).reshape(c * kh * kw,
                                                                                    -1)),
        Mistake("columns in (oh, ow, n) order",
                "column (n*OH + oh)*OW + ow: the image index varies slowest.",
                lambda: cols().reshape(c * kh * kw, n, -1).transpose(0, 2, 1).reshape(
                    c * kh * kw, -1)),
        Mistake("the padding is ignored", "pad x with zeros first (np.pad on the two image "
                "axes).", lambda: oracles.im2col_loops(x, kh, kw, s, (0, 0))),
    ]


def _grade_im2col(fn):
    case = "the hand-computed case (x = 1..12 as (1, 1, 3, 4), a 2x2 window, stride 1)"
    cols = call(fn, case, IM2COL_HAND, 2, 2, 1, 0)
    expect_close(cols, IM2COL_HAND_COLS, "cols", case, _im2col_mistakes(IM2COL_HAND, 2, 2, 1, 0),
                 axes="(C*KH*KW, N*OH*OW)")
    rng = np.random.default_rng(31)
    for k, (x_shape, (kh, kw), stride, padding) in enumerate(IM2COL_CASES, 1):
        x = rng.standard_normal(x_shape)
        shown = describe(x=x, kh=kh, kw=kw, stride=stride, padding=padding)
        case = f"case {k} of {len(IM2COL_CASES)} ({shown})"
        cols = call(fn, case, x, kh, kw, stride, padding)
        expect_close(cols, oracles.im2col_loops(x, kh, kw, pair(stride), pair(padding)), "cols",
                     case, _im2col_mistakes(x, kh, kw, stride, padding),
                     axes="(C*KH*KW, N*OH*OW): a row per (ch, i, j), a column per (n, oh, ow)")
    return ["a 3x4 image unfolded by hand into its six 2x2 patches",
            f"{len(IM2COL_CASES)} random cases against loops that copy one entry at a time "
            "(rows in (c, i, j) order, columns in (n, oh, ow) order; strides and paddings "
            "as ints and pairs)"]


IM2COL_STUB = stub("im2col", "unfold every window of an image batch into a column", '''
import numpy as np


def im2col(x, kh, kw, stride, padding):
    """The patch matrix: one column per output pixel, one row per (channel, kernel row,
    kernel column), so that a convolution becomes ONE matrix product
    W.reshape(O, C*KH*KW) @ cols (Chellapilla, Puri & Simard 2006; the Caffe and Chainer
    layout; the convolution itself: seed 002, "Visual Explanation of Neural Networks in
    Deep Learning").

        cols[(ch*KH + i)*KW + j, (n*OH + r)*OW + c] = x_pad[n, ch, r*sh + i, c*sw + j]

    x: (N, C, H, W); kh, kw: the window's size; stride, padding: an int or a pair
    returns cols: (C*KH*KW, N*OH*OW), OH = (H + 2*ph - KH) // sh + 1 (likewise OW)
    """
    raise NotImplementedError("exercise im2col: build cols (C*KH*KW, N*OH*OW)")
''')

IM2COL = Exercise(
    name="im2col",
    description="unfold every window into a column of a patch matrix (C*KH*KW, N*OH*OW)",
    lessons=("01",),
    stub=IM2COL_STUB,
    hints=(
        "Start from the six loops of the formula (n, r, c for the column; ch, i, j for the "
        "row) and fill cols one entry at a time: it is slow and right.",
        "Faster: for each kernel offset (i, j) the slice x_pad[:, :, i : i + sh*OH : sh, "
        "j : j + sw*OW : sw] has shape (N, C, OH, OW) and holds row (ch, i, j) of every "
        "column at once.",
        "Collect those slices in an array of shape (C, KH, KW, N, OH, OW) (transpose each "
        "slice to (C, N, OH, OW)), then reshape it to (C*KH*KW, N*OH*OW).",
        "The library's version: scratchcnn/reference/conv.py, im2col.",
    ),
    solution=lambda x, kh, kw, stride, padding: _reference_im2col(x, kh, kw, stride, padding),
    grade=_grade_im2col,
)


def _reference_im2col(x, kh, kw, stride, padding):
    from ..reference import conv
    return conv.im2col(x, kh, kw, pair(stride), pair(padding))


# ----- the convolution as one matrix product -------------------------------------------
CONV2D_MATMUL_STUB = stub("conv2d_matmul", "the convolution as one matrix product", '''
import numpy as np


def conv2d_matmul(x, W, b, stride, padding):
    """conv2d_forward again, as ONE matrix product on the patch matrix (Chellapilla, Puri &
    Simard 2006; the convolution: seed 002, "Visual Explanation of Neural Networks in Deep
    Learning"):

        cols  = im2col(x)                               (C*KH*KW, N*OH*OW)
        y_mat = W.reshape(O, C*KH*KW) @ cols + b[:, None]   (O, N*OH*OW): a row per filter,
                                                         a column per (n, oh, ow)
        y     = y_mat as (N, O, OH, OW)

    x: (N, C, H, X) (X columns); W: (O, C, KH, KW); b: (O,); stride, padding: an int or
    a pair
    returns y: (N, O, OH, OW), equal to conv2d_forward's.

    You may reuse your im2col: this file's folder is on the import path while it is
    checked, so `from im2col import im2col` works once im2col.py passes.
    """
    raise NotImplementedError("exercise conv2d_matmul: im2col, one product, then reshape")
''')

CONV2D_MATMUL = Exercise(
    name="conv2d_matmul",
    description="the convolution as one matrix product W_mat @ im2col(x), reshaped to NCHW",
    lessons=("01",),
    stub=CONV2D_MATMUL_STUB,
    hints=(
        "Three lines: cols = im2col(...); y_mat = W.reshape(O, -1) @ cols + b[:, None]; "
        "then the reshape.",
        "y_mat's columns are ordered (n, oh, ow) and its rows are filters: "
        "y_mat.reshape(O, N, OH, OW) puts the filter axis first.",
        "transpose(1, 0, 2, 3) moves the batch axis back in front: (N, O, OH, OW).",
        "The library's version: scratchcnn/reference/conv.py, conv2d_forward.",
    ),
    solution=lambda x, W, b, stride, padding: _reference_matmul(x, W, b, stride, padding),
    grade=lambda fn: _grade_forward(fn, matmul=True),
)


def _reference_matmul(x, W, b, stride, padding):
    from ..reference import conv
    return conv.conv2d_forward(x, W, b, pair(stride), pair(padding))[0]


# ----- col2im ----------------------------------------------------------------------------
COL2IM_CASES = [((2, 2, 5, 6), (3, 3), 1, 1), ((1, 3, 7, 6), (3, 2), (2, 1), (0, 1)),
                ((2, 1, 6, 9), (2, 3), (2, 3), 0)]


def _grade_col2im(fn):
    rng = np.random.default_rng(32)
    for k, (x_shape, (kh, kw), stride, padding) in enumerate(COL2IM_CASES, 1):
        s, p = pair(stride), pair(padding)
        n, c, h, w = x_shape
        oh, ow = oracles.out_size(h, kh, s[0], p[0]), oracles.out_size(w, kw, s[1], p[1])
        cols = rng.standard_normal((c * kh * kw, n * oh * ow))
        shown = describe(cols=cols, x_shape=x_shape, kh=kh, kw=kw, stride=stride,
                         padding=padding)
        case = f"case {k} of {len(COL2IM_CASES)} ({shown})"
        dx = call(fn, case, cols, x_shape, kh, kw, stride, padding)
        expected = oracles.col2im_loops(cols, x_shape, kh, kw, s, p)
        covered = np.broadcast_to(oracles.coverage(x_shape, kh, kw, s, p), x_shape)

        def assigns(got, expected=expected, covered=covered):
            return (got.shape == expected.shape and np.allclose(got[covered <= 1],
                                                                expected[covered <= 1])
                    and not np.allclose(got[covered > 1], expected[covered > 1]))
        mistakes = [
            Mistake("overlapping windows assign instead of adding",
                    "a pixel inside several windows gets the SUM of their entries: use += "
                    "(np.add.at, or += on one strided slice per kernel offset).",
                    test=assigns),
            Mistake("the padding is not cut off",
                    "accumulate into the padded image (N, C, H + 2*ph, W + 2*pw), then return "
                    "dx_pad[:, :, ph : ph + H, pw : pw + W].",
                    lambda: oracles.col2im_loops(cols, (n, c, h + 2 * p[0], w + 2 * p[1]),
                                                 kh, kw, s, (0, 0)))]
        expect_close(dx, expected, "dx", case, mistakes, axes="(N, C, H, W) = x_shape")
    return [f"{len(COL2IM_CASES)} random patch matrices against loops that add every entry "
            "back onto its pixel (overlapping windows, strides (2, 1) and (2, 3), padding)"]


COL2IM_STUB = stub("col2im", "fold a patch matrix back onto the image (im2col's adjoint)", '''
import numpy as np


def col2im(cols, x_shape, kh, kw, stride, padding):
    """The adjoint of im2col: add every patch-matrix entry back onto the pixel it was
    copied from. It turns dL/dcols into dL/dx in the convolution's backward pass
    (seed 003, "Making the Training Visible": training by backpropagation; the layout of
    Chellapilla, Puri & Simard 2006, Caffe and Chainer).

        dx_pad[n, ch, r*sh + i, c*sw + j] += cols[(ch*KH + i)*KW + j, (n*OH + r)*OW + c]
        dx = dx_pad without its padding

    A pixel inside several windows receives the SUM of their entries, so that
    <im2col(x), cols> = <x, col2im(cols)> for every x and cols.

    cols: (C*KH*KW, N*OH*OW); x_shape: (N, C, H, W); kh, kw; stride, padding: int or pair
    returns dx: (N, C, H, W)
    """
    raise NotImplementedError("exercise col2im: add every column entry back onto its pixel")
''')

COL2IM = Exercise(
    name="col2im",
    description="fold a patch matrix back onto the image, adding where windows overlap",
    lessons=("01",),
    stub=COL2IM_STUB,
    hints=(
        "Make a zero image of the PADDED size (N, C, H + 2*ph, W + 2*pw) and add into it.",
        "cols.reshape(C, KH, KW, N, OH, OW)[:, i, j] is the (C, N, OH, OW) block for kernel "
        "offset (i, j); transpose it to (N, C, OH, OW).",
        "Add that block with += onto dx_pad[:, :, i : i + sh*OH : sh, j : j + sw*OW : sw]. "
        "Plain assignment (=) loses the windows that overlap.",
        "Return dx_pad[:, :, ph : ph + H, pw : pw + W]. The library's version: "
        "scratchcnn/reference/conv.py, col2im.",
    ),
    solution=lambda cols, x_shape, kh, kw, stride, padding: _reference_col2im(
        cols, x_shape, kh, kw, stride, padding),
    grade=_grade_col2im,
)


def _reference_col2im(cols, x_shape, kh, kw, stride, padding):
    from ..reference import conv
    return conv.col2im(cols, tuple(x_shape), kh, kw, pair(stride), pair(padding))


# ----- the backward pass -----------------------------------------------------------------
BACKWARD_CASES = [((2, 2, 5, 6), (3, 2, 3, 2), 1, 1), ((1, 3, 7, 6), (2, 3, 3, 3), (2, 1), (1, 0)),
                  ((2, 1, 6, 7), (2, 1, 2, 3), 2, 0)]


def _grade_backward(fn):
    rng = np.random.default_rng(33)
    for k, (x_shape, w_shape, stride, padding) in enumerate(BACKWARD_CASES, 1):
        s, p = pair(stride), pair(padding)
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        b = rng.standard_normal(w_shape[0])
        y_shape = oracles.conv_offsets(x, w, b, s, p).shape
        dy = rng.standard_normal(y_shape)
        case = (f"case {k} of {len(BACKWARD_CASES)} "
                f"({describe(dy=dy, x=x, W=w, stride=stride, padding=padding)})")
        result = expect_tuple(call(fn, case, dy, x, w, stride, padding), 3, "dW, db, dx", case)
        wanted = (w.shape, b.shape, x.shape)
        shapes = tuple(np.shape(r) for r in result)
        if shapes != wanted and sorted(map(str, shapes)) == sorted(map(str, wanted)):
            raise Failure(f"{case}: the three gradients come in another order (shapes "
                          f"{shapes}): return (dW, db, dx), shapes {wanted}")
        dw, db, dx = result

        # L = sum(y * dy): its gradient w.r.t. each argument is what backward returns
        def loss_of(xv=x, wv=w, bv=b):
            return float(np.sum(oracles.conv_offsets(xv, wv, bv, s, p) * dy))
        n = len(x)
        numeric_w = finite_differences(lambda v: loss_of(wv=v), w.copy())
        expect_gradient(dw, numeric_w, "dW", case, [
            Mistake("dW averaged over the batch", "dW is a SUM over the batch and the output "
                    "pixels: a mean loss already put its 1/N into dy.", numeric_w / n),
            Mistake("dW with the kernel flipped", "dW[o, ch, i, j] = sum of dy[n, o, r, c] * "
                    "x_pad[n, ch, r*sh + i, c*sw + j]: the same offsets as the forward pass.",
                    numeric_w[:, :, ::-1, ::-1])], axes="(O, C, KH, KW), like W")
        numeric_b = finite_differences(lambda v: loss_of(bv=v), b.copy())
        expect_gradient(db, numeric_b, "db", case, [
            Mistake("db averaged over the batch", "db[o] is the SUM of dy[:, o] over the batch "
                    "and every output pixel.", numeric_b / n),
            Mistake("db averaged over the output pixels", "db[o] is the SUM of dy[:, o], "
                    "not its mean.", numeric_b / (n * y_shape[2] * y_shape[3]))],
            axes="(O,), like b")
        numeric_x = finite_differences(lambda v: loss_of(xv=v), x.copy())
        expect_gradient(dx, numeric_x, "dx", case, [
            Mistake("dx computed with the kernel not flipped",
                    "dx is the full CONVOLUTION of dy with W (the adjoint of the forward "
                    "cross-correlation): send dy[n, o, r, c] * W[o, ch, i, j] back to "
                    "x_pad[n, ch, r*sh + i, c*sw + j], the pixel it was computed from.",
                    lambda: oracles.conv_transpose_loops(dy, w[:, :, ::-1, ::-1], x.shape, s, p)),
            Mistake("dx keeps the padding", "cut the padding off: dx_pad[:, :, ph : ph + H, "
                    "pw : pw + W].",
                    lambda: oracles.conv_transpose_loops(
                        dy, w, (x.shape[0], x.shape[1], x.shape[2] + 2 * p[0],
                                x.shape[3] + 2 * p[1]), s, (0, 0)))],
            axes="(N, C, H, W), like x")
    return [f"dW, db and dx of L = sum(conv(x, W, b) * dy) against central finite differences "
            f"of every entry, in {len(BACKWARD_CASES)} random cases (strides 1, (2, 1), 2; "
            "paddings 1, (1, 0), 0)"]


CONV2D_BACKWARD_STUB = stub("conv2d_backward", "the three backward equations of a convolution", '''
import numpy as np


def conv2d_backward(dy, x, W, stride, padding):
    """The gradients of a convolutional layer y = conv(x, W) + b (conv2d_forward's), given
    dy = dL/dy: the chain rule that trains the network by backpropagation (seed 003,
    "Making the Training Visible", training the MNIST model; Rumelhart, Hinton & Williams
    1986). In the matrix form y_mat = W_mat @ cols + b (cols = im2col(x)):

        dL/dW_mat = dy_mat @ cols.T        dL/db[o] = sum of dy[:, o] over (N, OH, OW)
        dL/dcols  = W_mat.T @ dy_mat       dL/dx    = col2im(dL/dcols)

    or, as loops: every dy[n, o, r, c] adds dy * x_pad[n, ch, r*sh + i, c*sw + j] to
    dW[o, ch, i, j] and dy * W[o, ch, i, j] to dx_pad[n, ch, r*sh + i, c*sw + j].

    dy: (N, O, OH, OW); x: (N, C, H, X), the forward's input; W: (O, C, KH, KW)
    stride, padding: an int or a pair, as in the forward pass
    returns (dW (O, C, KH, KW), db (O,), dx (N, C, H, X))

    You may reuse your im2col and col2im (`from im2col import im2col`).
    """
    raise NotImplementedError("exercise conv2d_backward: return (dW, db, dx)")
''')

CONV2D_BACKWARD = Exercise(
    name="conv2d_backward",
    description="a convolution's backward pass: dW, db and dx, checked by finite differences",
    lessons=("03",),
    stub=CONV2D_BACKWARD_STUB,
    hints=(
        "db is the easy one: dy.sum(axis=(0, 2, 3)).",
        "dy_mat = dy.transpose(1, 0, 2, 3).reshape(O, -1) has one row per filter and the "
        "columns in (n, oh, ow) order, like im2col's columns.",
        "dW = (dy_mat @ cols.T).reshape(W.shape); dcols = W.reshape(O, -1).T @ dy_mat.",
        "dx = col2im(dcols, x.shape, KH, KW, stride, padding). The library's version: "
        "scratchcnn/reference/conv.py, conv2d_backward (it takes cols instead of x).",
    ),
    solution=lambda dy, x, W, stride, padding: _reference_backward(dy, x, W, stride, padding),
    grade=_grade_backward,
)


def _reference_backward(dy, x, W, stride, padding):
    from ..reference import conv
    stride, padding = pair(stride), pair(padding)
    cols = conv.im2col(x, W.shape[2], W.shape[3], stride, padding)
    return conv.conv2d_backward(dy, cols, W, x.shape, stride, padding)


EXERCISES = [CONV2D_FORWARD, IM2COL, CONV2D_MATMUL, COL2IM, CONV2D_BACKWARD]
