"""The CUDA sources of gpu.py's twins of reference/conv.py and reference/pool.py (im2col,
col2im, max pooling, unpooling), as plain data (no CuPy needed).

Each kernel is an ``ElementwiseSpec``: the four strings that ``cupy.ElementwiseKernel``
takes, in its argument order, so ``gpu.py`` builds every kernel as
``cp.ElementwiseKernel(*SPEC)``. Keeping them here lets a machine without CuPy or a
GPU read them: tests/fast/test_gpu_compile.py compiles each one with NVRTC.

The body of an elementwise kernel runs once per output element ``i``; a ``raw``
parameter is the whole array (indexed by hand), any other is the element ``i``.
"""
from typing import NamedTuple


class ElementwiseSpec(NamedTuple):
    """The arguments of ``cupy.ElementwiseKernel(in_params, out_params, operation, name)``.

    in_params / out_params: CuPy's comma-separated declarations ("raw T x, int64 c");
    operation: the CUDA C++ loop body; name: the name of the generated kernel.
    """
    in_params: str
    out_params: str
    operation: str
    name: str


IM2COL = ElementwiseSpec(
    "raw T x, int64 c, int64 h, int64 w, int64 kh, int64 kw, int64 sh, int64 sw, "
    "int64 ph, int64 pw, int64 oh, int64 ow, int64 pixels",
    "T cols",
    """
    long long row = i / pixels, col = i % pixels;        // cols[(ch, ki, kj), (b, y, xo)]
    long long ch = row / (kh * kw), ki = (row / kw) % kh, kj = row % kw;
    long long b = col / (oh * ow), y = (col / ow) % oh, xo = col % ow;
    long long yy = y * sh + ki - ph, xx = xo * sw + kj - pw;
    bool inside = 0 <= yy && yy < h && 0 <= xx && xx < w;
    cols = inside ? x[((b * c + ch) * h + yy) * w + xx] : (T)0;
    """,
    "scratchcnn_im2col")

COL2IM = ElementwiseSpec(
    "raw T cols, int64 c, int64 h, int64 w, int64 kh, int64 kw, int64 sh, int64 sw, "
    "int64 ph, int64 pw, int64 oh, int64 ow, int64 pixels",
    "T dx",
    """
    long long b = i / (c * h * w), ch = (i / (h * w)) % c;
    long long yy = (i / w) % h + ph, xx = i % w + pw;    // position in the padded image
    T total = 0;
    for (long long ki = 0; ki < kh; ++ki) {
        long long ynum = yy - ki;
        if (ynum < 0 || ynum % sh != 0 || ynum / sh >= oh) continue;
        for (long long kj = 0; kj < kw; ++kj) {
            long long xnum = xx - kj;
            if (xnum < 0 || xnum % sw != 0 || xnum / sw >= ow) continue;
            long long column = (b * oh + ynum / sh) * ow + xnum / sw;
            total += cols[((ch * kh + ki) * kw + kj) * pixels + column];
        }
    }
    dx = total;
    """,
    "scratchcnn_col2im")

MAXPOOL = ElementwiseSpec(
    "raw T x, raw T tolerance, int64 c, int64 h, int64 w, int64 kh, int64 kw, int64 sh, "
    "int64 sw, int64 oh, int64 ow",
    "T out, int64 switches",
    """
    long long plane = i / (oh * ow);
    long long y0 = ((i / ow) % oh) * sh, x0 = (i % ow) * sw;
    T best = x[plane * h * w + y0 * w + x0];
    for (long long a = 0; a < kh; ++a) {
        for (long long b = 0; b < kw; ++b) {
            T v = x[plane * h * w + (y0 + a) * w + x0 + b];
            if (v > best) best = v;
        }
    }
    long long where = -1;   // the tie rule: the first position within the image's tolerance
    for (long long a = 0; a < kh && where < 0; ++a) {
        for (long long b = 0; b < kw && where < 0; ++b) {
            long long here = (y0 + a) * w + x0 + b;
            if (best - x[plane * h * w + here] <= tolerance[plane / c]) where = here;
        }
    }
    out = x[plane * h * w + where];   // the value at the switch
    switches = where;
    """,
    "scratchcnn_maxpool")

SEGMENT_SUM = ElementwiseSpec(
    "int64 start, int64 stop, int64 target, raw T sorted_values",
    "raw T out",
    """
    T total = 0;
    for (long long k = start; k < stop; ++k) total += sorted_values[k];
    out[target] = total;
    """,
    "scratchcnn_segment_sum")

#: Every kernel that gpu.py builds; tests/fast/test_gpu_compile.py checks that none is missing.
KERNELS = (IM2COL, COL2IM, MAXPOOL, SEGMENT_SUM)
