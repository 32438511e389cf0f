"""SGD with momentum and Adam, PyTorch's update rules, with optional masks that
keep chosen weights stuck at exactly zero forever (weight damage)."""
from .backend import array_module
from . import ops


class Optimizer:
    """Holds references to a model's parameters and gradients, keyed "<layer>.<param>".

    masks: {"<layer>.<param>": array of the parameter's shape}; entries that are
    0/False are zeroed now and never updated again (Vasu & Savakis, sec. 3.2:
    damaged weights are "permanently disabled in the test and retrain phase").
    """

    def __init__(self, model, lr, masks=None):
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        self.lr = float(lr)
        self.entries = [(key, layer.params, layer.grads, pkey)
                        for key, layer, pkey in model.named_parameters()]
        valid = [key for key, *_ in self.entries]
        self.masks = {}
        for key in masks or {}:
            if key not in valid:
                raise KeyError(f"masks has key {key!r}, which is not a parameter; "
                               f"valid keys: {valid}")
        for key, params, _, pkey in self.entries:
            if key in (masks or {}):
                xp = array_module(params[pkey])
                mask = xp.asarray(masks[key]).astype(bool)
                if mask.shape != params[pkey].shape:
                    raise ValueError(f"masks[{key!r}] has shape {mask.shape}, the parameter "
                                     f"has shape {params[pkey].shape}")
                self.masks[key] = mask
                params[pkey] *= mask               # stuck at zero from now on
        self.state = {key: {} for key, *_ in self.entries}
        self.steps = 0

    def zero_grad(self):
        for _, _, grads, pkey in self.entries:
            grads[pkey][...] = 0

    def step(self):
        self.steps += 1
        for key, params, grads, pkey in self.entries:
            param, grad = params[pkey], grads[pkey]
            mask = self.masks.get(key)
            if mask is not None:
                param *= mask                      # damaged again if set from outside (a load)
                grad = grad * mask                 # no gradient flows to damaged weights
            self.update(param, grad, self.state[key])
            if mask is not None:
                param *= mask                      # exactly zero, whatever the update did

    def update(self, param, grad, state):
        raise NotImplementedError


class SGD(Optimizer):
    """PyTorch's SGD: g = grad + weight_decay * p; v = momentum * v + g; p -= lr * v."""

    def __init__(self, model, lr=0.01, momentum=0.0, weight_decay=0.0, masks=None):
        super().__init__(model, lr, masks)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.momentum, self.weight_decay = float(momentum), float(weight_decay)

    def update(self, param, grad, state):
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        if self.momentum:
            if "velocity" not in state:
                state["velocity"] = grad.copy()    # PyTorch: first buffer = first gradient
            else:
                state["velocity"] *= self.momentum
                state["velocity"] += grad
            grad = state["velocity"]
        param -= param.dtype.type(self.lr) * grad


class Adam(Optimizer):
    """Kingma & Ba 2015, Algorithm 1 (PyTorch's form, eps outside the square root):
    m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
    The update is ``reference.adam.adam_update`` (through ops.py; in the fast room its
    one-pass twin, fast/adam.py)."""

    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, masks=None):
        super().__init__(model, lr, masks)
        if not all(0 <= b < 1 for b in betas) or len(betas) != 2:
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0 (it keeps m / sqrt(v) finite where v = 0), "
                             f"got {eps!r}")
        self.betas, self.eps = (float(betas[0]), float(betas[1])), float(eps)

    def update(self, param, grad, state):
        b1, b2 = self.betas
        if "m" not in state:
            xp = array_module(param)
            state["m"], state["v"] = xp.zeros_like(param), xp.zeros_like(param)
        t = self.steps                         # bias corrections of step t (Algorithm 1)
        ops.adam_update(param, grad, state["m"], state["v"], b1, b2,
                        self.lr / (1 - b1 ** t), 1 - b2 ** t, self.eps)
