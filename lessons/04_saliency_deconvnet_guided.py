"""Saliency, DeconvNet and guided backpropagation: three ReLU rules, three maps.

What you will learn
  * all three methods are one backward pass from a class score to the pixels;
    they differ only in what a ReLU lets through on the way back (Gao & Mosalam,
    "Visualizing and Understanding Deep CNN in Image-based Structural Health
    Monitoring", eq. 3, with F the ReLU's input and G the gradient from above):
        gradient  (saliency):  R = 1(F > 0) * G
        DeconvNet:             R = 1(G > 0) * G
        guided backprop:       R = 1(F > 0) * 1(G > 0) * G
  * the explicit DeconvNet of Zeiler & Fergus (unpool with switches -> rectify ->
    transposed filter) is exactly the backward pass with the DeconvNet rule;
  * what single feature maps of the trained digit network respond to.
Reproduces the DeconvNet projections of "Making the Training Visible" (Ruhr-
Universität Bochum) and the GBP maps of the spalling paper, on handwritten digits.
"""
import numpy as np
import scratchcnn as sc
from scratchcnn import explain, plot

import common

args = common.start(__file__, __doc__)
model, _ = common.seed_model(args, "mnist")
_, (x_test, y_test) = common.load_data("mnist", args.quick)

# Four held-out digits the network classifies correctly
predicted = sc.predict(model, x_test[:200]).argmax(axis=1)
picked = np.flatnonzero(predicted == y_test[:200])[:4]
x, y = x_test[picked], y_test[picked]

# --- 1. Three rules, three maps (each one line on model.backward) -------------------------
gradient = explain.saliency(model, x, y)              # relu_rule="gradient"
deconv = explain.deconvnet(model, x, y)               # relu_rule="deconvnet"
guided = explain.guided_backprop(model, x, y)         # relu_rule="guided"
fig = plot.method_grid(x, [("digit", "image", x), ("gradient (saliency)", "gradient", gradient),
                           ("DeconvNet", "gradient", deconv),
                           ("guided backprop", "gradient", guided)],
                       row_titles=[f"class {c}" for c in y])
common.save(fig, args, "1_three_rules.png")
for name, maps in [("gradient", gradient), ("DeconvNet", deconv), ("guided", guided)]:
    positive = (maps > 0).mean()
    print(f"   {name:>9}: {100 * positive:4.1f}% of pixels positive, "
          f"{100 * (maps < 0).mean():4.1f}% negative")
print("   The gradient is signed noise-like speckle; DeconvNet ignores the forward ReLU masks,")
print("   so it shows edges of strokes almost regardless of the class; guided backprop keeps")
print("   only paths that were active (F > 0) *and* push the score up (G > 0): sharp strokes.")

# --- 2. The explicit DeconvNet equals the DeconvNet rule ----------------------------------------
deconvnet = explain.DeconvNet(model)
layer = "relu2"
activations = model.forward(x[:1], stop=layer)[0]
strongest = np.argsort(activations.reshape(len(activations), -1).max(axis=1))[::-1][:6]
projections = []
for channel in strongest:
    projection, position = deconvnet.project(x[:1], layer, int(channel))
    model.forward(x[:1])
    seed, _ = explain.top_activation_seed(model.outputs[layer], int(channel))
    by_rule = model.backward(seed, relu_rule="deconvnet", start=layer, param_grads=False)
    difference = float(np.abs(projection - by_rule).max())
    print(f"   {layer} channel {channel:2d} at {tuple(position[0].tolist())}: "
          f"unpool->rectify->filter vs backward(rule='deconvnet'): max difference {difference:.1e}")
    projections.append(projection[0])
fig = plot.method_grid(x[:1], [("digit", "image", x[:1])] + [
    (f"{layer} ch {c}", "gradient", [p]) for c, p in zip(strongest, projections)])
common.save(fig, args, "2_deconvnet_projections.png")

print("What to look at:")
print("  * 1_three_rules: guided backprop is the cleanest picture of the digit's strokes;")
print("    red pixels would raise the class score if brightened, blue would lower it.")
print("  * 2_deconvnet_projections: each strong feature map of relu2 answers to one piece")
print("    of stroke (an end, a curve, an edge) at the place its switch chain points to.")
