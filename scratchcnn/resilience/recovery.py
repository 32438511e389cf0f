"""Recovering from weight damage (Vasu & Savakis, seed 001, sec. 3.2): retrain the weights
that are left while the damaged ones stay at zero, and, to see how much of the recovery is
only the batch-norm statistics catching up, re-estimate those statistics alone.

    masks = damage_masks(model, ["block3.conv1"], 0.5)
    apply_masks(model, masks)
    update_batch_statistics(model, x[:2000])          # no weight changes: BN statistics only
    retrain(model, masks, x[:2000], y[:2000])          # Adam on the undamaged weights
"""
from ..backend import to_device
from ..layers import BatchNorm2D
from ..optim import Adam
from ..train import fit, model_device
from .damage import apply_masks


def retrain(model, masks, x, y, epochs=1, lr=1e-3, batch_size=64, seed=0, augment=None,
            verbose=False):
    """Retrain a damaged network with its damaged weights held at exactly zero.

    masks: {"<node>.W": bool keep-mask} from ``damage_masks``; x (N, C, H, W), y (N,).
    "Once damaged, the network weights are permanently disabled in the test and retrain
    phase ... only the undamaged weights are updated during retraining" (Vasu & Savakis
    sec. 3.2): the weights are zeroed (``apply_masks``), then ``fit`` runs ``Adam(model,
    lr, masks=masks)``, whose masks zero the gradient of a damaged weight and the weight
    after every step. Returns fit's history; the model is left in eval mode.
    """
    apply_masks(model, masks)
    history = fit(model, Adam(model, lr=lr, masks=masks), x, y, epochs=epochs,
                  batch_size=batch_size, seed=seed, augment=augment, verbose=verbose)
    model.eval()
    return history


def update_batch_statistics(model, x, batch_size=256):
    """Re-estimate every BatchNorm2D's running mean and variance on images x (N, C, H, W),
    changing no weight: the running statistics a damaged network uses at test time were
    measured on the intact network's activations.

    Each batch runs forward in training mode with momentum 1/k for the k-th batch (the
    first replaces the old values outright), so each running value ends as the plain
    average of the batch values: PyTorch's ``momentum=None`` and its
    ``swa_utils.update_bn``. Other layers run in training mode too (Dropout drops, as in
    training). Returns the model, in eval mode; each BatchNorm2D's momentum is restored.
    """
    if x.ndim != 4 or len(x) == 0:
        raise ValueError(f"x must be a non-empty batch of images (N, C, H, W), got shape "
                         f"{tuple(x.shape)}")
    norms = [layer for layer in model.layers if isinstance(layer, BatchNorm2D)]
    momenta = [layer.momentum for layer in norms]
    device = model_device(model)
    model.train()
    try:
        for k, start in enumerate(range(0, len(x), batch_size), start=1):
            for layer in norms:
                layer.momentum = 1.0 / k     # running = mean of the k batch values so far
            model.forward(to_device(x[start:start + batch_size], device))
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
    return model.eval()
