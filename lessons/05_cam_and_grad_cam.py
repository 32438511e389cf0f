"""Class activation maps: CAM on a global-average-pooling network, and Grad-CAM.

What you will learn
  * with global average pooling (GAP) before the last layer, the class score is a
    weighted sum of feature-map averages, so the same weights spread over the maps
    show *where* the class evidence is: CAM, F_c(x, y) = sum_k w_ck f_k(x, y)
    (Vasu & Savakis eq. 1; Zhou et al.), as in the blog "Visual Explanation of
    Neural Networks in Deep Learning";
  * Grad-CAM gets the channel weights from gradients instead, w_k = mean dS_c/dA_k,
    so it works on any network; on a GAP network it *is* CAM (times h*w);
  * the maps for the true class and for a wrong class differ.
"""
import numpy as np
import scratchcnn as sc
from scratchcnn import explain, plot, zoo

import common

args = common.start(__file__, __doc__)
data = common.load_data("mnist", args.quick)
model, history = common.trained(
    args, "gap-mnist", lambda: zoo.gap_model(1, 10, widths=(16, 32, 64)), data, epochs=8,
    lr=2e-3, batch_size=32, lr_decay=0.8)
_, (x_test, y_test) = data
print(model)
print(f"   held-out accuracy {100 * history['val_accuracy'][-1]:.2f}%")

x, y = x_test[:6], y_test[:6]
logits = sc.predict(model, x)
runner_up = np.argsort(logits, axis=1)[:, -2]             # the most likely wrong class

# --- 1. CAM and Grad-CAM agree on a GAP network -------------------------------------------
last, _ = explain.cam_layers(model)                        # the feature maps entering the GAP
cam = explain.cam(model, x, y)
grad_cam = explain.grad_cam(model, x, y, layer=last, relu=False)
h, w = cam.shape[1:]
gap = float(np.abs(cam - h * w * grad_cam).max() / np.abs(cam).max())
print(f"   CAM vs h*w * Grad-CAM at {last} ({h}x{w} maps): max relative difference {gap:.1e}")

# --- 2. True class vs the runner-up, on the image ------------------------------------------
size = x.shape[2:]
cam_true = explain.upsample(cam, size)
cam_wrong = explain.upsample(explain.cam(model, x, runner_up), size)
grad_cam_true = explain.upsample(explain.grad_cam(model, x, y, layer=last), size)
fig = plot.method_grid(x, [("digit", "image", x), ("CAM, true class", "heat", cam_true),
                           ("Grad-CAM, true class", "heat", grad_cam_true),
                           ("CAM, runner-up class", "heat", cam_wrong),
                           ("CAM, signed", "signed", cam_true)],
                       row_titles=[f"{t} (2nd: {r})" for t, r in zip(y, runner_up)])
common.save(fig, args, "1_cam_true_vs_wrong.png")

# --- 3. Grad-CAM at an earlier layer: finer but noisier ---------------------------------------
early = explain.upsample(explain.grad_cam(model, x, y, layer="relu2"), size)
fig = plot.method_grid(x[:4], [("digit", "image", x), ("Grad-CAM relu2", "heat", early),
                               (f"Grad-CAM {last}", "heat", grad_cam_true)])
common.save(fig, args, "2_grad_cam_layers.png")

print("What to look at:")
print("  * 1_cam_true_vs_wrong: the true class lights up the strokes that make the digit;")
print("    the runner-up class looks at the part that could belong to it (the loop of a 9")
print("    for a 4, say). The signed CAM shows where evidence *against* the class sits.")
print("  * 2_grad_cam_layers: earlier layers have more pixels but less class meaning.")
