"""Train the slides' MNIST network, watch it learn, and look at its mistakes.

What you will learn
  * the training loop: forward, softmax cross-entropy, backward, Adam step,
    written out here for a short run, then done by sc.fit for the full training;
  * reading loss and accuracy curves (training vs held-out data);
  * which digits the network still gets wrong, what its first layer learned, and
    that the same network also learns Fashion-MNIST garments, a harder task.

The equations (a batch of N images, logits z = model(x) of shape (N, K), labels y)
  softmax:        p[n, k] = exp(z[n, k]) / sum_j exp(z[n, j])
  cross-entropy:  L = (1/N) sum_n -log p[n, y_n]       (-log softmax(z)_y, batch mean)
  its gradient:   dL/dz = (p - onehot(y)) / N          (what model.backward starts from)
  Adam (Kingma & Ba 2015, Algorithm 1), for every parameter w with gradient g, at step t:
      m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
      w = w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
  with lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8 (PyTorch's defaults).

The model and the sources
  * the model of "Making the Training Visible" (Ruhr-Universität Bochum slides,
    shared/seeds/003): Conv 32 3x3 - Conv 64 3x3 - MaxPool 2 - Dense 64 - Dense 10,
    each followed by a ReLU but the last; trained here on the 8,000-image split of
    the embedded MNIST subset and tested on the 2,000 held out (the slides trained
    on all 60,000 and their Keras log ends at loss 0.0051 train, 0.1577 held out);
  * LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document
    recognition", Proc. IEEE 1998 (the convolutional network trained by
    backpropagation on MNIST);
  * Kingma & Ba, "Adam: a method for stochastic optimization", ICLR 2015.
The trained models are cached in output/models for the later lessons.
"""
import time

import numpy as np

import scratchcnn as sc
from scratchcnn import plot

import common

args = common.start(__file__, __doc__)

# --- 1. The training loop, written out: a short run on a fresh, untrained model --------------
(x_train, y_train), _ = common.load_data("mnist", args.quick)
fresh = sc.zoo.slides_mnist_model(seed=0)
optimizer = sc.Adam(fresh, lr=1e-3)
batch_size, steps = 64, 8 if args.quick else 25                # a few seconds
order = np.random.default_rng(0).permutation(len(x_train))     # one shuffled pass
losses, tick = [], time.perf_counter()
for step in range(steps):
    index = order[step * batch_size:(step + 1) * batch_size]
    xb, yb = x_train[index], y_train[index]
    logits = fresh.forward(xb)                                   # forward
    loss, dlogits = sc.softmax_cross_entropy(logits, yb)        # L and dL/dz = (p - onehot) / N
    optimizer.zero_grad()
    fresh.backward(dlogits, input_grad=False)                    # dL/dw for every parameter
    optimizer.step()                                             # the Adam update
    losses.append(loss)
every = 4 if args.quick else 5
print(f"explicit loop: {steps} Adam steps of {batch_size} images on a fresh model "
      f"({time.perf_counter() - tick:.1f} s); mean loss of each {every} steps:")
print("   " + "  ".join(f"{np.mean(losses[i:i + every]):.2f}" for i in range(0, steps, every)))
print(f"   from {np.mean(losses[:every]):.2f} (log 10 = {np.log(10):.2f} is a uniform guess) "
      f"to {np.mean(losses[-every:]):.2f} after {steps * batch_size} images")
print("sc.fit runs this same loop, plus a fresh shuffle every epoch, augmentation, "
      "learning-rate decay and a held-out score after each epoch; the full training below "
      "is sc.fit's, cached (common.seed_model).")

# --- 2. The full training (cached), and its curves ----------------------------------------------
results = {}
for dataset in ("mnist", "fashion-mnist"):
    model, history = common.seed_model(args, dataset)
    _, (x_test, y_test) = common.load_data(dataset, args.quick)
    scores = sc.evaluate(model, x_test, y_test)
    results[dataset] = (model, history, scores)
    print(f"   {dataset}: held-out accuracy {100 * scores['accuracy']:.2f}% on {len(x_test)} "
          f"images after {len(history['epoch'])} epochs "
          f"({history.get('wall_seconds', 0):.0f} s of training)")

model, history, _ = results["mnist"]
print(model)
print(f"   {model.num_parameters():,} parameters")

# Training accuracy averaged over each epoch (weights still changing, MNIST digits shifted
# by the augmentation) against held-out accuracy at the epoch's end: count the epochs where
# held-out is ahead, for the caption and the log below.
held_ahead = {d: sum(v > t for t, v in zip(h["accuracy"], h["val_accuracy"]))
              for d, (_, h, _) in results.items()}
fig = plot.training_curves([results[d][1] for d in results], ["MNIST", "Fashion-MNIST"])
colours = {"MNIST": "tab:blue", "Fashion-MNIST": "tab:orange"}      # one colour per dataset
for ax in fig.axes:
    for line in ax.get_lines():
        line.set_color(colours["Fashion-MNIST" if line.get_label().startswith("Fashion")
                               else "MNIST"])
    ax.legend(fontsize=7)
n_epochs = {d: len(h["epoch"]) for d, (_, h, _) in results.items()}
common.save(fig, args, "1_training_curves.png",
            f"Loss and accuracy per epoch of the slides' network on MNIST (blue) and "
            f"Fashion-MNIST (orange), on the training images (solid) and the held-out ones "
            f"(dashed): look at the gap between the two lines of each dataset, printed per epoch "
            f"below. For MNIST the held-out accuracy is above the training accuracy in "
            f"{held_ahead['mnist']} of {n_epochs['mnist']} epochs (Fashion-MNIST: "
            f"{held_ahead['fashion-mnist']} of {n_epochs['fashion-mnist']}): the training "
            f"numbers are averaged over each epoch while the weights still change, and on "
            f"shifted digits for MNIST, whereas the held-out numbers are measured at the end of "
            f"the epoch. The training of the Bochum slides' model, on the embedded subsets.")

# --- 3. The digits the network gets wrong, with what it said --------------------------------
_, (x_test, y_test) = common.load_data("mnist", args.quick)
logits = sc.predict(model, x_test)
predicted = logits.argmax(axis=1)
confidence = np.exp(sc.log_softmax(logits.astype(np.float64))).max(axis=1)
is_wrong = predicted != y_test
wrong = np.flatnonzero(is_wrong)[:24]
titles = [f"{y_test[i]} -> {predicted[i]} ({100 * confidence[i]:.0f}%)" for i in wrong]
if len(wrong):
    fig = plot.image_grid(x_test[wrong], titles, columns=8,
                          title="Misclassified held-out digits: true -> predicted (confidence)")
    common.save(fig, args, "2_misclassified_digits.png",
                f"The first {len(wrong)} held-out digits the trained network gets wrong, each "
                f"titled true -> predicted label with the softmax confidence of the prediction: "
                f"look at how confident some mistakes are. As in the Bochum slides' predictions "
                f"of their MNIST model.")
    print(f"mistakes: {is_wrong.sum()} of {len(y_test)} held-out digits; median confidence "
          f"{100 * np.median(confidence[is_wrong]):.0f}% when wrong, "
          f"{100 * np.median(confidence[~is_wrong]):.1f}% when right; "
          f"{(confidence[is_wrong] > 0.9).sum()} mistakes are made with more than 90%")

# --- 4. What the first layer learned: its 32 filters, on one scale --------------------------
filters = model["conv1"].params["W"][:, 0]                     # (32, 3, 3)
# How close is each filter to an oriented edge filter? The |cosine| between the filter and
# the best of four: lesson 01's Sobel x, Sobel y and Sobel x turned 45 degrees, and the other
# diagonal, all with their mean removed (a constant offset only brightens). Random 3x3
# filters give the baseline.
sobel = np.array([[1, 0, -1, 2, 0, -2, 1, 0, -1], [1, 2, 1, 0, 0, 0, -1, -2, -1],
                  [0, 1, 2, -1, 0, 1, -2, -1, 0], [2, 1, 0, 1, 0, -1, 0, -1, -2]], float)
sobel_names = ["Sobel x", "Sobel y", "diag \\", "diag /"]   # named for the edges they find:
#                                                            along the zero line (lesson 01)


def edge_likeness(weights):
    """The best |cosine| with the four edge filters, and which of them it is."""
    w = weights.reshape(len(weights), 9).astype(np.float64)
    w = w - w.mean(axis=1, keepdims=True)
    cosine = np.abs((w / np.linalg.norm(w, axis=1, keepdims=True)) @ (
        sobel / np.linalg.norm(sobel, axis=1, keepdims=True)).T)
    return cosine.max(axis=1), cosine.argmax(axis=1)


learned, nearest = edge_likeness(filters)
chance, _ = edge_likeness(np.random.default_rng(0).normal(size=(10000, 3, 3)))
edge_like = learned >= 0.8
print(f"conv1: {edge_like.sum()} of {len(learned)} filters have |cosine| >= 0.8 with an "
      f"oriented edge filter (random filters: {100 * (chance >= 0.8).mean():.0f}%); median "
      f"{np.median(learned):.2f} (random: {np.median(chance):.2f})")
print("   the edge-like ones: " + ", ".join(
    f"filter {i} ({learned[i]:.2f}, {sobel_names[nearest[i]]})" for i in np.flatnonzero(edge_like)))

scale = plot.row_scale(filters, "signed")
titles = [f"{i}: {learned[i]:.2f}" + (f" {sobel_names[nearest[i]]}" if edge_like[i] else "")
          for i in range(len(filters))]
fig = plot.map_grid(filters, "signed", titles, columns=8,
                    title=f"The 32 learned 3x3 filters of conv1, all on one shared scale "
                          f"-{scale:.2f} (blue) to +{scale:.2f} (red); titles: best |cosine| "
                          f"with an edge filter; green frame: >= 0.8")
for ax in np.flatnonzero(edge_like):
    for spine in fig.axes[ax].spines.values():                  # the first 32 axes: the filters
        spine.set_edgecolor("limegreen")
        spine.set_linewidth(4)
common.save(fig, args, "3_conv1_filters.png",
            f"The 32 learned 3x3 weights of the first convolution, all on one shared symmetric "
            f"scale (white = 0, red > 0, blue < 0), each titled with its best |cosine| (mean "
            f"removed) with an oriented edge filter, lesson 01's Sobel x, Sobel y or a diagonal "
            f"one: only {edge_like.sum()} of {len(filters)} (framed in green) reach 0.8: once "
            f"their mean is removed, a red side facing a blue side like a Sobel filter (drawn "
            f"here with their mean, a constant offset that only brightens), against "
            f"{100 * (chance >= 0.8).mean():.0f}% of random filters; look at how most others "
            f"are not clean edge detectors. The first-layer filters of the Bochum slides' "
            f"MNIST model, trained here.")

# --- 5. A confusion matrix: which classes are mistaken for which ----------------------------
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (y_test, predicted), 1)
off = confusion - np.diag(np.diag(confusion))                # the mistakes only
fig = plot.number_grids([confusion, off], ["MNIST confusion, all held-out digits",
                                           "the mistakes only (diagonal set to 0)"], size=4.6)
for ax in fig.axes:
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.tick_params(length=0, labelsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
fig.set_size_inches(9.2, 5.2)                      # room for the titles and the axis labels
common.save(fig, args, "4_confusion.png",
            "How many held-out digits of each true class (row) were predicted as each class "
            "(column), left with the correct ones on the diagonal, right the mistakes alone on "
            "their own grey scale: look at the brightest cells on the right, the pairs the "
            "network confuses. Summarizes the test of the Bochum slides' MNIST model.")
pairs = np.dstack(np.unravel_index(np.argsort(off, axis=None)[::-1][:3], off.shape))[0]
print("most confused: " + ", ".join(f"{t} -> {p} ({off[t, p]} times)" for t, p in pairs))
