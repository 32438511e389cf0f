"""The checker itself: it must pass true gradients and fail wrong ones (negative controls)."""
import numpy as np
import pytest

from scratchcnn import Add, Conv2D, Linear, ReLU
from scratchcnn.gradcheck import check_gradient, check_layer, relative_error

TOL = 1e-6   # float64, h = 1e-6: true gradients land near 1e-9


def test_relative_error_formula():
    # max|a - n| / max(1e-8, max(|a| + |n|))
    a, n = np.array([1.0, -2.0, 0.0]), np.array([1.1, -2.0, 0.0])
    assert relative_error(a, n) == pytest.approx(0.1 / 4.0)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0


def test_checker_passes_a_true_gradient(rng):
    x = rng.standard_normal((3, 4))
    assert check_gradient(lambda v: float(np.sum(np.sin(v) * v)), x,
                          np.cos(x) * x + np.sin(x)) < TOL


@pytest.mark.parametrize("how", ["scaled", "one_entry", "sign", "transposed"])
def test_checker_catches_a_wrong_gradient(rng, how):
    """Negative control: every kind of wrong gradient is caught."""
    x = rng.standard_normal((6, 6))
    f = lambda v: float(np.sum(v ** 3))           # noqa: E731
    right = 3 * x ** 2
    one_entry = right.copy()
    one_entry[2, 3] += 0.5
    wrong = {"scaled": 1.01 * right, "sign": -right, "transposed": right.T.copy(),
             "one_entry": one_entry}[how]
    assert check_gradient(f, x, right) < TOL
    assert check_gradient(f, x, wrong) > 1e-3


def test_one_wrong_entry_in_a_big_tensor_is_caught_by_directions(rng):
    """Entries are sampled for big tensors; the random directions see every entry."""
    x = rng.standard_normal(5000)
    wrong = 2 * x
    wrong[4321] += 1.0                            # very likely not among the 24 sampled entries
    assert check_gradient(lambda v: float(np.sum(v ** 2)), x, wrong, entries=24) > 1e-4


def test_check_layer_fails_on_a_broken_backward(rng):
    """Negative control at layer level: a linear layer with a halved weight
    gradient, and a conv whose input gradient comes back flipped."""
    class BrokenLinear(Linear):
        def backward(self, dy, **options):
            dx = super().backward(dy, **options)
            self.grads["W"] *= 0.5                # wrong weight gradient
            return dx

    layer = BrokenLinear(4, 4).astype(np.float64)
    errors = check_layer(layer, rng.standard_normal((3, 4)))
    assert errors["x"] < TOL and errors["W"] > 1e-3

    class BrokenConv(Conv2D):
        def backward(self, dy, **options):
            return super().backward(dy, **options)[:, :, ::-1].copy()   # flipped dx

    conv = BrokenConv(2, 3, 3, padding=1).astype(np.float64)
    assert check_layer(conv, rng.standard_normal((2, 2, 5, 5)))["x"] > 1e-3


def test_relu_deconvnet_rule_is_not_the_gradient(rng):
    """The checker tells the true ReLU gradient from the DeconvNet rule."""
    x = rng.standard_normal((4, 5))
    assert check_layer(ReLU(), x.copy())["x"] < TOL
    assert check_layer(ReLU(), x.copy(), rule="deconvnet")["x"] > 1e-3


def test_gradient_checks_refuse_float32(rng):
    with pytest.raises(TypeError, match="float64"):
        check_gradient(lambda v: 0.0, rng.standard_normal(3).astype(np.float32), np.zeros(3))


def test_check_layer_checks_every_input_of_a_join(rng):
    """A layer with two inputs (Add) is checked input by input: the right backward
    passes for x0 and x1; one that halves the second input's gradient is caught at x1."""
    a, b = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 3, 4, 4))
    errors = check_layer(Add(), (a, b))
    assert set(errors) == {"x0", "x1"} and max(errors.values()) < TOL

    class HalfAdd(Add):
        def backward(self, dy, **options):
            first, second = super().backward(dy, **options)
            return first, 0.5 * second

    errors = check_layer(HalfAdd(), (a, b))
    assert errors["x0"] < TOL and errors["x1"] > 1e-3
