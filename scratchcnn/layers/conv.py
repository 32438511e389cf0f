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

from .. import ops
from ..backend import array_module
from ..reference.conv import conv_output_size
from .base import Layer, as_pair, uniform_init


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

    As matrices (one column per output pixel, ``cols = im2col(x)``):
        y_mat = W_mat @ cols + b          W_mat: (O, C*kh*kw), cols: (C*kh*kw, N*OH*OW)
    and backward, by the chain rule for a matrix product:
        dL/dW_mat = dy_mat @ cols^T,   dL/db = sum of dy over (N, OH, OW),
        dL/dcols  = W_mat^T @ dy_mat,  dL/dx = col2im(dL/dcols)
    Each equation is at its line in reference/conv.py (``conv2d_forward``,
    ``conv2d_backward``); ops.py runs them, or their fast twins.
    """
    name_prefix = "conv"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, name=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding,
                         lambda kh, kw: (out_channels, in_channels, kh, kw), name)
        self.input_shape = self.y_shape = None
        self.saved = None             # what the forward keeps for backward: x, cols

    def output_shape(self, x_shape):
        n, _, h, w = x_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(
                f"{self.label}: kernel_size {self.kernel_size} is larger than the padded input "
                f"{(h + 2 * ph, w + 2 * pw)} (x spatial size {(h, w)}, padding {self.padding})")
        return (n, self.out_channels, conv_output_size(h, kh, sh, ph),
                conv_output_size(w, kw, sw, pw))

    def forward(self, x):
        """x: (N, C, H, W) -> y: (N, O, OH, OW), y_mat = W_mat @ im2col(x) + b."""
        self.check_input(x, "(N, C, H, W)", 4, self.in_channels, "in_channels")
        self.input_shape, self.y_shape = x.shape, self.output_shape(x.shape)
        y, self.saved = ops.conv2d_forward(x, self.params["W"], self.params["b"], self.stride,
                                           self.padding, self.training, self.workspace)
        return y

    def backward(self, dy, *, relu_rule="gradient", param_grads=True, input_grad=True):
        """dy = dL/dy: (N, O, OH, OW) -> dL/dx: (N, C, H, W); adds dL/dW, dL/db into grads
        (the class docstring's equations). ``input_grad=False`` skips dx (returns None):
        a first layer needs no dx in training."""
        self.check_grad(dy, self.y_shape)
        dw, db, dx = ops.conv2d_backward(dy, self.saved, self.params["W"], self.stride,
                                         self.padding, param_grads, input_grad,
                                         self.workspace)
        if param_grads:
            self.grads["W"] += dw                                    # dL/dW = dy_mat cols^T
            self.grads["b"] += db                                    # dL/db = sum of dy
        return dx                                                    # col2im(W_mat^T dy_mat)


class ConvTranspose2D(_Convolution):
    """Transposed convolution, PyTorch layout (no groups, no dilation).

    params: W (in_channels, out_channels, kh, kw), b (out_channels,)
    forward:  x (N, in_channels, H, W) -> y (N, out_channels, OH, OW),
              OH = (H - 1)*sh - 2*ph + kh + output_padding_h, likewise OW.
    y = (backward-to-input of a Conv2D(out_channels -> in_channels) with weight W) + b.
    ``output_padding`` (< stride) recovers the rows and columns that a strided
    Conv2D dropped by flooring, so the pair maps back to the exact input size.
    """

    name_prefix = "deconv"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, name=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding,
                         lambda kh, kw: (in_channels, out_channels, kh, kw), name)
        self.x_mat = self.input_shape = self.y_shape = None
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
        y = ops.col2im(cols, out_shape, kh, kw, self.stride, self.padding)
        y += self.params["b"].reshape(1, -1, 1, 1)
        self.x_mat, self.input_shape, self.y_shape = x_mat, x.shape, y.shape
        return y

    def backward(self, dy, *, relu_rule="gradient", param_grads=True, input_grad=True):
        """dy: (N, out, OH, OW) -> dx: (N, in, H, W); adds dL/dW and dL/db into grads
        (``input_grad=False``: skip dx, return None).

        From y = col2im(W_mat^T @ x_mat) + b, and im2col being col2im's adjoint:
            dL/dW_mat = x_mat @ im2col(dy)^T,   dL/dx_mat = W_mat @ im2col(dy).
        """
        self.check_grad(dy, self.y_shape)
        xp = array_module(dy)
        kh, kw = self.kernel_size
        cols = ops.im2col(dy, kh, kw, self.stride, self.padding)       # (out*kh*kw, N*H*W)
        w_mat = self.params["W"].reshape(self.in_channels, -1)
        if param_grads:
            self.grads["W"] += (self.x_mat @ cols.T).reshape(self.params["W"].shape)
            self.grads["b"] += dy.sum(axis=(0, 2, 3))
        if not input_grad:
            return None
        n, _, h, w = self.input_shape
        dx = (w_mat @ cols).reshape(self.in_channels, n, h, w).transpose(1, 0, 2, 3)
        return xp.ascontiguousarray(dx)
