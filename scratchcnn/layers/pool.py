"""Max pooling with switches, Zeiler-Fergus unpooling, average pooling and global
average pooling."""
from ..backend import array_module
from .. import ops
from ..reference.conv import conv_output_size
from .base import Layer, as_pair


class _Pooling(Layer):
    """What the pooling layers share: a (kh, kw) window moved by ``stride`` (default: the
    kernel size), no padding, and the check that the input holds at least one window."""

    def __init__(self, kernel_size, stride=None, name=None):
        super().__init__(name)
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else as_pair(stride, "stride")
        self.input_shape = None

    def config(self):
        return dict(kernel_size=list(self.kernel_size), stride=list(self.stride))

    def check_window(self, x):
        """x must be (N, C, H, W) with room for at least one (kh, kw) window."""
        self.check_input(x, "(N, C, H, W)", 4)
        kh, kw = self.kernel_size
        if x.shape[2] < kh or x.shape[3] < kw:
            raise ValueError(f"{self.label}: kernel_size {self.kernel_size} is larger than the "
                             f"input's spatial size {tuple(x.shape[2:])}")


class MaxPool2D(_Pooling):
    """Max over (kh, kw) windows moved by ``stride`` (default: the kernel size).

    forward: x (N, C, H, W) -> y (N, C, OH, OW), OH = (H - kh) // sh + 1.
    Keeps ``switches`` (N, C, OH, OW): the flat index h*W + w of each window's
    maximum, so backward (and MaxUnpool2D) can route values back to exactly that
    pixel. With stride < kernel the windows overlap and a pixel that wins several
    windows receives the sum of their gradients.
    """

    name_prefix = "pool"

    def __init__(self, kernel_size, stride=None, name=None):
        super().__init__(kernel_size, stride, name)
        self.switches = None

    def forward(self, x):
        self.check_window(x)
        kh, kw = self.kernel_size
        y, self.switches = ops.maxpool_forward(x, kh, kw, self.stride)
        self.input_shape = x.shape
        return y

    def backward(self, dy, *, relu_rule="gradient", param_grads=True, input_grad=True):
        """dy: (N, C, OH, OW) -> dx: (N, C, H, W), each dy sent to its window's switch."""
        self.check_grad(dy, None if self.switches is None else self.switches.shape)
        return ops.max_unpool(dy, self.switches, self.input_shape)


class MaxUnpool2D(Layer):
    """Zeiler & Fergus 2014, sec. 2.1, "Unpooling": put each pooled value back at
    the location its ``pool`` layer recorded (the switch), zeros elsewhere.

    forward: y (N, C, OH, OW) -> (N, C, H, W), using ``pool.switches`` from the
    pool layer's most recent forward pass.
    """

    name_prefix = "unpool"

    def __init__(self, pool, name=None):
        super().__init__(name)
        if not isinstance(pool, MaxPool2D):
            raise TypeError(f"pool must be a MaxPool2D layer, got {type(pool).__name__}")
        self.pool = pool

    def config(self):
        return dict(pool=self.pool.name)

    def forward(self, y):
        if self.pool.switches is None:
            raise RuntimeError(f"{self.label}: its pool layer {self.pool.label} has not run "
                               "forward yet, so there are no switches to unpool with")
        self.check_input(y, "(N, C, OH, OW)", 4)
        if tuple(y.shape) != tuple(self.pool.switches.shape):
            raise ValueError(f"{self.label}: input must have the pooled shape "
                             f"{tuple(self.pool.switches.shape)}, got {tuple(y.shape)}")
        self.switches, self.output_shape = self.pool.switches, self.pool.input_shape
        return ops.max_unpool(y, self.switches, self.output_shape)

    def backward(self, dx, *, relu_rule="gradient", param_grads=True, input_grad=True):
        """dx: (N, C, H, W) -> (N, C, OH, OW): read dx at the switches."""
        self.check_grad(dx, getattr(self, "output_shape", None))
        return ops.gather_at_switches(dx, self.switches)


class AvgPool2D(_Pooling):
    """Mean over (kh, kw) windows moved by ``stride`` (default: the kernel size), as in
    "Making the Training Visible" (average pooling) and PyTorch's AvgPool2d without padding.

    forward: x (N, C, H, W) -> y (N, C, OH, OW), OH = (H - kh) // sh + 1,
        y[n, c, p, q] = 1/(kh*kw) * sum_{i<kh, j<kw} x[n, c, p*sh + i, q*sw + j].
    backward: every pixel of a window gets dy / (kh*kw); overlapping windows add up.
    """
    name_prefix = "avgpool"

    def forward(self, x):
        self.check_window(x)
        self.input_shape = x.shape
        return ops.avgpool_forward(x, *self.kernel_size, self.stride)

    def backward(self, dy, *, relu_rule="gradient", param_grads=True, input_grad=True):
        """dy: (N, C, OH, OW) -> dx: (N, C, H, W)."""
        n, c, h, w = self.input_shape or (None,) * 4
        kh, kw = self.kernel_size
        self.check_grad(dy, None if self.input_shape is None else (
            n, c, conv_output_size(h, kh, self.stride[0], 0),
            conv_output_size(w, kw, self.stride[1], 0)))
        return ops.avgpool_backward(dy, self.input_shape, kh, kw, self.stride)


class GlobalAvgPool2D(Layer):
    """Mean over all positions of each feature map (Lin et al., Network in Network).

    forward: x (N, C, H, W) -> (N, C); backward spreads dy / (H*W) evenly.
    """

    name_prefix = "gap"

    def __init__(self, name=None):
        super().__init__(name)
        self.input_shape = None

    def forward(self, x):
        self.check_input(x, "(N, C, H, W)", 4)
        self.input_shape = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, dy, *, relu_rule="gradient", param_grads=True, input_grad=True):
        self.check_grad(dy, None if self.input_shape is None else self.input_shape[:2])
        n, c, h, w = self.input_shape
        xp = array_module(dy)
        return xp.broadcast_to(dy[:, :, None, None] / (h * w), self.input_shape).copy()

