"""Activation maximization and class models: the images a network likes best.

What you will learn
  * instead of asking "what in THIS image made the network respond?" (lessons 04-07),
    ask "which image would make it respond most?", and find that image by gradient
    ascent on the input, the weights held fixed (Erhan, Bengio, Courville & Vincent
    2009, "Visualizing higher-layer features of a deep network");
  * channel activation maximization (Tang, Yao, Jiang & Liu, "How the Deep
    Convolutional Networks see the World", sec. 3.2): the objective is the mean of
    channel k's activation map a_k (after its ReLU) over its h x w positions,
        A(I) = 1/(h*w) sum_ij a_k,ij(I),       I_0 ~ N(0, 1),
        I <- I + lr * dA/dI                     (20 steps, as in the paper),
    and a channel whose activation (and so its gradient) stays exactly 0 from the
    start noise "gets stuck in 0": the paper ignores it; we mark it "dead";
  * class models (Simonyan, Vedaldi & Zisserman 2014, "Deep inside convolutional
    networks", eq. 1, with Tang et al.'s L1 penalty, sec. 3.3): with S_c the class
    score before the softmax,
        O(I) = S_c(I) - alpha * ||I||_1,
        I <- I + lambda * (dS_c/dI - alpha * sign(I)),   lambda = 0.5, alpha = 0.1,
    from random N(0, 1) noise or from the class's mean training image (Tang et al.,
    Fig. 3.3.1-3.3.3: "random initialization" vs "mean initialization");
  * measured, not assumed: whether each objective rose, how many channels are dead,
    whether the network classifies each class model as its own class, and how far the
    images are from anything in the training data (their pixel range, their scores
    against those of real digits);
  * the same class models on Tang et al.'s deeper network (sec. 4), with the same step
    size, and how far its pixels stray from the 0-1 range of real images;
  * feature visualization that shows something (Olah, Mordvintsev & Schubert 2017,
    "Feature Visualization", Distill): transformation robustness, a frequency penalty, a
    Fourier parameterization and diversity (explain/regularizers.py), each switched off in
    turn, judged by a network of the same architecture trained from another seed (does it
    call each class model its class?) and by the energy above half the Nyquist frequency.
Data: Tang et al. used the full MNIST and five ImageNet classes; we use the embedded
8,000-image MNIST subset and five Fashion-MNIST classes (common.FIVE_CLASSES) as the
stand-in for ImageNet, so their accuracies are a reference, not a target.
Sources: Erhan et al. 2009; Simonyan et al. 2014, eq. 1; Tang et al. (seed 004),
sec. 2, 3.2, 3.3 and 4; Olah et al. 2017 (regularization, parameterization, diversity).
"""
import time

import numpy as np

import scratchcnn as sc
from scratchcnn import plot, zoo
from scratchcnn.explain import maximize
from scratchcnn.explain import regularizers as reg

import common

args = common.start(__file__, __doc__)
tick = time.perf_counter()
FASHION = sc.datasets.CLASS_NAMES["fashion-mnist"]
FIVE_NAMES = [FASHION[c] for c in common.FIVE_CLASSES]

# --- 1. Tang et al.'s two networks, trained on our data ------------------------------------
model, history = common.tang_mnist_model(args)
(x_train, y_train), (x_test, y_test) = common.load_data("mnist", args.quick)
deep, deep_history = common.tang_deep_model(args)
(x_five, y_five), _ = common.five_class_data(args.quick)
print("   Tang et al.'s MNIST net:", " -> ".join(model.names))
eval_train = sc.evaluate(model, x_train, y_train)["accuracy"]
print("   accuracy                       train (last epoch, dropout on)   held-out   paper "
      "(train / test)")
print(f"   MNIST net, {len(x_train)}-image MNIST    {history['accuracy'][-1]:.3f}"
      f"{'':27}{history['val_accuracy'][-1]:.3f}      0.991 / 0.982 (full MNIST, 60k)")
print(f"   deep net, 5 Fashion classes    {deep_history['accuracy'][-1]:.3f}"
      f"{'':27}{deep_history['val_accuracy'][-1]:.3f}      0.879 / 0.801 (5 ImageNet classes)")
print(f"   epochs: the MNIST net {len(history['accuracy'])}, the deep net "
      f"{len(deep_history['accuracy'])} (the paper trains its deep net 5: ours reached its "
      "best held-out accuracy earlier, common.TANG_DEEP_RECIPE)")
print(f"   (the MNIST net in eval mode, no dropout, on its {len(x_train)} training images: "
      f"{eval_train:.3f}.) The data differ: our MNIST is a subset of {len(x_train)} of the "
      f"paper's 60k images, and five Fashion-MNIST classes ({', '.join(FIVE_NAMES)}; 28x28 grey) stand in "
      f"for the paper's five 224x224 colour ImageNet classes.")

# --- 2. Channel activation maximization (Tang et al. sec. 3.2) -----------------------------
# Gradient ascent from N(0, 1) noise, 20 steps. A conv net with ReLUs is piecewise linear,
# so dA/dI barely changes along the way and A grows about linearly in lr: with lr = 1 the
# 20 steps change the noise by a few per cent and the "image" is the start noise. We pick
# lr per layer so that the ascent moves the image further than the noise it started from
# (measured below as ||I_20 - I_0|| / ||I_0||); the deeper layer's gradient is larger.
STEPS = 20
LAYERS = {"relu1": 100.0, "relu2": 10.0}               # node after conv1 / conv2 -> lr
REPEAT_SHIFT = 3


def repetition(image):
    """The largest autocorrelation of an (H, W) image (mean removed, normalized to 1 at
    shift 0) at shifts of REPEAT_SHIFT px or more along either axis: how strongly some
    part of the image comes back elsewhere. Zero-padded, so shifts do not wrap."""
    centred = image - image.mean()
    power = np.abs(np.fft.fft2(centred, s=(2 * image.shape[0], 2 * image.shape[1]))) ** 2
    auto = np.fft.ifft2(power).real
    auto = auto / max(auto[0, 0], 1e-300)
    rows = np.minimum(np.arange(auto.shape[0]), auto.shape[0] - np.arange(auto.shape[0]))
    cols = np.minimum(np.arange(auto.shape[1]), auto.shape[1] - np.arange(auto.shape[1]))
    far = np.maximum(rows[:, None], cols[None, :]) >= REPEAT_SHIFT
    return float(auto[far].max())


repeated_channels = {}
n_channels = 8 if args.quick else None
for number, (layer, lr) in enumerate(LAYERS.items(), start=1):
    K = sc.activations(model, x_test[:1], layer).shape[1]
    channels = range(K if n_channels is None else n_channels)
    runs = [maximize.maximize_activation(model, layer, k, steps=STEPS, lr=lr, seed=k)
            for k in channels]
    images = np.array([image[0, 0] for image, _, _ in runs])          # (K, 28, 28)
    before = np.array([h[0] for _, h, _ in runs])
    after = np.array([h[-1] for _, h, _ in runs])
    dead = np.array([d for _, _, d in runs])
    starts = np.array([np.random.default_rng(k).standard_normal((28, 28)) for k in channels])
    moved = np.linalg.norm((images - starts).reshape(len(runs), -1), axis=1) / np.linalg.norm(
        starts.reshape(len(runs), -1), axis=1)
    alive = ~dead
    small = [maximize.maximize_activation(model, layer, k, steps=STEPS, lr=1.0, seed=k)
             for k in np.flatnonzero(alive)[:4]]
    moved_small = np.median([np.linalg.norm(im[0, 0] - starts[k]) / np.linalg.norm(starts[k])
                             for im, k in zip((s[0] for s in small), np.flatnonzero(alive))])
    print(f"   {layer} ({len(runs)} channels, lr {lr:g}, {STEPS} steps from N(0,1) noise): "
          f"{dead.sum()} dead (activation and gradient exactly 0 at every step); median A "
          f"{np.median(before[alive]):.3f} -> {np.median(after[alive]):.3f} over the live "
          f"channels; A rose in {(after > before).sum()} of {len(runs)}")
    print(f"      the ascent moved the image by a median {np.median(moved[alive]):.2f} x the "
          f"norm of its start noise (with lr 1: {moved_small:.3f} x"
          f"{', i.e. still mostly the noise' if moved_small < 0.5 else ''})")
    if dead.any():
        revived = sum(not maximize.maximize_activation(model, layer, k, steps=STEPS, lr=lr,
                                                       seed=1000 + k)[2]
                      for k in np.flatnonzero(dead))
        fires = sc.activations(model, x_test[:500], layer).max(axis=(0, 2, 3))
        silent = int((fires[list(channels)][dead] == 0).sum())
        print(f"      of the {dead.sum()} dead channels, {revived} came alive from another "
              f"noise seed; {silent} never fire on any of {min(500, len(x_test))} held-out "
              f"digits either (dead in the network), {dead.sum() - silent} do fire on digits")
    # Does the ascent add one small pattern, repeated? The autocorrelation of what it added
    # (I_20 - I_0, mean removed) at shifts of REPEAT_SHIFT px or more: near 0 for noise,
    # high when the same pattern comes back elsewhere in the image.
    repeats = np.array([repetition(im - s) for im, s in zip(images, starts)])
    noise_repeats = max(repetition(np.random.default_rng(500 + i).standard_normal((28, 28)))
                        for i in range(20))
    repeated = alive & (repeats >= 2 * noise_repeats)
    print(f"      repetition of what the ascent added (its autocorrelation at a shift >= "
          f"{REPEAT_SHIFT} px): median "
          f"{np.median(repeats[alive]):.2f} over the live channels, >= {2 * noise_repeats:.2f} "
          f"(twice the most of 20 N(0,1) noise images, {noise_repeats:.2f}) in "
          f"{repeated.sum()} of {alive.sum()}")
    # Each panel on its own scale: the images' largest pixels differ by a factor
    # top.max() / top.min() between channels, and one shared scale leaves most panels blank.
    top = np.abs(images).max(axis=(1, 2))
    shown = np.where(dead[:, None, None], 0.0, images / np.maximum(top, 1e-12)[:, None, None])
    columns = 8
    fig = plot.map_grid(shown, "signed", columns=columns, size=1.35,
                        titles=[f"ch {k}: A {a:.2g}\nmax|I| {t:.2g}, rep {r:.2f}"
                                for k, a, t, r in zip(channels, after, top, repeats)],
                        title=f"The image that maximizes each {layer} channel's mean activation "
                              f"A ({STEPS} steps, lr {lr:g}, from N(0,1) noise)\nEACH panel on "
                              f"its OWN signed scale (the image / its max|I|); grey = dead channel")
    for ax, is_dead, k in zip(fig.axes, dead, channels):
        if is_dead:                                          # a grey panel, not an image
            ax.cla()
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_facecolor("0.8")
            ax.set_title(f"ch {k}: dead", fontsize=7)
            ax.text(0.5, 0.5, "stuck\nat 0", transform=ax.transAxes, ha="center",
                    va="center", fontsize=7, color="0.3")
    fig.axes[-1].set_ylabel("I / max|I|", fontsize=8)                       # the colourbar
    conv = layer.replace("relu", "conv")
    share = repeated.sum() / max(alive.sum(), 1)
    pattern_words = (f"in {repeated.sum()} of the {alive.sum()} live channels the ascent "
                     f"added a small pattern repeated over the input" +
                     (" (most of them)" if share > 0.5 else ", fewer than half; in the others "
                      "no part of what it added comes back that strongly"))
    repeated_channels[layer] = (repeated.sum(), alive.sum())
    common.save(fig, args, f"{number}_channels_{layer}.png",
                f"For each channel of {layer} (the ReLU after {conv}) of Tang et al.'s MNIST "
                f"net, the input image after {STEPS} gradient-ascent steps (lr {lr:g}) on the "
                f"channel's mean activation A from N(0,1) noise. Each panel is drawn on its own "
                f"signed scale (red > 0 > blue; the image divided by its largest |pixel|, given "
                f"in its title as max|I|, from {top[alive].min():.2g} to {top[alive].max():.2g}), "
                f"so that every channel's pattern shows; each title also gives the final A. "
                + (f"Grey panels are the {dead.sum()} channels stuck at 0 from the start noise, "
                   f"which Tang et al. skip. " if dead.any() else
                   "No channel got stuck at 0 (Tang et al. skip those). ") +
                f"Look at the texture: {pattern_words}, not one object (measured: 'rep', the "
                f"autocorrelation of what the ascent added, I_{STEPS} - I_0, at a shift of "
                f"{REPEAT_SHIFT} px or more, is at least "
                f"{2 * noise_repeats:.2f}, twice the most that N(0,1) noise reaches; the gradient "
                f"of a mean over positions is the filter summed at every position where the "
                f"channel is active). The median A over the live channels rose from "
                f"{np.median(before[alive]):.2f} to {np.median(after[alive]):.2f}. "
                f"Reproduces Tang et al. Fig. 3.2.1/3.2.2 (sec. 3.2) on MNIST.")

# --- 3. Class models (Simonyan et al. 2014 eq. 1; Tang et al. sec. 3.3) --------------------
STEP, ALPHA = 0.5, 0.1
CLASS_STEPS = 10 if args.quick else 100


def start_image(init, c, mean_image):
    """The image class_model starts from: its N(0,1) noise (seed c) or the class mean."""
    if init == "random":
        return np.random.default_rng(c).standard_normal((1, 28, 28)).astype(np.float32)
    return mean_image.astype(np.float32)


def class_models(net, x, y, n_classes, x_real, y_real, label):
    """Class models of every class from both inits; prints what they measure and returns
    (class means (K, 1, 28, 28), {init: images (K, 1, 28, 28)}, measurements)."""
    means = np.array([x[y == c].mean(axis=0) for c in range(n_classes)])
    real_logits = sc.predict(net, x_real)
    real_score = np.mean([real_logits[y_real == c, c].mean() for c in range(n_classes)])
    results, facts = {}, {}
    for init in ("random", "mean"):
        starts = np.array([start_image(init, c, means[c]) for c in range(n_classes)])
        images = np.array([maximize.class_model(net, c, steps=CLASS_STEPS, step_size=STEP,
                                                alpha=ALPHA, init=init, mean_image=means[c],
                                                seed=c)[0][0] for c in range(n_classes)])
        own = np.arange(n_classes)
        s0, s1 = sc.predict(net, starts), sc.predict(net, images)
        won0, won = int((s0.argmax(1) == own).sum()), int((s1.argmax(1) == own).sum())
        flat, mflat = images.reshape(n_classes, -1), means.reshape(n_classes, -1)
        r = np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(flat, mflat)])
        near_zero = float((np.abs(images) <= STEP * ALPHA).mean())
        print(f"   {label}, {init:>6} init, {CLASS_STEPS} steps: mean S_c "
              f"{s0[own, own].mean():.1f} -> {s1[own, own].mean():.1f} (real held-out images "
              f"of class c: {real_score:.1f}); classified as their own class: {won0} -> "
              f"{won} of {n_classes}")
        print(f"      pixels {images.min():.1f} to {images.max():.1f} (training images: 0 to 1); "
              f"{100 * near_zero:.0f}% within +-{STEP * ALPHA:g} of 0 (the L1 step "
              f"lambda*alpha); mean correlation with the class mean image r = {r:.2f}")
        results[init] = images
        extreme = images.flat[np.abs(images).argmax()]       # signed: the largest |pixel|
        # share of the pixels above a quarter of their image's largest |pixel|
        strong = float((np.abs(flat) > 0.25 * np.abs(flat).max(axis=1, keepdims=True)).mean())
        facts[init] = dict(won=won, s0=s0[own, own].mean(), s1=s1[own, own].mean(),
                           top=float(np.abs(images).max()), extreme=float(extreme), r=r,
                           zero=near_zero, strong=strong)
    facts["real"] = real_score
    return means, results, facts


def extreme_of(facts):
    """The signed pixel of largest magnitude over both inits."""
    return max((facts["random"]["extreme"], facts["mean"]["extreme"]), key=abs)


def texture(facts):
    """How the class models look, from the share of strong pixels (above a quarter of
    their image's largest |pixel|), averaged over both inits: the words the captions use."""
    strong = (facts["random"]["strong"] + facts["mean"]["strong"]) / 2
    words = ("sparse strokes of a few extreme pixels" if strong < 0.05 else
             "dense noise" if strong > 0.2 else "scattered patches of strong pixels")
    return f"{words} ({100 * strong:.0f}% of the pixels above a quarter of the image's maximum)"


def overshoot(top):
    """What the largest |pixel| says against the 0-1 range of real images."""
    if top >= 100:
        return f"overshoots by about {np.log10(top):.0f} orders of magnitude"
    if top > 1:
        return f"overshoots the 0-1 range of real images {top:.0f}-fold"
    return "stays within the 0-1 range of real images"


means, models, facts = class_models(model, x_train, y_train, 10, x_test, y_test, "MNIST")
fig = plot.method_grid(means, [
    ("class mean image\n(the mean init)", "image", means),
    ("class model,\nrandom init", "signed", models["random"][:, 0]),
    ("class model,\nmean init", "signed", models["mean"][:, 0])],
    column_titles=[f"class {c}" for c in range(10)], size=1.45)
common.save(fig, args, "3_class_models_mnist.png",
            f"Class models of Tang et al.'s MNIST net: for each digit class c the image that "
            f"maximizes S_c(I) - 0.1 ||I||_1 after {CLASS_STEPS} steps of size 0.5, from N(0,1) "
            f"noise (middle row) and from the class's mean training image (bottom row, its "
            f"outline in grey on both rows), one shared signed scale per row. Look at how "
            f"little they resemble digits: {texture(facts)}, the most extreme pixel "
            f"{extreme_of(facts):.0f} against 0 to 1 in real images, that the network calls "
            f"class c ({facts['random']['won']}/10 and "
            f"{facts['mean']['won']}/10) with scores about "
            f"{facts['random']['s1'] / facts['real']:.0f}x (from noise) and "
            f"{facts['mean']['s1'] / facts['real']:.0f}x (from the mean) those of real digits. Only the "
            f"mean init keeps some of the digit's shape (correlation with the class mean "
            f"r = {facts['mean']['r']:.2f}, against {facts['random']['r']:.2f} from noise). "
            f"Reproduces "
            f"Tang et al. Fig. 3.3.1-3.3.3 (random vs mean initialization; Simonyan et al. 2014 "
            f"eq. 1) on MNIST.")

# --- 4. The same class models on the deeper five-class network (Tang et al. sec. 4) --------
_, (x_five_test, y_five_test) = common.five_class_data(args.quick)
deep_means, deep_models, deep_facts = class_models(deep, x_five, y_five, 5, x_five_test,
                                                   y_five_test, "deep net")
fig = plot.method_grid(deep_means, [
    ("class mean image\n(the mean init)", "image", deep_means),
    ("class model,\nrandom init", "signed", deep_models["random"][:, 0]),
    ("class model,\nmean init", "signed", deep_models["mean"][:, 0])],
    column_titles=FIVE_NAMES, size=1.7)
common.save(fig, args, "4_class_models_deep.png",
            f"Class models of Tang et al.'s deeper conv-relu-pool-bn x4 net trained on five "
            f"Fashion-MNIST classes, with the same recipe (step 0.5, alpha 0.1, "
            f"{CLASS_STEPS} steps) from noise and from each class's mean image (top row, "
            f"outlined on the maps), one shared signed scale per row. Look at the colourbars: "
            f"the same step size "
            f"{overshoot(max(deep_facts['random']['top'], deep_facts['mean']['top']))} on "
            f"this deeper net (the most extreme pixel {extreme_of(deep_facts):.0f}) and the "
            f"scores reach {deep_facts['random']['s1']:.0f} (real images: "
            f"{deep_facts['real']:.0f}); the pictures are {texture(deep_facts)}, with "
            f"{'little' if deep_facts['random']['r'] < 0.3 else 'some'} garment shape "
            f"(correlation with "
            f"the class mean r = {deep_facts['random']['r']:.2f} from noise, "
            f"{deep_facts['mean']['r']:.2f} from the mean), yet {deep_facts['random']['won']}/5 "
            f"and {deep_facts['mean']['won']}/5 are classified as their own class. Reproduces Tang "
            f"et al. Fig. 4.2 (class models of their own model) on our stand-in data.")

# --- 5. Feature visualization that shows something (Olah et al. 2017) ----------------------
# Plain ascent finds what the score rewards, which need not look like anything: above, extreme
# pixels at high frequencies. Olah, Mordvintsev & Schubert 2017 ("Feature Visualization",
# Distill) list what makes the pictures readable; each is an argument of class_model:
#   * transformation robustness: each step scores a randomly shifted (up to 2 px), zoomed
#     (0.9-1.1) and turned (+-10 degrees) copy ("The Spectrum of Regularization");
#   * a frequency penalty: minus the squared differences of neighbouring pixels;
#   * a Fourier parameterization: the ascent moves the spectrum scaled by 1/|f|, so coarse
#     shapes move first ("Preconditioning and Parameterization");
#   * diversity: two images per class from different noise, pushed apart in style (the
#     Gram matrices of relu3) ("Diversity");
#   plus pixels kept in 0-1 by a sigmoid (Lucid's valid range) and steps of fixed size.
# The test of "shows something": a network of the same architecture trained from ANOTHER
# seed, which never saw these images being made, must call each one its class.
other, other_history = common.trained(args, "tang-deep-fashion5-seed1",
                                      lambda: zoo.tang_deep_model(seed=1),
                                      common.five_class_data(args.quick), **common.TANG_DEEP_RECIPE)
print(f"   the same deep net trained from seed 1 (the judge): held-out accuracy "
      f"{other_history['val_accuracy'][-1]:.3f}")
REGULARIZED = dict(jitter=2, scales=(0.9, 1.1), degrees=10.0, smoothness=0.01, fourier=True,
                   value_range=(0.0, 1.0), diversity=10.0, diversity_layer="relu3", n_images=2,
                   normalized_steps=True)
REG_STEPS, REG_STEP, REG_ALPHA = (2 if args.quick else 40), 0.3, 0.01
SWITCHED_OFF = {"transformations": dict(jitter=0, scales=(1.0, 1.0), degrees=0.0),
                "frequency penalty": dict(smoothness=0.0),
                "Fourier parameterization": dict(fourier=False),
                "diversity": dict(diversity=0.0),
                "0-1 value range": dict(value_range=None)}
OWN = np.tile(np.arange(5), 2)                       # 5 classes from noise, then 5 from the mean


def regularized_class_models(options):
    """The deep net's 10 class models with the regularizers ``options``: every class from
    noise (n_images each) and from its mean image (one each: copies of one mean image are
    identical, and diversity cannot separate identical images). returns (the 10 class
    models (10, 1, 28, 28): image 1 of each noise pair, then the mean-started ones; the
    noise-started images (5 * n_images, 1, 28, 28))."""
    recipe = dict(steps=REG_STEPS, step_size=REG_STEP, alpha=REG_ALPHA)
    noise = maximize.class_model(deep, list(range(5)), init="random", seed=0, **recipe,
                                 **options)[0]
    mean = maximize.class_model(deep, list(range(5)), init="mean", mean_image=deep_means,
                                **recipe, **{**options, "diversity": 0.0, "n_images": 1})[0]
    return np.concatenate([noise[::options["n_images"]], mean]), noise


def judged(images):
    """(how many of the 10 class models the seed-1 net calls their class, the median share
    of energy above half Nyquist, the largest share)."""
    recognized = int((sc.predict(other, images).argmax(1) == OWN).sum())
    energy = reg.high_frequency_energy(images)
    return recognized, float(np.median(energy)), float(energy.max())


def pair_similarity(noise_images):
    """Mean over classes of the Gram-matrix cosine at relu3 between a class's two images."""
    acts = sc.activations(deep, noise_images, "relu3").astype(np.float64)
    return float(np.mean([reg.gram_similarity(acts[2 * c:2 * c + 2])[0] for c in range(5)]))


plain_models = np.concatenate([deep_models["random"], deep_models["mean"]])
results = {"none (section 4's recipe)": judged(plain_models)}
regularized, regularized_noise = regularized_class_models(REGULARIZED)
results["all"] = judged(regularized)
similarity = {"all": pair_similarity(regularized_noise)}
for name, change in SWITCHED_OFF.items():
    images, noise_images = regularized_class_models({**REGULARIZED, **change})
    results[f"all but the {name}"] = judged(images)
    if name == "diversity":
        similarity["no diversity"] = pair_similarity(noise_images)
white = 1 - np.pi * 0.25 ** 2                       # white noise's share above half Nyquist
print(f"   class models of the deep net judged by the seed-1 net ({REG_STEPS} steps of "
      f"{REG_STEP} in RMS, alpha {REG_ALPHA}, 5 from noise + 5 from the class mean):")
print(f"   {'regularizers':38} recognized   energy above half Nyquist (median, max)")
for name, (recognized, median, top) in results.items():
    print(f"   {name:38} {recognized:2d} of 10     {median:.3f}, {top:.3f}")
print(f"   (white noise: {white:.2f}; target: 7 of 10 recognized with the regularizers)")
print(f"   diversity: the two noise-started images of a class have Gram cosine "
      f"{similarity['all']:.2f} at relu3 with it, {similarity['no diversity']:.2f} without")
plain_count, plain_energy = results["none (section 4's recipe)"][:2]
all_count, all_energy = results["all"][:2]
costly = [name for name in SWITCHED_OFF
          if results[f"all but the {name}"][0] > all_count]
most_needed = min(SWITCHED_OFF, key=lambda name: results[f"all but the {name}"][0])
most_smoothing = max(SWITCHED_OFF, key=lambda name: results[f"all but the {name}"][1])
judge_calls = sc.predict(other, regularized).argmax(1)
partner_calls = sc.predict(other, regularized_noise[1::2]).argmax(1)
plain_calls = sc.predict(other, plain_models).argmax(1)


def shape_r(images):
    """Mean correlation of each class model (10: 5 from noise, 5 from the mean) with its
    class's mean training image."""
    return float(np.mean([np.corrcoef(im.ravel(), deep_means[c].ravel())[0, 1]
                          for im, c in zip(images, OWN)]))


print(f"   correlation with the class mean image, from noise / from the mean: "
      f"{shape_r(plain_models[:5]):.2f} / {shape_r(plain_models[5:]):.2f} without, "
      f"{shape_r(regularized[:5]):.2f} / {shape_r(regularized[5:]):.2f} with the regularizers; "
      f"the diversity partners (image 2) recognized: {(partner_calls == np.arange(5)).sum()} of 5")
fig = plot.method_grid(deep_means, [
    ("without, from noise\n(section 4)", "signed", deep_models["random"][:, 0]),
    ("WITH, from noise,\nimage 1 (grey 0-1)", "image", regularized_noise[0::2]),
    ("WITH, from noise,\nimage 2 (diversity)", "image", regularized_noise[1::2]),
    ("without, from the\nmean (section 4)", "signed", deep_models["mean"][:, 0]),
    ("WITH, from the\nmean (grey 0-1)", "image", regularized[5:])],
    column_titles=FIVE_NAMES, size=1.7)
for row in (1, 2, 4):                               # the regularized images: grey, 0 to 1
    for ax in fig.panels[row]:
        ax.images[0].set_clim(0.0, 1.0)
for row, calls in ((0, plain_calls[:5]), (1, judge_calls[:5]), (2, partner_calls),
                   (3, plain_calls[5:]), (4, judge_calls[5:])):
    for c, ax in enumerate(fig.panels[row]):
        ax.set_xlabel(("seed-1 net: " + FIVE_NAMES[calls[c]]).replace("T-shirt/top", "T-shirt")
                      + (" (yes)" if calls[c] == c else " (NO)"), fontsize=7,
                      color="black" if calls[c] == c else "firebrick")
verdict = ("meets the target of 7 of 10" if all_count >= 7 else
           "misses the target of 7 of 10")
common.save(fig, args, "5_class_models_regularized.png",
            f"The deep net's class models without (rows 1 and 4: section 4's plain ascent on the "
            f"pixels, signed scale) and WITH Olah et al.'s (2017) regularizers (rows 2, 3 and 5: "
            f"random shift, zoom and turn, a neighbour-difference penalty, a 1/f Fourier "
            f"parameterization, pixels kept in 0-1, and for the noise-started pairs a diversity "
            f"term; {REG_STEPS} steps; grey from 0 = black to 1 = white). Under each panel: "
            f"what a network of the same architecture trained from another seed calls it. Look "
            f"at the regularized rows for garment outlines on a dark background like the "
            f"training images' (correlation with the class mean image "
            f"{shape_r(regularized[:5]):.2f} from noise and {shape_r(regularized[5:]):.2f} from "
            f"the mean, against {shape_r(plain_models[:5]):.2f} and "
            f"{shape_r(plain_models[5:]):.2f} without): the judge recognizes {all_count} of the "
            f"10 regularized class "
            f"models against {plain_count} of 10 without, which {verdict}; their energy above "
            f"half the Nyquist frequency is a median {all_energy:.2f} against {plain_energy:.2f} "
            f"without (white noise {white:.2f}). "
            + "Each switched off in turn (recognized, median energy): "
            + "; ".join(f"without the {name} {results[f'all but the {name}'][0]} of 10, "
                        f"{results[f'all but the {name}'][1]:.2f}" for name in SWITCHED_OFF)
            + f". The count drops most without the {most_needed}, the energy rises most "
            f"without the {most_smoothing}"
            + (f"; without the {', '.join(costly)} more are recognized" if costly else "")
            + (" (diversity trades recognition for variety)" if "diversity" in costly else "")
            + ". "
            + f"Row 3 is row 2's partner, pushed away from it in style (Gram cosine at relu3 "
            f"{similarity['all']:.2f} against {similarity['no diversity']:.2f} without "
            f"diversity). Reproduces Olah et al. 2017, 'Feature Visualization' (regularization, "
            f"parameterization, diversity) on Tang et al.'s deep net (Fig. 4.2's class models).")

print(f"   lesson time {time.perf_counter() - tick:.0f} s")
print("What to look at:")
for layer, (repeated, live) in repeated_channels.items():
    print(f"  * {layer}: {'a' if repeated > live / 2 else 'in only some channels a'} repeated "
          f"texture ({repeated} of {live} live channels measured as repeating), each panel on "
          "its own scale; grey panels are channels the start noise never switched on.")
mnist_texture = texture(facts).split(" (")[0]
print(f"  * 3_class_models_mnist: the network's favourite 'digits' are {mnist_texture}, scored "
      f"{facts['random']['s1'] / facts['real']:.0f}x")
mnist_top = max(facts["random"]["top"], facts["mean"]["top"])
deep_top = max(deep_facts["random"]["top"], deep_facts["mean"]["top"])
print(f"    a real digit's score; the largest pixel {overshoot(mnist_top)}.")
print(f"  * 4_class_models_deep: the same recipe on a deeper net: the largest pixel "
      f"{overshoot(deep_top)}; read the colourbar first.")
print(f"  * 5_class_models_regularized: with Olah et al.'s regularizers the judge trained from "
      f"another seed recognizes {all_count} of 10 (without: {plain_count} of 10).")
