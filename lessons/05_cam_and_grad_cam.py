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
  * where the maps point, measured by distance to the strokes: the share of peaks
    within NEAR = 2 pixels of a stroke pixel, and the share of the map's mass there (a
    14x14 or 7x7 map cell covers 2x2 or 4x4 image pixels, so "exactly on a stroke
    pixel" asks more precision than the map has), for the true class and the runner-up,
    at two layers.
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

# --- 2. Where does the map point? ------------------------------------------------------------
stroke = x[:, 0] > 0.5                                     # stroke pixels of each digit
NEAR = 2                                                   # pixels: "at the stroke"


def distance_to_stroke(strokes):
    """(N, H, W) bool -> (N, H, W) float: each pixel's Euclidean distance, in pixels, to
    the nearest stroke pixel of its image (inf in an image without one)."""
    rows, cols = np.indices(strokes.shape[1:])
    grid = np.stack([rows.ravel(), cols.ravel()], axis=1)            # (H*W, 2)
    out = np.full(strokes.shape, np.inf)
    for n, s in enumerate(strokes):
        on = grid[s.ravel()]                                           # (K, 2) stroke pixels
        if len(on):
            d = np.sqrt(((grid[:, None, :] - on[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
            out[n] = d.reshape(s.shape)
    return out


distance = distance_to_stroke(stroke)                      # (N, 28, 28)
near = distance <= NEAR                                    # within NEAR pixels of a stroke
near_chance = 100 * near.mean()                            # a random pixel's rate


def placement(maps):
    """Where the upsampled maps (N, h, w) point: (peak on a stroke pixel, peak within NEAR
    pixels of one, share of the positive map mass within NEAR pixels), each (N,)."""
    up = np.maximum(explain.upsample(maps, size), 0).reshape(len(maps), -1)
    peaks = up.argmax(axis=1)
    on = stroke.reshape(len(maps), -1)[np.arange(len(maps)), peaks]
    close = near.reshape(len(maps), -1)[np.arange(len(maps)), peaks]
    mass = (up * near.reshape(len(maps), -1)).sum(axis=1) / np.maximum(up.sum(axis=1), 1e-12)
    return on, close, mass


hits, close_true, mass_true = placement(cam)
hits_other, close_other, _ = placement(cam_other)
peak_rc = np.array(np.unravel_index(explain.upsample(cam, size).reshape(len(x), -1).argmax(axis=1),
                                    size)).T                 # (N, 2): row, col of each peak
BORDER = 3                                                   # the outermost 3 pixels
at_border = ((peak_rc < BORDER) | (peak_rc >= np.array(size) - BORDER)).any(axis=1)
print(f"   the CAM peak (upsampled argmax) lies on a stroke pixel (image > 0.5) in "
      f"{hits.sum()} of {len(x)} test digits for the true class, {hits_other.sum()} for the "
      f"runner-up; a random pixel would be a stroke pixel {100 * stroke.mean():.1f}% of the time")
print(f"   within {NEAR} pixels of a stroke: {close_true.sum()} true-class peaks, "
      f"{close_other.sum()} runner-up peaks (a random pixel: {near_chance:.1f}%); "
      f"{100 * mass_true.mean():.1f}% of the positive CAM's mass lies there")
far = ~close_true
print(f"   of the {far.sum()} peaks farther than {NEAR} pixels, {(at_border & far).sum()} lie "
      f"within {BORDER} pixels of the image border")
missed = np.bincount(y[far], minlength=10)
print(f"   digits whose CAM peak is farther than {NEAR} pixels from the strokes, per class: " +
      ", ".join(f"{c}: {missed[c]}/{(y == c).sum()}" for c in range(10) if (y == c).any()))

# CAM's mean is the class score: S_c = sum_k w_ck mean_xy f_k + b_c = mean_xy M_c + b_c
bias = model[explain.cam_layers(model)[1]].params["b"]
score_gap = float(np.abs(cam.mean(axis=(1, 2)) + bias[y] - logits[np.arange(len(y)), y]).max())
print(f"   the class score is CAM's mean plus the class's bias: max |mean(M_c) + b_c - S_c| "
      f"over {len(x)} digits = {score_gap:.1e} (scores range "
      f"{logits[np.arange(len(y)), y].min():.1f} to {logits[np.arange(len(y)), y].max():.1f})")

# --- 3. The figure: each digit for its true class and for its runner-up ----------------------
correct = np.flatnonzero(logits.argmax(axis=1) == y)
shown = []                                                  # 4 correct digits of 4 classes
for i in correct:
    if y[i] not in y[shown] and len(shown) < 4:
        shown.append(i)
off_stroke = [i for i in correct if far[i] and y[i] not in y[shown[:3]]]
if len(shown) == 4 and not far[shown].any() and off_stroke:   # show one far peak too
    shown[3] = off_stroke[0]
shown = np.array(shown if len(shown) == 4 else [0, 1, 2, 3])
columns = np.repeat(shown, 2)
is_other = np.tile([False, True], len(shown))
targets = np.where(is_other, runner_up[columns], y[columns])
cam_cols = explain.upsample(explain.cam(model, x[columns], targets), size)
grad_cam_cols = h * w * explain.upsample(
    explain.grad_cam(model, x[columns], targets, layer=last, relu=False), size)
column_scores = logits[columns, targets]                    # S_c of each column
column_means = explain.cam(model, x[columns], targets).mean(axis=(1, 2))   # mean of M_c, h x w
titles = [f"{y[i]}: class {t}" + (" (2nd)" if o else " (true)") + f"\nS_c {s:.1f}, mean {m:.1f}"
          for i, t, o, s, m in zip(columns, targets, is_other, column_scores, column_means)]
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
pointing = ("mostly do not" if 2 * close_true.sum() < len(x) else
            "do not always" if close_true.sum() < len(x) else "always")
common.save(fig, args, "1_cam_equals_grad_cam.png",
            "CAM and h*w times Grad-CAM without its ReLU (signed, blue < 0 < red), and the "
            "rectified map ReLU(CAM) = h*w Grad-CAM (opaque viridis), with the digit's outline "
            "in grey, for four digits each explained for its true class and its runner-up; one "
            "scale per row, so true and runner-up share it; x marks the peak. Look at the two "
            f"signed rows: they are {'identical' if gap < 1e-4 else 'NOT identical'} (max "
            f"difference {gap:.1e} of max |CAM|). The class score is the signed map's mean "
            f"plus the class's bias, S_c = mean_xy M_c(x, y) + b_c (the GAP: checked to "
            f"{score_gap:.1e} on {len(x)} digits; each column title gives S_c and the mean of "
            f"M_c over its {h}x{w} cells; the biases are at most {np.abs(bias).max():.2g} "
            f"in size), so the score a map explains is its mean, not its "
            f"peak: the layout says where the score comes from. Against the object-covering "
            f"CAM overlays of Zhou et al. 2016, these maps {pointing} point at the digit: over "
            f"{len(x)} test digits the true-class CAM peaks within {NEAR} pixels of a stroke in "
            f"{close_true.sum()} ({close_other.sum()} for the runner-up; a random pixel is that "
            f"close {near_chance:.1f}% of the time), exactly on a stroke pixel in {hits.sum()}; "
            f"of the {far.sum()} farther away, {(at_border & far).sum()} lie within {BORDER} "
            "pixels of the border. CAM as in Zhou et al. 2016 / Vasu & Savakis, Grad-CAM as in "
            "Selvaraju et al. 2017.")

# --- 4. Grad-CAM at an earlier layer ---------------------------------------------------------
print(f"   Grad-CAM by layer, on the same digits: peak on a stroke, peak within {NEAR} px, "
      f"mass within {NEAR} px, corr(true, runner-up)")
layer_maps, score, grid, shown_scores = {}, {}, {}, {}
for layer in ("relu2", last):
    true_map = explain.grad_cam(model, x, y, layer=layer)
    other_map = explain.grad_cam(model, x, runner_up, layer=layer)
    a, b = true_map.reshape(len(x), -1), other_map.reshape(len(x), -1)
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    r = (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1) + 1e-30)
    on, close, mass = placement(true_map)
    score[layer] = dict(on=int(on.sum()), close=int(close.sum()), mass=100 * float(mass.mean()))
    grid[layer] = "x".join(map(str, true_map.shape[1:]))
    print(f"   {layer:>6} ({grid[layer]}): {score[layer]['on']:3d} of {len(x)}   "
          f"{score[layer]['close']:3d} of {len(x)}   {score[layer]['mass']:5.1f}%   "
          f"mean {r.mean():.2f}")
    layer_maps[layer] = explain.upsample(true_map[shown], size)
    peak_distance = distance.reshape(len(x), -1)[
        np.arange(len(x)), np.maximum(explain.upsample(true_map, size), 0)
        .reshape(len(x), -1).argmax(axis=1)]
    shown_scores[layer] = [(peak_distance[i], 100 * mass[i]) for i in shown]
    score[layer]["median"] = float(np.median(peak_distance))
print(f"   (a random pixel lies within {NEAR} px of a stroke {near_chance:.1f}% of the time)")
fig = plot.method_grid(x[shown], [("digit", "image", x[shown])] + [
    (f"Grad-CAM {layer}", "positive", maps) for layer, maps in layer_maps.items()],
    column_titles=[f"digit {y[i]}, class {y[i]}" for i in shown], size=1.9)
for r, (layer, maps) in enumerate(layer_maps.items(), start=1):   # mark each map's peak
    for j, m in enumerate(maps):
        row, col = np.unravel_index(m.argmax(), m.shape)
        fig.panels[r, j].plot(col, row, "x", color="black", markersize=7, markeredgewidth=2,
                              clip_on=False)
        d, m_near = shown_scores[layer][j]
        fig.panels[r, j].set_title(f"peak {d:.1f} px off; {m_near:.0f}% near", fontsize=7.5)


def closer(measure, unit):
    """Which layer's Grad-CAM lies nearer the strokes by one measure, as a phrase."""
    a, b = score["relu2"][measure], score[last][measure]
    return (f"relu2 {a:.0f}{unit} against {last} {b:.0f}{unit}", "relu2" if a > b else
            last if b > a else None)


peaks_text, peaks_winner = closer("close", f"/{len(x)}")
mass_text, mass_winner = closer("mass", "%")
if peaks_winner and peaks_winner == mass_winner:
    verdict = (f"by both measures {peaks_winner}'s map lies nearer the strokes than "
               f"{last if peaks_winner == 'relu2' else 'relu2'}'s")
else:
    verdict = "the two measures do not agree on which layer lies nearer the strokes"
exact = ""
if (score["relu2"]["on"] < score[last]["on"] and peaks_winner == "relu2"
        and 0 < score["relu2"]["median"] <= NEAR):
    exact = (f" Exactly on a stroke pixel the order reverses (relu2 {score['relu2']['on']}, "
             f"{last} {score[last]['on']} of {len(x)}; median distance of a peak to the "
             f"nearest stroke pixel: relu2 {score['relu2']['median']:.1f} px, {last} "
             f"{score[last]['median']:.1f} px): relu2's peaks sit beside the strokes, not on "
             "them.")
common.save(fig, args, "2_grad_cam_layers.png",
            f"Grad-CAM for the true class at relu2 ({grid['relu2']}) and at the last ReLU, "
            f"{last} ({grid[last]}), in "
            "opaque viridis with the digit's outline in grey, one scale per row; x marks each "
            "map's peak, and each panel's title gives the peak's distance to the nearest "
            f"stroke pixel and the share of the map's mass within {NEAR} pixels of a stroke. "
            "Look at how much finer the relu2 map is, and how close its x sits to the "
            f"strokes. Measured over {len(x)} test digits, peaks within {NEAR} pixels of a "
            f"stroke: {peaks_text}; mass within {NEAR} pixels: {mass_text} (a random pixel "
            f"is that close {near_chance:.1f}% of the time): {verdict}.{exact} Grad-CAM at two "
            "depths as in Selvaraju et al. 2017.")

print("What to look at:")
print("  * 1_cam_equals_grad_cam: the two signed rows are the same picture (the difference")
print("    printed above); the x marks each map's peak: compare it with the distance counts.")
print("  * 2_grad_cam_layers: the rows differ in resolution; the table above says how near")
print("    each layer's map lies to the strokes and how much it changes with the class.")
