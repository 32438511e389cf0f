"""Batch normalization's per-channel statistics, normalization and backward pass, plain
NumPy (Ioffe & Szegedy 2015). layers/norm.py puts them together; the fast room's twin:
fast/norm.py (Numba)."""


def batchnorm_statistics(x):
    """The batch's mean and biased variance per channel (Ioffe & Szegedy 2015, Alg. 1).

    x: (N, C, H, W) -> mean (C,), var (C,), each over the m = N*H*W values of a channel:
    mean = 1/m sum x, var = 1/m sum (x - mean)^2 (biased: the one used to normalize).
    """
    return x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))


def batchnorm_forward(x, mean, inv_std, gamma, beta):
    """Normalize per channel, then scale and shift (Ioffe & Szegedy 2015, Alg. 1).

    x: (N, C, H, W); mean, inv_std = 1 / sqrt(var + eps), gamma, beta: (C,)
    -> x_hat = (x - mean) * inv_std and y = gamma * x_hat + beta, both (N, C, H, W).
    """
    shape = (1, -1, 1, 1)
    x_hat = (x - mean.reshape(shape)) * inv_std.reshape(shape)
    return x_hat, gamma.reshape(shape) * x_hat + beta.reshape(shape)


def batchnorm_backward_sums(dy, x_hat):
    """The two per-channel sums of batch norm's backward pass (Ioffe & Szegedy 2015, sec. 3.1).

    dy, x_hat: (N, C, H, W) -> sum dy (C,), sum dy * x_hat (C,), over (N, H, W):
    dL/dbeta and dL/dgamma.
    """
    return dy.sum(axis=(0, 2, 3)), (dy * x_hat).sum(axis=(0, 2, 3))


def batchnorm_input_grad(dy, x_hat, gamma, inv_std, mean_dx_hat, mean_dx_hat_x_hat):
    """dL/dx of training-mode batch norm (Ioffe & Szegedy 2015, sec. 3.1), per channel:

        dx = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)),
        dx_hat = dL/dx_hat = gamma * dy.

    dy, x_hat: (N, C, H, W); gamma, inv_std and the two means over (N, H, W): (C,)
    -> dx (N, C, H, W).
    """
    shape = (1, -1, 1, 1)
    dx_hat = dy * gamma.reshape(shape)
    return inv_std.reshape(shape) * (dx_hat - mean_dx_hat.reshape(shape)
                                     - x_hat * mean_dx_hat_x_hat.reshape(shape))
