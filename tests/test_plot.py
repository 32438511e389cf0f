"""Display normalization never makes NaN, and every kind of panel draws."""
import numpy as np
import pytest

from scratchcnn import plot


DEGENERATE = [np.zeros((4, 4)), np.full((4, 4), 3.0), -np.arange(16.0).reshape(4, 4) - 1]


@pytest.mark.parametrize("values", DEGENERATE, ids=["zero", "const", "neg"])
@pytest.mark.parametrize("signed", [False, True])
def test_normalize_is_finite_for_degenerate_maps(values, signed):
    shown = plot.normalize(values, signed=signed)
    assert np.all(np.isfinite(shown))
    assert shown.min() >= (-1 if signed else 0) and shown.max() <= 1


def test_normalize_keeps_zero_at_zero_when_signed():
    shown = plot.normalize(np.array([-2.0, 0.0, 1.0]), signed=True)
    np.testing.assert_allclose(shown, [-1.0, 0.0, 0.5], atol=1e-9)


def test_method_grid_draws_every_kind(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.random((2, 3, 8, 8))
    masks = np.zeros((2, 8, 8), bool)
    masks[:, 2:5, 2:5] = True
    columns = [("image", "image", images), ("heat", "heat", np.zeros((2, 8, 8))),
               ("signed", "signed", -np.ones((2, 8, 8))),
               ("gradient", "gradient", rng.standard_normal((2, 3, 8, 8))),
               ("grey gradient", "gradient", rng.standard_normal((2, 1, 8, 8)))]
    fig = plot.method_grid(images, columns, masks=masks, row_titles=["a", "b"])
    fig.savefig(tmp_path / "grid.png")
    assert (tmp_path / "grid.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="kind must be"):
        plot.method_grid(images, [("x", "rainbow", images)])
