"""CAMs across datasets, and transfer learning: does what a network looks at carry over?

What you will learn
  * the idea of Vasu & Savakis's Fig. 3 and 4 (seed 001, sec. 4.1): take a network
    trained on one dataset, and look at its class activation maps
        M_c(x, y) = sum_k w_ck f_k(x, y)        (the paper's eq. 1)
    on images of another dataset, without retraining. Their aerial datasets are alike
    (UCM and AID share classes) and the maps carry over; MS-COCO is not, and they do
    not. Here: the ResNet of lesson 10, trained on MNIST digits, on Fashion-MNIST
    garments, and a network trained on Fashion-MNIST on digits. Each network explains
    the class it predicts (for a foreign image there is no true class it knows);
  * what "the map is on the object" means in numbers: the share of the positive CAM
    that falls on object pixels (image > 0.2), against the share of the image the
    object covers (what a map spread evenly would score);
  * transfer (sec. 4.1, Fig. 4): the MNIST network's weights as the starting point of a
    Fashion-MNIST network. A fresh zoo.resnet_gap receives every MNIST weight except the
    head's, with ``load_state_dict(state, strict=False)``, which reports what it could
    not fill (``net.replace("fc", Linear(64, k))`` is the way when the new task has k
    classes); it is fine-tuned on Fashion-MNIST, and compared with the same network
    trained from scratch, same recipe, same number of epochs, same head initialization.
Data: the embedded MNIST and Fashion-MNIST (8,000 / 2,000 each), 28 x 28 grey, both
10 classes, where the paper has aerial and MS-COCO colour images.
"""
import numpy as np

import scratchcnn as sc
from scratchcnn import explain, plot, zoo
from scratchcnn.resilience.sweep import map_correlations

import common

args = common.start(__file__, __doc__)
FASHION = sc.datasets.CLASS_NAMES["fashion-mnist"]
OBJECT = 0.2                    # object pixels: image > OBJECT (digits' strokes, garments)
EPOCHS = 1
CURVE_EVERY, CURVE_IMAGES = (2, 64) if args.quick else (20, 500)   # batches, held-out images
RECIPE = dict(lr=3e-3, lr_decay=0.7)

mnist_net, mnist_history = common.resnet_model(args, "mnist")
mnist_data, fashion_data = common.load_data("mnist", args.quick), common.load_data(
    "fashion-mnist", args.quick)
(_, _), (x_digits, y_digits) = mnist_data
(_, _), (x_clothes, y_clothes) = fashion_data


def from_mnist_backbone():
    """zoo.resnet_gap with every MNIST weight but the head's (seed 0's head, like scratch)."""
    net = zoo.resnet_gap(seed=0)
    backbone = {k: v for k, v in mnist_net.state_dict().items() if not k.startswith("fc.")}
    result = net.load_state_dict(backbone, strict=False)
    print(f"   transfer: loaded {len(backbone)} arrays of the MNIST network; left at their "
          f"initialization (missing from the state): {result.missing}")
    return net


def held_out_curve(model, epoch, history, batch):
    """fit callback: held-out accuracy on CURVE_IMAGES garments every CURVE_EVERY batches
    and at the epoch's end, kept in the history as (training images seen, accuracy)."""
    seen = (epoch - 1) * len(fashion_data[0][0]) + (
        len(fashion_data[0][0]) if batch is None else batch * 64)
    accuracy = sc.evaluate(model, *[a[:CURVE_IMAGES] for a in fashion_data[1]])["accuracy"]
    history.setdefault("curve", []).append((seen, accuracy))


held_out_curve.every_batches = CURVE_EVERY
scratch_net, scratch_history = common.trained(
    args, "resnet-fashion-mnist-scratch", lambda: zoo.resnet_gap(seed=0), fashion_data,
    epochs=EPOCHS, callbacks=[held_out_curve], **RECIPE)
transfer_net, transfer_history = common.trained(
    args, "resnet-fashion-mnist-transfer", from_mnist_backbone, fashion_data, epochs=EPOCHS,
    callbacks=[held_out_curve], **RECIPE)
other_scratch_net, _ = common.trained(          # the baseline: another start, the same data
    args, "resnet-fashion-mnist-scratch-seed1", lambda: zoo.resnet_gap(seed=1), fashion_data,
    epochs=EPOCHS, **RECIPE)


def cams(net, images):
    """(predicted classes (N,), CAMs of them upsampled to the image (N, H, W))."""
    predicted = sc.predict(net, images).argmax(axis=1)
    return predicted, sc.to_numpy(explain.upsample(explain.cam(net, images, predicted),
                                                   images.shape[-2:]))


def on_object(maps, images):
    """(N,) share of each map's positive mass on object pixels (image > OBJECT)."""
    positive = np.maximum(maps, 0)
    inside = (positive * (images[:, 0] > OBJECT)).sum(axis=(1, 2))
    return inside / np.maximum(positive.sum(axis=(1, 2)), 1e-12)


# --- 1. Each network on the other's images -----------------------------------------------
N = 128 if args.quick else 500
digits, clothes = x_digits[:N], x_clothes[:N]
print(f"   accuracy on its own held-out set: MNIST net {100 * mnist_history['val_accuracy'][-1]:.1f}%"
      f" (digits), Fashion net {100 * scratch_history['val_accuracy'][-1]:.1f}% (garments, "
      f"{EPOCHS} epoch from scratch)")
findings, shares = {}, {}
for name, images, own, foreign in [("garments", clothes, scratch_net, mnist_net),
                                   ("digits", digits, mnist_net, scratch_net)]:
    own_pred, own_maps = cams(own, images)
    foreign_pred, foreign_maps = cams(foreign, images)
    area = (images[:, 0] > OBJECT).mean()
    findings[name] = (own_pred, own_maps, foreign_pred, foreign_maps)
    shares[name] = (on_object(own_maps, images).mean(), on_object(foreign_maps, images).mean(),
                    area, np.median(map_correlations(own_maps, foreign_maps)))
    counts = np.bincount(foreign_pred, minlength=10)
    top = np.argsort(counts)[::-1][:3]
    labels = [str(c) if name == "garments" else FASHION[c] for c in top]
    print(f"   {N} held-out {name}: the {'MNIST' if name == 'garments' else 'Fashion'} net "
          f"calls them " + ", ".join(f"'{l}' {100 * counts[c] / N:.0f}%" for l, c in
                                      zip(labels, top)))
    print(f"      positive CAM on the object (image > {OBJECT}): own network "
          f"{100 * on_object(own_maps, images).mean():.0f}%, the other dataset's network "
          f"{100 * on_object(foreign_maps, images).mean():.0f}%; the object covers "
          f"{100 * area:.0f}% of the image; correlation of the two networks' CAMs: median "
          f"{np.median(map_correlations(own_maps, foreign_maps)):.2f}")

SHOWN = 6


def norm(maps):
    """The first SHOWN maps, each divided by its own largest |value|."""
    return [m / max(np.abs(m).max(), 1e-12) for m in maps[:SHOWN]]


for number, (name, images, labels) in enumerate([("garments", clothes, y_clothes),
                                                  ("digits", digits, y_digits)], start=1):
    own_pred, own_maps, foreign_pred, foreign_maps = findings[name]
    (mnist_pred, mnist_maps), (fashion_pred, fashion_maps) = (
        ((foreign_pred, foreign_maps), (own_pred, own_maps)) if name == "garments"
        else ((own_pred, own_maps), (foreign_pred, foreign_maps)))
    true = [FASHION[c] if name == "garments" else str(c) for c in labels[:SHOWN]]
    fig = plot.method_grid(images[:SHOWN], [
        (name[:-1], "image", images[:SHOWN]),
        ("MNIST net\nCAM / max|CAM|", "signed", norm(mnist_maps)),
        ("Fashion net\nCAM / max|CAM|", "signed", norm(fashion_maps))],
        column_titles=[f"{t}\nMNIST net: {m}\nFashion net: {FASHION[f]}" for t, m, f in
                       zip(true, mnist_pred, fashion_pred)], size=1.9)
    own_share, foreign_share, area, agreement = shares[name]
    own_net, foreign_net = ("Fashion", "MNIST") if name == "garments" else ("MNIST", "Fashion")
    common.save(fig, args, f"{number}_cams_on_{name}.png",
                f"Six held-out {name} (true class first in each title), explained by the "
                "network trained on MNIST (middle row) and the one trained on Fashion-MNIST "
                "(bottom row), each for the class it predicts; every map divided by its own "
                "largest |value|, so the rows compare shapes, not strengths (signed, blue < 0 < "
                f"red). Look at whether the two rows agree: over {N} {name} the median "
                f"correlation of the two maps is {agreement:.2f}, "
                + ("little agreement" if agreement < 0.2 else "agreement in part"
                   if agreement < 0.5 else "broad agreement") + ". "
                + ("Neither network is much more on the object than a map spread evenly"
                   if max(own_share, foreign_share) < 1.5 * area else
                   "On the object, against a map spread evenly: "
                   f"{own_share / area:.1f}x ({own_net} net) and {foreign_share / area:.1f}x "
                   f"({foreign_net} net)")
                + f": {100 * own_share:.0f}% of the positive CAM of the {own_net} net and "
                f"{100 * foreign_share:.0f}% of the {foreign_net} net's fall on object pixels, "
                f"which cover {100 * area:.0f}% of the image. Seed 001's Fig. 3 idea on two "
                "unlike datasets.")

# --- 2. Transfer: the MNIST backbone against training from scratch ------------------------
curve = {label: np.array(h["curve"]) for label, h in [("MNIST backbone, fine-tuned",
                                                       transfer_history),
                                                      ("from scratch", scratch_history)]}
fig = plot.curves({label: (c[:, 0], 100 * c[:, 1]) for label, c in curve.items()},
                  "training images seen", f"held-out accuracy (%), {CURVE_IMAGES} garments",
                  "Fashion-MNIST: transfer from MNIST against training from scratch")
for line, c in zip(fig.axes[0].get_lines(), curve.values()):      # +- one standard error
    spread = np.sqrt(c[:, 1] * (1 - c[:, 1]) / CURVE_IMAGES)      # binomial, per point
    fig.axes[0].fill_between(c[:, 0], 100 * (c[:, 1] - spread), 100 * (c[:, 1] + spread),
                             color=line.get_color(), alpha=0.2, linewidth=0)
transfer_curve, scratch_curve = curve.values()
ahead = int((transfer_curve[:, 1] > scratch_curve[:, 1]).sum())
final = scratch_curve[-1, 1]
standard_error = np.sqrt(final * (1 - final) / CURVE_IMAGES)       # binomial, at ~the final accuracy
print(f"   held-out accuracy on {CURVE_IMAGES} garments every {CURVE_EVERY * 64} training "
      f"images ({EPOCHS} epoch): transfer ahead at {ahead} of {len(transfer_curve)} points")
print("      images seen: " + "  ".join(f"{int(n):5d}" for n in transfer_curve[:, 0]))
for label, c in curve.items():
    print(f"      {label[:12]:12s} " + "  ".join(f"{100 * a:5.1f}" for a in c[:, 1]))
print(f"   after the epoch, on all {len(y_clothes)} held-out garments: transfer "
      f"{100 * transfer_history['val_accuracy'][-1]:.2f}%, scratch "
      f"{100 * scratch_history['val_accuracy'][-1]:.2f}%")
common.save(fig, args, "3_transfer_curves.png",
            f"Held-out accuracy on {CURVE_IMAGES} garments while the same ResNet learns "
            "Fashion-MNIST, started from the MNIST network's weights (new head) and from "
            "scratch, same recipe, same batches and the same head initialization. Look at "
            f"the first point ({int(transfer_curve[0, 0])} images): transfer "
            f"{100 * transfer_curve[0, 1]:.1f}% against {100 * scratch_curve[0, 1]:.1f}%; "
            f"transfer is ahead at {ahead} of {len(transfer_curve)} measurements; at the end "
            f"{100 * transfer_curve[-1, 1]:.1f}% against {100 * scratch_curve[-1, 1]:.1f}% "
            f"(one training run each). Shaded: plus or minus one standard error of each point "
            f"on {CURVE_IMAGES} images (binomial; about {100 * standard_error:.1f} points at "
            "the end), so only gaps well above the bands mean anything. Seed 001's transfer learning, sec. 4.1.")

transfer_pred, transfer_maps = cams(transfer_net, clothes)
scratch_pred, scratch_maps = findings["garments"][0], findings["garments"][1]
mnist_pred, mnist_maps = findings["garments"][2], findings["garments"][3]
for label, maps in [("MNIST net, no retraining", mnist_maps),
                    ("MNIST backbone, fine-tuned", transfer_maps), ("from scratch", scratch_maps)]:
    versus_scratch = ("" if maps is scratch_maps else f", correlation with the scratch "
                      f"net's CAM: median {np.median(map_correlations(maps, scratch_maps)):.2f}")
    print(f"   garments, {label:27s}: positive CAM on the object "
          f"{100 * on_object(maps, clothes).mean():.0f}%{versus_scratch}")
_, other_maps = cams(other_scratch_net, clothes)
baseline = np.median(map_correlations(other_maps, scratch_maps))
print(f"   baseline: another network from scratch (seed 1), the same data and recipe: "
      f"correlation with the scratch net's CAM: median {baseline:.2f}")
images = clothes[:SHOWN]
fig = plot.method_grid(images, [
    ("garment", "image", images),
    ("MNIST net\n(no retraining)", "signed", norm(mnist_maps)),
    ("transfer\n(fine-tuned)", "signed", norm(transfer_maps)),
    ("from scratch", "signed", norm(scratch_maps))],
    column_titles=[f"{FASHION[y_clothes[i]]}\nMNIST net: {mnist_pred[i]}\n"
                   f"T: {FASHION[transfer_pred[i]]}\nS: {FASHION[scratch_pred[i]]}"
                   for i in range(SHOWN)], size=1.8)
before = np.median(map_correlations(mnist_maps, scratch_maps))
after = np.median(map_correlations(transfer_maps, scratch_maps))
common.save(fig, args, "4_transfer_cams.png",
            "Six held-out garments explained by the MNIST network before any retraining "
            "(for the digit it predicts), after fine-tuning its weights on Fashion-MNIST (T) "
            "and by the network trained from scratch (S), each for its own predicted class; "
            "each map divided by its own largest |value| (signed, blue < 0 < red). Look at "
            "the MNIST-net row and the transfer row, each against the from-scratch row: the "
            "median correlation of a map with the scratch network's is "
            f"{before:.2f} before fine-tuning and {after:.2f} after it, "
            f"over {N} garments, where a second network trained from scratch (another seed) "
            f"reaches {baseline:.2f}. Seed 001's Fig. 4 on MNIST to Fashion-MNIST.")
