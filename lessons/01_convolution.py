"""Convolution by hand, then as one matrix product (im2col), then as a layer.

What you will learn
  * a convolution slides a small filter over the image and, at each place,
    multiplies and adds: the output (a *feature map*) is large where the image
    looks like the filter;
  * the same numbers come out of one matrix product once every patch is unrolled
    into a column (im2col), which is how fast libraries, and scratchcnn, compute it;
  * what edge filters see in a real handwritten digit.
Reproduces the edge-detection example of "Visual Explanation of Neural Networks
in Deep Learning" (the blog seed): a 6x6 image, bright left half, dark right half,
and a 3x3 vertical-edge filter.
"""
import numpy as np
import scratchcnn as sc
from scratchcnn import plot
from scratchcnn.kernels import reference

import common

args = common.start(__file__, __doc__)

# --- 1. The blog's 6x6 image and a vertical-edge filter ------------------------------
image = np.array([[10, 10, 10, 0, 0, 0]] * 6, dtype=np.float64)
edge_filter = np.array([[1, 0, -1]] * 3, dtype=np.float64)

# --- 2. Convolution by hand: slide, multiply, add ------------------------------------------
out_size = image.shape[0] - edge_filter.shape[0] + 1          # 6 - 3 + 1 = 4
by_hand = np.zeros((out_size, out_size))
for row in range(out_size):
    for col in range(out_size):
        patch = image[row:row + 3, col:col + 3]
        by_hand[row, col] = np.sum(patch * edge_filter)      # multiply element-wise, add
print("feature map computed by hand (large where the edge is):")
print(by_hand)

# --- 3. The same as one matrix product: im2col -------------------------------------------
# Each 3x3 patch becomes one column of `cols` (9 rows x 16 patches); the filter
# becomes one row of 9 numbers; filter_row @ cols gives all 16 outputs at once.
cols = reference.im2col(image[None, None], 3, 3, (1, 1), (0, 0))
filter_row = edge_filter.reshape(1, 9)
by_matrix = (filter_row @ cols).reshape(out_size, out_size)
print(f"im2col: cols has shape {cols.shape}; filter_row @ cols equals the loops: "
      f"{np.array_equal(by_matrix, by_hand)}")

# --- 4. The same as a Conv2D layer -----------------------------------------------------
conv = sc.Conv2D(1, 1, 3).astype(np.float64)
conv.params["W"][0, 0] = edge_filter
conv.params["b"][:] = 0
by_layer = conv.forward(image[None, None])[0, 0]
assert np.array_equal(by_layer, by_hand)
print("Conv2D gives the same feature map:", np.array_equal(by_layer, by_hand))

fig = plot.number_grids([image, edge_filter, by_hand],
                        ["image (6x6)", "vertical-edge filter", "feature map (4x4)"])
common.save(fig, args, "1_edge_by_hand.png")

fig = plot.number_grids([cols[:, :6], by_matrix], ["first 6 columns of im2col (9 x 16)",
                                                   "filter_row @ cols, reshaped"])
common.save(fig, args, "2_im2col.png")

# --- 5. Edge filters on a real digit -------------------------------------------------------
x, label = common.digit(0)
filters = {
    "vertical edges": [[1, 0, -1], [2, 0, -2], [1, 0, -1]],          # Sobel x
    "horizontal edges": [[1, 2, 1], [0, 0, 0], [-1, -2, -1]],        # Sobel y
    "diagonal /": [[0, 1, 2], [-1, 0, 1], [-2, -1, 0]],
    "blur": [[1 / 9] * 3] * 3,
}
bank = sc.Conv2D(1, len(filters), 3, padding=1)
bank.params["W"][:, 0] = np.array(list(filters.values()), dtype=np.float32)
bank.params["b"][:] = 0
maps = bank.forward(x)[0]
fig = plot.image_grid([x[0], *maps], [f"digit {label}", *filters], columns=5, cmap="RdBu_r",
                      title="Four hand-made 3x3 filters on a handwritten digit (red > 0 > blue)")
common.save(fig, args, "3_digit_edge_maps.png")

print("What to look at:")
print("  * 1_edge_by_hand: the 30s sit exactly where bright meets dark; flat regions give 0.")
print("  * 2_im2col: every column is one 3x3 patch; one matrix product does all the sliding.")
print("  * 3_digit_edge_maps: each filter lights up strokes of its own orientation;"
      " a trained CNN learns 32 such filters by itself (lesson 03).")
