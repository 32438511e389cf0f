"""Mini-batch training and evaluation loops with readable progress lines."""
import sys
import time

import numpy as np

from .backend import is_gpu_array, to_device, to_numpy
from .losses import check_labels, softmax_cross_entropy
from .model import eval_mode


def model_device(model):
    """"gpu" if the model's parameters live on the GPU, else "cpu"."""
    for layer in model.layers:
        for value in layer.params.values():
            return "gpu" if is_gpu_array(value) else "cpu"
    return "cpu"


def _check_data(x, y):
    if x.ndim < 2 or len(x) != len(y):
        raise ValueError(f"x and its labels must have the same length N, got "
                         f"x shape {tuple(x.shape)} and labels shape {tuple(y.shape)}")
    if len(x) == 0:
        raise ValueError(f"x must hold at least one image, got shape {tuple(x.shape)}")
    check_labels(y, len(y), np.iinfo(np.int64).max, argument="labels")


def _check_batch_size(batch_size):
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def predict(model, x, batch_size=256):
    """Logits (N, K) for images x, in eval mode, batch by batch (modes restored after)."""
    _check_batch_size(batch_size)
    if len(x) == 0:
        raise ValueError(f"x must hold at least one image, got shape {tuple(x.shape)}")
    device = model_device(model)
    with eval_mode(model):
        chunks = [to_numpy(model.forward(to_device(x[i:i + batch_size], device)))
                  for i in range(0, len(x), batch_size)]
    return np.concatenate(chunks)


def evaluate(model, x, y, batch_size=256):
    """{"loss": mean cross-entropy, "accuracy": fraction correct} on (x, y), eval mode."""
    y = np.asarray(y)
    _check_data(x, y)
    logits = predict(model, x, batch_size)
    loss, _ = softmax_cross_entropy(logits.astype(np.float64), y)
    return {"loss": loss, "accuracy": float((logits.argmax(axis=1) == y).mean())}


def _progress(epoch, epochs, done, total, loss):
    width = 30
    filled = int(width * done / total)
    sys.stdout.write(f"\r  epoch {epoch}/{epochs} [{'#' * filled}{'.' * (width - filled)}] "
                     f"{done}/{total}  loss {loss:.4f}")
    sys.stdout.flush()


def fit(model, optimizer, x, y, epochs=1, batch_size=64, seed=0, validation=None,
        augment=None, lr_decay=1.0, verbose=True, max_batches=None):
    """Train ``model`` with ``optimizer`` on images x (N, C, H, W) and int labels y (N,).

    Each epoch visits the data in a fresh order drawn from a Generator seeded with
    ``seed``, so the same seed gives the same bits. ``validation=(x_val, y_val)``
    adds held-out loss/accuracy to each epoch's line. ``augment(x_batch, rng)``
    (optional) transforms each training batch, e.g. ``datasets.random_shift``.
    After each epoch the learning rate is multiplied by ``lr_decay``.
    ``max_batches`` caps the batches per epoch (quick runs). Returns a history
    dict of per-epoch lists.
    """
    y = np.asarray(y)
    _check_data(x, y)
    _check_batch_size(batch_size)
    rng = np.random.default_rng(seed)
    device = model_device(model)
    live = verbose and sys.stdout.isatty()
    if not 0 < lr_decay <= 1:
        raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay!r}")
    history = {k: [] for k in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy",
                               "images_per_s", "seconds")}
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(len(x))
        batches = [order[i:i + batch_size] for i in range(0, len(x), batch_size)]
        batches = batches[:max_batches] if max_batches else batches
        seen, loss_sum, correct, tick = 0, 0.0, 0, time.perf_counter()
        for index in batches:
            xb = x[index] if augment is None else augment(x[index], rng)
            xb, yb = to_device(xb, device), to_device(y[index], device)
            logits = model.forward(xb)
            loss, dlogits = softmax_cross_entropy(logits, yb)
            optimizer.zero_grad()
            model.backward(dlogits, input_grad=False)    # parameter gradients only
            optimizer.step()
            seen += len(index)
            loss_sum += loss * len(index)
            correct += int((logits.argmax(axis=1) == yb).sum())
            if live:
                _progress(epoch, epochs, seen, sum(map(len, batches)), loss_sum / seen)
        seconds = time.perf_counter() - tick
        history["epoch"].append(epoch)
        history["loss"].append(loss_sum / seen)
        history["accuracy"].append(correct / seen)
        history["images_per_s"].append(seen / seconds)
        history["seconds"].append(time.perf_counter() - start)
        line = (f"epoch {epoch}/{epochs}  loss {loss_sum / seen:.4f}  "
                f"acc {100 * correct / seen:.2f}%")
        if validation is not None:
            scores = evaluate(model, *validation)
            history["val_loss"].append(scores["loss"])
            history["val_accuracy"].append(scores["accuracy"])
            line += f"  val_loss {scores['loss']:.4f}  val_acc {100 * scores['accuracy']:.2f}%"
        line += f"  {seen / seconds:,.0f} img/s  {time.perf_counter() - start:.1f} s"
        optimizer.lr *= lr_decay
        if verbose:
            print(("\r" if live else "") + line + (" " * 20 if live else ""), flush=True)
    model.train()
    return history
