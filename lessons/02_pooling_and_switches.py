"""Max pooling, its switches, and unpooling: the reversible pooling of the DeconvNet.

What you will learn
  * max pooling keeps the largest value of each window and throws away *where*
    it was; the *switches* remember that place;
  * unpooling puts each value back at its switch (zeros elsewhere): this is how
    Zeiler & Fergus's DeconvNet projects a feature back to pixels; the backward
    pass of max pooling does exactly the same with the gradient;
  * transposed filtering spreads each value over a kernel-sized patch;
  * max against average pooling, and local against global average pooling (GAP), in
    accuracy, maps and parameters (the blog "Visual Explanation of Neural Networks in
    Deep Learning", shared/seeds/002: GAP replaces the dense layers).

The equations (k x k windows, stride k; window (i, j) covers rows ki..ki+k-1, columns kj..kj+k-1)
  max pooling:   y[i, j] = max_{(p, q) in window(i, j)} x[p, q]
  its switch:    s[i, j] = argmax_{(p, q) in window(i, j)} x[p, q]   (where the max was)
  unpooling:     u[s[i, j]] = y[i, j], and u = 0 everywhere else
  backward:      dx[s[i, j]] = dy[i, j], and dx = 0 everywhere else (dy routed to s)
  transposed filtering (stride t): every input value stamps a scaled copy of the filter,
                 z[t*i + u, t*j + v] += W[u, v] * y[i, j]
  (the adjoint of the convolution of lesson 01: Zeiler & Fergus "filter" with the
  transposed filters of the forward convolution).

Sources
  * Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014,
    sec. 2.1 (unpooling with switches, rectification, filtering; their Fig. 1);
  * the slides "Making the Training Visible" (Ruhr-Universität Bochum, shared/seeds/003):
    "DeconvNet: unpooling => rectification => filtering", the 2x2 input [[4, 3],
    [2, 0]] filtered with [[1,1,1],[1,2,1],[1,1,1]] into a 6x6 map (figure
    2_transposed_filtering), and "Reversible max pooling, to get reconstruction
    clean" (figure 3_reversible_pooling).
"""
import numpy as np
from matplotlib.patches import Circle, Rectangle

import scratchcnn as sc
from scratchcnn import explain, plot
from scratchcnn.weight_init import he_normal

import common

args = common.start(__file__, __doc__)

# --- 1. Max pooling by hand on a 4x4 map, with its switches -----------------------------------
feature_map = np.array([[1, 3, 2, 1],
                        [4, 2, 0, 1],
                        [1, 1, 5, 6],
                        [0, 2, 7, 3]], dtype=np.float32)[None, None]
pool = sc.MaxPool2D(2)
pooled = pool.forward(feature_map)
rows, cols = np.divmod(pool.switches[0, 0], feature_map.shape[3])   # flat index -> (row, col)
print("pooled 2x2:\n", pooled[0, 0])
print("switches (row, col) of each maximum:",
      list(zip(rows.ravel().tolist(), cols.ravel().tolist())))

# --- 2. Unpooling: back to 4x4, each value at its switch ---------------------------------------
unpool = sc.MaxUnpool2D(pool)
unpooled = unpool.forward(pooled)
print("unpooled (Zeiler & Fergus 2014, sec. 2.1):\n", unpooled[0, 0])
at_switches = unpooled[0, 0][rows, cols]
print(f"   the maxima {pooled[0, 0].ravel().tolist()} are back at their switches: "
      f"{np.array_equal(at_switches, pooled[0, 0])}; the other "
      f"{unpooled.size - np.count_nonzero(unpooled)} of {unpooled.size} cells are 0")
# The backward pass of max pooling routes the gradient dy along the same switches:
dy = np.array([[10.0, 20.0], [30.0, 40.0]])[None, None]
dx = pool.backward(dy)
print(f"   MaxPool2D.backward(dy) equals unpooling dy: {np.array_equal(dx, unpool.forward(dy))}")
fig = plot.number_grids([feature_map[0, 0], pooled[0, 0], unpooled[0, 0]],
                        ["feature map", "max pooled 2x2", "unpooled at the switches"],
                        shared=True)
map_ax, _, unpool_ax = fig.axes
for ax in (map_ax, unpool_ax):
    for edge in (-0.5, 1.5, 3.5):                        # the borders of the 2x2 windows
        ax.axhline(edge, color="tab:blue", linewidth=2.5)
        ax.axvline(edge, color="tab:blue", linewidth=2.5)
    for r, c in zip(rows.ravel(), cols.ravel()):        # the switches: where each max was
        ax.add_patch(Rectangle((c - 0.42, r - 0.42), 0.84, 0.84, fill=False,
                               edgecolor="tab:orange", linewidth=2.5))
common.save(fig, args, "1_pool_switches_unpool.png",
            "A 4x4 feature map with its four 2x2 pooling windows (blue lines) and the maximum "
            "of each window boxed in orange (the switches), its 2x2 max pooling, and the "
            "unpooling that puts each maximum back at its switch, all on one grey scale: look at "
            "the four maxima returning to their own cells while "
            "every other cell becomes 0. The reversible max pooling of Zeiler & Fergus 2014 "
            "(sec. 2.1), as on the Bochum slides.")

# --- 3. The slides' transposed filtering: 2x2 -> 6x6 ------------------------------------------
kernel = np.array([[1, 1, 1], [1, 2, 1], [1, 1, 1]], dtype=np.float32)
spread = sc.ConvTranspose2D(1, 1, 3, stride=3)
spread.params["W"][0, 0] = kernel
spread.params["b"][:] = 0
small = np.array([[4, 3], [2, 0]], dtype=np.float32)[None, None]
big = spread.forward(small)[0, 0]
print("transposed filtering of [[4, 3], [2, 0]] (the slide's 6x6):\n", big)
stamps = all(np.array_equal(big[3 * i:3 * i + 3, 3 * j:3 * j + 3], small[0, 0, i, j] * kernel)
             for i in range(2) for j in range(2))
print(f"   each 3x3 block is the input value times the filter: {stamps}; the centres "
      f"{big[1, 1]:g}, {big[1, 4]:g}, {big[4, 1]:g}, {big[4, 4]:g} are 2 x value "
      f"(the slide circles the 8)")
# Transposed filtering stamps the filter as it is, unflipped; that is the same as sliding
# the filter flipped in both directions over the zero-padded input (the "flipped filters" of
# Zeiler & Fergus). This filter is symmetric, so its figure cannot show that; check both
# facts with a filter that is not.
uneven = np.arange(1, 10, dtype=np.float32).reshape(3, 3)
spread.params["W"][0, 0] = uneven
unflipped = all(np.array_equal(spread.forward(small)[0, 0, 3 * i:3 * i + 3, 3 * j:3 * j + 3],
                               small[0, 0, i, j] * uneven) for i in range(2) for j in range(2))
spread.params["W"][0, 0] = kernel
stamp1 = sc.ConvTranspose2D(1, 1, 3)             # stride 1: stamps overlap
stamp1.params["W"][0, 0] = uneven
stamp1.params["b"][:] = 0
slide = sc.Conv2D(1, 1, 3, padding=2)
slide.params["W"][0, 0] = uneven[::-1, ::-1]
slide.params["b"][:] = 0
as_flipped = np.allclose(stamp1.forward(small), slide.forward(small))
print(f"   with the filter 1..9 (not symmetric): each stamp is value x filter, unflipped: "
      f"{unflipped}; with stride 1 the stamps equal a convolution with the filter flipped in "
      f"both directions: {as_flipped}")

fig = plot.number_grids([kernel, small[0, 0], big], ["filter", "input", "transposed filtering"],
                        shared=True)
out_ax = fig.axes[2]
for edge in (2.5,):                                   # the four 3x3 stamps
    out_ax.axhline(edge, color="tab:blue", linewidth=2)
    out_ax.axvline(edge, color="tab:blue", linewidth=2)
eight = np.argwhere(big == 8)
for r, c in eight:                                    # the slide's circled 8
    out_ax.add_patch(Circle((c, r), 0.45, fill=False, edgecolor="tab:orange", linewidth=2.5))
common.save(fig, args, "2_transposed_filtering.png",
            f"The filtering step of the slide 'DeconvNet: unpooling => rectification => "
            f"filtering' (Bochum slides): transposed filtering with stride 3, all three panels "
            f"on one grey scale. Each value of the 2x2 input stamps a copy of the 3x3 filter "
            f"scaled by that value into the 6x6 output (the four stamps split by blue lines); "
            f"look at the centres, twice the input value, and at the circled 8 as on the "
            f"slide. The stamp is the filter unflipped, which equals sliding the "
            f"filter flipped (Zeiler & Fergus's 'flipped filters'), checked in the printout "
            f"with an asymmetric filter ({unflipped and as_flipped}); this filter is symmetric, "
            f"so the flip cannot be seen here.")

# --- 4. Why switches: reconstruct a digit's feature map ---------------------------------------
x, label = common.digit(1)
edges = sc.Conv2D(1, 1, 3, padding=1)
edges.params["W"][0, 0] = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
edges.params["b"][:] = 0
relu, pool4 = sc.ReLU(), sc.MaxPool2D(4)
activation = relu.forward(edges.forward(x))                          # (1, 1, 28, 28)
pooled4 = pool4.forward(activation)                                  # (1, 1, 7, 7)
with_switches = sc.MaxUnpool2D(pool4).forward(pooled4)
without_switches = np.repeat(np.repeat(pooled4, 4, axis=2), 4, axis=3)   # copy into each window

# The digit in grey; the four non-negative maps on ONE scale from 0 (pooling keeps values).
maps = [activation[0, 0], pooled4[0, 0], with_switches[0, 0], without_switches[0, 0]]
scale = plot.row_scale(maps, "positive")
fig = plot.image_and_maps(x[0], maps, "positive",
                          ["edge map after ReLU (28x28)", "max pool 4x4 (7x7)",
                           "unpooled with switches", "upsampled without"], f"digit {label}",
                          title=f"Unpooling with and without switches: the four maps share one "
                                f"scale, 0 to {scale:.2f}")
common.save(fig, args, "3_reversible_pooling.png",
            "A digit's vertical-edge map after ReLU, its 4x4 max pooling, and two ways back to "
            "28x28 on one shared scale: look at the unpooled map, a few exact dots in place, "
            "against the upsampled one, blocks that cover pixels where the edge map was 0. The "
            "slides' 'Reversible max pooling, to get reconstruction clean' (Zeiler & Fergus 2014).")

active = activation > 0
kept = np.count_nonzero(with_switches)
print(f"edge map: {np.count_nonzero(active)} active pixels; {np.count_nonzero(pooled4)} of the "
      f"{pooled4.size} 4x4 windows have a nonzero maximum")
print(f"   with switches: {kept} nonzero pixels = {kept / np.count_nonzero(active):.0%} of the "
      f"active ones, each with its exact value at its exact place: "
      f"{np.array_equal(with_switches[with_switches > 0], activation[with_switches > 0])}; "
      f"nothing outside the edge map: {np.count_nonzero(with_switches[~active])} pixels")
switch_rows, switch_cols = np.divmod(pool4.switches[0, 0], 28)     # (7, 7) each
switch_rows = np.repeat(np.repeat(switch_rows, 4, axis=0), 4, axis=1)   # each pixel: its
switch_cols = np.repeat(np.repeat(switch_cols, 4, axis=0), 4, axis=1)   # window's switch
pixel_rows, pixel_cols = np.indices((28, 28))
distance = np.hypot(pixel_rows - switch_rows, pixel_cols - switch_cols)[without_switches[0, 0] > 0]
outside = np.count_nonzero(without_switches[~active])
print(f"   without switches: {np.count_nonzero(without_switches)} nonzero pixels, "
      f"{outside} of them ({outside / np.count_nonzero(without_switches):.0%}) where the edge "
      f"map was 0; each maximum is copied {distance.mean():.1f} pixels from its place on "
      f"average, up to {distance.max():.1f}")

# --- 4. Max or average, local or global (the blog's pooling and GAP sections) ---------------
# Three versions of the slides' model, trained alike (He init, Adam, POOL_EPOCHS epochs on
# the embedded MNIST split): max pooling 2x2, average pooling 2x2, and global average
# pooling of conv2's 64 maps straight into the classifier (no Dense 64).
POOL_EPOCHS = 2


def pooling_variant(kind):
    """The slides' model with its pooling replaced: "max", "average" (both 2x2, then
    Flatten, Dense 64, Dense 10) or "global" (GAP, then Dense 10)."""
    body = [sc.Conv2D(1, 32, 3), sc.ReLU(), sc.Conv2D(32, 64, 3), sc.ReLU()]
    head = ([sc.GlobalAvgPool2D(), sc.Linear(64, 10)] if kind == "global" else
            [sc.MaxPool2D(2) if kind == "max" else sc.AvgPool2D(2), sc.Flatten(),
             sc.Linear(64 * 12 * 12, 64), sc.ReLU(), sc.Linear(64, 10)])
    return he_normal(sc.Sequential(body + head, seed=0), seed=0)


data = common.load_data("mnist", args.quick)
variants = {kind: common.trained(args, f"pooling-{kind}", lambda kind=kind: pooling_variant(kind),
                                 data, epochs=POOL_EPOCHS)
            for kind in ("max", "average", "global")}
print(f"   pooling     held-out accuracy   parameters   of them in the classifier "
      f"({POOL_EPOCHS} epochs each)")
counts = {}
for kind, (net, history) in variants.items():
    total = sum(p.size for layer in net for p in layer.params.values())
    head = sum(p.size for layer in net if isinstance(layer, sc.Linear)
               for p in layer.params.values())
    counts[kind] = (history["val_accuracy"][-1], total, head)
    print(f"   {kind:10} {100 * history['val_accuracy'][-1]:12.2f}%   {total:12,}   {head:12,}")

# The same 64 maps of conv2 (after ReLU) of the max-pooling network, pooled both ways
net = variants["max"][0]
image = data[1][0][:1]                                     # the first held-out digit
relu2 = explain.feature_maps(net, image, "relu2")          # (1, 64, 24, 24)
channels = np.argsort(relu2[0].max(axis=(1, 2)))[::-1][:6]  # the six most active
maxed = sc.MaxPool2D(2).forward(relu2)[0, channels]
averaged = sc.AvgPool2D(2).forward(relu2)[0, channels]
active = maxed > 0
share = float((averaged[active] / maxed[active]).mean())
fig = plot.method_grid(np.repeat(image, len(channels), axis=0), [
    ("conv2 after ReLU\n(24x24)", "positive", relu2[0, channels]),
    ("max pool 2x2\n(12x12)", "positive", maxed),
    ("average pool 2x2\n(12x12)", "positive", averaged)],
    column_titles=[f"channel {c}" for c in channels], size=1.5, outline_images=False)
(acc_max, total_max, head_max), (acc_avg, _, _), (acc_gap, total_gap, head_gap) = (
    counts["max"], counts["average"], counts["global"])
common.save(fig, args, "4_max_average_global.png",
            f"The six most active of conv2's 64 maps for one held-out digit (top row), pooled "
            f"2x2 by their maximum (middle) and by their mean (bottom); one scale per row. "
            f"Look at how the mean keeps every window's level lower: over the "
            f"windows with any activation it is {100 * share:.0f}% of the maximum on average. "
            f"Trained alike ({POOL_EPOCHS} epochs), max pooling reaches "
            f"{100 * acc_max:.2f}% held-out accuracy, average pooling {100 * acc_avg:.2f}%, and "
            f"global average pooling (GAP: each map's mean straight into the classifier) "
            f"{100 * acc_gap:.2f}% with {total_gap:,} parameters instead of {total_max:,}: the "
            f"classifier shrinks from {head_max:,} to {head_gap:,} weights. "
            + (f"Here GAP costs {100 * (acc_max - acc_gap):.0f} points: each of conv2's outputs "
               "sees only 5x5 pixels (two 3x3 convolutions), and the mean over the whole map "
               "forgets where the strokes are; GAP networks see the whole digit before they "
               "average (lesson 05's three convolutions with pooling between). "
               if acc_gap < acc_max - 0.05 else "") +
            "The blog's pooling section (max against average, local against global) and its "
            "point about GAP.")
