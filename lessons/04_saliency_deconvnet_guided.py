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
  * sharp is not the same as class-specific: the lesson measures how much each map
    changes when the class changes (Adebayo et al. 2018, "Sanity checks for saliency
    maps"; Nie, Zhang & Patel 2018, "A theoretical explanation for perplexing
    behaviors of backpropagation-based visualizations").
Reproduces the 3x3 worked example of the three rules (Springenberg et al. 2015,
Fig. 1, in the notation of Gao & Mosalam's eq. 3) and the DeconvNet projections of
"Making the Training Visible" (Ruhr-Universität Bochum slides), on digits.
"""
import inspect

import numpy as np
from matplotlib.figure import Figure

import scratchcnn as sc
from scratchcnn import explain, plot

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
F = np.array([[1, -1, 5], [2, -5, -7], [-3, 2, 4]], dtype=np.float64)    # the ReLU's input
G = np.array([[-2, 3, -1], [6, -3, 1], [2, -1, 3]], dtype=np.float64)    # gradient from above
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
fig = plot.method_grid(x100[columns], [
    ("digit", "image", x100[columns]),
    ("gradient dS_c/dx", "gradient", pick("gradient")),
    ("saliency |dS_c/dx|", "positive", magnitude),
    ("DeconvNet", "gradient", pick("deconvnet")),
    ("guided backprop", "gradient", pick("guided")),
    ("Grad-CAM (pool1)", "positive", pick("Grad-CAM"))], column_titles=titles, size=1.55)
common.save(fig, args, "2_three_rules_true_vs_runner_up.png",
            "Rows are methods, columns are four digits each explained for its true class and "
            "for the runner-up class; every row has one scale and colourbar (signed rows "
            "blue < 0 < red; |saliency| and Grad-CAM in viridis over the grey digit at alpha "
            "0.6). Look at how little guided backprop changes between the two columns of a "
            "digit. Saliency as in Simonyan et al. 2014, DeconvNet as Zeiler & Fergus 2014, "
            "guided backprop as Springenberg et al. 2015.")

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
check = max(float(np.abs(true_maps[r][shown] - f(model, x4, y100[shown])).max()) for r, f in
            [("gradient", explain.saliency), ("deconvnet", explain.deconvnet),
             ("guided", explain.guided_backprop)])
print(f"   explain.saliency / deconvnet / guided_backprop are these backward calls: "
      f"max difference {check:.1e}")
activations = model.forward(x4, stop=layer)                      # (4, 64, 12, 12)
strongest = np.argsort(activations.max(axis=(2, 3)).mean(axis=0))[::-1][:4]
rows = [("digit", "image", x4)]
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
    rows.append((f"{layer} ch {channel}", "gradient", projection))
fig = plot.method_grid(x4, rows, column_titles=[f"digit {y100[i]}" for i in shown], size=1.9)
for r in range(1, len(rows)):                                    # where the digit is, in grey
    for i in range(len(x4)):
        fig.panels[r, i].contour(x4[i, 0], levels=[0.5], colors="0.55", linewidths=0.6)
common.save(fig, args, "3_deconvnet_projections_pool1.png",
            "DeconvNet projections of the strongest activation of four pool1 feature maps "
            "(rows) in four digits (columns), through unpooling with the max-pool switches, "
            "rectification and transposed filters; one signed scale per row, the digit's outline "
            "in grey. Look at the small patch each projection fills: the switch picks one "
            "relu2 unit, and the patch is its 5x5 receptive field. Reproduces the "
            "DeconvNet projections of 'Making the Training Visible' (Zeiler & Fergus 2014).")

print("What to look at:")
print("  * 1_relu_rules_example: the three R matrices differ only by which mask they apply.")
print("  * 2_three_rules_true_vs_runner_up: compare the two columns of each digit, row by row;")
print("    the correlations printed above measure that comparison over 100 digits.")
print("  * 3_deconvnet_projections_pool1: each projection is confined to one unit's receptive")
print("    field, at the place the switches of pool1 point to.")
