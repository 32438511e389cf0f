"""How well a map points at the ground truth: pointing game and energy in the mask."""
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
