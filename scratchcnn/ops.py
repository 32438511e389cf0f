"""The one place that chooses between the plain room and the fast room.

Layers, the optimizers and the explanation methods call these functions and never
name an algorithm. Each function says which plain function it computes; the array
decides where it runs:

* a NumPy array (the default)            -> fast/ (Numba kernels, Winograd, the cone)
* a NumPy array inside ``use_reference()`` -> reference/ (plain NumPy; numba is never
  imported)
* a CuPy array                            -> fast/gpu.py (CuPy kernels)

A fast function may change the last bits of a result, never a picture or a conclusion
(tests/fast/ compares every one with its plain twin).
"""
import contextlib
import contextvars
import importlib

from .backend import is_gpu_array

_reference_only = contextvars.ContextVar("scratchcnn_reference_only", default=False)


@contextlib.contextmanager
def use_reference(enabled=True):
    """Run everything on the plain room inside this block: the readable NumPy of
    reference/, and the definitions themselves (e.g. occlusion's loop over occluders).

    >>> with use_reference():
    ...     y = model.forward(x)     # plain NumPy, no Numba
    """
    token = _reference_only.set(enabled)
    try:
        yield
    finally:
        _reference_only.reset(token)


def runs_fast(x):
    """Whether work on array ``x`` goes to the fast room (see the module docstring)."""
    return is_gpu_array(x) or not _reference_only.get()


def _room(x, family):
    """The module that computes ``family`` ("conv", "pool", "activation", "norm", "adam")
    for array x: reference/<family>.py, fast/<family>.py or fast/gpu.py."""
    if is_gpu_array(x):
        return importlib.import_module(".fast.gpu", __package__)
    if _reference_only.get():
        return importlib.import_module(f".reference.{family}", __package__)
    from .fast import threads
    threads.prepare()                 # once: the fast room's thread discipline (threads.py)
    return importlib.import_module(f".fast.{family}", __package__)


# ----- convolution: reference/conv.py ------------------------------------------------
def conv2d_forward(x, weights, bias, stride, padding, training, workspace):
    """reference.conv.conv2d_forward: y = W_mat @ im2col(x) + b.

    x: (N, C, H, W); weights: (O, C, kh, kw); bias: (O,); stride, padding: pairs;
    training: whether a dL/dW may follow; workspace: the layer's dict of reused buffers
    (used by the fast room only). returns y (N, O, OH, OW) and ``saved``, what
    ``conv2d_backward`` needs: {"x": x, "cols": the patch matrix or None, ...}.
    """
    if runs_fast(x):
        from .fast import conv2d
        return conv2d.conv2d_forward(x, weights, bias, stride, padding, training, workspace,
                                     _room(x, "conv"))
    from .reference import conv
    y, cols = conv.conv2d_forward(x, weights, bias, stride, padding)
    return y, {"x": x, "cols": cols}


def conv2d_backward(dy, saved, weights, stride, padding, param_grads, input_grad, workspace):
    """reference.conv.conv2d_backward: dL/dW = dy_mat cols^T, dL/db = sum dy,
    dL/dx = col2im(W_mat^T dy_mat). returns (dW, db, dx), None where not asked for."""
    if runs_fast(dy):
        from .fast import conv2d
        return conv2d.conv2d_backward(dy, saved, weights, stride, padding, param_grads,
                                      input_grad, workspace, _room(dy, "conv"))
    from .reference import conv
    x, cols = saved["x"], saved["cols"]
    if cols is None:                     # the fast room's forward built none, or reused it
        cols = conv.im2col(x, *weights.shape[2:], stride, padding)
    dw, db, dx = conv.conv2d_backward(dy, cols, weights, x.shape, stride, padding)
    return (dw if param_grads else None), (db if param_grads else None), \
        (dx if input_grad else None)


def im2col(x, kh, kw, stride, padding):
    """reference.conv.im2col: x (N, C, H, W) -> cols (C*kh*kw, N*OH*OW)."""
    return _room(x, "conv").im2col(x, kh, kw, stride, padding)


def col2im(cols, x_shape, kh, kw, stride, padding):
    """reference.conv.col2im: cols (C*kh*kw, N*OH*OW) -> (N, C, H, W), overlaps added."""
    return _room(cols, "conv").col2im(cols, x_shape, kh, kw, stride, padding)


# ----- pooling: reference/pool.py ----------------------------------------------------
def maxpool_forward(x, kh, kw, stride):
    """reference.pool.maxpool_forward: x (N, C, H, W) -> (out, switches)."""
    return _room(x, "pool").maxpool_forward(x, kh, kw, stride)


def max_unpool(values, switches, x_shape):
    """reference.pool.max_unpool: each value to its switch; overlaps add."""
    return _room(values, "pool").max_unpool(values, switches, x_shape)


def gather_at_switches(x, switches):
    """reference.pool.gather_at_switches: x read at the switches (max_unpool's adjoint)."""
    return _room(x, "pool").gather_at_switches(x, switches)


def avgpool_forward(x, kh, kw, stride):
    """reference.pool.avgpool_forward: the mean of every window."""
    return _room(x, "pool").avgpool_forward(x, kh, kw, stride)


def avgpool_backward(dy, x_shape, kh, kw, stride):
    """reference.pool.avgpool_backward: dy / (kh*kw) spread over each window."""
    return _room(dy, "pool").avgpool_backward(dy, x_shape, kh, kw, stride)


# ----- ReLU, batch norm, Adam: reference/activation.py, norm.py, adam.py -------------
def relu_forward(x):
    """reference.activation.relu_forward: (max(x, 0), x > 0)."""
    return _room(x, "activation").relu_forward(x)


def batchnorm_statistics(x):
    """reference.norm.batchnorm_statistics: per-channel mean and biased variance."""
    return _room(x, "norm").batchnorm_statistics(x)


def batchnorm_forward(x, mean, inv_std, gamma, beta):
    """reference.norm.batchnorm_forward: (x_hat, gamma * x_hat + beta)."""
    return _room(x, "norm").batchnorm_forward(x, mean, inv_std, gamma, beta)


def batchnorm_backward_sums(dy, x_hat):
    """reference.norm.batchnorm_backward_sums: (sum dy, sum dy * x_hat) per channel."""
    return _room(dy, "norm").batchnorm_backward_sums(dy, x_hat)


def batchnorm_input_grad(dy, x_hat, gamma, inv_std, mean_dx_hat, mean_dx_hat_x_hat):
    """reference.norm.batchnorm_input_grad: dL/dx of training-mode batch norm."""
    return _room(dy, "norm").batchnorm_input_grad(dy, x_hat, gamma, inv_std, mean_dx_hat,
                                                  mean_dx_hat_x_hat)


def adam_update(param, grad, m, v, b1, b2, step_size, bias2, eps):
    """reference.adam.adam_update: one step of Adam, in place."""
    return _room(param, "adam").adam_update(param, grad, m, v, b1, b2, step_size, bias2,
                                            eps)


# ----- occlusion: explain/occlusion.py -----------------------------------------------
def occluded_logits(model, x, tops, lefts, window, baseline, batch_size, definition):
    """For each image of x (N, C, H, W), the logits (B, K) of the model on B occluded
    copies, copy k with the (wh, ww) box at (tops[k], lefts[k]) set to baseline:
    ``definition(model, x[n:n+1], tops, lefts, window, baseline, batch_size)``
    (explain/occlusion.py's loop over occluders), or in the fast room the same numbers by
    reusing the unoccluded image's computation (fast/occlusion.py, the cone), wherever
    the network allows it. returns an iterable over the N images."""
    if runs_fast(x) and not is_gpu_array(x):
        from .fast import occlusion, threads
        threads.prepare()
        plan = occlusion.cone_plan(model)
        if plan is not None:
            return occlusion.occluded_logits(model, plan, x, tops, lefts, window, baseline,
                                             batch_size)
    return (definition(model, x[n:n + 1], tops, lefts, window, baseline, batch_size)
            for n in range(len(x)))
