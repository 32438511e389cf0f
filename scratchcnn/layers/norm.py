"""Batch normalization over the channels of NCHW maps (Ioffe & Szegedy 2015)."""
import numpy as np

from .. import ops
from .base import Layer


class BatchNorm2D(Layer):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, per channel.

    params: gamma (C,), beta (C,); buffers: running_mean (C,), running_var (C,)
    forward: x (N, C, H, W) -> (N, C, H, W).
    Training normalizes with the batch's mean and biased variance over (N, H, W)
    and updates the running statistics with PyTorch's convention:
        running = (1 - momentum) * running + momentum * batch_statistic,
    using the *unbiased* batch variance for running_var. Eval uses the running
    statistics.
    """

    name_prefix = "bn"

    def __init__(self, num_features, momentum=0.1, eps=1e-5, name=None):
        super().__init__(name)
        if not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"num_features must be a positive int, got {num_features!r}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
        self.num_features, self.momentum, self.eps = int(num_features), float(momentum), float(eps)
        self.params = {"gamma": np.ones(num_features, np.float32),
                       "beta": np.zeros(num_features, np.float32)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.buffers = {"running_mean": np.zeros(num_features, np.float32),
                        "running_var": np.ones(num_features, np.float32)}
        self.x_hat = self.inv_std = None         # kept by forward for backward
        self.used_batch_statistics = None

    def config(self):
        return dict(num_features=self.num_features, momentum=self.momentum, eps=self.eps)

    def reset_parameters(self, rng):
        self.params["gamma"][...] = 1
        self.params["beta"][...] = 0
        self.buffers["running_mean"][...] = 0
        self.buffers["running_var"][...] = 1

    def forward(self, x):
        self.check_input(x, "(N, C, H, W)", 4, self.num_features, "num_features")
        if self.training:
            count = x.shape[0] * x.shape[2] * x.shape[3]
            if count < 2:
                raise ValueError(f"{self.label}: training mode needs more than one value per "
                                 f"channel to compute a variance, got x of shape {tuple(x.shape)}")
            mean, var = ops.batchnorm_statistics(x)    # over (N, H, W); var biased: normalizes
            m = self.momentum
            self.buffers["running_mean"] *= 1 - m
            self.buffers["running_mean"] += m * mean
            self.buffers["running_var"] *= 1 - m
            self.buffers["running_var"] += m * var * (count / (count - 1))   # unbiased
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
        inv_std = 1 / (var + x.dtype.type(self.eps)) ** 0.5
        # x_hat = (x - mu) / sqrt(var + eps),  y = gamma * x_hat + beta
        x_hat, y = ops.batchnorm_forward(x, mean, inv_std, self.params["gamma"],
                                         self.params["beta"])
        self.x_hat, self.inv_std, self.used_batch_statistics = x_hat, inv_std, self.training
        return y

    def backward(self, dy, *, relu_rule="gradient", param_grads=True, input_grad=True):
        """dy: (N, C, H, W) -> dx: (N, C, H, W); adds dL/dgamma, dL/dbeta into grads
        (``input_grad=False``: skip dx, return None).

        Ioffe & Szegedy 2015, sec. 3.1, per channel over its m = N*H*W values:
            dL/dgamma = sum dy * x_hat,   dL/dbeta = sum dy,   dL/dx_hat = dy * gamma,
            dL/dx = inv_std * (dL/dx_hat - mean(dL/dx_hat) - x_hat * mean(dL/dx_hat * x_hat))
        (the paper's three terms through x_hat, mu_B and sigma_B^2, added up; with the
        running statistics in eval mode mu and sigma are constants: dL/dx = inv_std dL/dx_hat).
        """
        self.check_grad(dy, None if self.x_hat is None else self.x_hat.shape)
        x_hat, gamma = self.x_hat, self.params["gamma"]
        batch_terms = input_grad and self.used_batch_statistics     # mu and sigma depend on x
        if param_grads or batch_terms:
            sum_dy, sum_dy_x_hat = ops.batchnorm_backward_sums(dy, x_hat)   # over (N, H, W)
        if param_grads:
            self.grads["gamma"] += sum_dy_x_hat                   # dL/dgamma = sum dy * x_hat
            self.grads["beta"] += sum_dy                          # dL/dbeta = sum dy
        if not input_grad:
            return None
        if batch_terms:
            m = dy.size // dy.shape[1]                            # N*H*W values per channel
            mean_dx_hat = gamma * sum_dy / m                      # dL/dx_hat = dy * gamma
            mean_dx_hat_x_hat = gamma * sum_dy_x_hat / m
        else:                                   # running statistics: dL/dx = inv_std * dL/dx_hat
            mean_dx_hat = mean_dx_hat_x_hat = 0 * gamma
        return ops.batchnorm_input_grad(dy, x_hat, gamma, self.inv_std, mean_dx_hat,
                                        mean_dx_hat_x_hat)
