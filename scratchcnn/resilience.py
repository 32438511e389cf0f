"""Weight damage and the highest activation region of a CAM, after Vasu & Savakis,
"Visualizing the Resilience of Deep Convolutional Network Interpretations" (seed 001).

    sites = sc.zoo.damage_sites(model)                      # {"D1": "block1.conv1", ...}
    masks = damage_masks(model, [sites["D2"]], 0.5, seed=0) # 50 % of D2's weights
    apply_masks(model, masks)                               # stuck at zero now ...
    opt = sc.Adam(model, masks=masks)                       # ... and while retraining
    maps = upsample(sc.explain.cam(model, x, y), x.shape[-2:])      # (N, H, W)
    har = highest_activation_region(maps[0])                # (H, W) bool
    region_iou(har, har_before)                             # how much of it survived

Masks are {"<node>.<param>": bool keep-mask}: True keeps a weight, False damages it,
the format ``SGD``/``Adam`` take as ``masks=`` (optim.py).
"""
import collections

import numpy as np

from .backend import array_module, to_numpy

HAR_THRESHOLD = 0.2       # ours: the paper does not give the HAR threshold


def damage_count(fraction, n):
    """How many of ``n`` weights a damage ``fraction`` zeroes: fraction * n rounded
    half up, int(floor(fraction * n + 0.5)), e.g. 0.5 * 105 = 52.5 -> 53 (Python's
    round() rounds half to even and would give 52)."""
    return int(np.floor(fraction * n + 0.5))


def _check_fraction(fraction):
    try:
        value = float(fraction)
    except (TypeError, ValueError):
        raise TypeError(f"fraction must be a number in [0, 1], got {fraction!r}") from None
    if not 0.0 <= value <= 1.0:          # also rejects NaN
        raise ValueError(f"fraction must be in [0, 1] (the share of a layer's weights to "
                         f"zero; 0.05 is 5 %), got {fraction!r}")
    return value


def damage_masks(model, layers, fraction, seed=0, include_bias=False):
    """Keep-masks that damage ``fraction`` of the weights of each named layer.

    layers: node names, e.g. ``zoo.damage_sites(model).values()``; fraction in [0, 1].
    For each layer with N weights "W" (the bias "b" too if include_bias), exactly
    ``damage_count(fraction, N)`` of them, drawn uniformly without replacement, are
    set to False (Vasu & Savakis sec. 3.2: "If a layer contains N trainable weights,
    we drop D% of N weights", spread randomly). One np.random.default_rng(seed) draws
    every layer in the order given, so a seed reproduces all the masks, and each
    layer gets its own draw. Returns {"<node>.W": bool array shaped like W, ...}
    (NumPy, wherever the model lives; the optimizers and apply_masks move it).
    """
    fraction = _check_fraction(fraction)
    layers = [layers] if isinstance(layers, str) else list(layers)
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers names a layer twice: {layers}")
    rng = np.random.default_rng(seed)
    masks = {}
    for name in layers:
        params = model[name].params          # unknown name: the model's KeyError
        if "W" not in params:
            raise ValueError(f"layer {name!r} ({type(model[name]).__name__}) has no weights "
                             f"'W' to damage; its parameters: {sorted(params)}")
        keys = ["W"] + (["b"] if include_bias and "b" in params else [])
        for key in keys:
            shape = tuple(params[key].shape)
            n = int(np.prod(shape))
            damaged = rng.choice(n, size=damage_count(fraction, n), replace=False)
            keep = np.ones(n, dtype=bool)
            keep[damaged] = False            # stuck at zero (Vasu & Savakis sec. 3.2)
            masks[f"{name}.{key}"] = keep.reshape(shape)
    return masks


def apply_masks(model, masks):
    """Zero, in place, every weight whose mask entry is False ("forcing the selected
    weights to zero, simulating the stuck at zero damage", Vasu & Savakis sec. 3.2).

    masks: {"<node>.<param>": array of the parameter's shape}, as from damage_masks.
    Checked like the optimizers' masks (an unknown key: KeyError listing the valid
    keys; a wrong shape: ValueError) before any weight changes. Kept weights are not
    touched, so an all-True mask leaves the model bit-identical. Returns the model.
    """
    params = {key: (layer.params, pkey) for key, layer, pkey in model.named_parameters()}
    checked = {}
    for key, mask in masks.items():
        if key not in params:
            raise KeyError(f"masks has key {key!r}, which is not a parameter; "
                           f"valid keys: {list(params)}")
        store, pkey = params[key]
        mask = array_module(store[pkey]).asarray(mask).astype(bool)
        if mask.shape != store[pkey].shape:
            raise ValueError(f"masks[{key!r}] has shape {mask.shape}, the parameter "
                             f"has shape {store[pkey].shape}")
        checked[key] = mask
    for key, mask in checked.items():
        store, pkey = params[key]
        store[pkey][~mask] = 0               # an exact +0; kept weights untouched
    return model


def label_regions(inside, connectivity=4):
    """Connected-component labelling by breadth-first search.

    inside: bool (H, W). connectivity: 4 (edge neighbours, what the HAR uses) or 8
    (corners too). Returns (labels, count): labels int (H, W), 0 outside, 1..count
    inside, numbered in row-major order of each region's first pixel.
    """
    inside = np.asarray(inside, dtype=bool)
    if inside.ndim != 2:
        raise ValueError(f"inside must have shape (H, W), got {inside.shape}")
    steps = {4: [(-1, 0), (1, 0), (0, -1), (0, 1)],
             8: [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if di or dj]}
    if connectivity not in steps:
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")
    height, width = inside.shape
    labels = np.zeros(inside.shape, dtype=np.int64)
    count = 0
    for i, j in zip(*np.nonzero(inside)):    # row-major order
        if labels[i, j]:
            continue
        count += 1
        labels[i, j] = count
        queue = collections.deque([(i, j)])
        while queue:
            ci, cj = queue.popleft()
            for di, dj in steps[connectivity]:
                ni, nj = ci + di, cj + dj
                if (0 <= ni < height and 0 <= nj < width and inside[ni, nj]
                        and not labels[ni, nj]):
                    labels[ni, nj] = count
                    queue.append((ni, nj))
    return labels, count


def highest_activation_region(cam_map, threshold=HAR_THRESHOLD):
    """The highest activation region (HAR, Vasu & Savakis sec. 3.1: "the image region
    that most contributes to the network activation") of one class activation map.

    cam_map: (H, W), already on the image (resize.upsample). The HAR is the largest
    4-connected region of pixels with cam_map >= threshold * cam_map.max() (the paper
    gives no threshold; ours is 0.2; a value exactly at it is inside). Ties in size:
    the region holding the map's maximum, else the one whose first pixel comes first
    in row-major order. A map with max <= 0 (all zero, all negative) has no positive
    activation: an all-False mask. Returns bool (H, W), as NumPy.
    """
    cam_map = to_numpy(cam_map)
    if cam_map.ndim != 2:
        raise ValueError(f"cam_map must have shape (H, W) (one map; index a batch (N, H, W) "
                         f"first), got {cam_map.shape}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1] (a share of the map's maximum), "
                         f"got {threshold!r}")
    if not np.all(np.isfinite(cam_map)):
        raise ValueError("cam_map contains NaN or Inf")
    peak = cam_map.max()
    if peak <= 0:
        return np.zeros(cam_map.shape, dtype=bool)
    labels, _ = label_regions(cam_map >= threshold * peak)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0                             # the background is no region
    largest = np.flatnonzero(sizes == sizes.max())          # ascending: row-major order
    holding_peak = np.unique(labels[cam_map == peak])
    preferred = [label for label in largest if label in holding_peak]
    return labels == (preferred[0] if preferred else largest[0])


def region_iou(a, b):
    """Intersection over union |a & b| / |a | b| of two bool maps of one shape, e.g.
    the HAR before and after damage. Both empty: 1.0 (two identical empty regions;
    a damaged map that lost its HAR scores 0.0 against an intact one)."""
    a, b = to_numpy(a), to_numpy(b)
    if a.dtype != bool or b.dtype != bool:
        raise TypeError(f"region_iou takes bool maps, got dtypes {a.dtype} and {b.dtype}")
    if a.shape != b.shape:
        raise ValueError(f"the maps must have one shape, got {a.shape} and {b.shape}")
    union = int(np.count_nonzero(a | b))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(a & b)) / union
