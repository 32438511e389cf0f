"""What every explanation method shares: checking its arguments, running the model
in eval mode, and seeding the backward pass with the class scores."""
import numpy as np

from ..backend import array_module
from ..losses import log_softmax
from ..model import eval_mode  # noqa: F401  (explanations use the trained function)


def check_batch(x):
    """x must be a finite float batch (N, C, H, W)."""
    xp = array_module(x)
    if not isinstance(x, xp.ndarray) or x.ndim != 4:
        raise ValueError(f"x must be a batch of images (N, C, H, W), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    if x.dtype.type not in (np.float32, np.float64):
        raise TypeError(f"x must be float32 or float64, got dtype {x.dtype}")


def as_targets(target, n, num_classes):
    """An int or N ints -> int64 array (N,), each in [0, num_classes)."""
    targets = np.asarray(target)
    if targets.dtype.kind not in "iu":
        raise TypeError(f"target must be an int class id or {n} of them, got {target!r}")
    targets = np.broadcast_to(targets, (n,)) if targets.ndim == 0 else targets
    if targets.shape != (n,):
        raise ValueError(f"target must be one int or {n} ints (one per image), "
                         f"got shape {targets.shape}")
    if targets.min() < 0 or targets.max() >= num_classes:
        raise ValueError(f"target must be class ids in [0, {num_classes - 1}], got values "
                         f"from {int(targets.min())} to {int(targets.max())}")
    return targets.astype(np.int64)


def check_layer_name(model, layer):
    """After a forward pass: the named layer must exist and output feature maps (N, K, h, w)."""
    index = model.index(layer)            # KeyError listing the valid names
    if model.outputs[layer].ndim != 4:
        maps = [name for name, out in model.outputs.items() if out.ndim == 4]
        raise ValueError(f"layer {layer!r} outputs shape {tuple(model.outputs[layer].shape)}, "
                         f"not feature maps (N, K, h, w); layers with feature maps: {maps}")
    return index


def score_seed(logits, targets):
    """One-hot seed (N, K): dS/dlogits for S = the target class's score of each image.
    Images do not interact in eval mode, so one backward pass gives every image's
    own gradient."""
    xp = array_module(logits)
    seed = xp.zeros_like(logits)
    seed[xp.arange(len(targets)), xp.asarray(targets)] = 1
    return seed


def forward_scores(model, x, target):
    """Forward in eval mode; returns (logits, targets, seed)."""
    check_batch(x)
    logits = model.forward(x)
    if logits.ndim != 2:
        raise ValueError(f"the model must end in class scores (N, K), got {tuple(logits.shape)}")
    targets = as_targets(target, len(x), logits.shape[1])
    return logits, targets, score_seed(logits, targets)


def target_outputs(logits, targets, output):
    """Each row's target class: its softmax probability (output="probability") or its
    score (the logit, "score"). logits (B, K), targets (B,) -> (B,)."""
    xp = array_module(logits)
    values = log_softmax(logits) if output == "probability" else logits
    picked = values[xp.arange(len(logits)), xp.asarray(targets)]
    return xp.exp(picked) if output == "probability" else picked
