"""Spalling detection: guided backprop, Grad-CAM and Guided Grad-CAM on concrete.

What you will learn
  * the structural-health-monitoring study of Gao & Mosalam ("Visualizing and
    Understanding Deep CNN in Image-based Structural Health Monitoring"): a CNN
    that tells intact concrete from damage, and the three maps that show why;
  * how to *measure* an explanation when the truth is known: the pointing game
    (does the map peak inside the defect?) and the energy in the mask (how much
    of the map lies on the defect?).
The photographs of the paper are replaced by procedural concrete surfaces
(scratchcnn.datasets.surface_defects) with stains, shadows and formwork joints
as distractors and a pixel mask for every crack and spall.
Reproduces the paper's figure: rows of images with GBP, Grad-CAM and Guided Grad-CAM.
"""
import numpy as np
import scratchcnn as sc
from scratchcnn import explain, plot
from scratchcnn.explain import metrics

import common

args = common.start(__file__, __doc__)
x, y, masks, split = common.surface_data(args.quick)
count = len(x)
train, test = (x[:split], y[:split]), (x[split:], y[split:])
print(f"   {count} surfaces ({np.bincount(y).tolist()} intact/crack/spalling), "
      f"{split} for training, {count - split} held out")
PER_CLASS = 4
names = sc.datasets.SURFACE_CLASS_NAMES
examples = np.concatenate([np.flatnonzero(y == c)[:PER_CLASS] for c in range(len(names))])
fig = plot.image_grid(x[examples], [f"{names[y[k]]}, image #{k}" for k in examples],
                      columns=PER_CLASS)           # numbered as in the data set, not 0-3
common.save(fig, args, "1_surfaces.png",
            f"The first {PER_CLASS} procedural concrete surfaces of each class, one class per "
            f"row ({', '.join(names)}): RGB images made to stand in for colour photographs, "
            "shown in their own colours, with stains, shadows and formwork joints as "
            "distractors. Look for the defects the network must find. They stand in for the "
            "photographs of Gao & Mosalam's spalling data set.")

model, _ = common.surface_model(args)
accuracy = sc.evaluate(model, *test)["accuracy"]
print(f"   held-out accuracy {100 * accuracy:.2f}%")

# --- explain the held-out defects (cracks and spalls) for their true class --------------------
defect = np.flatnonzero(test[1] > 0)
xd, yd, md = test[0][defect], test[1][defect], masks[split:][defect]
layer, _ = explain.cam_layers(model)                         # the last conv's ReLU (enters the GAP)
guided = explain.guided_backprop(model, xd, yd)
grad_cam = explain.upsample(explain.grad_cam(model, xd, yd, layer=layer), xd.shape[2:])
guided_grad_cam = explain.guided_grad_cam(model, xd, yd, layer=layer)

# gradient maps become one non-negative map per image: the largest |value| over RGB
scores = {"guided backprop": np.abs(guided).max(axis=1),
          "Grad-CAM": grad_cam,
          "Guided Grad-CAM": np.abs(guided_grad_cam).max(axis=1)}
print(f"   on {len(xd)} held-out defect images:      pointing game   energy in mask")
results = {}
for name, maps in scores.items():
    results[name] = (metrics.pointing_game(maps, md), metrics.energy_in_mask(maps, md))
    line = f"   {name:>16}: all {100 * results[name][0]:5.1f}% {100 * results[name][1]:6.1f}%  |"
    for c in (1, 2):
        pick = yd == c
        if pick.any():
            hits = metrics.pointing_game(maps[pick], md[pick])
            energy = metrics.energy_in_mask(maps[pick], md[pick])
            class_name = names[c]
            line += f"  {class_name} {100 * hits:5.1f}% {100 * energy:5.1f}%"
    print(line)
even = md.reshape(len(md), -1).mean(axis=1).mean()
print(f"   (a map spread evenly would put {100 * even:.1f}% of its energy in the masks)")
best_pointing = max(results, key=lambda k: results[k][0])
best_energy = max(results, key=lambda k: results[k][1])
print(f"   highest pointing game: {best_pointing} ({100 * results[best_pointing][0]:.1f}%); "
      f"most energy in the mask: {best_energy} ({100 * results[best_energy][1]:.1f}%, "
      f"{results[best_energy][1] / even:.1f}x the even spread)")



def grown(masks, pixels=1):
    """(N, H, W) bool -> the masks grown by ``pixels`` in all 8 directions (a square
    dilation): the outline of the grown mask runs that many pixels outside the defect."""
    out = masks.copy()
    for _ in range(pixels):
        padded = np.pad(out, ((0, 0), (1, 1), (1, 1)))
        out = np.zeros_like(out)
        for dr in (0, 1, 2):
            for dc in (0, 1, 2):
                out |= padded[:, dr:dr + masks.shape[1], dc:dc + masks.shape[2]]
    return out


def edge_pixels(masks):
    """(N, H, W) bool -> the mask pixels with a 4-neighbour outside the mask: where an
    outline drawn on the mask's own border lies."""
    padded = np.pad(masks, ((0, 0), (1, 1), (1, 1)))
    inner = (padded[:, :-2, 1:-1] & padded[:, 2:, 1:-1] & padded[:, 1:-1, :-2]
             & padded[:, 1:-1, 2:])
    return masks & ~inner


# how much of each map a line on the defect's border would cover: its share of the map's
# energy in the defect that sits on the defect's edge pixels, per class
edges = edge_pixels(md)
edge_share, on_edge = {}, {}
for c in (1, 2):
    pick = yd == c
    if not pick.any():
        continue
    edge_share[c] = float(edges[pick].sum() / md[pick].sum())
    on_edge[c] = {name: float(((maps[pick] * edges[pick]).sum(axis=(1, 2)) / np.maximum(
        (maps[pick] * md[pick]).sum(axis=(1, 2)), 1e-12)).mean()) for name, maps in scores.items()}
    print(f"   {names[c]}: the edge pixels are {100 * edge_share[c]:.0f}% of the defect's "
          "pixels; share of each map's energy on the defect that lies on them: " +
          ", ".join(f"{name} {100 * v:.0f}%" for name, v in on_edge[c].items()))
OUTLINE = dict(colors="red", linewidths=0.7, linestyles="dashed")   # red: not in viridis

for number, c in enumerate((1, 2), start=2):     # one figure per class: cracks are thin and
    rows = np.flatnonzero(yd == c)[:4]             # weaker, a shared row scale would hide them
    if len(rows) == 0:
        continue
    class_name = names[c]
    titles = [f"{class_name}, held-out #{i}" for i in rows]   # not figure 1's images
    map_rows = [(f"{name}{' max|RGB|' if name != 'Grad-CAM' else ''}", "positive", maps[rows])
                for name, maps in scores.items()]
    fig = plot.method_grid(xd[rows], [("image, defect outlined", "image", xd[rows])] + map_rows,
                           column_titles=titles, size=2.1)
    for j, mask in enumerate(grown(md[rows])):     # the outline 1 pixel outside the defect
        for ax in fig.panels[:, j]:
            ax.contour(mask.astype(float), levels=[0.5], **OUTLINE)
    weak = []                                      # panels that get plot's "weak" label
    for name, kind, maps in map_rows:
        scale = plot.row_scale(maps, kind)
        weak += [f"{name.split(' max')[0]} of {t}" for t, m in zip(titles, maps)
                 if plot.map_note(m, kind, scale)]
    ggc = scores["Guided Grad-CAM"][rows]         # how bright each Guided Grad-CAM panel is
    ggc_scale = plot.row_scale(ggc, "positive")
    brightness = ", ".join(f"{t} {100 * m.max() / ggc_scale:.0f}/"
                           f"{100 * m[mask].mean() / ggc_scale:.0f}"
                           for t, m, mask in zip(titles, ggc, md[rows]))
    print(f"   {class_name} figure: panels labelled weak: {', '.join(weak) or 'none'}; Guided "
          f"Grad-CAM peak / mean on the defect, % of the row's scale: {brightness}")
    common.save(fig, args, f"{number}_gbp_gradcam_guided_gradcam_{class_name}.png",
                f"Guided backprop, Grad-CAM and Guided Grad-CAM (rows; the non-negative maps "
                f"that are scored, largest |value| over RGB for the gradient maps) for four "
                f"held-out {class_name} images, in opaque viridis, one scale per row; the true "
                f"defect is outlined in every row by a thin dashed red line drawn one pixel "
                f"OUTSIDE the defect, so the line covers no defect pixel: on the defect's edge "
                f"pixels ({100 * edge_share[c]:.0f}% of the {class_name} pixels of all "
                f"{(yd == c).sum()} held-out {class_name} images) lies "
                f"{100 * on_edge[c]['Guided Grad-CAM']:.0f}% of Guided Grad-CAM's energy on "
                f"the defect, which a solid line on the border itself would partly cover (the "
                f"white line used before). A panel labelled "
                f"'weak: max v (p% of "
                f"row)' peaks under a quarter of its row's scale, so it looks almost empty "
                f"(here: {', '.join(weak) or 'none'}). A thin map can look faint even so: the "
                f"Guided Grad-CAM row's peak / mean on the defect, in % of the row's scale, is "
                f"{brightness}. Look at how much of each map lies on the defect. Reproduces the "
                f"GBP / Grad-CAM / Guided Grad-CAM figure of Gao & Mosalam.")

print("What to look at:")
print("  * 2_... (cracks) and 3_... (spalls): compare each row with the defect; the two")
print("    scores above (pointing game, energy in mask) measure the same comparison on all")
print(f"    {len(xd)} held-out defects, against the even-spread line.")
