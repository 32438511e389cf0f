"""Softmax cross-entropy, computed with log-sum-exp so huge logits stay finite."""
import numpy as np

from .backend import array_module


def check_labels(labels, n, num_classes, argument="labels"):
    """Raise a clear error unless ``labels`` is n integer class ids in [0, num_classes)."""
    xp = array_module(labels)
    labels = xp.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{argument} must be integer class ids, got dtype {labels.dtype}")
    if labels.shape != (n,):
        raise ValueError(f"{argument} must have shape ({n},) to match the batch, "
                         f"got {tuple(labels.shape)}")
    if n and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"{argument} must be class ids in [0, {num_classes - 1}], got values "
                         f"from {int(labels.min())} to {int(labels.max())}")
    return labels


def log_softmax(logits):
    """logits (N, K) -> log p (N, K), as z - logsumexp(z) with the max subtracted first."""
    xp = array_module(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of softmax(logits) against integer labels.

    logits: (N, K) float; labels: (N,) ints in [0, K)
    returns (loss, dlogits): a Python float and dL/dlogits (N, K) =
    (softmax(logits) - onehot(labels)) / N.
    """
    xp = array_module(logits)
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, K), got {tuple(logits.shape)}")
    if logits.dtype.type not in (np.float32, np.float64):
        raise TypeError(f"logits must be float32 or float64, got dtype {logits.dtype}")
    if not bool(xp.isfinite(logits).all()):
        raise ValueError("logits contain NaN or Inf")
    n, k = logits.shape
    labels = check_labels(labels, n, k)
    log_p = log_softmax(logits)
    rows = xp.arange(n)
    loss = -float(log_p[rows, labels].mean())
    dlogits = xp.exp(log_p)
    dlogits[rows, labels] -= 1
    return loss, dlogits / logits.dtype.type(n)
