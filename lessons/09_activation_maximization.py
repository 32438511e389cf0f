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
    size, and how far its pixels stray from the 0-1 range of real images.
Data: Tang et al. used the full MNIST and five ImageNet classes; we use the embedded
8,000-image MNIST subset and five Fashion-MNIST classes (common.FIVE_CLASSES) as the
stand-in for ImageNet, so their accuracies are a reference, not a target.
Sources: Erhan et al. 2009; Simonyan et al. 2014, eq. 1; Tang et al. (seed 004),
sec. 2, 3.2, 3.3 and 4.
"""
import time

import numpy as np

import scratchcnn as sc
from scratchcnn import plot
from scratchcnn.explain import maximize

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
    shown = np.where(dead[:, None, None], 0.0, images)       # dead panels do not set the scale
    columns = 8
    fig = plot.map_grid(shown, "signed", columns=columns, size=1.35,
                        titles=[f"ch {k}: A {a:.2g}" for k, a in zip(channels, after)],
                        title=f"The image that maximizes each {layer} channel's mean activation "
                              f"A ({STEPS} steps, lr {lr:g}, from N(0,1) noise): ONE shared "
                              f"signed scale; grey = dead channel")
    for ax, is_dead, k in zip(fig.axes, dead, channels):
        if is_dead:                                          # a grey panel, not an image
            ax.cla()
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_facecolor("0.8")
            ax.set_title(f"ch {k}: dead", fontsize=7)
            ax.text(0.5, 0.5, "stuck\nat 0", transform=ax.transAxes, ha="center",
                    va="center", fontsize=7, color="0.3")
    conv = layer.replace("relu", "conv")
    common.save(fig, args, f"{number}_channels_{layer}.png",
                f"For each channel of {layer} (the ReLU after {conv}) of Tang et al.'s MNIST "
                f"net, the input image after {STEPS} gradient-ascent steps (lr {lr:g}) on the "
                f"channel's mean activation A from N(0,1) noise, all on one shared signed "
                f"scale (red > 0 > blue); each title gives the final A. "
                + (f"Grey panels are the {dead.sum()} channels stuck at 0 from the start noise, "
                   f"which Tang et al. skip. " if dead.any() else
                   "No channel got stuck at 0 (Tang et al. skip those). ") +
                f"Look at the texture: each image is a small pattern repeated over the "
                f"whole input (the gradient of a mean over positions is the filter summed at "
                f"every position where the channel is active), not one object (the median A "
                f"over the live channels rose from "
                f"{np.median(before[alive]):.2f} to {np.median(after[alive]):.2f}). "
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

print(f"   lesson time {time.perf_counter() - tick:.0f} s")
print("What to look at:")
print("  * 1_channels_relu1 / 2_channels_relu2: a repeated texture per channel, on one scale")
print("    per layer; grey panels are channels the start noise never switched on (counted above).")
print("  * 3_class_models_mnist: the network's favourite 'digits' are sparse, extreme pixel")
print("    patterns it scores far above any real digit: a class model shows what the score")
print("    rewards, not what a digit looks like.")
print("  * 4_class_models_deep: the same recipe on a deeper net: read the colourbar first.")
