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
from scratchcnn import explain, plot, zoo
from scratchcnn.explain import metrics

import common

args = common.start(__file__, __doc__)
count = 150 if args.quick else 2000
x, y, masks = sc.datasets.surface_defects(count, size=64, seed=0)
split = int(0.8 * count)
train, test = (x[:split], y[:split]), (x[split:], y[split:])
print(f"   {count} surfaces ({np.bincount(y).tolist()} intact/crack/spalling), "
      f"{split} for training, {count - split} held out")
fig = plot.image_grid(x[:12], [sc.datasets.SURFACE_CLASS_NAMES[c] for c in y[:12]], columns=6)
common.save(fig, args, "1_surfaces.png")

model, history = common.trained(
    args, "gap-surface", lambda: zoo.gap_model(3, 3, widths=(16, 32, 64)), (train, test),
    epochs=8, lr=2e-3, batch_size=32, lr_decay=0.8)
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
for name, maps in scores.items():
    line = f"   {name:>16}: all {100 * metrics.pointing_game(maps, md):5.1f}% " \
           f"{100 * metrics.energy_in_mask(maps, md):6.1f}%  |"
    for c in (1, 2):
        pick = yd == c
        if pick.any():
            hits = metrics.pointing_game(maps[pick], md[pick])
            energy = metrics.energy_in_mask(maps[pick], md[pick])
            class_name = sc.datasets.SURFACE_CLASS_NAMES[c]
            line += f"  {class_name} {100 * hits:5.1f}% {100 * energy:5.1f}%"
    print(line)
print(f"   (a map spread evenly would put {100 * md.mean():.1f}% of its energy in the masks)")

rows = np.concatenate([np.flatnonzero(yd == 1)[:3], np.flatnonzero(yd == 2)[:3]])
fig = plot.method_grid(xd[rows], [("image, defect outlined", "image", xd[rows]),
                                  ("guided backprop", "gradient", guided[rows]),
                                  ("Grad-CAM", "heat", grad_cam[rows]),
                                  ("Guided Grad-CAM", "gradient", guided_grad_cam[rows])],
                       masks=md[rows], outline=("image", "heat"),
                       row_titles=[sc.datasets.SURFACE_CLASS_NAMES[c] for c in yd[rows]])
common.save(fig, args, "2_gbp_gradcam_guided_gradcam.png")

print("What to look at:")
print("  * 2_gbp_gradcam_guided_gradcam: Grad-CAM is coarse but lands on the defect;")
print("    guided backprop is sharp but lights up every edge, stains and joints included;")
print("    their product, Guided Grad-CAM, is sharp *and* on the defect (as in the paper).")
print("  * The scores put numbers on it: compare each method's energy with the even-spread line.")
