"""Max pooling, its switches, and unpooling: the reversible pooling of the DeconvNet.

What you will learn
  * max pooling keeps the largest value of each window and throws away *where*
    it was; the *switches* remember that place;
  * unpooling puts each value back at its switch (zeros elsewhere): this is how
    Zeiler & Fergus's DeconvNet projects a feature back to pixels without blur;
  * transposed filtering spreads each value over a kernel-sized patch.
Reproduces the slides "Making the Training Visible" (Ruhr-Universität Bochum):
"DeconvNet: unpooling => rectification => filtering", the 2x2 input [[4, 3],
[2, 0]] filtered with [[1,1,1],[1,2,1],[1,1,1]] into a 6x6 map, and
"Reversible max pooling, to get reconstruction clean".
"""
import numpy as np
import scratchcnn as sc
from scratchcnn import plot

import common

args = common.start(__file__, __doc__)

# --- 1. Max pooling by hand on a 4x4 map, with its switches -----------------------------------
feature_map = np.array([[1, 3, 2, 1],
                        [4, 2, 0, 1],
                        [1, 1, 5, 6],
                        [0, 2, 7, 3]], dtype=np.float64)[None, None]
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
fig = plot.number_grids([feature_map[0, 0], pooled[0, 0], unpooled[0, 0]],
                        ["feature map", "max pooled 2x2", "unpooled at the switches"])
common.save(fig, args, "1_pool_switches_unpool.png")

# --- 3. The slides' transposed filtering: 2x2 -> 6x6 ------------------------------------------
kernel = np.array([[1, 1, 1], [1, 2, 1], [1, 1, 1]], dtype=np.float64)
spread = sc.ConvTranspose2D(1, 1, 3, stride=3).astype(np.float64)
spread.params["W"][0, 0] = kernel
spread.params["b"][:] = 0
small = np.array([[4, 3], [2, 0]], dtype=np.float64)[None, None]
big = spread.forward(small)[0, 0]
print("transposed filtering of [[4, 3], [2, 0]] (the slide's 6x6):\n", big)
assert big[1, 1] == 8 and big[1, 4] == 6 and big[4, 1] == 4   # the circled centres: 2 x value
fig = plot.number_grids([kernel, small[0, 0], big], ["filter", "input", "transposed filtering"])
common.save(fig, args, "2_transposed_filtering.png")

# --- 4. Why switches: reconstruct a digit's feature map ---------------------------------------
x, label = common.digit(1)
edges = sc.Conv2D(1, 1, 3, padding=1)
edges.params["W"][0, 0] = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
edges.params["b"][:] = 0
relu, pool4 = sc.ReLU(), sc.MaxPool2D(4)
activation = relu.forward(edges.forward(x))
pooled4 = pool4.forward(activation)
with_switches = sc.MaxUnpool2D(pool4).forward(pooled4)
without_switches = np.repeat(np.repeat(pooled4, 4, axis=2), 4, axis=3)   # copy into each window
fig = plot.image_grid([x[0], activation[0], pooled4[0], with_switches[0], without_switches[0]],
                      [f"digit {label}", "edge map (ReLU)", "max pool 4x4",
                       "unpool with switches", "upsample without"], columns=5, cmap="magma")
common.save(fig, args, "3_reversible_pooling.png")
kept = np.count_nonzero(with_switches) / np.count_nonzero(activation)
print(f"unpooling keeps {100 * kept:.0f}% of the active pixels, each exactly where it was;")
print("upsampling without switches smears every maximum over its whole 4x4 window.")

print("What to look at:")
print("  * 1_pool_switches_unpool: each window's maximum (4, 2, 2, 7) returns to its own cell;"
      " everything else is 0.")
print("  * 2_transposed_filtering: each input value stamps a scaled copy of the filter.")
print("  * 3_reversible_pooling: with switches the strokes stay sharp; without, they blur.")
