"""The damage sweep of Vasu & Savakis (seed 001, sec. 3.2 and Fig. 5): damage a
fraction of the weights at each site (D1-D4, or all of them), and measure what is left
of the network and of its explanation:

* accuracy on held-out images;
* the mean IoU of the CAM's highest activation region (HAR) with the intact network's;
* the mean Pearson correlation of the (upsampled) CAMs with the intact CAMs.

Evaluation is inference only, and reuses what the damage cannot change: the activations
below the first damaged layer are computed once, at a *cut* (a node after which no node
reads anything before it), and every damaged network runs forward from there.
"""
import numpy as np

from ..backend import to_numpy
from ..explain import cam, metrics, upsample
from ..model import INPUT, eval_mode
from .damage import (HAR_THRESHOLD, apply_masks, damage_masks, highest_activation_regions,
                     region_iou)
from .summary import SWEEP_COLUMNS, over_seeds, write_csv  # noqa: F401  (the sweep's table)


def cut_before(model, layer):
    """The latest node before ``layer`` whose output is all that the nodes after it read
    (or "input"): forward(x, start=cut) then needs no other stored output."""
    names = model.names
    for i in range(model.index(layer) - 1, -1, -1):
        later = model.nodes[i + 1:]
        if all(source == names[i] or (source != INPUT and names.index(source) > i)
               for node in later for source in node.inputs):
            return names[i]
    return INPUT


def _outputs_at(model, x, node, batch_size):
    """The output of ``node`` for every image, in eval mode, batch by batch (NumPy)."""
    chunks = []
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size]
        if node == INPUT:
            chunks.append(batch)
            continue
        model.forward(batch, stop=node)
        chunks.append(to_numpy(model.outputs[node]))
    return np.concatenate(chunks)


def map_correlations(a, b):
    """Pearson correlation of each pair of maps: a, b (N, H, W) -> (N,). A constant map
    (no variance) correlates 0 with anything (``explain.metrics.pearson``)."""
    return metrics.pearson(a, b)


def damage_sweep(model, x, y, sites, fractions, seeds=(0,), cam_images=None, batch_size=500,
                 har_threshold=HAR_THRESHOLD):
    """Damage, measure, restore, for every (site, fraction, seed).

    x: (N, C, H, W) held-out images, y: (N,) labels; sites: {label: [layer names]}, e.g.
    {"D1": ["block1.conv1"], ..., "all": [the four]}; fractions: e.g. 0.05, 0.10, ...;
    cam_images: (M, C, H, W) images whose CAMs (for their true class, ``y[:M]``) are
    compared (default the first 32 of x); har_threshold: the HAR's share of the map's
    maximum (highest_activation_region). The model's weights are restored after each
    point. returns a list of rows {"site", "fraction", "seed", "accuracy", "har_iou",
    "cam_correlation"}, and the intact network's accuracy.
    """
    for label, layers in sites.items():
        if isinstance(layers, str):
            raise TypeError(f"sites[{label!r}] must be a list of layer names, got the string "
                            f"{layers!r} (write [{layers!r}])")
    cam_images = x[:32] if cam_images is None else cam_images
    cam_targets = np.asarray(y[:len(cam_images)])
    size = cam_images.shape[2:]
    rows = []
    with eval_mode(model):
        intact_maps = upsample(to_numpy(cam(model, cam_images, cam_targets)), size)
        intact_regions = highest_activation_regions(intact_maps, har_threshold)
        state = {key: value.copy() for key, value in model.state_dict().items()}
        intact_accuracy = None
        for label, layers in sites.items():
            start = min(layers, key=model.index)
            cut = cut_before(model, start)
            below = _outputs_at(model, x, cut, batch_size)            # computed once per site
            for fraction in fractions:
                for seed in seeds:
                    apply_masks(model, damage_masks(model, layers, fraction, seed))
                    logits = np.concatenate([to_numpy(model.forward(
                        below[i:i + batch_size], start=None if cut == INPUT else cut))
                        for i in range(0, len(x), batch_size)])
                    maps = upsample(to_numpy(cam(model, cam_images, cam_targets)), size)
                    rows.append({
                        "site": label, "fraction": float(fraction), "seed": int(seed),
                        "accuracy": float((logits.argmax(axis=1) == y).mean()),
                        "har_iou": float(np.mean([region_iou(a, b) for a, b in zip(
                            highest_activation_regions(maps, har_threshold), intact_regions)])),
                        "cam_correlation": float(map_correlations(maps, intact_maps).mean())})
                    model.load_state_dict(state)                       # undamaged again
        logits = np.concatenate([to_numpy(model.forward(x[i:i + batch_size]))
                                 for i in range(0, len(x), batch_size)])
        intact_accuracy = float((logits.argmax(axis=1) == y).mean())
    return rows, intact_accuracy
