"""Max pooling with switches, Zeiler-Fergus unpooling, and global average pooling."""
from ..backend import array_module
from ..kernels import kernels_for
from .base import Layer, as_pair


class MaxPool2D(Layer):
    """Max over (kh, kw) windows moved by ``stride`` (default: the kernel size).

    forward: x (N, C, H, W) -> y (N, C, OH, OW), OH = (H - kh) // sh + 1.
    Keeps ``switches`` (N, C, OH, OW): the flat index h*W + w of each window's
    maximum, so backward (and MaxUnpool2D) can route values back to exactly that
    pixel. With stride < kernel the windows overlap and a pixel that wins several
    windows receives the sum of their gradients.
    """

    def __init__(self, kernel_size, stride=None, name=None):
        super().__init__(name)
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else as_pair(stride, "stride")
        self.switches = None
        self.input_shape = None

    def config(self):
        return dict(kernel_size=list(self.kernel_size), stride=list(self.stride))

    def forward(self, x):
        self.check_input(x, "(N, C, H, W)", 4)
        kh, kw = self.kernel_size
        if x.shape[2] < kh or x.shape[3] < kw:
            raise ValueError(f"{self.label}: kernel_size {self.kernel_size} is larger than the "
                             f"input's spatial size {tuple(x.shape[2:])}")
        y, self.switches = kernels_for(x).maxpool_forward(x, kh, kw, self.stride)
        self.input_shape = x.shape
        return y

    def backward(self, dy):
        """dy: (N, C, OH, OW) -> dx: (N, C, H, W), each dy sent to its window's switch."""
        self.check_grad(dy, None if self.switches is None else self.switches.shape)
        return kernels_for(dy).max_unpool(dy, self.switches, self.input_shape)


class MaxUnpool2D(Layer):
    """Zeiler & Fergus 2014, sec. 2.1, "Unpooling": put each pooled value back at
    the location its ``pool`` layer recorded (the switch), zeros elsewhere.

    forward: y (N, C, OH, OW) -> (N, C, H, W), using ``pool.switches`` from the
    pool layer's most recent forward pass.
    """

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
        self._switches, self._out_shape = self.pool.switches, self.pool.input_shape
        return kernels_for(y).max_unpool(y, self._switches, self._out_shape)

    def backward(self, dx):
        """dx: (N, C, H, W) -> (N, C, OH, OW): read dx at the switches."""
        self.check_grad(dx, getattr(self, "_out_shape", None))
        return kernels_for(dx).gather_at_switches(dx, self._switches)


class GlobalAvgPool2D(Layer):
    """Mean over all positions of each feature map (Lin et al., Network in Network).

    forward: x (N, C, H, W) -> (N, C); backward spreads dy / (H*W) evenly.
    """

    def __init__(self, name=None):
        super().__init__(name)
        self.input_shape = None

    def forward(self, x):
        self.check_input(x, "(N, C, H, W)", 4)
        self.input_shape = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, dy):
        self.check_grad(dy, None if self.input_shape is None else self.input_shape[:2])
        n, c, h, w = self.input_shape
        xp = array_module(dy)
        return xp.broadcast_to(dy[:, :, None, None] / (h * w), self.input_shape).copy()

