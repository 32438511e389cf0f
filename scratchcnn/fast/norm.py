"""Numba twins of reference/norm.py: batchnorm_statistics, batchnorm_forward,
batchnorm_backward_sums, batchnorm_input_grad."""
import numpy as np
from numba import njit, prange
from numba import uint64 as u

from . import recycle

# Batch norm: per-channel sums over (N, H, W) and per-channel elementwise maps. A
# channel's values are N contiguous planes of H*W. The sums accumulate in float64 (a
# float32 input too) and may be reordered (fastmath "reassoc" only): that is what lets
# LLVM vectorize a reduction (BENCHMARKS.md, "Rules in the code": Numba kernels). The order is fixed at compile time, so the bits are the same on every run. The
# elementwise kernels are not reordered: they give the reference's float32 bits.


@njit(cache=True, parallel=True, fastmath={"reassoc"})
def _batchnorm_statistics(x, mean, var):
    n, c = x.shape[0], x.shape[1]
    pixels = x.shape[2] * x.shape[3]
    x_flat, count = x.ravel(), n * pixels
    for ch in prange(c):                      # thread owns channel ch
        total = 0.0
        for b in range(n):
            base = u((b * c + ch) * pixels)
            for k in range(u(pixels)):
                total += x_flat[base + k]
        mu = total / count
        squares = 0.0                         # a second pass: sum (x - mu)^2, no cancellation
        for b in range(n):
            base = u((b * c + ch) * pixels)
            for k in range(u(pixels)):
                d = x_flat[base + k] - mu
                squares += d * d
        mean[ch], var[ch] = mu, squares / count


def batchnorm_statistics(x):
    """See ``reference.norm.batchnorm_statistics``. x: (N, C, H, W) -> mean (C,), biased var (C,),
    in x's dtype (accumulated in float64)."""
    mean, var = np.empty(x.shape[1]), np.empty(x.shape[1])
    _batchnorm_statistics(np.ascontiguousarray(x), mean, var)
    return mean.astype(x.dtype), var.astype(x.dtype)


@njit(cache=True, parallel=True)
def _batchnorm_forward(x, mean, inv_std, gamma, beta, x_hat, y):
    n, c = x.shape[0], x.shape[1]
    pixels = x.shape[2] * x.shape[3]
    x_flat, x_hat_flat, y_flat = x.ravel(), x_hat.ravel(), y.ravel()
    for plane in prange(n * c):               # thread owns plane (b, ch)
        ch, base = plane % c, u(plane * pixels)
        mu, s, g, bt = mean[ch], inv_std[ch], gamma[ch], beta[ch]
        for k in range(u(pixels)):
            v = (x_flat[base + k] - mu) * s
            x_hat_flat[base + k] = v
            y_flat[base + k] = g * v + bt


def batchnorm_forward(x, mean, inv_std, gamma, beta):
    """See ``reference.norm.batchnorm_forward``: one pass writes x_hat and y.
    x: (N, C, H, W); the rest (C,) -> x_hat, y: (N, C, H, W)."""
    x = np.ascontiguousarray(x)
    x_hat, y = recycle.empty(x.shape, x.dtype), recycle.empty(x.shape, x.dtype)
    per_channel = [np.ascontiguousarray(a, dtype=x.dtype) for a in (mean, inv_std, gamma, beta)]
    _batchnorm_forward(x, *per_channel, x_hat, y)
    return x_hat, y


@njit(cache=True, parallel=True, fastmath={"reassoc"})
def _batchnorm_backward_sums(dy, x_hat, sum_dy, sum_dy_x_hat):
    n, c = dy.shape[0], dy.shape[1]
    pixels = dy.shape[2] * dy.shape[3]
    dy_flat, x_hat_flat = dy.ravel(), x_hat.ravel()
    for ch in prange(c):                      # thread owns channel ch
        total, weighted = 0.0, 0.0
        for b in range(n):
            base = u((b * c + ch) * pixels)
            for k in range(u(pixels)):
                g = np.float64(dy_flat[base + k])
                total += g
                weighted += g * x_hat_flat[base + k]
        sum_dy[ch], sum_dy_x_hat[ch] = total, weighted


def batchnorm_backward_sums(dy, x_hat):
    """See ``reference.norm.batchnorm_backward_sums``. dy, x_hat: (N, C, H, W)
    -> sum dy (C,), sum dy * x_hat (C,), in dy's dtype (accumulated in float64)."""
    sum_dy, sum_dy_x_hat = np.empty(dy.shape[1]), np.empty(dy.shape[1])
    _batchnorm_backward_sums(np.ascontiguousarray(dy), np.ascontiguousarray(x_hat),
                             sum_dy, sum_dy_x_hat)
    return sum_dy.astype(dy.dtype), sum_dy_x_hat.astype(dy.dtype)


@njit(cache=True, parallel=True)
def _batchnorm_input_grad(dy, x_hat, gamma, inv_std, mean_dx_hat, mean_dx_hat_x_hat, dx):
    n, c = dy.shape[0], dy.shape[1]
    pixels = dy.shape[2] * dy.shape[3]
    dy_flat, x_hat_flat, dx_flat = dy.ravel(), x_hat.ravel(), dx.ravel()
    for plane in prange(n * c):               # thread owns plane (b, ch)
        ch, base = plane % c, u(plane * pixels)
        g, s, m1, m2 = gamma[ch], inv_std[ch], mean_dx_hat[ch], mean_dx_hat_x_hat[ch]
        for k in range(u(pixels)):
            dx_hat = dy_flat[base + k] * g
            dx_flat[base + k] = s * (dx_hat - m1 - x_hat_flat[base + k] * m2)


def batchnorm_input_grad(dy, x_hat, gamma, inv_std, mean_dx_hat, mean_dx_hat_x_hat):
    """See ``reference.norm.batchnorm_input_grad``. dy, x_hat: (N, C, H, W); the rest (C,)
    -> dx (N, C, H, W)."""
    dy = np.ascontiguousarray(dy)
    dx = recycle.empty(dy.shape, dy.dtype)
    per_channel = [np.ascontiguousarray(a, dtype=dy.dtype)
                   for a in (gamma, inv_std, mean_dx_hat, mean_dx_hat_x_hat)]
    _batchnorm_input_grad(dy, np.ascontiguousarray(x_hat), *per_channel, dx)
    return dx
