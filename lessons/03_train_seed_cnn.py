"""Train the slides' MNIST network, watch it learn, and look at its mistakes.

What you will learn
  * the training loop: forward, softmax cross-entropy, backward, Adam step;
  * reading loss and accuracy curves (training vs held-out data);
  * which digits the network still gets wrong, and that the same network also
    learns Fashion-MNIST garments, a harder task.
The model is the one of "Making the Training Visible" (Ruhr-Universität Bochum):
Conv 32 3x3 - Conv 64 3x3 - MaxPool 2 - Dense 64 - Dense 10, trained here on the
8,000-image split of the embedded MNIST subset and tested on the 2,000 held out.
The trained models are cached for the later lessons.
"""
import numpy as np
import scratchcnn as sc
from scratchcnn import plot

import common

args = common.start(__file__, __doc__)

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

fig = plot.training_curves([results[d][1] for d in results], ["MNIST", "Fashion-MNIST"])
common.save(fig, args, "1_training_curves.png")

# The digits the network gets wrong, with what it said
_, (x_test, y_test) = common.load_data("mnist", args.quick)
logits = sc.predict(model, x_test)
predicted = logits.argmax(axis=1)
wrong = np.flatnonzero(predicted != y_test)[:24]
confidence = np.exp(sc.log_softmax(logits.astype(np.float64)))
titles = [f"{y_test[i]} -> {predicted[i]} ({100 * confidence[i, predicted[i]]:.0f}%)"
          for i in wrong]
if len(wrong):
    fig = plot.image_grid(x_test[wrong], titles, columns=8,
                          title="Misclassified held-out digits: true -> predicted (confidence)")
    common.save(fig, args, "2_misclassified_digits.png")

# What the first layer learned: its 32 filters
filters = model["conv1"].params["W"][:, 0]
fig = plot.image_grid(filters, [f"filter {i}" for i in range(32)], columns=8, cmap="RdBu_r",
                      title="The 32 learned 3x3 filters of conv1 (red > 0 > blue)")
common.save(fig, args, "3_conv1_filters.png")

# A confusion matrix: which classes are mistaken for which
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (y_test, predicted), 1)
fig = plot.number_grids([confusion], ["MNIST confusion (row: true, column: predicted)"], size=5)
common.save(fig, args, "4_confusion.png")

print("What to look at:")
print("  * 1_training_curves: held-out accuracy flattens while training loss keeps falling:")
print("    with 8,000 images the network starts to memorize; Fashion-MNIST is harder.")
print("  * 2_misclassified_digits: many mistakes are digits a person would hesitate on too.")
print("  * 3_conv1_filters: several filters are oriented edge detectors, like lesson 01's.")
