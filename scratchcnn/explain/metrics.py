"""Scoring maps: how well a map points at the ground truth (pointing game, energy in the
mask) and how alike two maps are (Spearman rank correlation, SSIM)."""
import numpy as np

from ..backend import to_numpy


def _check(maps, masks):
    maps, masks = to_numpy(maps), to_numpy(masks).astype(bool)
    if maps.ndim != 3 or maps.shape != masks.shape:
        raise ValueError(f"maps and masks must both have shape (N, H, W), got "
                         f"{maps.shape} and {masks.shape}; upsample maps to the mask size first")
    empty = np.flatnonzero(~masks.reshape(len(masks), -1).any(axis=1))
    if len(empty):
        raise ValueError(f"masks of images {empty.tolist()[:10]} are empty: both scores need a "
                         "ground-truth region in every image (leave out the intact ones)")
    return maps, masks


def pointing_game(maps, masks, per_image=False):
    """Fraction of images whose map peaks inside the mask (Zhang et al. 2016, no
    tolerance). maps (N, H, W) float, masks (N, H, W) bool -> float (or (N,) bool)."""
    maps, masks = _check(maps, masks)
    peaks = maps.reshape(len(maps), -1).argmax(axis=1)
    hits = masks.reshape(len(masks), -1)[np.arange(len(maps)), peaks]
    return hits if per_image else float(hits.mean())


def energy_in_mask(maps, masks, per_image=False, eps=1e-12):
    """Share of the map's positive energy that falls inside the mask (the
    energy-based pointing game of Score-CAM, Wang et al. 2020):
    sum(max(map, 0) * mask) / sum(max(map, 0)); an all-zero map scores 0.
    maps (N, H, W), masks (N, H, W) -> float in [0, 1] (or (N,))."""
    maps, masks = _check(maps, masks)
    positive = np.maximum(maps, 0).reshape(len(maps), -1)
    inside = (positive * masks.reshape(len(masks), -1)).sum(axis=1)
    share = inside / np.maximum(positive.sum(axis=1), eps)
    return share if per_image else float(share.mean())


def _pair(a, b):
    """Two finite batches of maps of the same shape (N, ...) -> float64 NumPy copies."""
    a, b = to_numpy(a).astype(np.float64), to_numpy(b).astype(np.float64)
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(f"a and b must be maps of the same shape (N, ...), got "
                         f"{a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a and b must be finite (no NaN or inf)")
    return a, b


def _pearson(a, b):
    """Pearson correlation of each row: a, b (N, P) -> (N,); a constant row correlates 0."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    scale = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return np.where(scale > 0, (a * b).sum(axis=1) / np.where(scale > 0, scale, 1.0), 0.0)


def pearson(a, b):
    """Pearson correlation of each pair of maps: a, b (N, ...) -> (N,) float64; a
    constant map (no variance) correlates 0.0 with anything."""
    a, b = _pair(a, b)
    return _pearson(a.reshape(len(a), -1), b.reshape(len(b), -1))


def _average_ranks(values):
    """Ranks 1..P of each row, tied values sharing the mean of the ranks they span
    (a ReLU'd map has many equal zeros: they all get the same rank).
    values (N, P) -> (N, P) float64."""
    order = np.argsort(values, axis=1, kind="stable")
    ranks = np.empty(values.shape)
    for row, (index, sorted_row) in enumerate(zip(order, np.take_along_axis(values, order, 1))):
        starts = np.flatnonzero(np.r_[True, sorted_row[1:] != sorted_row[:-1]])   # runs of ties
        ends = np.r_[starts[1:], len(sorted_row)]            # a run covers ranks start+1 .. end
        ranks[row, index] = np.repeat((starts + 1 + ends) / 2, ends - starts)
    return ranks


def spearman(a, b):
    """Spearman's rank correlation of each pair of maps: the Pearson correlation of their
    average ranks (ties share their mean rank). a, b (N, ...) -> (N,) float64.

    A constant map has no order (zero rank variance): it correlates 0.0 with anything,
    itself included, rather than NaN.
    """
    a, b = _pair(a, b)
    rows = (len(a), -1)                                  # one row of P values per image
    return _pearson(_average_ranks(a.reshape(rows)), _average_ranks(b.reshape(rows)))


def _min_max(maps):
    """Each map scaled to [0, 1] by its own min and max: (N, H, W) -> (N, H, W);
    a constant map becomes zeros."""
    low = maps.min(axis=(1, 2), keepdims=True)
    spread = maps.max(axis=(1, 2), keepdims=True) - low
    return np.where(spread > 0, (maps - low) / np.where(spread > 0, spread, 1.0), 0.0)


def _window_mean(maps, size):
    """Mean over every valid (kh, kw) window: (N, H, W) -> (N, H - kh + 1, W - kw + 1)."""
    return np.lib.stride_tricks.sliding_window_view(maps, size, axis=(1, 2)).mean(axis=(3, 4))


def ssim(a, b, window=7):
    """Mean structural similarity of each pair of maps (Wang et al. 2004, eq. 13 and 17).

    Each map is first scaled to [0, 1] (dynamic range L = 1; a constant map becomes zeros).
    The means, variances and covariance are taken over a uniform ``window`` x ``window``
    window (eqs. 14-16 with equal weights 1/M, M pixels per window, instead of the paper's
    11 x 11 Gaussian) at every valid position, SSIM is computed at each, and the mean over
    the positions is returned (MSSIM, eq. 17). A map smaller than the window along an
    axis uses its whole extent along that axis. a, b (N, H, W) -> (N,) float64, 1 for
    identical maps.
    """
    if not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be a positive int, got {window!r}")
    a, b = _pair(a, b)
    if a.ndim != 3:
        raise ValueError(f"a and b must be maps (N, H, W), got shape {a.shape}; sum a 4-D "
                         "attribution over its channels first")
    x, y = _min_max(a), _min_max(b)
    size = (min(window, a.shape[1]), min(window, a.shape[2]))
    c1, c2 = 0.01 ** 2, 0.03 ** 2                    # C1 = (K1 L)^2, C2 = (K2 L)^2, L = 1
    mu_x, mu_y = _window_mean(x, size), _window_mean(y, size)               # eq. 14
    var_x = _window_mean(x * x, size) - mu_x ** 2                           # eq. 15, squared
    var_y = _window_mean(y * y, size) - mu_y ** 2
    cov = _window_mean(x * y, size) - mu_x * mu_y                           # eq. 16
    local = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)
             / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)))       # eq. 13
    return local.mean(axis=(1, 2))                                          # eq. 17
