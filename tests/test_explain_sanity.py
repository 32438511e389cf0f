"""Tests of an explanation: deletion/insertion curves on a linear model whose curves are
known by hand (Petsiuk et al. 2018), and the cascading randomization check (Adebayo et
al. 2018) with its negative control, a "method" that ignores the model."""
import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import explain
from scratchcnn.explain import grad_cam, saliency
from scratchcnn.explain.sanity import deletion_insertion, randomization_check, removal_counts

# Per-pixel contributions of a 2 x 8 image to class 0, a permutation of 0..15 (sum 120).
CONTRIBUTIONS = np.array([3, 15, 0, 8, 12, 1, 6, 10, 14, 5, 9, 2, 13, 7, 11, 4], float)


def linear_model():
    """Flatten -> Linear(16, 2) on x = 2 everywhere: class 0's score is the sum of
    CONTRIBUTIONS over the pixels present, class 1's twice that; no bias."""
    model = sc.Sequential([sc.Flatten(), sc.Linear(16, 2)]).astype(np.float64)
    model["fc1"].params["W"][...] = np.stack([CONTRIBUTIONS / 2, CONTRIBUTIONS])
    model["fc1"].params["b"][...] = 0
    return model, np.full((2, 1, 2, 8), 2.0)


def small_cnn():
    return sc.zoo.slides_mnist_model(image_size=12).astype(np.float64)


def test_deletion_and_insertion_by_hand():
    model, x = linear_model()
    attribution = np.stack([CONTRIBUTIONS, 2 * CONTRIBUTIONS]).reshape(2, 2, 8)  # x * w_target
    result = deletion_insertion(model, x, [0, 1], attribution, steps=4, output="score")
    np.testing.assert_allclose(result["fractions"], [0, 0.25, 0.5, 0.75, 1])
    # Deletion removes the top 4, 8, 12 contributions: 15+14+13+12 = 54, then 38, then 22.
    deletion = np.array([120, 66, 28, 6, 0.0])
    insertion = np.array([0, 54, 92, 114, 120.0])
    np.testing.assert_allclose(result["deletion"], [deletion, 2 * deletion])     # class 1: 2x
    np.testing.assert_allclose(result["insertion"], [insertion, 2 * insertion])
    # Trapezoids of width 1/4: (93 + 47 + 17 + 3) / 4 = 40 and (27 + 73 + 103 + 117) / 4 = 80.
    np.testing.assert_allclose(result["deletion_auc"], [40, 80])
    np.testing.assert_allclose(result["insertion_auc"], [80, 160])


def test_reversed_ranking_scores_worse():
    # The negative control: ranking the least important pixels first.
    model, x = linear_model()
    worst = -np.stack([CONTRIBUTIONS, CONTRIBUTIONS]).reshape(2, 2, 8)
    result = deletion_insertion(model, x, 0, worst, steps=4, output="score")
    np.testing.assert_allclose(result["deletion"][0], [120, 114, 92, 54, 0])  # 6, 28, 66 gone
    np.testing.assert_allclose(result["deletion_auc"], [80, 80])              # not 40
    np.testing.assert_allclose(result["insertion_auc"], [40, 40])             # not 80


def test_ties_go_in_pixel_order_and_probability_is_the_softmax():
    model, x = linear_model()
    flat = np.zeros((2, 2, 8))                # every pixel tied: removed in row-major order
    scores = deletion_insertion(model, x, 0, flat, steps=4, output="score")
    # groups of four pixels in index order: 3+15+0+8 = 26, then 29, 30, 35
    np.testing.assert_allclose(scores["deletion"][0], [120, 94, 65, 35, 0])
    probability = deletion_insertion(model, x, 0, flat, steps=4)
    s0 = scores["deletion"]                   # class 1's score is 2 s0: p0 = 1 / (1 + e^s0)
    np.testing.assert_allclose(probability["deletion"], 1 / (1 + np.exp(s0)), rtol=1e-9)


def test_all_channels_of_a_pixel_go_together():
    model = sc.Sequential([sc.Flatten(), sc.Linear(8, 2)]).astype(np.float64)
    model["fc1"].params["W"][...], model["fc1"].params["b"][...] = 0, 0
    model["fc1"].params["W"][0] = [1, 2, 3, 4, 10, 0, 0, -10]    # channel 0, then channel 1
    x = np.ones((1, 2, 2, 2))
    attribution = x * model["fc1"].params["W"][0].reshape(1, 2, 2, 2)
    # pixel totals [11, 2, 3, -6]: removed in the order 0, 2, 1, 3
    four_d = deletion_insertion(model, x, 0, attribution, steps=4, output="score")
    np.testing.assert_allclose(four_d["deletion"][0], [10, -1, -4, -6, 0])
    three_d = deletion_insertion(model, x, 0, attribution.sum(axis=1), steps=4, output="score")
    np.testing.assert_array_equal(three_d["deletion"], four_d["deletion"])


def test_baseline_array_is_the_canvas():
    model, x = linear_model()
    baseline = np.stack([np.ones(x.shape[1:]), np.full(x.shape[1:], 0.5)])  # x/2 and x/4
    result = deletion_insertion(model, x, 0, np.ones((2, 2, 8)), steps=3, baseline=baseline,
                                output="score")
    np.testing.assert_allclose(result["deletion"][:, [0, -1]], [[120, 60], [120, 30]])
    np.testing.assert_allclose(result["insertion"][:, [0, -1]], [[60, 120], [30, 120]])
    np.testing.assert_allclose(result["fractions"], [0, 5 / 16, 11 / 16, 1])   # 16 k / 3


def test_removal_counts_round_halves_up():
    np.testing.assert_array_equal(removal_counts(6, 4), [0, 2, 3, 5, 6])       # 1.5, 4.5 up
    np.testing.assert_array_equal(removal_counts(16, 3), [0, 5, 11, 16])


def test_batches_and_single_images_agree(rng):
    model = small_cnn()
    x = rng.standard_normal((3, 1, 12, 12))
    maps = saliency(model, x, [0, 1, 2])
    whole = deletion_insertion(model, x, [0, 1, 2], maps, steps=10)
    for i in range(3):
        one = deletion_insertion(model, x[i:i + 1], i, maps[i:i + 1], steps=10, batch_size=4)
        np.testing.assert_allclose(one["deletion"][0], whole["deletion"][i], rtol=1e-12)
        np.testing.assert_allclose(one["insertion"][0], whole["insertion"][i], rtol=1e-12)
    assert ((whole["deletion"] >= 0) & (whole["deletion"] <= 1)).all()


def test_deletion_insertion_errors():
    model, x = linear_model()
    good = np.zeros((2, 2, 8))
    with pytest.raises(ValueError, match=r"H, W = \(2, 8\)"):
        deletion_insertion(model, x, 0, np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match=r"one map per image of x \(2\)"):
        deletion_insertion(model, x, 0, good[:1])
    for steps in (0, 2.5, True):
        with pytest.raises(ValueError, match="steps must be a positive int"):
            deletion_insertion(model, x, 0, good, steps=steps)
    with pytest.raises(ValueError, match="output must be one of"):
        deletion_insertion(model, x, 0, good, output="logit")
    with pytest.raises(ValueError, match="baseline must be a scalar or an array shaped like x"):
        deletion_insertion(model, x, 0, good, baseline=np.zeros((2, 8)))
    with pytest.raises(ValueError, match="attribution must be finite"):
        deletion_insertion(model, x, 0, np.full((2, 2, 8), np.nan))


def snapshot(model):
    return {key: value.copy() for key, value in model.state_dict().items()}


def assert_same_state(model, saved):
    state = model.state_dict()
    assert state.keys() == saved.keys()
    for key, value in saved.items():
        assert state[key].dtype == value.dtype
        np.testing.assert_array_equal(state[key], value, err_msg=key)   # bit for bit


def test_randomization_check_saliency(rng):
    model = small_cnn()
    x, saved = rng.standard_normal((3, 1, 12, 12)), snapshot(model)
    rows = randomization_check(model, x, [0, 1, 2], saliency)
    assert [row.layer for row in rows] == ["none", "fc2", "fc1", "conv2", "conv1"]
    np.testing.assert_array_equal(rows[0].spearman, [1.0, 1.0, 1.0])    # exactly 1
    np.testing.assert_allclose(rows[0].ssim, [1.0, 1.0, 1.0], rtol=1e-12)
    for row in rows[1:]:                     # the gradient depends on every layer's weights
        assert (row.spearman < 0.6).all() and (row.ssim < 0.6).all(), row
    assert_same_state(model, saved)
    again = randomization_check(model, x, [0, 1, 2], saliency)            # seeded: repeatable
    np.testing.assert_array_equal(again[-1].spearman, rows[-1].spearman)


def test_a_method_that_ignores_the_model_fails_the_check(rng):
    # Adebayo et al.'s point: an edge detector (here the input itself) looks plausible
    # and passes for an explanation, but it does not change when the model does.
    model = small_cnn()
    x = rng.standard_normal((2, 1, 12, 12))
    for row in randomization_check(model, x, 0, lambda m, images, t: images):
        np.testing.assert_allclose(row.spearman, [1.0, 1.0], rtol=1e-12)
        np.testing.assert_allclose(row.ssim, [1.0, 1.0], rtol=1e-12)


def test_randomization_cascades_with_the_weights_scale(rng):
    model = small_cnn()
    x = rng.standard_normal((1, 1, 12, 12))
    original = snapshot(model)
    seen = []

    def recording(m, images, target):
        seen.append(snapshot(m))
        return saliency(m, images, target)

    randomization_check(model, x, 0, recording, layers=["fc2", "fc1"])
    first, second = seen[1], seen[2]          # after fc2, after fc2 and fc1
    assert not np.array_equal(first["fc2.W"], original["fc2.W"])
    np.testing.assert_array_equal(first["fc1.W"], original["fc1.W"])     # not yet
    np.testing.assert_array_equal(second["fc2.W"], first["fc2.W"])       # stays random
    assert not np.array_equal(second["fc1.W"], original["fc1.W"])
    np.testing.assert_array_equal(second["conv1.W"], original["conv1.W"])
    for key in ("fc1.W", "fc1.b"):            # same mean and spread, new values
        np.testing.assert_allclose(second[key].std(), original[key].std(), rtol=0.05)
        assert abs(second[key].mean() - original[key].mean()) < 0.1 * original[key].std()


def test_parameters_are_restored_when_the_method_raises(rng):
    model = small_cnn()
    x, saved = rng.standard_normal((1, 1, 12, 12)), snapshot(model)
    calls = []

    def fails_second_time(m, images, target):
        calls.append(not np.array_equal(m["fc2"].params["W"], saved["fc2.W"]))
        if len(calls) == 2:
            raise RuntimeError("boom")
        return saliency(m, images, target)

    with pytest.raises(RuntimeError, match="boom"):
        randomization_check(model, x, 0, fails_second_time)
    assert calls == [False, True]             # it raised while fc2 was random
    assert_same_state(model, saved)


def test_absolute_values_are_ranked_by_default(rng):
    model, x = small_cnn(), rng.standard_normal((1, 1, 12, 12))
    calls = []

    def flips_sign(m, images, target):        # the same map, negated after randomizing
        calls.append(None)
        return images if len(calls) == 1 else -images

    rows = randomization_check(model, x, 0, flips_sign, layers=["fc2"])
    np.testing.assert_allclose(rows[1].spearman, [1.0], rtol=1e-12)
    calls.clear()
    rows = randomization_check(model, x, 0, flips_sign, layers=["fc2"], absolute=False)
    np.testing.assert_allclose(rows[1].spearman, [-1.0], rtol=1e-12)


def test_randomization_check_grad_cam_and_errors(rng):
    model, x = small_cnn(), rng.standard_normal((2, 1, 12, 12))
    rows = randomization_check(model, x, [3, 4], lambda m, images, t: grad_cam(
        m, images, t, layer="relu2"), layers=["fc2"])
    assert [row.layer for row in rows] == ["none", "fc2"]
    assert rows[1].spearman.shape == rows[1].ssim.shape == (2,)
    with pytest.raises(TypeError, match="method must be a callable"):
        randomization_check(model, x, 0, "saliency")
    with pytest.raises(ValueError, match=r"valid names \(top first\): \['fc2', 'fc1', 'conv2'"):
        randomization_check(model, x, 0, saliency, layers=["relu1"])
    with pytest.raises(TypeError, match="layers must be a list of node names"):
        randomization_check(model, x, 0, saliency, layers="fc2")


def test_randomized_cascade_goes_top_down_and_restores(rng):
    """One more layer random per step, from the output back, the ones above staying
    random; on leaving the block, also by an exception, every weight is as before."""
    model = sc.zoo.slides_mnist_model(image_size=12).astype(np.float64)
    before = {key: value.copy() for key, value in model.state_dict().items()}
    seen = []
    with pytest.raises(RuntimeError, match="stop here"):
        with explain.randomized_cascade(model, seed=3) as steps:
            for name in steps:
                seen.append(name)
                changed = [key for key, value in model.state_dict().items()
                           if not np.array_equal(value, before[key])]
                assert {key.split(".")[0] for key in changed} == set(seen)
            raise RuntimeError("stop here")
    assert seen == ["fc2", "fc1", "conv2", "conv1"]
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
