"""Adam's update of one parameter array, plain NumPy (optim.Adam calls it through ops.py).
The fast room's twin: fast/adam.py (Numba)."""


def adam_update(param, grad, m, v, b1, b2, step_size, bias2, eps):
    """One step of Adam, in place (Kingma & Ba 2015, Algorithm 1, in PyTorch's form with
    eps outside the square root; optim.Adam says more):

        m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2;
        param -= step_size * m / (sqrt(v / bias2) + eps)

    step_size = lr / (1 - b1^t) and bias2 = 1 - b2^t carry the bias corrections of
    step t. param, grad, m, v: arrays of one shape; m and v are updated too."""
    m *= b1
    m += (1 - b1) * grad
    v *= b2
    v += (1 - b2) * grad * grad
    denom = (v / bias2) ** 0.5 + eps
    param -= (param.dtype.type(step_size) * m / denom).astype(param.dtype, copy=False)
