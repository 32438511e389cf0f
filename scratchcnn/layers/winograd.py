"""Winograd F(2x2, 3x3): Conv2D's forward pass for 3x3, stride-1 filters in eval mode.

Lavin & Gray 2016 ("Fast Algorithms for Convolutional Neural Networks", sec. 4):
every 2x2 output tile Y of a 3x3 filter g over a 4x4 input tile d is

    Y = A^T [ (G g G^T) * (B^T d B) ] A        (* elementwise; matrices in kernels/reference.py)

which takes 16 multiplications instead of 36. Summed over input channels, the 16
elementwise products become 16 matrix products, one per tile entry:

    M[k] = U[k] @ V[k],   U = G g G^T: (16, O, C),   V = B^T d B: (16, C, tiles)

so 2.25x fewer multiply-adds than im2col's single product, for the price of two
cheap transforms. The result is the same convolution up to rounding (1e-16
relative in float64, 1e-6 in float32; tests/test_winograd.py).

Conv2D uses it only when no weight gradient will follow (eval mode: predict,
evaluate, the explanation methods), because dL/dW needs im2col's patch matrix.
"""
from ..backend import array_module
from ..kernels.reference import WINOGRAD_G, winograd_tiles

CHUNK_BYTES = 8 << 20     # V and M of one chunk of images: they stay in the 32 MB L3 cache


def filter_transform(weights):
    """U = G g G^T for every (output, input) channel pair.

    weights: (O, C, 3, 3) -> U: (16, O, C), U[4*xi + nu, o, c] = (G g G^T)[xi, nu]
    for g = weights[o, c].
    """
    xp = array_module(weights)
    g = xp.asarray(WINOGRAD_G, dtype=weights.dtype)
    u = g @ weights @ g.T                                       # (O, C, 4, 4)
    o, c = weights.shape[:2]
    return xp.ascontiguousarray(u.transpose(2, 3, 0, 1)).reshape(16, o, c)


def winograd_conv3x3(x, weights, bias, padding, kernels, out, scratch):
    """y = conv(x, weights) + bias for a 3x3, stride-1 filter bank, via F(2x2, 3x3).

    x: (N, C, H, W); weights: (O, C, 3, 3); bias: (O,); padding: (ph, pw);
    kernels: the module with ``winograd_input`` / ``winograd_output``;
    out: (N, O, H + 2*ph - 2, W + 2*pw - 2), written and returned;
    scratch(key, shape, like): reused work buffers (``Layer.scratch``).
    Images go through in chunks whose V and M stay in cache (CHUNK_BYTES).
    """
    xp = array_module(x)
    n, c, h, w = x.shape
    o = weights.shape[0]
    u = filter_transform(weights)                               # (16, O, C)
    th, tw = winograd_tiles(h, w, padding)
    per_image = th * tw                                         # tiles per image
    chunk = max(1, min(n, CHUNK_BYTES // (16 * (c + o) * per_image * x.dtype.itemsize)))
    v_buffer = scratch("winograd_v", (16 * c * chunk * per_image,), x)
    m_buffer = scratch("winograd_m", (16 * o * chunk * per_image,), x)
    for start in range(0, n, chunk):
        images = x[start:start + chunk]
        tiles = len(images) * per_image
        v = v_buffer[:16 * c * tiles].reshape(16, c, tiles)
        m = m_buffer[:16 * o * tiles].reshape(16, o, tiles)
        kernels.winograd_input(images, padding, out=v)         # V = B^T d B
        xp.matmul(u, v, out=m)                                  # M[k] = U[k] @ V[k]
        kernels.winograd_output(m, bias, out[start:start + chunk])   # Y = A^T M A + b
    return out
