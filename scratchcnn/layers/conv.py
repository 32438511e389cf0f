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
from ..kernels import fast_conv2d, fast_conv2d_backward, fast_conv2d_training, kernels_for
from ..kernels.reference import conv_output_size
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

    In eval mode (no dL/dW will follow) the kernels may compute the same function
    by a faster route on the Numba path (``kernels.fast_conv2d``): Winograd F(4x4, 3x3)
    for 3x3, stride-1 filters on batches of at least ``winograd.MIN_TILES`` output tiles
    (kernels/winograd.py), otherwise im2col a chunk of images at a time
    (kernels/im2col_chunks.py). In training, such a batch takes Winograd too, forward
    and backward (``kernels.fast_conv2d_training``; the backward is the adjoint of each
    of its steps, ``winograd.conv3x3_backward``). ``use_winograd = False`` on a layer
    (or the class) always takes the plain im2col below.
    """
    name_prefix = "conv"
    use_winograd = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, name=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding,
                         lambda kh, kw: (out_channels, in_channels, kh, kw), name)
        self.input_shape = self.y_shape = None
        self.cols = None              # the patch matrix of the last forward (im2col path)
        self.x = None                 # the last input, kept only when the fast path skipped cols
        self.winograd_saved = None    # what a Winograd training forward keeps for backward

    def output_shape(self, x_shape):
        n, _, h, w = x_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(
                f"{self.label}: kernel_size {self.kernel_size} is larger than the padded input "
                f"{(h + 2 * ph, w + 2 * pw)} (x spatial size {(h, w)}, padding {self.padding})")
        return (n, self.out_channels, conv_output_size(h, kh, sh, ph),
                conv_output_size(w, kw, sw, pw))

    def patch_matrix(self, x):
        """im2col of x into this layer's reused buffer: (C*kh*kw, N*OH*OW)."""
        n, _, oh, ow = self.output_shape(x.shape)
        kh, kw = self.kernel_size
        shape = (self.in_channels * kh * kw, n * oh * ow)
        return kernels_for(x).im2col(x, kh, kw, self.stride, self.padding,
                                     out=self.scratch("cols", shape, x))

    def forward(self, x):
        """x: (N, C, H, W) -> y: (N, O, OH, OW)."""
        self.check_input(x, "(N, C, H, W)", 4, self.in_channels, "in_channels")
        n, o, oh, ow = self.y_shape = self.output_shape(x.shape)
        self.input_shape, self.cols, self.x = x.shape, None, None
        self.winograd_saved = None
        weights, bias = self.params["W"], self.params["b"]
        if self.training and self.use_winograd:
            fast = fast_conv2d_training(x, weights, bias, self.stride, self.padding,
                                        self.scratch)
            if fast is not None:      # Winograd ran; what its backward needs is kept
                y, self.winograd_saved = fast
                return y
        if not self.training and self.use_winograd:
            y = fast_conv2d(x, weights, bias, self.stride, self.padding, self.scratch)
            if y is not None:         # a faster algorithm ran; None: none applies here
                self.x = x            # so that a dL/dW asked for later can still build cols
                return y
        self.cols, self.x = self.patch_matrix(x), x                      # (C*kh*kw, N*OH*OW)
        w_mat = weights.reshape(o, -1)                                   # (O, C*kh*kw)
        y_mat = array_module(x).matmul(w_mat, self.cols,                 # W_mat @ cols
                                       out=self.scratch("y_mat", (o, self.cols.shape[1]), x))
        return kernels_for(x).columns_to_nchw(y_mat, bias, n, oh, ow)   # + b: (N, O, OH, OW)

    def backward(self, dy, *, relu_rule="gradient", param_grads=True, input_grad=True):
        """dy = dL/dy: (N, O, OH, OW) -> dL/dx: (N, C, H, W); adds dL/dW, dL/db into grads.

        From y_mat = W_mat @ cols + b (the chain rule for a matrix product):
            dL/dW_mat = dy_mat @ cols^T,   dL/db = sum of dy over (N, OH, OW),
            dL/dcols  = W_mat^T @ dy_mat,  dL/dx = col2im(dL/dcols)
        (col2im is im2col's adjoint: each patch entry goes back onto its pixel, overlaps add).
        ``input_grad=False`` skips dx (returns None): a first layer needs no dx in training.

        Memory: dy_mat takes the buffer of the forward's y_mat, and dL/dcols the patch
        matrix's (the same shapes; neither is needed any more by then), so a training
        step holds one patch-sized matrix per layer, not two. A later dL/dW rebuilds the
        patch matrix from the input.
        """
        self.check_grad(dy, self.y_shape)
        xp, kernels = array_module(dy), kernels_for(dy)
        o = self.out_channels
        if param_grads:                       # whichever route dL/dW takes below
            self.grads["b"] += dy.sum(axis=(0, 2, 3))                     # sum over N, OH, OW
        if self.winograd_saved is not None:   # a Winograd training forward
            dw, dx = fast_conv2d_backward(dy, self.winograd_saved, self.input_shape,
                                          self.padding, self.scratch, param_grads, input_grad)
            if param_grads:
                self.grads["W"] += dw
            return dx
        n, patch = dy.shape[0], self.params["W"][0].size                 # C*kh*kw
        if param_grads and not input_grad and patch <= dy[0, 0].size:
            # A first layer in training: dy_mat is not needed for dL/dcols, so dy is not
            # laid out as columns; dL/dW_mat = dy_mat @ cols^T = sum over images n of
            # dy[n] (O, OH*OW) @ cols_n^T, cols_n: (C*kh*kw, OH*OW), the image's columns
            # (the partial sums, (N, O, C*kh*kw), are no larger than dy here). The slides'
            # conv1 at batch 64: 0.28 ms against 0.87 (AMD Zen 4, BENCHMARKS.md).
            cols = self.cols if self.cols is not None else self.patch_matrix(self.x)
            per_image = cols.reshape(patch, n, -1).transpose(1, 2, 0)    # (N, OH*OW, C*kh*kw)
            dw = xp.matmul(dy.reshape(n, o, -1), per_image).sum(axis=0)  # sum_n dy[n] cols_n^T
            self.grads["W"] += dw.reshape(self.params["W"].shape)
            return None
        dy_mat = kernels.nchw_to_columns(dy, out=self.scratch("y_mat", (o, dy.size // o), dy))
        w_mat = self.params["W"].reshape(o, -1)                          # (O, C*kh*kw)
        if param_grads:
            cols = self.cols if self.cols is not None else self.patch_matrix(self.x)
            self.grads["W"] += (dy_mat @ cols.T).reshape(self.params["W"].shape)  # dy_mat cols^T
        if not input_grad:
            return None
        shape = (w_mat.shape[1], dy_mat.shape[1])
        self.cols = None                        # its buffer now holds dL/dcols
        dcols = xp.matmul(w_mat.T, dy_mat, out=self.scratch("cols", shape, dy))   # W_mat^T dy_mat
        kh, kw = self.kernel_size
        return kernels.col2im(dcols, self.input_shape, kh, kw, self.stride, self.padding)


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
        y = kernels_for(x).col2im(cols, out_shape, kh, kw, self.stride, self.padding)
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
        cols = kernels_for(dy).im2col(dy, kh, kw, self.stride, self.padding)  # (out*kh*kw, N*H*W)
        w_mat = self.params["W"].reshape(self.in_channels, -1)
        if param_grads:
            self.grads["W"] += (self.x_mat @ cols.T).reshape(self.params["W"].shape)
            self.grads["b"] += dy.sum(axis=(0, 2, 3))
        if not input_grad:
            return None
        n, _, h, w = self.input_shape
        dx = (w_mat @ cols).reshape(self.in_channels, n, h, w).transpose(1, 0, 2, 3)
        return xp.ascontiguousarray(dx)
