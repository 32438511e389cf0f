"""Convolution and transposed convolution: an exact adjoint pair.

Conv2D is a cross-correlation (as in PyTorch): out[n, o, y, x] = b[o] +
sum_{c,i,j} W[o, c, i, j] * x_padded[n, c, y*sh + i, x*sw + j]. With the patch
matrix of ``im2col`` (one column per output pixel) it is a single matrix
product, W.reshape(O, -1) @ cols.

ConvTranspose2D with the same weights is the adjoint of Conv2D's linear part:
its forward is Conv2D's backward-to-input and its backward-to-input is Conv2D's
forward, so <conv(x), y> = <x, convT(y)> (Zeiler & Fergus 2014, sec. 2.1:
"filtering" with transposed filters).
"""
import numpy as np

from ..backend import array_module
from ..kernels import kernels_for
from ..kernels.reference import conv_output_size
from .base import Layer, as_pair, uniform_init
from .winograd import winograd_conv3x3


class _Convolution(Layer):
    """What Conv2D and ConvTranspose2D share: checked geometry, W and b, PyTorch's init."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, weight_shape,
                 name):
        super().__init__(name)
        for arg, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{arg} must be a positive int, got {v!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.stride = as_pair(stride, "stride")
        self.padding = as_pair(padding, "padding", minimum=0)
        self.params = {"W": np.zeros(weight_shape(*self.kernel_size), np.float32),
                       "b": np.zeros(out_channels, np.float32)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.reset_parameters(np.random.default_rng(0))
        self._cache = None
        self._out_shape = None

    def config(self):
        return dict(in_channels=self.in_channels, out_channels=self.out_channels,
                    kernel_size=list(self.kernel_size), stride=list(self.stride),
                    padding=list(self.padding))

    def reset_parameters(self, rng):
        # PyTorch: fan_in = W.shape[1] * kh * kw (in_channels for a conv, out_channels
        # for a transposed conv)
        fan_in = self.params["W"][0].size
        for key in ("W", "b"):
            p = self.params[key]
            p[...] = uniform_init(rng, p.shape, fan_in).astype(p.dtype)


class Conv2D(_Convolution):
    """2-D convolution (cross-correlation), PyTorch layout.

    params: W (out_channels, in_channels, kh, kw), b (out_channels,)
    forward:  x (N, in_channels, H, W) -> y (N, out_channels, OH, OW),
              OH = (H + 2*ph - kh) // sh + 1, likewise OW.

    In eval mode a 3x3, stride-1 convolution with at least ``WINOGRAD_MIN_CHANNELS``
    input channels runs as Winograd F(2x2, 3x3) on the CPU (layers/winograd.py):
    the same function, 2.25x fewer multiplications. Set ``use_winograd = False``
    on a layer (or the class) to always use im2col.
    """
    use_winograd = True
    WINOGRAD_MIN_CHANNELS = 16    # at 8 it breaks even, at 1 it is 9x slower (BENCHMARKS.md)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, name=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding,
                         lambda kh, kw: (out_channels, in_channels, kh, kw), name)

    def output_shape(self, x_shape):
        n, _, h, w = x_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(
                f"{self.label}: kernel_size {self.kernel_size} is larger than the padded input "
                f"{(h + 2 * ph, w + 2 * pw)} (x spatial size {(h, w)}, padding {self.padding})")
        return (n, self.out_channels, conv_output_size(h, kh, sh, ph),
                conv_output_size(w, kw, sw, pw))

    def _winograd_applies(self, kernels):
        return (self.use_winograd and not self.training and hasattr(kernels, "winograd_input")
                and self.kernel_size == (3, 3) and self.stride == (1, 1)
                and self.in_channels >= self.WINOGRAD_MIN_CHANNELS)

    def _patch_matrix(self, x):
        """im2col of x into this layer's reused buffer: (C*kh*kw, N*OH*OW)."""
        n, _, oh, ow = self.output_shape(x.shape)
        (kh, kw) = self.kernel_size
        shape = (self.in_channels * kh * kw, n * oh * ow)
        return kernels_for(x).im2col(x, kh, kw, self.stride, self.padding,
                                     out=self.scratch("cols", shape, x))

    def forward(self, x):
        self.check_input(x, "(N, C, H, W)", 4, self.in_channels, "in_channels")
        n, _, oh, ow = self.output_shape(x.shape)
        xp, kernels = array_module(x), kernels_for(x)
        if self._winograd_applies(kernels):
            y = xp.empty((n, self.out_channels, oh, ow), dtype=x.dtype)
            winograd_conv3x3(x, self.params["W"], self.params["b"], self.padding, kernels, y,
                             self.scratch)
            cols = None                       # built by backward only if dL/dW is asked for
        else:
            cols = self._patch_matrix(x)                                       # (C*kh*kw, N*OH*OW)
            w_mat = self.params["W"].reshape(self.out_channels, -1)            # (O, C*kh*kw)
            out = xp.matmul(w_mat, cols,
                            out=self.scratch("out", (self.out_channels, cols.shape[1]), x))
            y = kernels.columns_to_nchw(out, self.params["b"], n, oh, ow)     # (N, O, OH, OW) + b
        self._cache = (x.shape, cols, x if cols is None else None)   # x: to build cols later
        self._out_shape = y.shape
        return y

    def backward(self, dy, param_grads=True, input_grad=True):
        """dy: (N, O, OH, OW) -> dx: (N, C, H, W); adds dL/dW and dL/db into grads.
        ``input_grad=False`` skips dx (returns None): a first layer needs no dx in training."""
        self.check_grad(dy, self._out_shape)
        x_shape, cols, x = self._cache
        xp, kernels = array_module(dy), kernels_for(dy)
        n, o, oh, ow = dy.shape
        dy_mat = kernels.nchw_to_columns(dy, out=self.scratch("dy_mat", (o, n * oh * ow), dy))
        w_mat = self.params["W"].reshape(o, -1)
        if param_grads:
            if cols is None:                  # forward ran Winograd: no patch matrix yet
                cols = self._patch_matrix(x)
            self.grads["W"] += (dy_mat @ cols.T).reshape(self.params["W"].shape)
            self.grads["b"] += dy.sum(axis=(0, 2, 3))
        if not input_grad:
            return None
        dcols = xp.matmul(w_mat.T, dy_mat,
                          out=self.scratch("dcols", (w_mat.shape[1], dy_mat.shape[1]), dy))
        kh, kw = self.kernel_size
        return kernels.col2im(dcols, x_shape, kh, kw, self.stride, self.padding)


class ConvTranspose2D(_Convolution):
    """Transposed convolution, PyTorch layout (no groups, no dilation).

    params: W (in_channels, out_channels, kh, kw), b (out_channels,)
    forward:  x (N, in_channels, H, W) -> y (N, out_channels, OH, OW),
              OH = (H - 1)*sh - 2*ph + kh + output_padding_h, likewise OW.
    y = (backward-to-input of a Conv2D(out_channels -> in_channels) with weight W) + b.
    ``output_padding`` (< stride) recovers the rows and columns that a strided
    Conv2D dropped by flooring, so the pair maps back to the exact input size.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, name=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding,
                         lambda kh, kw: (in_channels, out_channels, kh, kw), name)
        self.output_padding = as_pair(output_padding, "output_padding", minimum=0)
        if any(op >= s for op, s in zip(self.output_padding, self.stride)):
            raise ValueError(f"output_padding must be smaller than stride {self.stride}, "
                             f"got {self.output_padding}")

    def config(self):
        return dict(super().config(), output_padding=list(self.output_padding))

    def output_shape(self, x_shape):
        n, _, h, w = x_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        oph, opw = self.output_padding
        oh, ow = (h - 1) * sh - 2 * ph + kh + oph, (w - 1) * sw - 2 * pw + kw + opw
        if oh < 1 or ow < 1:
            raise ValueError(f"{self.label}: padding {self.padding} is too large for input "
                             f"size {(h, w)}: the output would be {(oh, ow)}")
        return (n, self.out_channels, oh, ow)

    def forward(self, x):
        self.check_input(x, "(N, C, H, W)", 4, self.in_channels, "in_channels")
        out_shape = self.output_shape(x.shape)
        xp = array_module(x)
        n, _, h, w = x.shape
        x_mat = xp.ascontiguousarray(x.transpose(1, 0, 2, 3)).reshape(self.in_channels, -1)
        # x_mat: (in, N*H*W)
        w_mat = self.params["W"].reshape(self.in_channels, -1)                 # (in, out*kh*kw)
        cols = w_mat.T @ x_mat                                                 # (out*kh*kw, N*H*W)
        kh, kw = self.kernel_size
        y = kernels_for(x).col2im(cols, out_shape, kh, kw, self.stride, self.padding)
        y += self.params["b"].reshape(1, -1, 1, 1)
        self._cache = (x_mat, x.shape)
        self._out_shape = y.shape
        return y

    def backward(self, dy, param_grads=True, input_grad=True):
        """dy: (N, out, OH, OW) -> dx: (N, in, H, W); adds dL/dW and dL/db into grads
        (``input_grad=False``: skip dx, return None)."""
        self.check_grad(dy, self._out_shape)
        x_mat, x_shape = self._cache
        xp = array_module(dy)
        kh, kw = self.kernel_size
        cols = kernels_for(dy).im2col(dy, kh, kw, self.stride, self.padding)  # (out*kh*kw, N*H*W)
        w_mat = self.params["W"].reshape(self.in_channels, -1)
        if param_grads:
            self.grads["W"] += (x_mat @ cols.T).reshape(self.params["W"].shape)
            self.grads["b"] += dy.sum(axis=(0, 2, 3))
        if not input_grad:
            return None
        n, _, h, w = x_shape
        dx = (w_mat @ cols).reshape(self.in_channels, n, h, w).transpose(1, 0, 2, 3)
        return xp.ascontiguousarray(dx)
