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
    trained from scratch, same recipe, same number of epochs, same head initialization;
  * the positive half of Fig. 3, on similar datasets: two concrete "sites" from
    sc.datasets.surface_defects, "deck" (lessons 06 and 12's grey concrete) and "wall"
    (darker, blue-grey, board-formed), with the classes intact, crack and spalling shared
    and one class neither network trained on, exposed rebar (the paper's unseen classes,
    intersection and bridge). A CAM network is trained on each site; each explains the
    other site's images, and we measure whether its map still lands on the defect (the
    energy in the defect mask and the pointing game, against the site's own network and
    an even spread) and how well the two sites' maps correlate;
  * Table 1's analogue: training and held-out accuracy of the two networks (table.md).
Data: the embedded MNIST and Fashion-MNIST (8,000 / 2,000 each), 28 x 28 grey, both
10 classes, where the paper has aerial and MS-COCO colour images; 2,000 procedural
64 x 64 RGB surfaces per site (1,600 to train on) and 150 exposed-rebar images per site
for the similar datasets, where the paper has UCM and AID.
"""
import numpy as np

import scratchcnn as sc
from scratchcnn import explain, plot, zoo
from scratchcnn.explain import metrics
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
                f"which cover {100 * area:.0f}% of the image. Seed 001's Fig. 3 experiment on "
                "two unlike datasets (the paper's unlike case is Fig. 4's middle row); its "
                "similar datasets are figure 5.")

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

# --- 3. Two similar sites: shared classes and a class never seen (Fig. 3), Table 1 ------------
SURFACE_NAMES = sc.datasets.surfaces.ALL_CLASS_NAMES
REBAR = sc.datasets.surfaces.EXPOSED_REBAR
SITES = ("deck", "wall")
N_UNSEEN = 12 if args.quick else 150          # exposed-rebar images per site, never trained on
SURFACE_RECIPE = dict(epochs=6, lr=2e-3, batch_size=32, lr_decay=0.8)  # common.surface_model's


def surface_net():
    """zoo.gap_model for the three surface classes, as common.surface_model builds it."""
    return zoo.gap_model(3, 3, widths=(16, 32, 64))


deck_x, deck_y, deck_masks, split = common.surface_data(args.quick)       # lessons 06 and 12's
wall_x, wall_y, wall_masks = sc.datasets.surface_defects(len(deck_x), size=64, seed=0,
                                                          site="wall")
surfaces = {"deck": (deck_x, deck_y, deck_masks), "wall": (wall_x, wall_y, wall_masks)}
# One network per site, trained by the same recipe: the deck's is lessons 06 and 12's
# (common.surface_model, cached), the wall's the same build and recipe on the wall's images.
deck_net, deck_history = common.surface_model(args)
wall_net, wall_history = common.trained(
    args, "gap-surface-wall", surface_net,
    ((wall_x[:split], wall_y[:split]), (wall_x[split:], wall_y[split:])), **SURFACE_RECIPE)
nets, histories = {"deck": deck_net, "wall": wall_net}, {"deck": deck_history,
                                                         "wall": wall_history}
unseen = {site: sc.datasets.surface_defects(N_UNSEEN, size=64, seed=1, site=site,
                                            classes=(REBAR,)) for site in SITES}

# Table 1's analogue: each network's accuracy on its training images (the last epoch's, as
# fit measured it while it trained), on held-out images of its own site, and on held-out
# images of the other site without retraining
predicted = {(trained_on, site): sc.predict(net, surfaces[site][0][split:]).argmax(axis=1)
             for trained_on, net in nets.items() for site in SITES}
table = {trained_on: [histories[trained_on]["accuracy"][-1]] + [
    (predicted[trained_on, site] == surfaces[site][1][split:]).mean()
    for site in (trained_on, "wall" if trained_on == "deck" else "deck")] for trained_on in nets}
row_names = [f"training accuracy ({split} images of its site, the last epoch's)",
             f"held-out accuracy, its own site ({len(deck_x) - split} images)",
             f"held-out accuracy, the other site ({len(deck_x) - split} images, no retraining)"]
lines = ["| percent accuracy | trained on deck | trained on wall |", "| --- | --- | --- |"]
lines += [f"| {name} | {100 * table['deck'][r]:.1f} | {100 * table['wall'][r]:.1f} |"
          for r, name in enumerate(row_names)]
(args.dir / "table.md").write_text(
    "Percent accuracy of zoo.gap_model (Conv 16 - Conv 32 - Conv 64 - GAP - Linear 3) "
    "trained separately on the procedural concrete of site 'deck' and of site 'wall' "
    f"(intact / crack / spalling, {split} training images, "
    f"{SURFACE_RECIPE['epochs'] if not args.quick else 1} epochs"
    f"{' of 4 batches, quick mode' if args.quick else ''}). Seed 001's Table 1 (ResNet50 on "
    "AID and UCM, training and validation accuracy), with a third row: each network on the "
    "other site.\n\n" + "\n".join(lines) + "\n")
print("   Table 1's analogue (also in table.md):")
print("\n".join("      " + line for line in lines))


def surface_cams(net, images, classes, batch=100):
    """CAMs of ``classes`` (N,) upsampled to the images (N, 64, 64), batch by batch."""
    return np.concatenate([sc.to_numpy(explain.upsample(explain.cam(
        net, images[i:i + batch], classes[i:i + batch]), images.shape[-2:]))
        for i in range(0, len(images), batch)])


# every held-out defect (shared classes) and every exposed-rebar image (unseen), per site,
# with each network's predicted classes
groups = {}
for site in SITES:
    x, y, masks = (a[split:] for a in surfaces[site])
    for c in (1, 2):
        groups[site, c] = (x[y == c], masks[y == c],
                           {t: predicted[t, site][y == c] for t in nets})
    groups[site, REBAR] = (unseen[site][0], unseen[site][2],
                           {t: sc.predict(net, unseen[site][0]).argmax(axis=1)
                            for t, net in nets.items()})
agreement = {}
print("   the CAM of the predicted class on held-out defects: energy in the defect mask / "
      "pointing game; 'even' = the mask's share of the image (an evenly spread map's energy); "
      "r = median correlation of two networks' CAMs on the same images")
print(f"      {'images':6s} {'class':28s} {'net from deck':>15s} {'net from wall':>15s} "
      f"{'even':>5s}  {'r(deck, wall nets)':>18s}  predicted "
      "(deck net | wall net)")
for (site, c), (images, masks, classes) in groups.items():
    results = {}
    for trained_on, net in nets.items():
        maps = surface_cams(net, images, classes[trained_on])
        results[trained_on] = (classes[trained_on], maps, metrics.energy_in_mask(maps, masks),
                               metrics.pointing_game(maps, masks))
    agreement[site, c] = dict(
        energy={k: v[2] for k, v in results.items()}, pointing={k: v[3] for k, v in
                                                               results.items()},
        even=masks.mean(), predicted={k: v[0] for k, v in results.items()},
        maps={k: v[1] for k, v in results.items()},
        r=np.median(map_correlations(results["deck"][1], results["wall"][1])))
    a = agreement[site, c]
    shares = " | ".join(", ".join(f"{SURFACE_NAMES[k][:5]} {100 * v:.0f}%" for k, v in enumerate(
        np.bincount(a["predicted"][t], minlength=3) / len(images)) if v > 0) for t in SITES)
    kind = "shared" if c != REBAR else "UNSEEN"
    print(f"      {site:6s} {SURFACE_NAMES[c] + f' ({kind}, {len(images)})':28s} "
          + " ".join(f"{100 * a['energy'][t]:6.1f}% /{100 * a['pointing'][t]:4.0f}%"
                     for t in SITES)
          + f" {100 * a['even']:4.1f}%  {a['r']:18.2f}  {shares}")

# Fig. 3's layout: each network on the other site's images (framed), its own site beside
shown = [(site, c) for site in ("wall", "deck") for c in (1, 2, REBAR)]
images = np.stack([groups[key][0][0] for key in shown])              # the first of each group
fig = plot.method_grid(images, [
    ("image", "image", images),
    ("net from deck\nCAM / max|CAM|", "signed",
     [norm(agreement[key]["maps"]["deck"][:1])[0] for key in shown]),
    ("net from wall\nCAM / max|CAM|", "signed",
     [norm(agreement[key]["maps"]["wall"][:1])[0] for key in shown])],
    column_titles=[f"{site}: {SURFACE_NAMES[c]}\n({'shared' if c != REBAR else 'never seen'})\n"
                   f"deck net: {SURFACE_NAMES[agreement[site, c]['predicted']['deck'][0]]}\n"
                   f"wall net: {SURFACE_NAMES[agreement[site, c]['predicted']['wall'][0]]}"
                   for site, c in shown], size=1.9)
for column, (site, c) in enumerate(shown):
    for row, trained_on in ((1, "deck"), (2, "wall")):
        ax = fig.panels[row, column]
        ax.contour(groups[site, c][1][0].astype(float), levels=[0.5], colors="limegreen",
                   linewidths=0.8)
        if trained_on != site:                      # a network on the other site's images
            for spine in ax.spines.values():
                spine.set(edgecolor="darkorange", linewidth=3)


def cross_site(classes):
    """Mean over the given classes and both directions of (energy in mask, even share,
    pointing game) for a network on the OTHER site's images, and the same for the site's
    own network."""
    abroad = [(agreement[s, c]["energy"][t], agreement[s, c]["even"],
               agreement[s, c]["pointing"][t]) for s in SITES for c in classes
              for t in SITES if t != s]
    home = [(agreement[s, c]["energy"][s], agreement[s, c]["even"],
             agreement[s, c]["pointing"][s]) for s in SITES for c in classes]
    return np.mean(abroad, axis=0), np.mean(home, axis=0)


(shared_abroad, shared_home), (new_abroad, new_home) = cross_site((1, 2)), cross_site((REBAR,))
r_shared = np.mean([agreement[s, c]["r"] for s in SITES for c in (1, 2)])
r_new = np.mean([agreement[s, REBAR]["r"] for s in SITES])


def verdict(abroad, home):
    """Whether a network's CAM abroad still finds the defect, against an even spread and
    against the site's own network."""
    times_even, times_home = abroad[0] / abroad[1], abroad[0] / max(home[0], 1e-12)
    if times_even < 1.5:
        return f"only {times_even:.1f}x an even spread"
    return (f"{times_even:.1f}x an even spread, " + ("as much as" if times_home >= 0.9 else
            "most of" if times_home >= 0.6 else "well under") + " the own network's "
            f"{100 * home[0]:.0f}%")


print(f"   a network on the other site's images: energy in the mask {100 * shared_abroad[0]:.0f}% "
      f"on the shared classes ({verdict(shared_abroad, shared_home)}), "
      f"{100 * new_abroad[0]:.0f}% on the exposed rebar neither network saw "
      f"({verdict(new_abroad, new_home)}); CAM correlation of the two sites' networks: "
      f"{r_shared:.2f} (shared), {r_new:.2f} (unseen)")


def carries_over(abroad, home):
    """The map carries over: at least 1.5x an even spread's energy in the mask, and at least
    0.6 of what the site's own network puts there."""
    return abroad[0] >= 1.5 * abroad[1] and abroad[0] >= 0.6 * home[0]


shared_carries, new_carries = (carries_over(shared_abroad, shared_home),
                               carries_over(new_abroad, new_home))
common.save(fig, args, "5_two_sites_cams.png",
            "Seed 001's Fig. 3 on two similar concrete sites: the first held-out crack, spall "
            "and exposed rebar of site 'wall' (left three columns) and of site 'deck' (right "
            "three), explained by the network trained on deck (middle row) and the one trained "
            "on wall (bottom row), each for the class it predicts (titles; rebar was never a "
            "class, so it is called something else); every map divided by its own largest "
            "|value| (signed, blue < 0 < red), green: the defect's mask. Look at the panels "
            "framed in orange, a network on the other site's images. Over all held-out defect "
            "images, the network from the other site puts "
            f"{100 * shared_abroad[0]:.0f}% of its positive CAM in the mask of a shared class "
            f"({verdict(shared_abroad, shared_home)}) and {100 * new_abroad[0]:.0f}% in the "
            f"exposed rebar neither network saw ({verdict(new_abroad, new_home)}); "
            f"its peak lies in the mask for {100 * shared_abroad[2]:.0f}% and "
            f"{100 * new_abroad[2]:.0f}% of the images. "
            + ("As in the paper, the maps carry over between similar datasets, to the "
               "unseen class too." if shared_carries and new_carries else
               "As in the paper for the shared classes, but not for the unseen class." if
               shared_carries else "Unlike the paper's aerial datasets, the maps do not carry "
               "over between these sites" + (", except on the unseen class." if new_carries
                                             else "."))
            + f" The two sites' CAMs of the same image correlate {r_shared:.2f} (shared "
            f"classes) and {r_new:.2f} (unseen; median over images, mean over classes and "
            "sites): " + ("nearly the same map" if min(r_shared, r_new) >= 0.8 else
                          "agreement in part" if min(r_shared, r_new) >= 0.4 else
                          "little agreement") + ".")
