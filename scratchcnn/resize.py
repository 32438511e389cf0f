"""Bilinear resizing with half-pixel centres, as a product of two small matrices."""
import numpy as np

from .backend import array_module


def bilinear_matrix(size_in, size_out, xp=np, dtype=np.float64):
    """(size_out, size_in) matrix of bilinear weights with half-pixel centres (PyTorch
    ``interpolate(..., align_corners=False)``, OpenCV ``resize``): output pixel i samples
    the input at s = (i + 0.5) * size_in / size_out - 0.5, clamped at the borders."""
    source = (np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5
    source = np.clip(source, 0, size_in - 1)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, size_in - 1)
    frac = source - low
    matrix = np.zeros((size_out, size_in))
    matrix[np.arange(size_out), low] += 1 - frac
    matrix[np.arange(size_out), high] += frac
    return xp.asarray(matrix.astype(dtype))


def upsample(maps, size):
    """Bilinear resize of maps (N, h, w) to ``size`` (int or (H, W)) -> (N, H, W).
    Separable: each map becomes R @ map @ C.T with the two bilinear matrices."""
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (N, h, w), got {tuple(maps.shape)}")
    height, width = (size, size) if np.isscalar(size) else tuple(int(s) for s in size)
    xp = array_module(maps)
    rows = bilinear_matrix(maps.shape[1], height, xp, maps.dtype)
    cols = bilinear_matrix(maps.shape[2], width, xp, maps.dtype)
    return rows @ maps @ cols.T
