"""Olah et al.'s (2017) feature-visualization regularizers (explain/regularizers.py): each
against an independent computation (slices, np.rot90, loops, explicit sums), each
gradient or adjoint against central finite differences (float64, gradcheck.check_gradient,
relative error < 1e-6) with a negative control, and the whole regularized objective of
maximize.py checked the same way through every regularizer at once."""
import numpy as np
import pytest
from conftest import away_from_zero

import scratchcnn as sc
from scratchcnn.explain import maximize
from scratchcnn.explain import regularizers as reg
from scratchcnn.explain.base import score_seed
from scratchcnn.gradcheck import check_gradient

TOL = 1e-6


# ----- transformation robustness ---------------------------------------------------------------
def test_an_integer_shift_is_a_shift_with_black_borders(rng):
    image = rng.standard_normal((6, 7))
    matrix = reg.resampling_matrix(6, 7, shift=(2, -1))
    expected = np.zeros((6, 7))
    expected[2:, :6] = image[:4, 1:]               # rows move down 2, columns left 1
    np.testing.assert_allclose((matrix @ image.ravel()).reshape(6, 7), expected, atol=1e-12)
    np.testing.assert_allclose(reg.resampling_matrix(6, 7), np.eye(42), atol=1e-12)


def test_a_quarter_turn_is_rot90_and_a_half_pixel_zoom_interpolates(rng):
    image = rng.standard_normal((5, 5))
    turned = (reg.resampling_matrix(5, 5, degrees=90) @ image.ravel()).reshape(5, 5)
    np.testing.assert_allclose(turned, np.rot90(image), atol=1e-12)    # counter-clockwise
    # zoom 2 about the centre of a 4-wide ramp: output column j reads 1.5 + (j - 1.5) / 2
    ramp = np.tile(np.arange(4.0), (4, 1))
    zoomed = (reg.resampling_matrix(4, 4, scale=2.0) @ ramp.ravel()).reshape(4, 4)
    np.testing.assert_allclose(zoomed, np.tile(1.5 + (np.arange(4) - 1.5) / 2, (4, 1)),
                               atol=1e-12)


def test_resample_is_the_matrix_and_its_adjoint_the_transpose(rng):
    """resample's gather equals M I, resample_adjoint's scatter equals M^T G, and
    <T(I), G> = <I, T^T(G)>, for a zoom-and-turn whose matrix is not symmetric."""
    taps = reg.bilinear_taps(9, 8, scale=1.1, degrees=13, shift=(1, -2))
    matrix = reg.resampling_matrix(9, 8, scale=1.1, degrees=13, shift=(1, -2))
    images, grads = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((2, 3, 9, 8))
    np.testing.assert_allclose(reg.resample(images, taps).reshape(6, -1),
                               images.reshape(6, -1) @ matrix.T, atol=1e-12)
    np.testing.assert_allclose(reg.resample_adjoint(grads, taps).reshape(6, -1),
                               grads.reshape(6, -1) @ matrix, atol=1e-12)
    left = np.sum(reg.resample(images, taps) * grads)
    right = np.sum(images * reg.resample_adjoint(grads, taps))
    assert left == pytest.approx(right, rel=1e-12)
    assert np.sum(images * reg.resample(grads, taps)) != pytest.approx(left, rel=1e-3)


def test_gradients_flow_back_through_the_transform(rng):
    """f(I) = sum(W * tanh(T(I))): df/dI = T^T(W (1 - tanh^2 T(I))) by finite differences;
    using T itself instead of its transpose is caught."""
    taps = reg.bilinear_taps(8, 8, scale=0.9, degrees=-7, shift=(0, 1))
    weights, image = rng.standard_normal((1, 1, 8, 8)), rng.standard_normal((1, 1, 8, 8))

    def f(v):
        return float(np.sum(weights * np.tanh(reg.resample(v, taps))))
    at_x = weights * (1 - np.tanh(reg.resample(image, taps)) ** 2)
    assert check_gradient(f, image, reg.resample_adjoint(at_x, taps)) < TOL
    assert check_gradient(f, image, reg.resample(at_x, taps)) > 1e-3     # negative control


def test_random_resampling_draws_within_its_ranges():
    rng = np.random.default_rng(0)
    for _ in range(20):                                           # jitter only: exact shifts
        sources, weights = reg.random_resampling(rng, 6, 6, jitter=1)
        assert set(np.unique(weights)) <= {0.0, 1.0} and weights.sum(axis=1).max() == 1
    with pytest.raises(ValueError, match="scales"):
        reg.random_resampling(rng, 6, 6, scales=(1.2, 0.9))
    with pytest.raises(ValueError, match="scale must be > 0"):
        reg.resampling_matrix(4, 4, scale=0.0)


# ----- the frequency penalty -------------------------------------------------------------------
def test_smoothness_penalty_against_loops_and_finite_differences(rng):
    images = rng.standard_normal((2, 2, 5, 6))
    values, gradient = reg.smoothness_penalty(images)
    for n in range(2):
        total = sum((images[n, c, i + 1, j] - images[n, c, i, j]) ** 2
                    for c in range(2) for i in range(4) for j in range(6))
        total += sum((images[n, c, i, j + 1] - images[n, c, i, j]) ** 2
                     for c in range(2) for i in range(5) for j in range(5))
        assert values[n] == pytest.approx(total, rel=1e-12)

    def f(v):
        return float(reg.smoothness_penalty(v)[0].sum())
    assert check_gradient(f, images, gradient) < TOL
    wrong = gradient.copy()
    wrong[:, :, 0, :] *= -1                           # the top row's sign flipped: caught
    assert check_gradient(f, images, wrong) > 1e-3
    assert reg.smoothness_penalty(np.full((1, 1, 4, 4), 3.0))[0][0] == 0


# ----- the Fourier parameterization ------------------------------------------------------------
@pytest.mark.parametrize("width", [8, 7])
def test_image_from_spectrum_is_the_explicit_inverse_transform(rng, width):
    """irfft2 written out: I(y, x) = 1/(H W) sum over the full spectrum, each half-spectrum
    column kx in (0, W/2) standing for itself and its complex-conjugate mirror."""
    height = 6
    scale = reg.spectrum_scale(height, width)
    spectrum = rng.standard_normal((1, 1, height, width // 2 + 1, 2))
    image = reg.image_from_spectrum(spectrum, scale, width)[0, 0]
    coefficients = scale * (spectrum[0, 0, ..., 0] + 1j * spectrum[0, 0, ..., 1])
    full = np.zeros((height, width), complex)
    for ky in range(height):
        for kx in range(width // 2 + 1):
            value = coefficients[ky, kx]
            if kx == 0 or 2 * kx == width:         # numpy keeps the real part of the
                # Hermitian column: the mean of the coefficient and its mirror's conjugate
                full[ky, kx] += value / 2
                full[-ky % height, kx] += np.conj(value) / 2
            else:
                full[ky, kx] += value
                full[-ky % height, -kx % width] += np.conj(value)
    ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    expected = np.zeros((height, width))
    for ky in range(height):
        for kx in range(width):
            expected += (full[ky, kx] * np.exp(2j * np.pi * (ky * ys / height + kx * xs / width))
                         ).real / (height * width)
    np.testing.assert_allclose(image, expected, atol=1e-10)


@pytest.mark.parametrize("width", [8, 7])
def test_spectrum_gradient_is_the_adjoint_by_finite_differences(rng, width):
    height = 6
    scale = reg.spectrum_scale(height, width)
    weights = rng.standard_normal((2, 1, height, width))
    spectrum = rng.standard_normal((2, 1, height, width // 2 + 1, 2))

    def f(p):
        return float(np.sum(weights * np.tanh(reg.image_from_spectrum(p, scale, width))))
    at_image = weights * (1 - np.tanh(reg.image_from_spectrum(spectrum, scale, width)) ** 2)
    gradient = reg.spectrum_gradient(at_image, scale)
    assert check_gradient(f, spectrum, gradient, entries=60) < TOL
    # negative control: column 0 (and W/2) counted twice, like the mirrored columns
    doubled = gradient.copy()
    doubled[..., 0, :] *= 2
    if width % 2 == 0:
        doubled[..., -1, :] *= 2
    assert check_gradient(f, spectrum, doubled, entries=60) > 1e-3


def test_spectrum_from_image_round_trip_and_the_scale(rng):
    images = rng.standard_normal((2, 1, 6, 7))
    scale = reg.spectrum_scale(6, 7)
    back = reg.image_from_spectrum(reg.spectrum_from_image(images, scale), scale, 7)
    np.testing.assert_allclose(back, images, atol=1e-12)
    assert scale[0, 0] == pytest.approx(7.0)            # 1 / max(|f|, 1/7) at f = 0
    assert scale[3, 3] == pytest.approx(1 / np.hypot(0.5, 3 / 7))


def test_squash_slope_and_its_inverse(rng):
    values = rng.standard_normal((1, 1, 4, 4))
    pixels, slope = reg.squash(values, -1.0, 3.0)
    assert np.all((pixels > -1) & (pixels < 3))

    def f(v):
        return float(np.sum(values * reg.squash(v, -1.0, 3.0)[0]))   # weights = values
    assert check_gradient(f, values.copy(), values * slope) < TOL
    np.testing.assert_allclose(reg.unsquash(pixels, -1.0, 3.0), values, atol=1e-9)


# ----- diversity -------------------------------------------------------------------------------
def test_gram_similarity_against_pairwise_cosines_and_finite_differences(rng):
    activations = rng.standard_normal((3, 4, 2, 3))
    value, gradient = reg.gram_similarity(activations)
    grams = [a.reshape(4, -1) @ a.reshape(4, -1).T for a in activations]
    cosines = [np.sum(grams[i] * grams[j]) / np.linalg.norm(grams[i]) / np.linalg.norm(grams[j])
               for i in range(3) for j in range(3) if i != j]
    assert value == pytest.approx(sum(cosines) / 3, rel=1e-12)

    def f(v):
        return reg.gram_similarity(v)[0]
    assert check_gradient(f, activations, gradient, entries=72) < TOL
    assert check_gradient(f, activations, 2 * gradient, entries=72) > 1e-3   # negative control
    same = np.repeat(activations[:1], 2, axis=0)
    assert reg.gram_similarity(same)[0] == pytest.approx(1.0)       # identical styles: cos 1
    with pytest.raises(ValueError, match="at least 2 images"):
        reg.gram_similarity(activations[:1])


# ----- the measure -----------------------------------------------------------------------------
def test_high_frequency_energy_of_waves_and_noise():
    x = np.arange(28)
    slow = np.tile(np.cos(2 * np.pi * 3 * x / 28), (28, 1))[None, None]     # 0.11 cycles/px
    fast = np.tile(np.cos(2 * np.pi * 10 * x / 28), (28, 1))[None, None]    # 0.36 cycles/px
    both = slow + fast
    shares = reg.high_frequency_energy(np.concatenate([slow, fast, both]))
    np.testing.assert_allclose(shares, [0.0, 1.0, 0.5], atol=1e-12)
    noise = np.random.default_rng(0).standard_normal((200, 1, 28, 28))
    assert np.mean(reg.high_frequency_energy(noise)) == pytest.approx(
        1 - np.pi * 0.25 ** 2, abs=0.02)                     # the area outside the circle


# ----- the regularized objective of maximize.py, every regularizer at once -------------------
def tiny_net():
    return sc.Sequential([sc.Conv2D(1, 3, 3, padding=1), sc.ReLU(), sc.MaxPool2D(2),
                          sc.Conv2D(3, 4, 3), sc.ReLU(), sc.Flatten(), sc.Linear(4 * 2 * 2, 3)],
                         seed=3).astype(np.float64)


def test_the_regularized_objective_gradient_by_finite_differences(rng):
    """O and dO/dp with the Fourier parameterization, the squash, a zoom-and-turn, the
    smoothness penalty, diversity at relu1 over two groups of 2 and the L1 term: dO/dp
    against central differences. Negative controls: the gradient computed without the
    diversity term, or without the smoothness term, is caught."""
    model = tiny_net()
    options = maximize.Regularizers(smoothness=0.3, fourier=True, value_range=(-1.0, 2.0),
                                    diversity=0.7, diversity_layer="relu1", n_images=2)
    targets = np.array([0, 0, 2, 2])
    last = model.nodes[-1].name

    def objective(outputs):
        logits = outputs[last]
        return logits[np.arange(4), targets], {last: score_seed(logits, targets)}
    taps = reg.bilinear_taps(8, 8, scale=1.08, degrees=9, shift=(1, 0))
    params = maximize.parameters_of(away_from_zero((4, 1, 8, 8), rng) * 0.3 + 0.5, options)

    def run(p, chosen=options):
        return maximize.regularized_objective(model, objective, p, chosen, 8, taps, 0.05)
    _, gradient, _, reached = run(params)
    assert reached
    assert check_gradient(lambda p: run(p)[0], params, gradient, entries=40,
                          directions=4) < TOL
    from dataclasses import replace
    for dropped in (dict(diversity=0.0), dict(smoothness=0.0)):
        wrong = run(params, replace(options, **dropped))[1]
        assert check_gradient(lambda p: run(p)[0], params, wrong, entries=40,
                              directions=4) > 1e-3
