"""The ReLU's forward pass, plain NumPy (its three backward rules are in layers/activation.py).
The fast room's twin: fast/activation.py (Numba)."""


def relu_forward(x):
    """y = max(x, 0) and the mask of active units. x: any shape -> (y, active bool)."""
    active = x > 0
    return x * active, active
