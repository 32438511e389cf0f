"""Class activation maps: CAM on a global-average-pooling network, and Grad-CAM.

What you will learn
  * with global average pooling (GAP) before the last layer, the class score is a
    weighted sum of feature-map averages, S_c = sum_k w_ck (1/Z) sum_xy f_k(x, y), so
    the same weights spread over the maps show *where* the class evidence is:
        CAM:       M_c(x, y) = sum_k w_ck f_k(x, y)
    (Zhou et al. 2016, "Learning deep features for discriminative localization";
    Vasu & Savakis, "Visualizing the Resilience of Deep Convolutional Network
    Interpretations", eq. 1), upsampled to the image's size as in the blog
    "Visual Explanation of Neural Networks in Deep Learning" (drawn here opaque, with
    the digit's outline on top);
  * Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: visual explanations from deep
    networks via gradient-based localization"; Gao & Mosalam) gets the channel
    weights from gradients instead, so it works on any network:
        alpha_k = (1/Z) sum_ij dS_c/dA_k,ij,    L_c = ReLU(sum_k alpha_k A_k)
    with Z = h*w pixels of the feature maps A. On a GAP network alpha_k = w_ck / Z,
    so CAM = h*w * Grad-CAM before its ReLU; the lesson computes the difference;
  * where the maps peak, measured: on a stroke or not, for the true class and the
    runner-up, at two layers.
"""
import numpy as np

import scratchcnn as sc
from scratchcnn import explain, plot, zoo

import common

args = common.start(__file__, __doc__)
data = common.load_data("mnist", args.quick)
model, history = common.trained(
    args, "gap-mnist", lambda: zoo.gap_model(1, 10, widths=(16, 32, 64)), data, epochs=6,
    lr=2e-3, batch_size=32, lr_decay=0.8)
_, (x_test, y_test) = data
print(model)
print(f"   held-out accuracy {100 * history['val_accuracy'][-1]:.2f}%")

x, y = x_test[:100], y_test[:100]
logits = sc.predict(model, x)
others = logits.copy()
others[np.arange(len(y)), y] = -np.inf
runner_up = others.argmax(axis=1)                          # the most likely wrong class
size = x.shape[2:]

# --- 1. CAM and Grad-CAM are the same map on a GAP network ---------------------------------
last, _ = explain.cam_layers(model)                        # the feature maps entering the GAP
cam, cam_other = explain.cam(model, x, y), explain.cam(model, x, runner_up)
grad_cam_signed = explain.grad_cam(model, x, y, layer=last, relu=False)
h, w = cam.shape[1:]
gap = float(np.abs(cam - h * w * grad_cam_signed).max() / np.abs(cam).max())
print(f"   CAM vs h*w * Grad-CAM(relu=False) at {last} (h*w = {h}x{w} = {h * w}), "
      f"{len(x)} digits: max |difference| / max |CAM| = {gap:.1e}")

# --- 2. Where does the map peak? -------------------------------------------------------------
stroke = x[:, 0] > 0.5                                     # stroke pixels of each digit


def peak_on_stroke(maps):
    """(N, h, w) -> (N,) bool: does the upsampled map's argmax fall on a stroke pixel?"""
    peaks = explain.upsample(maps, size).reshape(len(maps), -1).argmax(axis=1)
    return stroke.reshape(len(maps), -1)[np.arange(len(maps)), peaks]


hits, hits_other = peak_on_stroke(cam), peak_on_stroke(cam_other)
peak_rc = np.array(np.unravel_index(explain.upsample(cam, size).reshape(len(x), -1).argmax(axis=1),
                                    size)).T                 # (N, 2): row, col of each peak
BORDER = 3                                                   # the outermost 3 pixels
at_border = ((peak_rc < BORDER) | (peak_rc >= np.array(size) - BORDER)).any(axis=1)
print(f"   the CAM peak (upsampled argmax) lies on a stroke pixel (image > 0.5) in "
      f"{hits.sum()} of {len(x)} test digits for the true class, {hits_other.sum()} for the "
      f"runner-up; a random pixel would be a stroke pixel {100 * stroke.mean():.1f}% of the time")
print(f"   of the {(~hits).sum()} off-stroke peaks, {(at_border & ~hits).sum()} lie within "
      f"{BORDER} pixels of the image border")
missed = np.bincount(y[~hits], minlength=10)
print("   digits whose CAM peak is off the strokes, per class: " +
      ", ".join(f"{c}: {missed[c]}/{(y == c).sum()}" for c in range(10) if (y == c).any()))
inside = (np.maximum(explain.upsample(cam, size), 0) * stroke).sum(axis=(1, 2)) / np.maximum(
    np.maximum(explain.upsample(cam, size), 0).sum(axis=(1, 2)), 1e-12)
print(f"   share of the positive CAM on stroke pixels: {100 * inside.mean():.1f}% (mean over "
      f"{len(x)} digits)")

# --- 3. The figure: each digit for its true class and for its runner-up ----------------------
correct = np.flatnonzero(logits.argmax(axis=1) == y)
shown = []                                                  # 4 correct digits of 4 classes
for i in correct:
    if y[i] not in y[shown] and len(shown) < 4:
        shown.append(i)
off_stroke = [i for i in correct if not hits[i] and y[i] not in y[shown[:3]]]
if len(shown) == 4 and hits[shown].all() and off_stroke:   # show one off-stroke peak too
    shown[3] = off_stroke[0]
shown = np.array(shown if len(shown) == 4 else [0, 1, 2, 3])
columns = np.repeat(shown, 2)
is_other = np.tile([False, True], len(shown))
targets = np.where(is_other, runner_up[columns], y[columns])
cam_cols = explain.upsample(explain.cam(model, x[columns], targets), size)
grad_cam_cols = h * w * explain.upsample(
    explain.grad_cam(model, x[columns], targets, layer=last, relu=False), size)
titles = [f"{y[i]}: class {t}" + (" (2nd)" if o else " (true)")
          for i, t, o in zip(columns, targets, is_other)]
fig = plot.method_grid(x[columns], [
    ("digit", "image", x[columns]),
    ("CAM M_c (signed)", "signed", cam_cols),
    ("h*w Grad-CAM, no ReLU", "signed", grad_cam_cols),
    ("ReLU(CAM)", "positive", np.maximum(grad_cam_cols, 0))],
    column_titles=titles, size=1.6)
panels = fig.panels                                         # (rows, images)
for j, m in enumerate(cam_cols):                            # mark each map's peak
    row, col = np.unravel_index(m.argmax(), m.shape)
    for r in (1, 2, 3):
        panels[r, j].plot(col, row, "x", color="black", markersize=7, markeredgewidth=2,
                          clip_on=False)
chance = 100 * stroke.mean()                                # a random pixel's stroke rate
pointing = ("mostly do not" if 2 * hits.sum() < len(x) else
            "do not always" if hits.sum() < len(x) else "always")
common.save(fig, args, "1_cam_equals_grad_cam.png",
            "CAM and h*w times Grad-CAM without its ReLU (signed, blue < 0 < red), and the "
            "rectified map ReLU(CAM) = h*w Grad-CAM (opaque viridis), with the digit's outline "
            "in grey, for four digits each explained for its true class and its runner-up; one "
            "scale per row, so true and runner-up share it; x marks the peak. Look at the two "
            f"signed rows: they are {'identical' if gap < 1e-4 else 'NOT identical'} (max "
            f"difference {gap:.1e} of max |CAM|). Against the object-covering CAM overlays of Zhou et al. "
            f"2016, these maps {pointing} point at the digit: over {len(x)} test digits the "
            f"true-class CAM peaks off the strokes in {len(x) - hits.sum()} "
            f"({hits.sum()} on a stroke; {hits_other.sum()} for the runner-up, against "
            f"{chance:.1f}% for a random pixel), {(at_border & ~hits).sum()} of them within "
            f"{BORDER} pixels of the border. CAM "
            "as in Zhou et al. 2016 / Vasu & Savakis, Grad-CAM as in Selvaraju et al. 2017.")

# --- 4. Grad-CAM at an earlier layer ---------------------------------------------------------
print("   Grad-CAM by layer, on the same digits:  peak on a stroke   corr(true, runner-up)")
layer_maps, on_stroke, grid = {}, {}, {}
for layer in ("relu2", last):
    true_map = explain.grad_cam(model, x, y, layer=layer)
    other_map = explain.grad_cam(model, x, runner_up, layer=layer)
    a, b = true_map.reshape(len(x), -1), other_map.reshape(len(x), -1)
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    r = (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1) + 1e-30)
    on_stroke[layer] = int(peak_on_stroke(true_map).sum())
    grid[layer] = "x".join(map(str, true_map.shape[1:]))
    print(f"   {layer:>6} ({true_map.shape[1]}x{true_map.shape[2]}): "
          f"{on_stroke[layer]:3d} of {len(x)} digits          mean {r.mean():.2f}")
    layer_maps[layer] = explain.upsample(true_map[shown], size)
fig = plot.method_grid(x[shown], [("digit", "image", x[shown])] + [
    (f"Grad-CAM {layer}", "positive", maps) for layer, maps in layer_maps.items()],
    column_titles=[f"digit {y[i]}, class {y[i]}" for i in shown], size=1.9)
for r, maps in enumerate(layer_maps.values(), start=1):      # mark each map's peak
    for j, m in enumerate(maps):
        row, col = np.unravel_index(m.argmax(), m.shape)
        fig.panels[r, j].plot(col, row, "x", color="black", markersize=7, markeredgewidth=2,
                              clip_on=False)


def versus_chance(count):
    """'k/N peaks on a stroke, below/above the p% chance rate' for one layer."""
    share = 100 * count / len(x)
    side = "below" if share < chance else "above" if share > chance else "at"
    return f"{count}/{len(x)} peaks on a stroke, {side} the {chance:.1f}% chance rate"


common.save(fig, args, "2_grad_cam_layers.png",
            f"Grad-CAM for the true class at relu2 ({grid['relu2']}) and at the last ReLU, "
            f"{last} ({grid[last]}), in "
            "opaque viridis with the digit's outline in grey, one scale per row; x marks each "
            "map's peak. Look at how much finer the relu2 map is, and whether its peaks sit "
            f"on the strokes: measured over {len(x)} test digits, relu2 gets "
            f"{versus_chance(on_stroke['relu2'])}; {last} gets "
            f"{versus_chance(on_stroke[last])}. Grad-CAM at two depths as in Selvaraju et al. "
            "2017.")

print("What to look at:")
print("  * 1_cam_equals_grad_cam: the two signed rows are the same picture (the difference")
print("    printed above); the x marks each map's peak: compare it with the stroke counts.")
print("  * 2_grad_cam_layers: the rows differ in resolution; the table above says how often")
print("    each layer's map peaks on a stroke and how much it changes with the class.")
