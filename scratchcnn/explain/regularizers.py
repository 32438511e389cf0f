"""What makes feature visualization show something: the regularizers of Olah, Mordvintsev
& Schubert 2017, "Feature Visualization" (Distill; the Lucid library), for grey images of
about 28 x 28 pixels. Plain gradient ascent on the pixels (maximize.py) finds high-frequency
patterns the network responds to but no image looks like ("The Enemy of Feature
Visualization"); each function below is one of the article's answers, written with its
gradient (or adjoint), so the ascent can run through it:

1. transformation robustness ("The Spectrum of Regularization: Transformation
   robustness"): the objective is taken on a randomly shifted, zoomed and rotated copy
   T(I) of the image, and its gradient flows back through T's transpose;
2. a frequency penalty ("Frequency penalization"): the squared differences of
   neighbouring pixels, which weighs each spatial frequency by 4 sin^2(pi f);
3. a Fourier parameterization ("Preconditioning and Parameterization"): the ascent moves
   the spectrum of the image, scaled by 1/|f|, so low frequencies move first;
   an optional squash keeps the pixels inside the range of real images;
4. diversity ("Diversity"): several images of one objective, each pushed away from the
   others' style (the Gram matrix of their activations at one layer).
Plus the measure the lesson reports: the share of an image's energy above half Nyquist.
"""
import numpy as np


# ----- 1. transformation robustness -----------------------------------------------------------
def bilinear_taps(height, width, scale=1.0, degrees=0.0, shift=(0, 0)):
    """The bilinear resampling that zooms an (H, W) image by ``scale`` and rotates it by
    ``degrees`` (counter-clockwise as drawn, row 0 at the top) about its centre, then shifts
    it by ``shift`` = (rows, columns) pixels. Output pixel q reads the input at
        p = c + R(-degrees) (q - c - shift) / scale     (c: the image centre),
    interpolating between the four neighbours of p; a neighbour outside the image reads 0
    (black). returns (sources (H*W, 4): the flat input index of each output pixel's four
    neighbours, weights (H*W, 4): their bilinear weights, 0 for a neighbour outside).
    An integer shift with scale 1 and angle 0 is an exact shift (integer jitter, Olah et al.
    2017, "Transformation robustness")."""
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    angle = np.deg2rad(degrees)
    rows, cols = np.meshgrid(np.arange(height, dtype=np.float64),
                             np.arange(width, dtype=np.float64), indexing="ij")
    centre_r, centre_c = (height - 1) / 2, (width - 1) / 2
    # q - c - shift, then rotate back by -angle and unzoom
    dr, dc = rows - centre_r - shift[0], cols - centre_c - shift[1]
    # a counter-clockwise turn as drawn (rows grow downwards) takes (r, c) to
    # (r cos - c sin, r sin + c cos); its inverse, which finds the source, turns back
    source_r = centre_r + (np.cos(angle) * dr + np.sin(angle) * dc) / scale
    source_c = centre_c + (-np.sin(angle) * dr + np.cos(angle) * dc) / scale
    top, left = np.floor(source_r).astype(int), np.floor(source_c).astype(int)
    frac_r, frac_c = source_r - top, source_c - left
    sources, weights = [], []
    for down, right, weight in ((0, 0, (1 - frac_r) * (1 - frac_c)), (0, 1, (1 - frac_r) * frac_c),
                                (1, 0, frac_r * (1 - frac_c)), (1, 1, frac_r * frac_c)):
        r, c = top + down, left + right
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        sources.append(np.where(inside, r * width + c, 0).ravel())
        weights.append(np.where(inside, weight, 0.0).ravel())
    return np.stack(sources, axis=1), np.stack(weights, axis=1)


def resampling_matrix(height, width, scale=1.0, degrees=0.0, shift=(0, 0)):
    """The same resampling as a matrix M (H*W, H*W): T(I).ravel() = M @ I.ravel(), built
    from bilinear_taps (row q holds output pixel q's four weights). M is linear in I, so the
    gradient of a function of T(I) is M^T times its gradient at T(I)."""
    sources, weights = bilinear_taps(height, width, scale, degrees, shift)
    matrix = np.zeros((height * width, height * width))
    np.add.at(matrix, (np.repeat(np.arange(height * width), 4), sources.ravel()),
              weights.ravel())
    return matrix


def random_resampling(rng, height, width, jitter=0, scales=(1.0, 1.0), degrees=0.0):
    """One random transform of Lucid's standard set, sized for small images: a zoom drawn
    uniformly from [scales[0], scales[1]], a rotation uniformly from [-degrees, degrees]
    and an integer shift of each axis uniformly from {-jitter, ..., jitter}.
    returns its bilinear_taps (sources, weights)."""
    if jitter < 0 or degrees < 0 or not 0 < scales[0] <= scales[1]:
        raise ValueError(f"jitter and degrees must be >= 0 and scales (low, high) with "
                         f"0 < low <= high, got jitter={jitter}, degrees={degrees}, "
                         f"scales={scales}")
    scale = rng.uniform(scales[0], scales[1])
    angle = rng.uniform(-degrees, degrees)
    shift = rng.integers(-jitter, jitter + 1, size=2)
    return bilinear_taps(height, width, scale, angle, shift)


def resample(images, taps):
    """T(I) = M I for every image and channel, by gathering each output pixel's four
    neighbours (taps = bilinear_taps(...)): images (N, C, H, W) -> (N, C, H, W)."""
    sources, weights = taps
    n, c, h, w = images.shape
    flat = images.reshape(n * c, h * w)
    return (flat[:, sources] * weights).sum(axis=2).reshape(n, c, h, w).astype(images.dtype)


def resample_adjoint(gradients, taps):
    """T^T G = M^T G: the gradient w.r.t. I of a function of T(I), from its gradient G at
    T(I). Each output pixel hands its gradient back to its four neighbours, times their
    weights (a scatter-add, the transpose of resample's gather).
    gradients (N, C, H, W) -> (N, C, H, W); <T(I), G> = <I, T^T(G)>."""
    sources, weights = taps
    n, c, h, w = gradients.shape
    handed_back = gradients.reshape(n * c, h * w, 1) * weights           # (N*C, H*W, 4)
    result = np.zeros((h * w, n * c))
    np.add.at(result, sources.ravel(), handed_back.reshape(n * c, -1).T)
    return result.T.reshape(n, c, h, w).astype(gradients.dtype)


# ----- 2. a frequency penalty -----------------------------------------------------------------
def smoothness_penalty(images):
    """The sum of squared differences between neighbouring pixels, per image, and its
    gradient (Olah et al. 2017, "Frequency penalization": penalizing the variation between
    neighbouring pixels). In Fourier terms it is sum_f |I(f)|^2 (4 sin^2(pi f_rows) +
    4 sin^2(pi f_cols)), zero for a constant image and largest at the Nyquist frequency.
    images (N, C, H, W) -> (values (N,), gradient (N, C, H, W))."""
    down = np.diff(images, axis=2)                  # I[i+1, j] - I[i, j]
    across = np.diff(images, axis=3)                # I[i, j+1] - I[i, j]
    values = (down ** 2).sum(axis=(1, 2, 3)) + (across ** 2).sum(axis=(1, 2, 3))
    gradient = np.zeros_like(images)
    gradient[:, :, 1:, :] += 2 * down               # each difference pulls its two pixels
    gradient[:, :, :-1, :] -= 2 * down
    gradient[:, :, :, 1:] += 2 * across
    gradient[:, :, :, :-1] -= 2 * across
    return values, gradient


# ----- 3. a Fourier parameterization ----------------------------------------------------------
def spectrum_scale(height, width, decay=1.0):
    """Lucid's scale of each rfft2 coefficient, 1 / max(|f|, 1/max(H, W))^decay with |f|
    the frequency in cycles per pixel (Olah et al. 2017, "Preconditioning and
    Parameterization": a spectrum whose coefficients have equal variance after this scale
    is decorrelated, like natural images, whose energy falls as 1/|f|). -> (H, W//2 + 1)."""
    rows = np.fft.fftfreq(height)[:, None]
    cols = np.fft.rfftfreq(width)[None, :]
    return 1.0 / np.maximum(np.sqrt(rows ** 2 + cols ** 2), 1.0 / max(height, width)) ** decay


def image_from_spectrum(spectrum, scale, width):
    """I = irfft2(scale * (spectrum[..., 0] + i spectrum[..., 1])), the image of the
    parameters. spectrum (N, C, H, W//2 + 1, 2) real and imaginary parts, scale
    (H, W//2 + 1) -> images (N, C, H, width)."""
    coefficients = scale * (spectrum[..., 0] + 1j * spectrum[..., 1])
    return np.fft.irfft2(coefficients, s=(spectrum.shape[-3], width))


def spectrum_gradient(image_gradient, scale):
    """The adjoint of image_from_spectrum: dL/dspectrum from G = dL/dI (N, C, H, W).

    irfft2 with n = H*W pixels sums the full spectrum, in which every column kx of the
    half spectrum stands for itself and, for 0 < kx < W/2, its mirror -kx (its complex
    conjugate). A coefficient a + ib of such a column contributes (2/n)(a cos t - b sin t)
    to pixel (y, x), t = 2 pi (ky y / H + kx x / W); the columns 0 and W/2 (W even)
    contribute once, and numpy reads only their real part after the row transform. So
        dL/da = (m/n) sum G cos t = (m/n) Re F,   dL/db = -(m/n) sum G sin t = (m/n) Im F,
    F = rfft2(G), m = 2 for the mirrored columns and 1 for the others; the scale
    multiplies both. -> (N, C, H, W//2 + 1, 2)."""
    height, width = image_gradient.shape[-2:]
    transform = np.fft.rfft2(image_gradient)
    mirrored = np.full(transform.shape[-1], 2.0)
    mirrored[0] = 1.0
    if width % 2 == 0:
        mirrored[-1] = 1.0
    coefficients = scale * mirrored / (height * width) * transform
    return np.stack([coefficients.real, coefficients.imag], axis=-1)


def spectrum_from_image(images, scale):
    """The parameters whose image is ``images`` (N, C, H, W): rfft2(I) / scale, as real and
    imaginary parts (N, C, H, W//2 + 1, 2) (irfft2(rfft2(I)) = I)."""
    coefficients = np.fft.rfft2(images) / scale
    return np.stack([coefficients.real, coefficients.imag], axis=-1)


def squash(values, low, high):
    """Pixels kept inside [low, high] the way Lucid keeps colours valid: low + (high - low)
    * sigmoid(v). returns (pixels, d pixels / d v), both shaped like values."""
    sigmoid = 1.0 / (1.0 + np.exp(-values))
    return low + (high - low) * sigmoid, (high - low) * sigmoid * (1 - sigmoid)


def unsquash(pixels, low, high, margin=0.01):
    """The inverse of squash, with pixels first clipped to [low, high] shrunk by ``margin``
    of the range (the sigmoid never reaches its ends)."""
    share = np.clip((pixels - low) / (high - low), margin, 1 - margin)
    return np.log(share / (1 - share))


# ----- 4. diversity ---------------------------------------------------------------------------
def gram_similarity(activations):
    """Lucid's diversity term (Olah et al. 2017, "Diversity"; lucid objectives.diversity):
    for a batch of N images of one objective, with A_n = activations[n] as a (K, h*w)
    matrix, the Gram matrix G_n = A_n A_n^T (K, K) describes image n's "style" (which
    channels fire together); normalized to unit Frobenius norm, Ĝ_n = G_n / ||G_n||,
        D = 1/N sum_n sum_{m != n} <Ĝ_n, Ĝ_m>,
    the mean cosine similarity of each image's style to the others'. Ascent subtracts
    weight * D, pushing the images apart.
    activations (N, K, h, w), N >= 2 -> (D, dD/dactivations (N, K, h, w))."""
    n, k = activations.shape[:2]
    if n < 2:
        raise ValueError(f"diversity needs a batch of at least 2 images, got {n}")
    flat = activations.reshape(n, k, -1).astype(np.float64)
    # einsum rather than @: products this small cost more in BLAS threads than they save
    grams = np.einsum("nkp,nlp->nkl", flat, flat)                      # G_n (N, K, K)
    norms = np.maximum(np.sqrt((grams ** 2).sum(axis=(1, 2))), 1e-12)[:, None, None]
    unit = grams / norms                                                # Ĝ_n
    total = unit.sum(axis=0)
    value = float(((unit * (total - unit)).sum()) / n)      # sum over m != n of <Ĝ_n, Ĝ_m>
    d_unit = 2.0 / n * (total - unit)                       # each pair appears twice in D
    # through the normalization: dĜ/dG applied to U is (U - <U, Ĝ> Ĝ) / ||G||
    d_gram = (d_unit - (d_unit * unit).sum(axis=(1, 2), keepdims=True) * unit) / norms
    d_flat = np.einsum("nkl,nlp->nkp", d_gram + d_gram.transpose(0, 2, 1), flat)  # G = A A^T
    return value, d_flat.reshape(activations.shape).astype(activations.dtype)


# ----- the measure ----------------------------------------------------------------------------
def high_frequency_energy(images):
    """The share of each image's energy (its mean removed) at spatial frequencies above
    half the Nyquist frequency, |f| > 0.25 cycles per pixel. White noise gives about
    0.80 (the area of the frequency square outside that circle); natural images, whose
    spectrum falls as 1/|f|, much less. images (N, C, H, W) -> (N,)."""
    height, width = images.shape[-2:]
    power = np.abs(np.fft.fft2(images - images.mean(axis=(-2, -1), keepdims=True))) ** 2
    radius = np.sqrt(np.fft.fftfreq(height)[:, None] ** 2 + np.fft.fftfreq(width)[None, :] ** 2)
    total = power.sum(axis=(1, 2, 3))
    return np.where(total > 0, (power * (radius > 0.25)).sum(axis=(1, 2, 3)) /
                    np.maximum(total, 1e-300), 0.0)
