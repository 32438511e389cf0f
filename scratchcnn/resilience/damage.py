"""Weight damage and the highest activation region of a CAM, after Vasu & Savakis,
"Visualizing the Resilience of Deep Convolutional Network Interpretations" (seed 001).

    sites = sc.zoo.damage_sites(model)                      # {"D1": "block1.conv1", ...}
    masks = damage_masks(model, [sites["D2"]], 0.5, seed=0) # 50 % of D2's weights
    apply_masks(model, masks)                               # stuck at zero now ...
    opt = sc.Adam(model, masks=masks)                       # ... and while retraining
    maps = upsample(sc.explain.cam(model, x, y), x.shape[-2:])      # (N, H, W)
    har = highest_activation_region(maps[0])                # (H, W) bool; a batch:
    hars = highest_activation_regions(maps)                 # (N, H, W) bool
    region_iou(har, har_before)                             # how much of it survived

Masks are {"<node>.<param>": bool keep-mask}: True keeps a weight, False damages it,
the format ``SGD``/``Adam`` take as ``masks=`` (optim.py).
"""
import numpy as np

from ..backend import array_module, to_numpy

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
    """Connected-component labelling of one bool map (H, W) or of each map of a batch
    (N, H, W).

    connectivity: 4 (edge neighbours, what the HAR uses) or 8 (corners too). Returns
    (labels, count): labels int like ``inside``, 0 outside, 1..count inside, numbered in
    row-major order of each region's first pixel; count an int, or (N,) for a batch.

    Every pixel inside starts with its own row-major index; then, until nothing changes,
    each takes the smallest label among itself and its neighbours inside, and jumps to
    the label that pixel holds (pointer jumping, so long regions need few rounds). A
    region ends with its smallest index, that of its first pixel; the ranks of those
    are the labels. (tests/resilience/test_damage.py checks it against a breadth-first search.)
    """
    inside = np.asarray(inside, dtype=bool)
    if inside.ndim not in (2, 3):
        raise ValueError(f"inside must have shape (H, W) or (N, H, W), got {inside.shape}")
    steps = {4: [(-1, 0), (1, 0), (0, -1), (0, 1)],
             8: [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if di or dj]}
    if connectivity not in steps:
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")
    maps = inside.reshape((-1,) + inside.shape[-2:])
    n, height, width = maps.shape
    outside = height * width                         # larger than every index
    index = np.arange(outside).reshape(height, width)
    labels = np.where(maps, index, outside)
    while True:
        padded = np.pad(labels, ((0, 0), (1, 1), (1, 1)), constant_values=outside)
        smallest = labels.copy()
        for di, dj in steps[connectivity]:
            np.minimum(smallest, padded[:, 1 + di:1 + di + height, 1 + dj:1 + dj + width],
                       out=smallest)
        flat = np.concatenate([smallest.reshape(n, -1), np.full((n, 1), outside)], axis=1)
        smallest = np.take_along_axis(flat, smallest.reshape(n, -1), axis=1).reshape(maps.shape)
        smallest[~maps] = outside                    # jumped to the label's own label
        if np.array_equal(smallest, labels):
            break
        labels = smallest
    numbered, counts = np.zeros(maps.shape, dtype=np.int64), np.zeros(n, dtype=np.int64)
    for k in range(n):
        firsts = np.unique(labels[k][maps[k]])          # ascending: row-major order
        numbered[k][maps[k]] = np.searchsorted(firsts, labels[k][maps[k]]) + 1
        counts[k] = len(firsts)
    if inside.ndim == 2:
        return numbered[0], int(counts[0])
    return numbered, counts


def highest_activation_regions(cam_maps, threshold=HAR_THRESHOLD):
    """The highest activation region (HAR, Vasu & Savakis sec. 3.1: "the image region
    that most contributes to the network activation") of each class activation map.

    cam_maps: (N, H, W), already on the image (resize.upsample). A map's HAR is its
    largest 4-connected region of pixels with value >= threshold * the map's maximum
    (the paper gives no threshold; ours is 0.2, Zhou et al. 2016's for their CAM boxes;
    a value exactly at it is inside). Ties in size: the region holding the map's
    maximum, else the one whose first pixel comes first in row-major order. A map with
    max <= 0 (all zero, all negative) has no positive activation: all False. Returns
    bool (N, H, W), as NumPy.
    """
    cam_maps = to_numpy(cam_maps)
    if cam_maps.ndim != 3:
        raise ValueError(f"cam_maps must have shape (N, H, W), got {cam_maps.shape}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1] (a share of the map's maximum), "
                         f"got {threshold!r}")
    if not np.all(np.isfinite(cam_maps)):
        raise ValueError("cam_maps contains NaN or Inf")
    peaks = cam_maps.max(axis=(1, 2), keepdims=True)
    labels, _ = label_regions((cam_maps >= threshold * peaks) & (peaks > 0))
    regions = np.zeros(cam_maps.shape, dtype=bool)
    for k, (cam_map, label) in enumerate(zip(cam_maps, labels)):
        if peaks[k, 0, 0] <= 0:
            continue                                 # no positive activation: no HAR
        sizes = np.bincount(label.ravel())
        sizes[0] = 0                                 # the background is no region
        largest = np.flatnonzero(sizes == sizes.max())          # ascending: row-major order
        holding_peak = np.unique(label[cam_map == peaks[k, 0, 0]])
        preferred = [region for region in largest if region in holding_peak]
        regions[k] = label == (preferred[0] if preferred else largest[0])
    return regions


def highest_activation_region(cam_map, threshold=HAR_THRESHOLD):
    """The HAR of one map (H, W): ``highest_activation_regions`` of a batch of one."""
    cam_map = to_numpy(cam_map)
    if cam_map.ndim != 2:
        raise ValueError(f"cam_map must have shape (H, W) (one map; for a batch (N, H, W) "
                         f"use highest_activation_regions), got {cam_map.shape}")
    return highest_activation_regions(cam_map[None], threshold)[0]


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
