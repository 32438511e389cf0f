"""Mini-batch training and evaluation loops with readable progress lines, callbacks
during training (snapshots, early stops), and one layer's outputs over a dataset."""
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


def _batched(model, x, batch_size, run):
    """Apply ``run`` to x batch by batch on the model's device, in eval mode (each
    layer's own mode restored after), and stack the results into one NumPy array."""
    _check_batch_size(batch_size)
    if len(x) == 0:
        raise ValueError(f"x must hold at least one image, got shape {tuple(x.shape)}")
    device = model_device(model)
    with eval_mode(model):
        chunks = [to_numpy(run(to_device(x[i:i + batch_size], device)))
                  for i in range(0, len(x), batch_size)]
    return np.concatenate(chunks)


def predict(model, x, batch_size=256):
    """Logits (N, K) for images x, in eval mode, batch by batch (modes restored after)."""
    return _batched(model, x, batch_size, model.forward)


def activations(model, x, layer, batch_size=256):
    """The outputs (N, ...) of the layer called ``layer`` for images x, as NumPy.

    Like ``predict``: eval mode, batch by batch, modes restored after; but each
    batch runs forward only up to and including ``layer``
    (``model.forward(xb, stop=layer)``) and its ``model.outputs[layer]`` is kept.
    """
    model.index(layer)                  # an unknown name: KeyError listing the valid ones

    def run(xb):
        model.forward(xb, stop=layer)
        return model.outputs[layer]

    return _batched(model, x, batch_size, run)


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


class Callback:
    """Base class for fit's callbacks (plain functions work just as well).

    fit calls ``callback(model, epoch, history, batch)`` at the end of every epoch
    (``batch`` None) and, if ``every_batches`` is an int k, also after every k-th
    batch of each epoch but its last (``batch`` = batches done so far in that
    epoch). Return True to stop training. See ``fit``.
    """

    every_batches = None

    def __call__(self, model, epoch, history, batch):
        raise NotImplementedError("a Callback subclass defines "
                                  "__call__(self, model, epoch, history, batch)")


def _check_callbacks(callbacks):
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list or tuple of callables, got "
                        f"{type(callbacks).__name__} (one callback f: callbacks=[f])")
    for i, callback in enumerate(callbacks):
        if not callable(callback):
            raise TypeError(f"callbacks[{i}] must be callable as "
                            f"callback(model, epoch, history, batch), got "
                            f"{type(callback).__name__}")
        k = getattr(callback, "every_batches", None)
        if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer))
                              or k < 1):
            raise ValueError(f"callbacks[{i}].every_batches must be None or an int >= 1, "
                             f"got {k!r}")
    return list(callbacks)


def _run_callbacks(callbacks, model, epoch, history, batch):
    """Call each callback (all of them, so each sees the same moment); True if any
    asked to stop. The model goes back to training mode after each one."""
    stop = False
    for i, callback in enumerate(callbacks):
        answer = callback(model, epoch, history, batch)
        model.train()                  # a callback may have switched to eval mode
        if answer is None or answer is False or answer is np.False_:
            continue
        if answer is True or answer is np.True_:
            stop = True
            continue
        raise TypeError(f"callbacks[{i}] must return None, False or True (stop), "
                        f"got {type(answer).__name__}")
    return stop


def fit(model, optimizer, x, y, epochs=1, batch_size=64, seed=0, validation=None,
        augment=None, lr_decay=1.0, verbose=True, max_batches=None, callbacks=None):
    """Train ``model`` with ``optimizer`` on images x (N, C, H, W) and int labels y (N,).

    Each epoch visits the data in a fresh order drawn from a Generator seeded with
    ``seed``, so the same seed gives the same bits. ``validation=(x_val, y_val)``
    adds held-out loss/accuracy to each epoch's line. ``augment(x_batch, rng)``
    (optional) transforms each training batch, e.g. ``datasets.random_shift``.
    After each completed epoch the learning rate is multiplied by ``lr_decay``.
    ``max_batches`` caps the batches per epoch (quick runs). Returns a history
    dict of per-epoch lists.

    ``callbacks``: a list of callables ``callback(model, epoch, history, batch)``,
    e.g. to take a snapshot during training or to stop early. Each is called at
    the end of every epoch (after its history row and validation are recorded,
    before the learning-rate decay) with ``batch=None``; one with an attribute
    ``every_batches = k`` is also called after every k-th batch (after the
    optimizer step) with ``batch`` = batches done so far in this epoch, except
    when that batch is the epoch's last: that moment is the epoch-end call
    (k=2 over 5 batches: batch 2, 4, then None). ``epoch`` counts from 1;
    ``history`` is the dict fit returns, holding the finished epochs so far.
    (``Callback`` is a base class for those who prefer one.)
    If a callback returns True, training stops once the callbacks due at that
    point have all run: mid-epoch, the rest of the epoch is skipped (the epoch is
    still recorded, from the images seen so far; no epoch-end callbacks and no
    decay follow); at an epoch's end, no further epochs run. Then
    ``history["stopped_at"] = {"epoch": e, "batch": b}`` (b None at an epoch's
    end); the key is absent when training ran to the end. After every callback
    the model is put back in training mode, and callbacks never touch the
    seeded order: a callback that changes nothing changes no bit of the result.
    Time spent in callbacks is left out of ``images_per_s``.
    """
    y = np.asarray(y)
    _check_data(x, y)
    _check_batch_size(batch_size)
    callbacks = _check_callbacks(callbacks)
    per_batch = [(c, getattr(c, "every_batches", None)) for c in callbacks]
    per_batch = [(c, k) for c, k in per_batch if k is not None]
    rng = np.random.default_rng(seed)
    device = model_device(model)
    live = verbose and sys.stdout.isatty()
    if not 0 < lr_decay <= 1:
        raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay!r}")
    history = {k: [] for k in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy",
                               "images_per_s", "seconds")}
    start = time.perf_counter()
    stopped = None
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(len(x))
        batches = [order[i:i + batch_size] for i in range(0, len(x), batch_size)]
        batches = batches[:max_batches] if max_batches else batches
        seen, loss_sum, correct, tick = 0, 0.0, 0, time.perf_counter()
        in_callbacks = 0.0                 # seconds spent in mid-epoch callbacks
        for done, index in enumerate(batches, start=1):
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
            # the epoch's last batch is the epoch-end call's moment (batch=None)
            due = [c for c, k in per_batch if done % k == 0 and done < len(batches)]
            if due:
                t = time.perf_counter()
                stop = _run_callbacks(due, model, epoch, history, done)
                in_callbacks += time.perf_counter() - t
                if stop:
                    stopped = {"epoch": epoch, "batch": done}
                    break
        seconds = time.perf_counter() - tick
        history["epoch"].append(epoch)
        history["loss"].append(loss_sum / seen)
        history["accuracy"].append(correct / seen)
        history["images_per_s"].append(seen / max(seconds - in_callbacks, 1e-9))
        history["seconds"].append(time.perf_counter() - start)
        line = (f"epoch {epoch}/{epochs}  loss {loss_sum / seen:.4f}  "
                f"acc {100 * correct / seen:.2f}%")
        if validation is not None:
            scores = evaluate(model, *validation)
            history["val_loss"].append(scores["loss"])
            history["val_accuracy"].append(scores["accuracy"])
            line += f"  val_loss {scores['loss']:.4f}  val_acc {100 * scores['accuracy']:.2f}%"
        line += f"  {history['images_per_s'][-1]:,.0f} img/s  {time.perf_counter() - start:.1f} s"
        if stopped is not None:
            line += f"  (stopped by a callback after batch {stopped['batch']})"
        if verbose:
            print(("\r" if live else "") + line + (" " * 20 if live else ""), flush=True)
        if stopped is not None:
            break
        if callbacks and _run_callbacks(callbacks, model, epoch, history, None):
            stopped = {"epoch": epoch, "batch": None}
        optimizer.lr *= lr_decay
        if stopped is not None:
            if verbose:
                print(f"stopped by a callback after epoch {epoch}", flush=True)
            break
    if stopped is not None:
        history["stopped_at"] = stopped
    model.train()
    return history
