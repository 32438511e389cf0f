"""Which explanation to trust: completeness, deletion and insertion, randomization.

What you will learn
  * ten maps of the same digits (gradients, CAMs, LRP, occlusion) and three ways
    to test them instead of admiring them:
  * completeness: Integrated Gradients (Sundararajan et al. 2017, eq. 1) splits
    S(x) - S(x') exactly among the pixels, LRP (Bach et al. 2015) splits S(x) up to
    what the biases keep or add; the lesson prints both;
  * deletion and insertion (Petsiuk et al. 2018, sec. 4.1): delete the pixels a map
    ranks highest and the class probability should fall fast (small area under the
    curve); insert them into an empty canvas and it should rise fast (large area);
    a random ranking is the control;
  * cascading randomization (Adebayo et al. 2018, sec. 3.1 and Fig. 2): re-initialize
    the layers from the top down; a map that stays the same is not explaining the
    network (the image itself is the control);
  * class sensitivity: the map for the true class against the map for the runner-up.
The models are lesson 03's MNIST network and lesson 06's concrete-surface network.
Reproduces Adebayo et al. 2018, Fig. 2 (the cascading randomization grid) and the
similarity measurements of their sec. 3.1, and the deletion and insertion metrics of
Petsiuk et al. 2018 (sec. 4.1), on our data.
"""
import numpy as np
from matplotlib.figure import Figure

import scratchcnn as sc
from scratchcnn import explain, plot
from scratchcnn.explain import metrics
from scratchcnn.model import eval_mode

import common

args = common.start(__file__, __doc__)
quick = args.quick
rng = np.random.default_rng(0)


# the control: grey dashed, drawn above the methods' lines, so a line lying on it hides it not
CONTROL_STYLE = dict(color="0.35", linestyle="--", linewidth=1.2, zorder=5)


def small_multiples(panels, columns, xlabel, ylabel, xticks=None, xticklabels=None,
                    size=(2.3, 2.0), ylim=None):
    """One small panel per method, on shared axes, one legend for all: panels = [(title,
    [(label, xs, ys, style)])] with ``style`` the keyword arguments of Axes.plot; the same
    label keeps its style in every panel. Eleven lines in one panel hide each other; one
    method per panel against the same grey control does not. Returns the figure."""
    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(size[0] * columns + 1.6, size[1] * rows + 0.4), layout="constrained")
    axes = np.array(fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False))
    handles = {}
    for ax, (title, lines) in zip(axes.flat, panels):
        for label, xs, ys, style in lines:
            handles[label], = ax.plot(xs, ys, label=label, **style)
        ax.set_title(title, fontsize=8)
        ax.grid(alpha=0.3)
        if xticklabels is not None:
            ax.set_xticks(xticks, xticklabels, fontsize=7, rotation=30)
        elif xticks is not None:
            ax.set_xticks(xticks)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    if ylim is not None:
        axes.flat[0].set_ylim(*ylim)                  # shared by every panel
    for ax in axes[-1]:
        ax.set_xlabel(xlabel, fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel, fontsize=8)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center",
               ncol=len(handles), fontsize=8)
    return fig


def pixel_maps(model, x, targets, layer, window, stride, canvas=0.0, smooth_samples=25,
               ig_steps=32):
    """{method: (kind, maps (N, H, W))}: each method's map reduced to one value per pixel.
    Gradient maps: |value| (largest over channels); IG, LRP, occlusion: signed, summed
    over channels (positive = evidence for the class); CAMs: upsampled to the image.
    ``canvas``: the value that stands for "no pixel" (IG's baseline image, the occluder),
    the same as deletion and insertion use."""
    size = x.shape[2:]

    def cam(method):
        return explain.upsample(method(model, x, targets, layer=layer), size)
    return {
        "saliency": ("positive", np.abs(explain.saliency(model, x, targets)).max(axis=1)),
        "SmoothGrad": ("positive", np.abs(explain.smoothgrad(
            model, x, targets, samples=smooth_samples)).max(axis=1)),
        "Integrated Gradients": ("signed", explain.integrated_gradients(
            model, x, targets, baseline=np.full_like(x, canvas), steps=ig_steps)[0].sum(axis=1)),
        "guided backprop": ("positive", np.abs(explain.guided_backprop(model, x, targets))
                            .max(axis=1)),
        "Grad-CAM": ("positive", cam(explain.grad_cam)),
        "Grad-CAM++": ("positive", cam(explain.grad_cam_plus_plus)),
        "LayerCAM": ("positive", cam(explain.layer_cam)),
        "Score-CAM": ("positive", cam(explain.score_cam)),
        "LRP-epsilon": ("signed", explain.lrp(model, x, targets).sum(axis=1)),
        "occlusion": ("signed", explain.occlusion_attribution(
            model, x, targets, window=window, stride=stride, baseline=canvas)[:, 0]),
        "random (control)": ("positive", rng.random((len(x), *size)).astype(x.dtype)),
    }


# --- the digits and their maps --------------------------------------------------------------
model, _ = common.seed_model(args)
_, (xt, yt) = common.load_data("mnist", quick)
count = 8 if quick else 64
digits, labels = xt[:count], yt[:count]
predicted = model.forward(digits).argmax(axis=1)
print(f"   {count} held-out digits; the network gets {int((predicted == labels).sum())} right; "
      "every map explains the true class")
maps = pixel_maps(model, digits, labels, "relu2", window=7, stride=3,
                  smooth_samples=10 if quick else 25)
shown = np.arange(min(6, count))
rows = [("digit", "image", digits[shown])] + [(name, kind, values[shown])
                                             for name, (kind, values) in maps.items()
                                             if name != "random (control)"]
fig = plot.method_grid(digits[shown], rows, column_titles=[f"true {c}" for c in labels[shown]],
                       size=1.35)
weak = {name: sum((plot.map_note(v, kind, plot.row_scale(values, kind)) or "")
                  .startswith("weak") for v in values) for name, kind, values in rows[1:]}
weak_text = ", ".join(f"{n} of the {name} row's {len(shown)} panels" for name, n in weak.items()
                      if n) or "none"
# how alike two methods' maps are: the mean over the digits of the correlation of their
# absolute values (a signed map's sign says nothing about where it looks)
AGREE = 0.9                               # a pair this correlated draws nearly the same map
names = [name for name in maps if name != "random (control)"]
absolute = {name: np.abs(maps[name][1].reshape(count, -1)) for name in names}
alike = {(a, b): float(metrics.pearson(absolute[a], absolute[b]).mean())  # constant map: r = 0
         for i, a in enumerate(names) for b in names[i + 1:]}
print(f"   how alike the maps are: mean over {count} digits of Pearson's r of |map|, per pair:")
SHORT = {"saliency": "sal", "SmoothGrad": "SG", "Integrated Gradients": "IG",
         "guided backprop": "GBP", "Grad-CAM": "GC", "Grad-CAM++": "GC++", "LayerCAM": "LC",
         "Score-CAM": "SC", "LRP-epsilon": "LRP", "occlusion": "occ"}
short = {name: SHORT.get(name, name[:5]) for name in names}
print(" " * 11 + " ".join(f"{short[b]:>5}" for b in names) + "   (" +
      ", ".join(f"{short[n]} = {n}" for n in names) + ")")
for a in names:
    print(f"     {short[a]:>5} " + " ".join(
        f"{1.0 if a == b else alike.get((a, b), alike.get((b, a))):5.2f}" for b in names))
agreeing = sorted((pair for pair, r in alike.items() if r >= AGREE), key=lambda k: -alike[k])
farthest = min(alike, key=alike.get)
# why two maps agree: gradient x input, sum_c x * dS/dx, against which IG and LRP can be held
gradient_x_input = np.abs((digits * explain.saliency(model, digits, labels)).sum(axis=1))
like_gxi = {name: float(metrics.pearson(absolute[name], gradient_x_input.reshape(count, -1))
                        .mean()) for name in ("Integrated Gradients", "LRP-epsilon")}
if not agreeing:
    agree_text = f"no pair of rows reaches r = {AGREE}"
else:
    def pair_text(a, b):
        """'a and b (r)', with the reason where IG and LRP both match gradient x input."""
        reason = ""
        if {a, b} == set(like_gxi) and min(like_gxi.values()) >= AGREE:
            reason = ("; both are close to gradient x input here, r with |x dS/dx| "
                      f"{like_gxi['Integrated Gradients']:.2f} for IG and "
                      f"{like_gxi['LRP-epsilon']:.2f} for LRP")
        return f"{a} and {b} (r = {alike[a, b]:.2f}{reason})"
    agree_text = (f"{len(agreeing)} of {len(alike)} pairs of rows reach r >= {AGREE}, nearly "
                  "the same map: " + ", ".join(pair_text(a, b) for a, b in agreeing))
common.save(fig, args, "1_ten_maps.png",
            f"Ten explanations (rows) of the true class for {len(shown)} held-out digits "
            "(columns), on lesson 03's network; one scale per row, signed maps (Integrated "
            "Gradients, LRP, occlusion) in red/blue around white 0, the others in viridis "
            "from 0, the digit's outline in grey. Grad-CAM-family maps come from relu2 "
            f"(24x24, upsampled). Panels labelled weak (under a quarter of the row's scale): "
            f"{weak_text}. Look at which rows draw the same picture: measured as the mean "
            f"correlation of |map| over {count} digits, {agree_text}; the farthest pair is "
            f"{farthest[0]} and {farthest[1]} (r = {alike[farthest]:.2f}); the full table is "
            "printed. Agreement is not correctness: the numbers below say which answers the "
            "network agrees with.")

# --- completeness: does the map add up to the score? ------------------------------------------
print("   completeness on the same digits (median over them):")
scores = model.forward(digits)[np.arange(count), labels]
black = model.forward(np.zeros_like(digits))[np.arange(count), labels]
difference = scores - black                                          # S(x) - S(black)
for steps in (4, 32):
    _, gap = explain.integrated_gradients(model, digits, labels, steps=steps)
    print(f"     Integrated Gradients, {steps:2d} steps: |sum - (S(x) - S(0))| / |S(x) - S(0)| "
          f"= {np.median(np.abs(gap) / np.abs(difference)):.4f}  (0 = adds up exactly)")
x_gradient = (digits * explain.saliency(model, digits, labels)).sum(axis=(1, 2, 3))
print(f"     gradient x input: |sum - (S(x) - S(0))| / |S(x) - S(0)| = "
      f"{np.median(np.abs(x_gradient - difference) / np.abs(difference)):.3f}")
relevance, totals = explain.lrp(model, digits, labels, return_totals=True)
kept = totals["input"] / scores
print(f"     LRP-epsilon: sum R / S(x) = {np.median(kept):.3f} (1 = adds up; range "
      f"{kept.min():.3f} to {kept.max():.3f}: the biases keep some of the score or add to it)")
same = np.abs(totals["input"] - x_gradient).max() / np.abs(x_gradient).max()
print(f"     (on this ReLU network LRP-epsilon is gradient x input: their sums differ by "
      f"{same:.1e} relative; the two lines above hold one sum against S(x) - S(0) and S(x))")

# --- deletion and insertion -----------------------------------------------------------------
STEPS = 8 if quick else 16


def curves_table(model, x, targets, pixel_maps_, baseline, masks=None):
    """{method: (deletion AUC, insertion AUC, curves dict[, pointing, energy])} means."""
    table = {}
    for name, (_, values) in pixel_maps_.items():
        result = explain.deletion_insertion(model, x, targets, values, steps=STEPS,
                                            baseline=baseline)
        row = [result["deletion_auc"].mean(), result["insertion_auc"].mean(), result]
        if masks is not None:
            row += [metrics.pointing_game(values, masks), metrics.energy_in_mask(values, masks)]
        table[name] = row
    return table


digit_table = curves_table(model, digits, labels, maps, baseline=0.0)
fractions = digit_table["saliency"][2]["fractions"]
control = digit_table["random (control)"]
# pixel maps first (gradients, IG, LRP), then region maps (CAMs, occlusion)
ORDER = ("saliency", "SmoothGrad", "guided backprop", "Integrated Gradients", "LRP-epsilon",
         "Grad-CAM", "Grad-CAM++", "LayerCAM", "Score-CAM", "occlusion")
ordered = [name for name in ORDER if name in digit_table] + [
    name for name in digit_table if name not in ORDER and name != "random (control)"]
percent = 100 * fractions
panels = [(f"{name}\ndeletion {digit_table[name][0]:.3f}, insertion {digit_table[name][1]:.3f}",
           [("deletion (lower is better)", percent, digit_table[name][2]["deletion"].mean(axis=0),
             dict(color="tab:red", marker="o", markersize=3)),
            ("insertion (higher is better)", percent,
             digit_table[name][2]["insertion"].mean(axis=0),
             dict(color="tab:blue", marker="s", markersize=3)),
            ("random ranking (control), deletion falls and insertion rises", percent,
             control[2]["deletion"].mean(axis=0), CONTROL_STYLE),
            ("random ranking (control), deletion falls and insertion rises", percent,
             control[2]["insertion"].mean(axis=0), CONTROL_STYLE)])
          for name in ordered]
fig = small_multiples(panels, 5, "% of pixels deleted / inserted", "p(true class)",
                      xticks=[0, 50, 100], ylim=(0, 1.04))
by_deletion = sorted(digit_table, key=lambda k: digit_table[k][0])
by_insertion = sorted(digit_table, key=lambda k: -digit_table[k][1])
both = [name for name in ordered if digit_table[name][0] < control[0]
        and digit_table[name][1] > control[1]]
common.save(fig, args, "2_deletion_insertion.png",
            f"Deletion and insertion curves, mean over {count} held-out digits, one panel per "
            "method (top row: pixel maps, gradients, IG and LRP; bottom row: region maps, the "
            "CAMs and occlusion): the share of pixels deleted (set to 0, red) or inserted "
            "(copied onto a black canvas, blue) in the order the map ranks them, against the "
            "same random ranking in every panel (grey dashed: its deletion curve falls, its "
            "insertion curve rises). Look at the gap between each coloured line and its grey "
            "twin: red below grey and blue above it is a ranking the network agrees with; the "
            "panel titles give the areas under the curves. Best deletion: "
            f"{by_deletion[0]} (area {digit_table[by_deletion[0]][0]:.3f}); best insertion: "
            f"{by_insertion[0]} (area {digit_table[by_insertion[0]][1]:.3f}); the random "
            f"ranking: {control[0]:.3f} and {control[1]:.3f}; {len(both)} of {len(ordered)} "
            "methods beat it on both curves. Reproduces the metrics of Petsiuk et al. 2018, "
            "sec. 4.1.")

# the concrete surfaces: defects with a true mask, so pointing game and energy too
surface_model, _ = common.surface_model(args)
sx, sy, smasks, split = common.surface_data(quick)
defects = split + np.flatnonzero(sy[split:] > 0)[:8 if quick else 24]
surfaces, surface_labels, surface_masks = sx[defects], sy[defects], smasks[defects]
surface_layer, _ = explain.cam_layers(surface_model)
grey = float(sx[:split].mean())                     # the mean training value: a flat grey
surface_maps = pixel_maps(surface_model, surfaces, surface_labels, surface_layer, window=16,
                          stride=8, canvas=grey, smooth_samples=10 if quick else 25,
                          ig_steps=16 if quick else 32)
surface_table = curves_table(surface_model, surfaces, surface_labels, surface_maps,
                             baseline=grey, masks=surface_masks)
even = surface_masks.reshape(len(surfaces), -1).mean()

lines = ["| method | digits: deletion area (lower is better) | digits: insertion area (higher "
         "is better) | surfaces: deletion | surfaces: insertion | surfaces: pointing game | "
         "surfaces: energy in mask |", "|---|---|---|---|---|---|---|"]
print(f"   deletion / insertion areas ({count} digits, {len(surfaces)} held-out defect "
      f"surfaces, {STEPS} steps), pointing game and energy in the defect mask:")
print(f"     {'method':>22}  digits: del   ins | surfaces: del   ins  pointing  energy")
for name in maps:
    d, s = digit_table[name], surface_table[name]
    print(f"     {name:>22}        {d[0]:.3f} {d[1]:.3f} |          {s[0]:.3f} {s[1]:.3f}"
          f"   {100 * s[3]:5.1f}%  {100 * s[4]:5.1f}%")
    lines.append(f"| {name} | {d[0]:.3f} | {d[1]:.3f} | {s[0]:.3f} | {s[1]:.3f} | "
                 f"{100 * s[3]:.1f} % | {100 * s[4]:.1f} % |")
(args.dir / "table.md").write_text("\n".join(lines) + "\n")
print(f"     (a map spread evenly puts {100 * even:.1f}% of its energy in the masks; on the "
      f"surfaces a deleted pixel, IG's baseline and the occluder are the mean training value "
      f"{grey:.2f}, on the digits black)")
lrp_black = explain.deletion_insertion(surface_model, surfaces, surface_labels,
                                       surface_maps["LRP-epsilon"][1], steps=STEPS, baseline=0.0)
print(f"     LRP explains the score against a black image (no baseline of its own): deleted "
      f"to black instead of grey, its surface areas are {lrp_black['deletion_auc'].mean():.3f} "
      f"and {lrp_black['insertion_auc'].mean():.3f}")
beat = [name for name in maps if name != "random (control)"
        and digit_table[name][0] < digit_table["random (control)"][0]
        and digit_table[name][1] > digit_table["random (control)"][1]]
print(f"   on digits, {len(beat)} of {len(maps) - 1} methods beat the random ranking on both "
      f"curves: {', '.join(beat)}")

# --- cascading randomization (Adebayo et al. 2018) -------------------------------------------
few = digits[:4 if quick else 16], labels[:4 if quick else 16]
tested = {
    "saliency": explain.saliency,
    "SmoothGrad": lambda m, x, t: explain.smoothgrad(m, x, t, samples=10),
    "guided backprop": explain.guided_backprop,
    "Integrated Gradients": lambda m, x, t: explain.integrated_gradients(m, x, t, steps=16)[0],
    "Grad-CAM": lambda m, x, t: explain.upsample(explain.grad_cam(m, x, t, layer="relu2"),
                                                 x.shape[2:]),
    "LRP-epsilon": explain.lrp,
    "the image (control)": lambda m, x, t: x.copy(),
}
checks = {name: explain.randomization_check(model, *few, method, seed=0)
          for name, method in tested.items()}
stages = ["none"] + [f"+{row.layer}" for row in checks["saliency"][1:]]
series = {name: (np.arange(len(rows)), [float(np.median(row.spearman)) for row in rows])
          for name, rows in checks.items()}
ssim_series = {name: (np.arange(len(rows)), [float(np.median(row.ssim)) for row in rows])
               for name, rows in checks.items()}
after_all = {name: values[1][-1] for name, values in series.items()}
CONTROL = "the image (control)"
panels = [(f"{name}\nall random: rho {after_all[name]:.2f}, SSIM {ssim_series[name][1][-1]:.2f}",
           [("Spearman rank correlation of |map| with the trained one", *series[name],
             dict(color="tab:purple", marker="o", markersize=3.5)),
            ("SSIM of |map| with the trained one", *ssim_series[name],
             dict(color="tab:orange", marker="s", markersize=3.5)),
            ("the image itself (control), both measures", *series[CONTROL], CONTROL_STYLE)])
          for name in series if name != CONTROL]
fig = small_multiples(panels, 3, "layers randomized, from the top", f"median, {len(few[0])} digits",
                      xticks=list(range(len(stages))), xticklabels=stages, size=(2.6, 2.2),
                      ylim=(min(0.0, *(min(v[1]) for v in (*series.values(),
                                                          *ssim_series.values()))) - 0.03, 1.05))


def all_layers_random(method):
    """The method's |maps| of the digits with every layer randomized (the same draws as
    randomization_check: seed 0, from the top), the weights restored afterwards."""
    with explain.randomized_cascade(model, seed=0) as steps:
        for _ in steps:
            pass
        return np.abs(method(model, *few)).reshape(len(few[0]), -1)


stroke = few[0].reshape(len(few[0]), -1) > 0                    # the digit's own pixels
held = [name for name, value in after_all.items() if value > 0.9 and "control" not in name]
on_stroke = {}                               # Spearman on the stroke pixels alone, median
for name in held:
    trained_maps = np.abs(tested[name](model, *few)).reshape(len(few[0]), -1)
    random_maps = all_layers_random(tested[name])
    on_stroke[name] = float(np.median([metrics.spearman(a[None, keep], b[None, keep])[0]
                                       for a, b, keep in zip(trained_maps, random_maps,
                                                             stroke)]))
background = 1 - stroke.mean()
value_times_gradient = {"Integrated Gradients", "LRP-epsilon"}      # 0 wherever x = 0
held_text = "" if not held else (
    " Where the rank correlation stays above 0.9 (" + "; ".join(
        f"{name}: SSIM {ssim_series[name][1][-1]:.2f}, Spearman on the stroke pixels alone "
        f"{on_stroke[name]:.2f}" for name in held) + ")"
    + (f", the background carries the ranks: {100 * background:.0f}% of the pixels are 0 "
       "in the digit, and a map of value x gradient is 0 there whatever the weights."
       if set(held) <= value_times_gradient and max(on_stroke.values()) < 0.5 else "."))
common.save(fig, args, "3_randomization_curves.png",
            "Cascading randomization: the layers of lesson 03's network are re-initialized "
            "from the top (fc2) down to conv1, cumulatively, and each method's map is "
            "compared with its map on the trained network, one panel per method: Spearman "
            "rank correlation of the absolute maps (purple) and SSIM (orange), median over "
            f"{len(few[0])} digits, against the control (grey dashed: the image itself, which "
            "no weight changes, at 1 by both measures). With every layer random, the rank "
            "correlation is: "
            + ", ".join(f"{name} {value:.2f}" for name, value in after_all.items()
                        if name != CONTROL)
            + " (panel titles). Look at how far each purple line falls from the grey one: a "
            "method whose line stays on it is blind to the weights, like the control."
            f"{held_text} Reproduces the similarity measurements of "
            "Adebayo et al. 2018, sec. 3.1.")
first = few[0][:1]
stage_rows = [("digit", "image", np.repeat(first, len(stages), axis=0))]
shrink = []                                    # (method, largest |value| all random / trained)
look = {}                        # method -> (r with the trained map, r with the digit) per stage
all_zero = {}                    # method -> its map is 0 everywhere with every layer random
zero_at = {}                     # method -> its map is 0 everywhere, per stage
digit_pixels = np.abs(first).reshape(1, -1)
for name in ("saliency", "guided backprop", "Grad-CAM", "LRP-epsilon"):
    method = tested[name]
    with explain.randomized_cascade(model, seed=0) as steps:
        panels_of_stage = [np.abs(method(model, first, few[1][:1])).reshape(28, 28)]
        for _ in steps:
            panels_of_stage.append(np.abs(method(model, first, few[1][:1])).reshape(28, 28))
    tops = np.array([panel.max() for panel in panels_of_stage])
    shrink.append((name, tops[-1] / tops[0]))
    all_zero[name] = bool(tops[-1] == 0)
    zero_at[name] = [bool(top == 0) for top in tops]
    look[name] = [(float(metrics.spearman(panels_of_stage[0][None], panel[None])[0]),
                   float(metrics.spearman(digit_pixels, panel.reshape(1, -1))[0]))
                  for panel in panels_of_stage]
    stage_rows.append((f"|{name}| / own max", "positive",      # each panel on its own scale:
                       np.array([panel / top if top > 0 else panel     # the pattern, not the size
                                 for panel, top in zip(panels_of_stage, tops)])))
fig = plot.method_grid(np.repeat(first, len(stages), axis=0), stage_rows, column_titles=stages,
                       size=1.7)
for r, name in enumerate(look, start=1):       # each panel: like its trained map? the digit?
    for j, (to_trained, to_digit) in enumerate(look[name]):
        fig.panels[r, j].set_title(f"trained {to_trained:.2f}, digit {to_digit:.2f}",
                                   fontsize=6.5)


def guided_gate(x, targets):
    """Guided backprop passes R = 1(F > 0) 1(G > 0) G at every ReLU: count, per ReLU (top
    first) and image, the units that are active (F > 0), that get a positive gradient
    (G > 0), and both, the only units the rule lets through; if none at some ReLU, the
    map is 0 at every pixel. x (N, C, H, W) -> {relu: (active, positive, both), each (N,)}."""
    relus = [name for name in reversed(model.names) if isinstance(model[name], sc.ReLU)]
    with eval_mode(model):
        logits = model.forward(x)
        seed = np.zeros_like(logits)
        seed[np.arange(len(x)), targets] = 1.0                     # dS_c / dlogits
        gate = {}
        for relu in relus:
            g = model.backward(seed, relu_rule="guided", stop=relu, param_grads=False)
            f = model.outputs[relu] > 0                            # F > 0 (after = before)
            gate[relu] = tuple(v.reshape(len(x), -1).sum(axis=1) for v in (f, g > 0, f & (g > 0)))
    return gate


# why guided backprop's map of this digit goes to 0: the stages where it is all zero, the
# ReLU nearest the output where no unit passes, and how many of the few digits share it
zero_stages, gate_text = [], ""
silent_relu = {}                 # stage -> (the ReLU nearest the output with no active unit
                                 # for the shown digit, or None; digits with such a ReLU)


def guided_stage(stage):
    """Print guided backprop's non-zero pixels and the units its rule passes at this stage
    of the cascade; keep the stages where the shown digit's map is all zero."""
    maps_now = np.abs(tested["guided backprop"](model, *few)).reshape(len(few[0]), -1)
    nonzero = (maps_now > 0).sum(axis=1)
    gate = guided_gate(*few)
    print(f"   guided backprop, randomized {stage:>7}: non-zero pixels of the shown digit "
          f"{nonzero[0]} of {maps_now.shape[1]}, all-zero maps {(nonzero == 0).sum()} of "
          f"{len(nonzero)} digits; units passing 1(F > 0) 1(G > 0) for the shown digit: " +
          ", ".join(f"{relu} {both[0]} ({active[0]} active, {positive[0]} with G > 0)"
                    for relu, (active, positive, both) in gate.items()))
    silent = [relu for relu, (active, _, _) in gate.items() if active[0] == 0]
    silent_relu[stage] = (silent[0] if silent else None, int(np.any(
        [active == 0 for active, _, _ in gate.values()], axis=0).sum()))
    if nonzero[0] == 0:
        dead = next((relu for relu, (_, _, both) in gate.items() if both[0] == 0), None)
        active, positive, _ = gate[dead] if dead else ([None], [None], None)
        zero_stages.append((stage, dead, active[0], positive[0],
                            model.outputs[dead][0].size if dead else None,
                            int((nonzero == 0).sum())))


with explain.randomized_cascade(model, seed=0) as steps:
    guided_stage("none")
    for layer in steps:
        guided_stage(f"+{layer}")
if zero_stages:
    gate_text = (" Guided backprop's panels that read 'constant 0' are exactly zero (0 "
                 f"non-zero pixels of {first[0, 0].size}). Its rule passes a unit only if it is "
                 "active and gets a positive gradient, 1(F > 0) 1(G > 0): " + "; ".join(
                     f"at {stage}, {active} of the {size} units of {dead} "
                     f"{'is' if active == 1 else 'are'} active and {positive} get a positive "
                     f"gradient, none both, so {dead} passes nothing and the ReLUs below it "
                     f"receive nothing ({zeros} of {len(few[0])} digits give an all-zero map "
                     "there)" if dead else
                     f"at {stage}, every ReLU passes some unit: the zeros come from the "
                     f"products between them ({zeros} of {len(few[0])} digits give an all-zero "
                     "map there)"
                     for stage, dead, active, positive, size, zeros in zero_stages) + ".")
verdicts, traced = [], []        # each row's last panel against its first, this digit
for name, stage_values in look.items():
    (_, digit_before), (to_trained, digit_after) = stage_values[0], stage_values[-1]
    median_text = f"median over {len(few[0])} digits in figure 3: {after_all[name]:.2f}"
    if all_zero[name]:
        verdicts.append(f"{name} is all zero" + (" (below)" if name == "guided backprop" and
                                                  zero_stages else ""))
    elif to_trained > 0.9:
        verdicts.append(f"{name} stays like its trained map ('trained' {to_trained:.2f}; "
                        f"{median_text}): blind to the weights")
    elif digit_after >= digit_before:
        traced.append(name)
        verdicts.append(f"{name} changes ('trained' {to_trained:.2f}; {median_text}) yet "
                        f"traces the digit at least as closely as its trained map did ('digit' "
                        f"{digit_after:.2f} against {digit_before:.2f})")
    else:
        verdicts.append(f"{name} changes ('trained' {to_trained:.2f}; {median_text}) and "
                        f"traces the digit less than its trained map did ('digit' "
                        f"{digit_after:.2f} against {digit_before:.2f})")
dark_text = "".join(
    f" At {stage} every row is all zero: no unit of {silent_relu[stage][0]} is active for "
    "this digit, so no rule passes anything down to the pixels (the gradient, the guided "
    "rule and LRP alike); " + f"{silent_relu[stage][1]} of {len(few[0])} digits "
    f"{'has' if silent_relu[stage][1] == 1 else 'have'} such a silent ReLU there, and figure "
    "3's medians count them with the rest."
    for j, stage in enumerate(stages)
    if silent_relu.get(stage, (None,))[0] and all(zero_at[name][j] for name in look))
traced_text = "" if not traced else (
    f" So resembling the digit is no test by itself: {' and '.join(traced)} "
    f"{'looks' if len(traced) == 1 else 'look'} like the digit on a random network, yet "
    f"{'its' if len(traced) == 1 else 'their'} ranking of the pixels has changed; the test is "
    "the change from the trained map.")
common.save(fig, args, "4_randomization_maps.png",
            f"One digit (a {few[1][0]}) explained as the layers are randomized from the top "
            "(columns, cumulative; 'none' is the trained network), four methods (rows), "
            "absolute values, EACH PANEL ON ITS OWN SCALE (divided by its own maximum, 0 to 1): "
            "the figure compares patterns, not sizes. With every layer random, the largest "
            "value is "
            + ", ".join(f"{100 * ratio:.2g}% ({name})" for name, ratio in shrink)
            + " of the trained network's. The same draws as the curves above (seed 0). Each "
            "panel's title gives its rank correlation with the trained map of its row "
            "('trained') and with the digit itself ('digit'). Look at the last column, every "
            "layer random: " + "; ".join(verdicts) + "." + dark_text + traced_text + gate_text +
            " Reproduces the cascading "
            "randomization grid of Adebayo et al. 2018, Fig. 2.")

# --- class sensitivity -----------------------------------------------------------------------
logits = model.forward(digits)
others = logits.copy()
others[np.arange(count), labels] = -np.inf
runner_up = others.argmax(axis=1)                     # the most probable class but the true one
print("   class sensitivity: Pearson correlation of the map for the true class with the map "
      f"for the runner-up class (median over {count} digits; 1 = the same map):")
other_maps = pixel_maps(model, digits, runner_up, "relu2", window=7, stride=3,
                        smooth_samples=10 if quick else 25)
sensitivity = {name: float(np.median(metrics.pearson(maps[name][1], other_maps[name][1])))
               for name in maps if name != "random (control)"}
for name, value in sensitivity.items():
    print(f"     {name:>22}: {value:5.2f}")
blind = [name for name, value in sensitivity.items() if value > 0.9]
print(f"   maps almost the same for another class (> 0.9): {', '.join(blind) or 'none'}")

print("   what our numbers say (this network, these images):")
best_digits = min(digit_table, key=lambda k: digit_table[k][0] - digit_table[k][1])
best_surfaces = min(surface_table, key=lambda k: surface_table[k][0] - surface_table[k][1])
same_best = "the same method" if best_digits == best_surfaces else "different methods"
canvas_shift = max(abs(surface_table["LRP-epsilon"][0] - lrp_black["deletion_auc"].mean()),
                   abs(surface_table["LRP-epsilon"][1] - lrp_black["insertion_auc"].mean()))
canvas_text = "the canvas matters too" if canvas_shift > 0.05 else "the canvas moves little"
print(f"     * deletion and insertion together (insertion area - deletion area) favour "
      f"{best_digits} on digits ({digit_table[best_digits][1] - digit_table[best_digits][0]:.3f})"
      f" and {best_surfaces} on surfaces "
      f"({surface_table[best_surfaces][1] - surface_table[best_surfaces][0]:.3f}): "
      f"{same_best} on the two data sets; {canvas_text} (LRP on the surfaces: "
      f"{surface_table['LRP-epsilon'][0]:.3f} / {surface_table['LRP-epsilon'][1]:.3f} "
      f"deleted to grey, {lrp_black['deletion_auc'].mean():.3f} / "
      f"{lrp_black['insertion_auc'].mean():.3f} to black)")
methods_only = {name: value for name, value in after_all.items() if "control" not in name}
changed = [name for name, value in methods_only.items() if value < 0.5]
if held:
    print(f"     * with every weight random, the maps of {', '.join(held)} keep a rank "
          "correlation above 0.9 with the trained ones, like the control; on the stroke "
          "pixels alone it is " + ", ".join(f"{on_stroke[n]:.2f}" for n in held)
          + " (Adebayo et al. 2018 report input-like maps for gradient x input and IG)")
if changed:
    print(f"     * {', '.join(changed)}: below 0.5 with every weight random (they depend on "
          "the weights)")
print(f"     * maps nearly the same for the runner-up class: {', '.join(blind) or 'none'}; the "
      f"most class-specific: {min(sensitivity, key=sensitivity.get)} "
      f"({min(sensitivity.values()):.2f})")
print("What to look at:")
print("  * 1_ten_maps: ten answers to one question; 2_deletion_insertion and the table say")
print("    which rankings the network agrees with (compare every line with the random one);")
print("  * 3_ and 4_randomization: a map that survives random weights explains the image,")
print("    not the network (Adebayo et al. 2018).")
