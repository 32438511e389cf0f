"""Right for the right reasons: explanations graded against a planted shortcut (Decoy-MNIST).

What you will learn
  * Decoy-MNIST (Ross, Hughes & Doshi-Velez 2017, sec. 4): every training digit carries
    a 4x4 patch in a random corner whose grey level, (255 - 25 y) / 255, says the
    class. A network trained on it can read the patch instead of the digit; with the
    patch's grey level random at test time, its accuracy drops by as much as it relied
    on the patch;
  * such a network has a known right answer: an explanation that is faithful to it
    must put attribution on the patch, and the same explanation of a network that never
    saw a patch (lesson 03's, the control) must not. So every method the project has is
    graded by the share of its attribution on the patch and by the pointing game, with
    a random map as the control (Quantus's advice), and against lesson 12's deletion
    and insertion ranking on the same network;
  * a partial shortcut: networks trained with the patch on 0 %, 25 %, 50 % and 100 % of
    their images, and how much each relies on it (the accuracy lost when the patch is
    random); a faithful method's patch share should rise with the reliance (a rank
    correlation per method).
Not as the paper did: Ross et al. train a multilayer perceptron on all 60,000 digits; we
train the slides' CNN (lesson 03) on the 8,000 embedded ones, 2 epochs of Adam (lesson
03 trains 8) without lesson 03's random shifts (a shift would move the patch off its
corner). How much our network relies on the patch is measured, not assumed.
Reproduces the Decoy-MNIST accuracy gap of Ross et al. 2017 (sec. 4, class-coded
against random patches) and grades the explanations of lessons 04-12 against it.
"""
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

import scratchcnn as sc
from scratchcnn import explain, plot, zoo
from scratchcnn.explain import metrics

import common

args = common.start(__file__, __doc__)
quick = args.quick

EPOCHS = 2                        # Adam 1e-3, batch 64, lr x0.8 per epoch, no augmentation
FRACTIONS = (0.0, 0.25, 0.5, 1.0)     # share of the training images that carry the patch
PATCH = 4                         # Ross et al.'s 4x4 swatch
LAYER = "relu2"                   # the CAM family's layer: the last conv's ReLU, 24x24
COUNT = 4 if quick else 64        # digits explained per network
SHOWN = 1 if quick else 4         # digits drawn per network in the first figure
FIND_FACTOR = 3       # "finds the shortcut": its |map| share on the patch >= 3x every control
PARTLY_FACTOR = 2     # "partly": >= 2x every control (both factors set by us: say so)

# --- the data: class-coded patches in training, coded or random at test time ---------------
(x, y), (xt, yt) = common.load_data("mnist", quick)
xt, yt = (xt[:64], yt[:64]) if quick else (xt, yt)
xt_coded, test_masks = sc.datasets.decoy_mnist(xt, yt, seed=1, patch=PATCH)
xt_random, _ = sc.datasets.decoy_mnist(xt, yt, seed=1, patch=PATCH, randomize=True)  # same corners
area = float(test_masks[0].mean())                    # 16 / 784: the patch's share of the pixels


def decoy_model(fraction):
    """The slides' network trained on Decoy-MNIST with the patch on ``fraction`` of the
    training images (EPOCHS epochs; validated on random patches), cached."""
    x_train, _ = sc.datasets.decoy_mnist(x, y, seed=0, patch=PATCH, fraction=fraction)
    return common.trained(args, f"decoy-mnist-{round(100 * fraction)}", zoo.slides_mnist_model,
                          ((x_train, y), (xt_random, yt)), epochs=EPOCHS, lr_decay=0.8)[0]


models = {fraction: decoy_model(fraction) for fraction in FRACTIONS}
decoy, clean = models[1.0], common.seed_model(args)[0]


def accuracies(model):
    """Held-out accuracy (%) on the plain digits, with class-coded and with random patches."""
    return {name: 100 * sc.evaluate(model, images, yt)["accuracy"]
            for name, images in (("plain", xt), ("coded", xt_coded), ("random", xt_random))}


accuracy = {f"decoy {round(100 * f)} %": accuracies(model) for f, model in models.items()}
accuracy["clean (lesson 03)"] = accuracies(clean)
reliance = {f: accuracy[f"decoy {round(100 * f)} %"]["coded"]
            - accuracy[f"decoy {round(100 * f)} %"]["random"] for f in FRACTIONS}
print(f"   held-out accuracy ({len(yt)} digits; the patch's grey level coded by the class, or "
      "a random class's level):")
print(f"     {'network':>20}  plain digits  coded patch  random patch  drop (reliance)")
for name, row in accuracy.items():
    print(f"     {name:>20}      {row['plain']:5.1f} %     {row['coded']:5.1f} %      "
          f"{row['random']:5.1f} %       {row['coded'] - row['random']:5.1f} points")

# --- every method on the same decoy digits, both networks ----------------------------------
digits, labels, masks = xt_coded[:COUNT], yt[:COUNT], test_masks[:COUNT]
rng = np.random.default_rng(0)


def cam_note(model):
    """CAM needs feature maps -> GAP -> Linear: None where it applies, else why not."""
    try:
        explain.cam_layers(model)
        return None
    except ValueError as error:
        return "not applicable: " + str(error).split(". ")[0]


def method_maps(model, x, targets):
    """{method: (kind, raw (N, H, W), ranked (N, H, W))}. raw: the attribution summed over
    channels (signed where the method is); ranked: what the figure draws, the pointing
    game peaks on and deletion ranks by: |raw| for the gradient maps (kind "positive"),
    raw for the signed ones (IG, LRP, occlusion: positive = evidence for the class), the
    map itself for the CAM family (non-negative, upsampled from LAYER)."""
    size = x.shape[2:]

    def upsampled(method):
        return explain.upsample(method(model, x, targets, layer=LAYER), size)

    gradients = {
        "saliency": explain.saliency(model, x, targets),
        "SmoothGrad": explain.smoothgrad(model, x, targets, samples=10 if quick else 25),
        "DeconvNet": explain.deconvnet(model, x, targets),
        "guided backprop": explain.guided_backprop(model, x, targets),
        "Guided Grad-CAM": explain.guided_grad_cam(model, x, targets, layer=LAYER),
    }
    signed = {
        "Integrated Gradients": explain.integrated_gradients(
            model, x, targets, steps=16 if quick else 32)[0],
        "LRP-epsilon": explain.lrp(model, x, targets),
        "LRP-z+": explain.lrp(model, x, targets, rule="zplus"),
        # the occluder is the patch's size, 4x4 (stride 2; 4 in quick mode), set to black
        "occlusion": explain.occlusion_attribution(model, x, targets, window=PATCH,
                                                   stride=4 if quick else 2),
    }
    cams = {"Grad-CAM": upsampled(explain.grad_cam),
            "Grad-CAM++": upsampled(explain.grad_cam_plus_plus),
            "Score-CAM": upsampled(explain.score_cam),
            "LayerCAM": upsampled(explain.layer_cam)}
    if cam_note(model) is None:
        cams["CAM"] = explain.upsample(explain.cam(model, x, targets), size)
    maps = {name: ("positive", values.sum(axis=1), np.abs(values.sum(axis=1)))
            for name, values in gradients.items()}
    maps.update({name: ("signed", values.sum(axis=1), values.sum(axis=1))
                 for name, values in signed.items()})
    maps.update({name: ("positive", values, values) for name, values in cams.items()})
    noise = rng.random((len(x), *size)).astype(x.dtype)
    maps["random (control)"] = ("positive", noise, noise)
    return maps


ORDER = ["saliency", "SmoothGrad", "Integrated Gradients", "DeconvNet", "guided backprop",
         "CAM", "Grad-CAM", "Guided Grad-CAM", "Grad-CAM++", "Score-CAM", "LayerCAM",
         "LRP-epsilon", "LRP-z+", "occlusion", "random (control)"]


def patch_scores(maps):
    """{method: (positive share, |map| share, pointing game)} in the patch, means."""
    return {name: (metrics.energy_in_mask(raw, masks), metrics.energy_in_mask(np.abs(raw), masks),
                   metrics.pointing_game(ranked, masks))
            for name, (_, raw, ranked) in maps.items()}


decoy_maps, clean_maps = method_maps(decoy, digits, labels), method_maps(clean, digits, labels)
decoy_scores, clean_scores = patch_scores(decoy_maps), patch_scores(clean_maps)
methods = [name for name in ORDER if name in decoy_maps]
skipped = {name: cam_note(decoy) for name in ORDER if name not in decoy_maps}
random_share = decoy_scores["random (control)"][1]


def over_controls(name):
    """A method's |map| share on the patch (decoy network) over its largest control: the
    patch's area, the random map's share, the same method's share on the clean network."""
    return decoy_scores[name][1] / max(area, random_share, clean_scores[name][1])


def verdict(name):
    ratio = over_controls(name)
    return "yes" if ratio >= FIND_FACTOR else ("partly" if ratio >= PARTLY_FACTOR else "no")


tested = [name for name in methods if "control" not in name]
finds = [name for name in tested if verdict(name) == "yes"]
partly = [name for name in tested if verdict(name) == "partly"]
misses = [name for name in tested if verdict(name) == "no"]

lines = ["Share of the attribution on the patch (the positive part, and |map|) and the "
         "pointing game (the highest-ranked pixel on the patch), mean over "
         f"{COUNT} held-out digits with class-coded patches; the patch is "
         f"{100 * area:.2f} % of the pixels. Decoy network: trained with the patch on every "
         "image; clean network: lesson 03's, never saw a patch (the control).", "",
         "| method | decoy: positive share | decoy: abs share | decoy: pointing game | "
         "clean: positive share | clean: abs share | clean: pointing game | decoy abs share / "
         "largest control | finds the shortcut |", "|---|---|---|---|---|---|---|---|---|"]
print(f"   share of the attribution on the patch and pointing game, {COUNT} digits with coded "
      f"patches (the patch is {100 * area:.2f} % of the pixels):")
print(f"     {'method':>22}   decoy net: pos   |abs|  pointing |  clean net: pos   |abs|  "
      "pointing")
for name in ORDER:
    if name in skipped:
        lines.append(f"| {name} | n/a | n/a | n/a | n/a | n/a | n/a | n/a | {skipped[name]} |")
        print(f"     {name:>22}   {skipped[name]}")
        continue
    d, c = decoy_scores[name], clean_scores[name]
    found = "control" if "control" in name else verdict(name)
    print(f"     {name:>22}        {100 * d[0]:6.1f}% {100 * d[1]:6.1f}%  {100 * d[2]:5.1f}%  |"
          f"       {100 * c[0]:6.1f}% {100 * c[1]:6.1f}%  {100 * c[2]:5.1f}%")
    lines.append(f"| {name} | {100 * d[0]:.1f} % | {100 * d[1]:.1f} % | {100 * d[2]:.1f} % | "
                 f"{100 * c[0]:.1f} % | {100 * c[1]:.1f} % | {100 * c[2]:.1f} % | "
                 f"{over_controls(name):.1f} | {found} |")
lines += ["", f"Finds the shortcut: the abs share on the decoy network is >= {FIND_FACTOR} "
          f"times its largest control (yes) or >= {PARTLY_FACTOR} times (partly); the controls "
          f"are the patch's area ({100 * area:.2f} %), the random map's share "
          f"({100 * random_share:.2f} %) and the same method's abs share on the clean "
          "network. The two factors are our choice, not the paper's.", ""]

# --- figure 1: the maps, decoy network against clean network --------------------------------
shown = np.arange(min(SHOWN, COUNT))
images = np.concatenate([digits[shown], digits[shown]])
rows = [("digit", "image", images)] + [
    (name, decoy_maps[name][0], np.concatenate([decoy_maps[name][2][shown],
                                                clean_maps[name][2][shown]]))
    for name in methods]
fig = plot.method_grid(images, rows, masks=np.concatenate([masks[shown], masks[shown]]),
                       column_titles=[f"{net} net, true {labels[i]}" for net in ("decoy", "clean")
                                      for i in shown], size=1.3)
stronger = [name for name in tested
            if np.abs(decoy_maps[name][2][shown]).max() > np.abs(clean_maps[name][2][shown]).max()]
common.save(fig, args, "1_maps_decoy_and_clean.png",
            f"Every method (rows) explaining the true class of the same {len(shown)} held-out "
            f"digits with class-coded patches, on the decoy network (left {len(shown)} columns, "
            f"trained with the patch) and on lesson 03's clean network (right {len(shown)}, the "
            "control); the patch is outlined in white, one scale per row shared by both "
            "networks (gradient maps as |value|, IG, LRP and occlusion signed around white 0). "
            "Look at the corner: a method faithful to the decoy network lights the patch on "
            f"the left and not on the right. By the table ({FIND_FACTOR} times every control), "
            f"{len(finds)} of {len(tested)} methods do: {', '.join(finds) or 'none'}; "
            f"partly ({PARTLY_FACTOR} times): {', '.join(partly) or 'none'}. On the shared "
            f"scale, the decoy network's largest value is above the clean network's for "
            f"{len(stronger)} of {len(tested)} methods. "
            + (f"Not drawn: {'; '.join(f'{k} ({v})' for k, v in skipped.items())}. " if skipped
               else "")
            + "Reproduces the Decoy-MNIST setting of Ross et al. 2017, sec. 4.")

# --- figure 2: patch share against deletion and insertion on the decoy network -------------
STEPS = 8 if quick else 16
curves = {name: explain.deletion_insertion(decoy, digits, labels, decoy_maps[name][2],
                                           steps=STEPS, baseline=0.0) for name in methods}
deletion = np.array([curves[name]["deletion_auc"].mean() for name in methods])
insertion = np.array([curves[name]["insertion_auc"].mean() for name in methods])
share = np.array([decoy_scores[name][1] for name in methods])
rho_deletion = float(metrics.spearman(share[None], -deletion[None])[0])   # both: higher = better
rho_insertion = float(metrics.spearman(share[None], insertion[None])[0])
columns = [("share of |map|\non the patch", -share, [f"{100 * v:.1f}%" for v in share]),
           ("deletion area\n(lower is better)", deletion, [f"{v:.3f}" for v in deletion]),
           ("insertion area\n(higher is better)", -insertion, [f"{v:.3f}" for v in insertion])]
LINE_COLOURS = [c for i, c in enumerate(colormaps["tab10"].colors) if i != 7] + [
    "black", "darkgoldenrod", "navy", "darkmagenta"]     # dark, and no grey: grey is the control
ranks = [np.argsort(np.argsort(key, kind="stable"), kind="stable") + 1 for _, key, _ in columns]
fig = Figure(figsize=(9.5, 0.32 * len(methods) + 1.6), layout="constrained")
ax = fig.subplots()
for i, name in enumerate(methods):
    colour = "0.55" if "control" in name else LINE_COLOURS[i % len(LINE_COLOURS)]
    places = [rank[i] for rank in ranks]
    ax.plot(range(len(columns)), places, "o-", color=colour, linewidth=1.6, markersize=5)
    ax.text(-0.06, places[0], f"{name}  {columns[0][2][i]}", ha="right", va="center",
            fontsize=8, color=colour)
    ax.text(1, places[1], f" {columns[1][2][i]}", ha="left", va="bottom", fontsize=6.5,
            color=colour)
    ax.text(2.06, places[2], f"{columns[2][2][i]}  {name}", ha="left", va="center",
            fontsize=8, color=colour)
ax.set_xticks(range(len(columns)), [title for title, _, _ in columns], fontsize=8.5)
ax.set_xlim(-1.1, 3.1)
ax.set_ylim(len(methods) + 0.6, 0.4)                          # rank 1 at the top
ax.set_yticks([])
ax.tick_params(axis="x", length=0, labeltop=True, labelbottom=False)
for side in ax.spines.values():
    side.set_visible(False)
ax.set_title(f"rank on the decoy network ({COUNT} digits, best at the top); Spearman of the "
             f"patch-share ranking with deletion {rho_deletion:+.2f}, with insertion "
             f"{rho_insertion:+.2f}", fontsize=9)
agree = "agree" if min(rho_deletion, rho_insertion) > 0.5 else (
    "disagree" if max(rho_deletion, rho_insertion) < 0 else "agree only in part")
common.save(fig, args, "2_patch_share_against_deletion.png",
            f"Three rankings of the same methods (lines) on the decoy network and the same "
            f"{COUNT} digits with coded patches, best at the top: by the share of |map| on the "
            "patch (left, the known answer), by the deletion area (middle) and by the "
            f"insertion area (right; {STEPS} steps, pixels set to black or copied onto black, "
            "as in lesson 12, Petsiuk et al. 2018, sec. 4.1); the values are written beside "
            "the points. Look at the lines that cross: a method the known answer ranks high "
            "but deletion ranks low (or the reverse). The Spearman rank correlations are "
            f"{rho_deletion:+.2f} (deletion, sign flipped so that both count better as higher) "
            f"and {rho_insertion:+.2f} (insertion): the known answer and the metrics {agree} "
            "here.")
lines += ["Deletion and insertion on the decoy network (lesson 12's metrics, "
          f"{STEPS} steps, black canvas):", "",
          "| method | abs patch share | deletion area | insertion area |", "|---|---|---|---|"]
lines += [f"| {name} | {100 * share[i]:.1f} % | {deletion[i]:.3f} | {insertion[i]:.3f} |"
          for i, name in enumerate(methods)]
lines += ["", f"Spearman (patch share, -deletion area) = {rho_deletion:+.2f}; "
          f"(patch share, insertion area) = {rho_insertion:+.2f}.", ""]

# --- the partial shortcut: patch share against reliance -------------------------------------
partial = {f: patch_scores(decoy_maps if f == 1.0 else method_maps(models[f], digits, labels))
           for f in FRACTIONS}
reliances = np.array([reliance[f] for f in FRACTIONS])
correlation = {name: float(metrics.spearman(
    reliances[None], np.array([[partial[f][name][1] for f in FRACTIONS]]))[0])
    for name in methods}
fig = Figure(figsize=(12, 8.2), layout="constrained")
axes = fig.subplots(3, 5, sharex=True, sharey=True).ravel()
for ax, name in zip(axes, methods):
    shares = [100 * partial[f][name][1] for f in FRACTIONS]
    ax.plot(reliances, shares, "o-", color="tab:blue", markersize=4)
    for k, (f, r, s) in enumerate(zip(FRACTIONS, reliances, shares)):   # labels above and
        ax.annotate(f"{round(100 * f)}%", (r, s), fontsize=6.5,       # below in turn: close
                    xytext=(3, 3) if k % 2 == 0 else (3, -9),         # points stay readable
                    textcoords="offset points")
    ax.axhline(100 * area, color="0.5", linestyle="--", linewidth=0.8)
    ax.set_title(f"{name}: rho = {correlation[name]:+.2f}", fontsize=8)
    ax.tick_params(labelsize=7, labelbottom=True)
    ax.grid(alpha=0.3)
axes[0].set_xlim(-0.05 * reliances.max() - 0.1, 1.15 * reliances.max() + 0.1)  # room for labels
axes[0].set_ylim(0, None)
for ax in axes[len(methods):]:
    ax.set_visible(False)
fig.supxlabel("reliance: accuracy with coded patches - with random patches (points)", fontsize=9)
fig.supylabel("share of |map| on the patch (%)", fontsize=9)
follows = [name for name in tested if correlation[name] >= 0.8]
common.save(fig, args, "3_share_against_reliance.png",
            "The partial shortcut: networks trained with the patch on "
            + ", ".join(f"{round(100 * f)} %" for f in FRACTIONS)
            + " of their images (the labels at the points) rely on it by "
            + ", ".join(f"{r:.1f}" for r in reliances)
            + " points of accuracy (x: coded minus random patches). Each panel: one method's "
            f"share of |map| on the patch (y, one scale for every panel, mean over the same "
            f"{COUNT} digits; dashed: the patch's area) and its Spearman rank correlation with "
            f"the reliance (n = {len(FRACTIONS)}: without ties rho moves in steps of "
            f"{12 / (len(FRACTIONS) * (len(FRACTIONS) ** 2 - 1)):.2f}). Look for the panels "
            f"whose line climbs: rho >= 0.8 for {len(follows)} of {len(tested)} methods "
            f"({', '.join(follows) or 'none'}); the random map, which follows nothing, gets "
            f"{correlation['random (control)']:+.2f}.")
lines += ["Partial shortcut: abs patch share on networks trained with the patch on part of "
          "the images, against their reliance (accuracy with coded minus random patches).", "",
          "| method | " + " | ".join(f"{round(100 * f)} % (reliance {reliance[f]:.1f})"
                                     for f in FRACTIONS) + " | Spearman |",
          "|---|" + "---|" * (len(FRACTIONS) + 1)]
lines += [f"| {name} | " + " | ".join(f"{100 * partial[f][name][1]:.1f} %" for f in FRACTIONS)
          + f" | {correlation[name]:+.2f} |" for name in methods]
lines += ["", "Held-out accuracy (%):", "", "| network | plain | coded patch | random patch | "
          "drop |", "|---|---|---|---|---|"]
lines += [f"| {name} | {row['plain']:.1f} | {row['coded']:.1f} | {row['random']:.1f} | "
          f"{row['coded'] - row['random']:.1f} |" for name, row in accuracy.items()]
(args.dir / "table.md").write_text("\n".join(lines) + "\n")
print(f"   table: {args.dir / 'table.md'}")
print("   Spearman rank correlation of patch share with reliance, per method (n = "
      f"{len(FRACTIONS)}): " + ", ".join(f"{name} {value:+.2f}"
                                        for name, value in correlation.items()))

# --- what the numbers say -------------------------------------------------------------------
drop = reliance[1.0]
clean_drop = accuracy["clean (lesson 03)"]["coded"] - accuracy["clean (lesson 03)"]["random"]
print("   what our numbers say (this network, these digits):")
print(f"     * the decoy network: {accuracy['decoy 100 %']['coded']:.1f} % with coded patches, "
      f"{accuracy['decoy 100 %']['random']:.1f} % with random ones, {drop:.1f} points lost: "
      + ("it relies on the patch" if drop >= 5 else
         "it barely relies on the patch (it learned the digits too)")
      + f"; the clean network loses {clean_drop:.1f} points")


def listed(names):
    return ", ".join(f"{n} {100 * decoy_scores[n][1]:.1f}% (clean {100 * clean_scores[n][1]:.1f}%, "
                     f"{over_controls(n):.1f}x)" for n in names) or "none"


print(f"     * share of |map| on the patch, decoy network (clean network; times the largest "
      f"control, the random map being {100 * random_share:.1f}% and the area {100 * area:.1f}%):")
print(f"       find the shortcut (>= {FIND_FACTOR}x): {listed(finds)}")
print(f"       partly (>= {PARTLY_FACTOR}x): {listed(partly)}")
print(f"       do not: {listed(misses)}")
best_pointing = sorted(tested, key=lambda n: -decoy_scores[n][2])[:3]
print("     * the pointing game: the highest-ranked pixel is on the patch for "
      + ", ".join(f"{n} {100 * decoy_scores[n][2]:.0f}%" for n in best_pointing)
      + f" of the digits on the decoy network (the best three); on the clean network for at "
      f"most {100 * max(clean_scores[n][2] for n in tested):.0f}%")
if verdict("LayerCAM") != "no" and verdict("Grad-CAM") == "no":
    cells = sc.train.activations(decoy, digits[:1], LAYER).shape[2:]
    print(f"     * at the same layer, LayerCAM (a weight at every position) puts "
          f"{over_controls('LayerCAM'):.1f}x its largest control on the patch, Grad-CAM (one "
          f"weight per channel: the gradient's mean over all {cells[0]}x{cells[1]} "
          f"positions) {over_controls('Grad-CAM'):.1f}x")
print(f"     * patch share against deletion / insertion ranking on the decoy network: "
      f"Spearman {rho_deletion:+.2f} / {rho_insertion:+.2f} ({agree})")
print(f"     * share follows reliance (rho >= 0.8) for {', '.join(follows) or 'no method'}")
print("What to look at:")
print("  * 1_maps_decoy_and_clean: the white square is the right answer on the left half;")
print("  * 2_patch_share_against_deletion: does the known answer rank the methods as")
print("    deletion and insertion do?  3_share_against_reliance: a faithful share climbs.")
