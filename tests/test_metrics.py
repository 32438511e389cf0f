"""Pointing game and energy in the mask, on maps whose answers are known."""
import numpy as np
import pytest

from scratchcnn.explain import metrics


def test_pointing_game_and_energy_by_hand():
    masks = np.zeros((2, 4, 4), bool)
    masks[:, :2, :2] = True                      # top-left quarter
    maps = np.zeros((2, 4, 4))
    maps[0, 0, 1], maps[0, 3, 3] = 3.0, 1.0      # peak inside; 3 of 4 units inside
    maps[1, 3, 3], maps[1, 0, 0] = 2.0, 2.0      # tie goes to the first (inside)...
    maps[1, 2, 2] = 5.0                          # ...but the peak is outside
    maps[1, 1, 1] = -4.0                         # negative values carry no energy
    assert metrics.pointing_game(maps, masks) == 0.5
    np.testing.assert_array_equal(metrics.pointing_game(maps, masks, per_image=True), [True, False])
    np.testing.assert_allclose(metrics.energy_in_mask(maps, masks, per_image=True), [0.75, 2 / 9])
    assert metrics.energy_in_mask(np.zeros((2, 4, 4)), masks) == 0.0   # zero map: no NaN


def test_metric_errors():
    masks = np.zeros((2, 4, 4), bool)
    masks[0, 0, 0] = True
    with pytest.raises(ValueError, match=r"masks of images \[1\] are empty"):
        metrics.pointing_game(np.zeros((2, 4, 4)), masks)
    with pytest.raises(ValueError, match="upsample maps to the mask size"):
        metrics.energy_in_mask(np.zeros((2, 2, 2)), masks)
