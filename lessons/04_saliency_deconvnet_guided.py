"""Saliency, DeconvNet and guided backpropagation: three ReLU rules, three maps.

What you will learn
  * all three are one backward pass from a class score S_c to the pixels x. The
    saliency map of Simonyan, Vedaldi & Zisserman (2014, "Deep inside convolutional
    networks") is the gradient itself, dS_c/dx (shown signed, and as |dS_c/dx|).
    DeconvNet (Zeiler & Fergus 2014, "Visualizing and understanding convolutional
    networks") and guided backpropagation (Springenberg et al. 2015, "Striving for
    simplicity") change only what a ReLU passes down. With F the ReLU's input, G the
    gradient arriving from above and R what goes below (Gao & Mosalam, "Visualizing
    and Understanding Deep CNN in Image-based Structural Health Monitoring", eq. 3):
        gradient (saliency):  R = 1(F > 0) * G
        DeconvNet:            R = 1(G > 0) * G
        guided backprop:      R = 1(F > 0) * 1(G > 0) * G
  * the explicit DeconvNet (unpool with the max-pool switches -> rectify ->
    transposed filter) is exactly the backward pass with the DeconvNet rule;
  * a map must not depend on the batch it was computed in: on a blank background
    the max pool's windows tie up to rounding, so the switch is the first position
    within a few rounding errors of the maximum (the tie rule, reference/pool.py);
  * sharp is not the same as class-specific: the lesson measures how much each map
    changes when the class changes (Adebayo et al. 2018, "Sanity checks for saliency
    maps"; Nie, Zhang & Patel 2018, "A theoretical explanation for perplexing
    behaviors of backpropagation-based visualizations").
Reproduces the 3x3 worked example of the three rules (Springenberg et al. 2015,
Fig. 1, in the notation of Gao & Mosalam's eq. 3) and the DeconvNet projections of
the Ruhr-Universität Bochum slides "Making the Training Visible", on digits.
"""
import inspect

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import scratchcnn as sc
from scratchcnn import explain, plot
from scratchcnn.reference import pool as max_pool_rule

import common

args = common.start(__file__, __doc__)
model, _ = common.seed_model(args, "mnist")
_, (x_test, y_test) = common.load_data("mnist", args.quick)
print("   layers:", " -> ".join(model.names))

# --- 1. The three rules, one line each, on a 3x3 example -----------------------------------
print("   ReLU.backward (scratchcnn/layers/activation.py), the only lines that differ:")
for line in inspect.getsource(sc.ReLU.backward).splitlines():
    if "# R =" in line:
        print("     " + line.strip())
F = np.array([[1, -1, 5], [2, -5, -7], [-3, 2, 4]], dtype=np.float32)    # the ReLU's input
G = np.array([[-2, 3, -1], [6, -3, 1], [2, -1, 3]], dtype=np.float32)    # gradient from above
relu = sc.ReLU()
restored = {}
for rule in sc.RELU_RULES:
    relu.forward(F[None])                                        # keeps the mask 1(F > 0)
    restored[rule] = relu.backward(G[None], relu_rule=rule)[0]   # R by this rule
for name, matrix in [("F", F), ("G", G)] + [(f"R ({r})", m) for r, m in restored.items()]:
    print(f"   {name:>14} = {matrix.astype(int).tolist()}")

fig = Figure(figsize=(11, 2.6), layout="constrained")
axes = fig.subplots(1, 5)
panels = [("F: ReLU input", F), ("G: gradient from above", G),
          ("gradient: 1(F>0) G", restored["gradient"]),
          ("DeconvNet: 1(G>0) G", restored["deconvnet"]),
          ("guided: 1(F>0) 1(G>0) G", restored["guided"])]
for ax, (title, matrix) in zip(axes, panels):
    shown = ax.imshow(matrix, cmap=plot.SIGNED_CMAP, vmin=-7, vmax=7)
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, f"{value + 0:g}", ha="center", va="center", fontsize=11,
                color="white" if abs(value) > 4 else "black")
    ax.set(xticks=[], yticks=[])
    ax.set_title(title, fontsize=9)
fig.colorbar(shown, ax=list(axes), shrink=0.8, pad=0.01)
common.save(fig, args, "1_relu_rules_example.png",
            "The three ReLU backward rules on one 3x3 example: F is the forward input, G the "
            "gradient from above, and each R keeps a different part of G (one colour scale, "
            "blue < 0 < red). Look at which cells of G survive each mask. Reproduces the "
            "worked example of Springenberg et al. 2015 (Fig. 1) in Gao & Mosalam's eq. 3.")

# --- 2. Three maps for the true class and for the runner-up ---------------------------------
x100, y100 = x_test[:100], y_test[:100]
logits = model.forward(x100)                                     # one forward pass, kept masks
others = logits.copy()
others[np.arange(len(y100)), y100] = -np.inf
runner_up = others.argmax(axis=1)                                # the most likely wrong class


def backward_maps(target):
    """{rule: dS_target/dx by that rule}: one backward pass per rule, same forward pass."""
    seed = np.zeros_like(logits)
    seed[np.arange(len(target)), target] = 1                     # dS_c/dlogits
    return {rule: model.backward(seed, relu_rule=rule, param_grads=False)
            for rule in sc.RELU_RULES}


true_maps, other_maps = backward_maps(y100), backward_maps(runner_up)
true_maps["Grad-CAM"] = explain.upsample(explain.grad_cam(model, x100, y100, "pool1"), (28, 28))
other_maps["Grad-CAM"] = explain.upsample(
    explain.grad_cam(model, x100, runner_up, "pool1"), (28, 28))


def correlation(a, b):
    """Pearson correlation of two maps, per image: (N, ...) x (N, ...) -> (N,)."""
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1) + 1e-30)


stroke = x100[:, 0] > 0.5
names = {"gradient": "gradient (saliency)", "deconvnet": "DeconvNet", "guided": "guided backprop",
         "Grad-CAM": "Grad-CAM at pool1"}
print(f"   on {len(x100)} test digits (stroke pixels, image > 0.5, are "
      f"{100 * stroke.mean():.1f}% of all pixels):")
print("                        share of |map| on strokes   corr(true class, runner-up)")
for key, name in names.items():
    magnitude = np.abs(true_maps[key]).reshape(stroke.shape)
    on_strokes = (magnitude * stroke).sum(axis=(1, 2)) / np.maximum(
        magnitude.sum(axis=(1, 2)), 1e-12)                       # an all-zero map scores 0
    r = correlation(true_maps[key], other_maps[key])
    print(f"   {name:>20}:  {100 * on_strokes.mean():5.1f}%"
          f"                       mean {r.mean():.2f} (median {np.median(r):.2f})")
print("   (a correlation near 1: the map hardly changes with the class it explains)")

shown = []                                                       # 4 correct digits, 4 classes
for i in np.flatnonzero(logits.argmax(axis=1) == y100):
    if y100[i] not in y100[shown] and len(shown) < 4:
        shown.append(i)
shown = np.array(shown if len(shown) == 4 else [0, 1, 2, 3])
columns = np.repeat(shown, 2)                                    # each digit twice
is_other = np.tile([False, True], len(shown))


def pick(key):
    """The maps of one method in the figure's column order (true, runner-up, true, ...)."""
    return [other_maps[key][i] if o else true_maps[key][i] for i, o in zip(columns, is_other)]


titles = [f"{y100[i]}: class {runner_up[i] if o else y100[i]}" + (" (2nd)" if o else " (true)")
          for i, o in zip(columns, is_other)]
magnitude = [np.abs(m)[0] for m in pick("gradient")]
grad_cam_row = pick("Grad-CAM")
fig = plot.method_grid(x100[columns], [
    ("digit", "image", x100[columns]),
    ("gradient dS_c/dx", "gradient", pick("gradient")),
    ("saliency |dS_c/dx|", "positive", magnitude),
    ("DeconvNet", "gradient", pick("deconvnet")),
    ("guided backprop", "gradient", pick("guided")),
    ("Grad-CAM (pool1)", "positive", grad_cam_row)], column_titles=titles, size=1.55)
grad_cam_scale = plot.row_scale(grad_cam_row, "positive")        # the Grad-CAM row's one scale
peaks = [float(np.max(m)) for m in grad_cam_row]
faint = [f"{t} {p:.2g} ({100 * p / grad_cam_scale:.0f}%)"
         for t, p in zip(titles, peaks) if p < 0.5 * grad_cam_scale]
print(f"   Grad-CAM (pool1) row of figure 2: row scale {grad_cam_scale:.2g}; panels peaking under "
      f"half of it: {', '.join(faint) if faint else 'none'}")
common.save(fig, args, "2_three_rules_true_vs_runner_up.png",
            "Rows are methods, columns are four digits each explained for its true class and "
            "for the runner-up class; every row has one scale and colourbar (signed rows "
            "blue < 0 < red; |saliency| and Grad-CAM in opaque viridis with the digit's outline "
            "in grey). A panel labelled 'weak: max v (p% of scale)' is not empty: its largest "
            "value v is only p% of the row's scale (under a quarter), so at that scale it looks "
            "almost empty. In the Grad-CAM row (scale "
            f"{grad_cam_scale:.2g}) the panels peaking under half of it are: "
            f"{'; '.join(faint) if faint else 'none'}. Look at how little guided backprop "
            "changes between the two columns of a digit. Saliency as in Simonyan et al. 2014, "
            "DeconvNet as Zeiler & Fergus 2014, guided backprop as Springenberg et al. 2015.")

# --- 3. The explicit DeconvNet from above the max pool: through the switches ---------------
layer = "pool1"
below = model.names[:model.index(layer) + 1][::-1]
print(f"   DeconvNet from {layer}: " + " -> ".join(
    f"{n} ({type(model[n]).__name__}: " + {"MaxPool2D": "unpool with switches",
                                           "ReLU": "rectify",
                                           "Conv2D": "transposed filter"}[type(model[n]).__name__]
    + ")" for n in below))
deconvnet = explain.DeconvNet(model)
x4 = x100[shown]
methods = [("gradient", explain.saliency), ("deconvnet", explain.deconvnet),
           ("guided", explain.guided_backprop)]
seed4 = np.zeros((len(x4), logits.shape[1]), logits.dtype)
seed4[np.arange(len(x4)), y100[shown]] = 1
model.forward(x4)                                                # the same 4 digits
direct = {rule: model.backward(seed4, relu_rule=rule, param_grads=False) for rule, _ in methods}
check = max(float(np.abs(direct[r] - f(model, x4, y100[shown])).max()) for r, f in methods)
assert check <= 1e-6 * max(float(np.abs(direct[r]).max()) for r, _ in methods), check
print(f"   explain.saliency / deconvnet / guided_backprop are these backward calls: "
      f"max difference {check:.1e} on the same 4 digits (asserted)")


# The max pool's tie rule. On the blank background relu2 is the same number in every pixel
# up to rounding, and the rounding of a matrix product changes with the batch size (and
# with the algorithm: im2col or Winograd). So the switch is the FIRST position (row-major)
# within a few rounding errors of the window's maximum (reference/pool.py, tie_tolerance),
# not whichever rounding happened to make largest.
def batch_change(maps_in_batch, maps_alone):
    return float(np.abs(maps_in_batch - maps_alone).max() / np.abs(maps_alone).max())


relu2 = model.forward(x4, stop="relu2")
windows = np.sort(relu2[:, :, :relu2.shape[2] // 2 * 2, :relu2.shape[3] // 2 * 2].reshape(
    *relu2.shape[:2], relu2.shape[2] // 2, 2, relu2.shape[3] // 2, 2).transpose(
    0, 1, 2, 4, 3, 5).reshape(*relu2.shape[:2], relu2.shape[2] // 2, relu2.shape[3] // 2, 4))
gap = windows[..., -1] - windows[..., -2]                      # top value minus runner-up
tolerance = max_pool_rule.tie_tolerance(relu2)[:, None, None, None]
near = int(((gap > 0) & (gap <= tolerance) & (windows[..., -1] > 0)).sum())
exact = int(((gap == 0) & (windows[..., -1] > 0)).sum())
batch = {}
for label, ulps in (("the tie rule", max_pool_rule.TIE_ULPS), ("no tolerance", 0)):
    saved_ulps, max_pool_rule.TIE_ULPS = max_pool_rule.TIE_ULPS, ulps
    alone = explain.saliency(model, x4[:1], y100[shown][:1])
    batch[label] = batch_change(explain.saliency(model, x100, y100)[shown[:1]], alone)
    max_pool_rule.TIE_ULPS = saved_ulps
assert batch["the tie rule"] <= 1e-5, batch              # a map must not depend on the batch
print(f"   max pool ties on these 4 digits: {exact} positive windows tie exactly, {near} more "
      f"differ by less than the tolerance ({max_pool_rule.TIE_ULPS} rounding errors of "
      "the image's largest relu2 value). The first digit's saliency alone and inside the batch of "
      f"100 differs by {batch['the tie rule']:.1e} of its maximum with the tie rule "
      f"(asserted <= 1e-5), by {batch['no tolerance']:.1e} with no tolerance (the switch "
      "then goes to whichever value the batch's rounding made largest)")
activations = model.forward(x4, stop=layer)                      # (4, 64, 12, 12)
strongest = np.argsort(activations.max(axis=(2, 3)).mean(axis=0))[::-1][:4]
rows = [("digit", "image", x4)]
spans = []                                                       # each projection's extent
for channel in strongest:
    projection, positions = deconvnet.project(x4, layer, int(channel))
    model.forward(x4)
    seed, _ = explain.top_activation_seed(model.outputs[layer], int(channel))
    by_rule = model.backward(seed, relu_rule="deconvnet", start=layer, param_grads=False)
    difference = float(np.abs(projection - by_rule).max())
    support = [np.ptp(np.flatnonzero(np.abs(p[0]).max(axis=a) > 0)) + 1 for p in projection
               for a in (0, 1)]
    print(f"   {layer} channel {channel:2d}: unpool->rectify->filter vs backward(relu_rule="
          f"'deconvnet'): max difference {difference:.1e}; projection spans at most "
          f"{max(support)} pixels")
    spans.append(max(support))
    rows.append((f"{layer} ch {channel}", "gradient", projection))
fig = plot.method_grid(x4, rows, column_titles=[f"digit {y100[i]}" for i in shown], size=1.9)

BOX = 8                                                          # the zoomed crop: 8x8 pixels


def crop_box(projection):
    """(H, W) -> (top, left) of the BOX x BOX square centred on the projection's support."""
    ys, xs = np.nonzero(np.abs(projection) > 0)
    if len(ys) == 0:
        return 0, 0
    centre = [(ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2]
    return tuple(int(np.clip(c - BOX // 2, 0, n - BOX)) for c, n in zip(centre, projection.shape))


boxes = [[crop_box(p[0]) for p in projection] for _, _, projection in rows[1:]]
for r, row_boxes in enumerate(boxes, start=1):                  # where the zoom below comes from
    for i, (top, left) in enumerate(row_boxes):
        fig.panels[r, i].add_patch(Rectangle((left - 0.5, top - 0.5), BOX, BOX, fill=False,
                                             edgecolor="black", linewidth=0.8, linestyle="--"))
common.save(fig, args, "3_deconvnet_projections_pool1.png",
            "DeconvNet projections of the strongest activation of four pool1 feature maps "
            "(rows) in four digits (columns), through unpooling with the max-pool switches, "
            "rectification and transposed filters; one signed scale per row (blue < 0 < red), "
            "the digit's outline in grey, and a dashed box around each projection: figure 4 "
            f"shows that {BOX}x{BOX} box enlarged. Look at the small patch each projection "
            f"fills: the switch picks one relu2 unit, and the patch (at most {max(spans)} "
            "pixels across) is its receptive field. Reproduces the DeconvNet projections of "
            "the Ruhr-Universität Bochum slides 'Making the Training Visible', after Zeiler & "
            "Fergus 2014.")

fig = Figure(figsize=(1.9 * len(x4) + 0.6, 1.9 * len(boxes)), layout="constrained")
axes = np.array(fig.subplots(len(boxes), len(x4), squeeze=False))
alike = []                                                       # how alike a row's crops are
for r, (row_boxes, (title, _, projection)) in enumerate(zip(boxes, rows[1:])):
    scale = plot.row_scale(projection, "gradient")              # the same scale as in figure 3
    for i, (top, left) in enumerate(row_boxes):
        window = (slice(None), slice(top, top + BOX), slice(left, left + BOX))
        shown_map = plot.show_map(axes[r, i], projection[i][window], "gradient", scale,
                                  image=x4[i][window])
        if r == 0:
            axes[r, i].set_title(f"digit {y100[shown[i]]}", fontsize=8)
        axes[r, i].set_xlabel(f"rows {top}-{top + BOX - 1}, cols {left}-{left + BOX - 1}",
                              fontsize=7)
    axes[r, 0].set_ylabel(title, fontsize=8)
    fig.colorbar(shown_map, ax=list(axes[r]), shrink=0.85, pad=0.01)
    crops = np.array([projection[i][0, top:top + BOX, left:left + BOX]
                      for i, (top, left) in enumerate(row_boxes)])
    r_crops = np.corrcoef(crops.reshape(len(crops), -1))[np.triu_indices(len(crops), 1)]
    alike.append(float(r_crops.mean()))
print(f"   the {BOX}x{BOX} crops of one channel in the {len(x4)} digits: mean pairwise correlation "
      + ", ".join(f"{t.split()[-1]}: {a:.2f}" for (t, _, _), a in zip(rows[1:], alike)))
common.save(fig, args, "4_deconvnet_projections_pool1_zoom.png",
            f"The dashed {BOX}x{BOX} boxes of figure 3 enlarged: each DeconvNet projection "
            "pixel by pixel, on the same signed scale per row as figure 3 (blue < 0 < red), "
            "with the digit's outline in grey and the crop's position below each panel. Look "
            "at the pattern inside each patch: one channel (row) projects nearly the same "
            "pattern in every digit (mean pairwise correlation of a row's crops, channel by "
            "channel: " + ", ".join(f"{t.split()[-1]} {a:.2f}" for (t, _, _), a in
                                    zip(rows[1:], alike)) + "; 1.00 is the same pattern up "
            "to its strength: below pool1's switches the DeconvNet rules do not use the digit, "
            "so the digit only decides where the patch lies). Zoomed views of the DeconvNet projections of the "
            "Ruhr-Universität Bochum slides 'Making the Training Visible'.")

print("What to look at:")
print("  * 1_relu_rules_example: the three R matrices differ only by which mask they apply.")
print("  * 2_three_rules_true_vs_runner_up: compare the two columns of each digit, row by row;")
print("    the correlations printed above measure that comparison over 100 digits.")
print("  * 3_deconvnet_projections_pool1: each projection is confined to one unit's receptive")
print("    field, at the place the switches of pool1 point to.")
print("  * 4_deconvnet_projections_pool1_zoom: the same projections, enlarged to their pixels.")
