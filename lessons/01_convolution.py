"""Convolution by hand, then as one matrix product (im2col), then as a layer.

What you will learn
  * a convolution slides a small filter over the image and, at each place,
    multiplies and adds: the output (a *feature map*) is large where the image
    looks like the filter;
  * the same numbers come out of one matrix product once every patch is unrolled
    into a column (im2col), which is how fast libraries, and scratchcnn, compute it;
  * what edge filters see in a real handwritten digit, and why their maps are signed.

The equations
  Convolution of an image x with a KxK filter W and a bias b (strictly a
  cross-correlation: the filter is not flipped, as in PyTorch and every CNN library):
      y[i, j] = b + sum_{u=0..K-1} sum_{v=0..K-1} W[u, v] * x[i + u, j + v]
  An HxW image gives an (H-K+1)x(W-K+1) map; padding p adds p zeros on every side
  first, so padding (K-1)/2 keeps the size.
  im2col: column (i, j) of the matrix `cols` is the patch x[i:i+K, j:j+K] unrolled
  (K*K rows, one column per output pixel); with W_row = W unrolled into one row,
      y = W_row @ cols + b          (reshaped back to the map's shape)
  With C input channels a patch has C*K*K numbers and with F filters W_row becomes
  an F x C*K*K matrix: a whole layer is one matrix product.

Sources
  * the edge-detection example of "Visual Explanation of Neural Networks in Deep
    Learning" (the blog seed, shared/seeds/002): a 6x6 image, bright left half,
    dark right half, and a 3x3 vertical-edge filter (figure 1_edge_by_hand);
  * LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document
    recognition", Proc. IEEE 1998 (convolutional layers, sec. II);
  * Chellapilla, Puri & Simard, "High performance convolutional neural networks for
    document processing", 2006 (convolution unrolled into a matrix product: im2col).
"""
import numpy as np
from matplotlib.figure import Figure

import scratchcnn as sc
from scratchcnn import plot
from scratchcnn.reference import conv as reference

import common

args = common.start(__file__, __doc__)


def signed_grid(ax, matrix, title, limit, fmt="{:g}"):
    """A signed matrix on the diverging map from -limit to +limit, its numbers in white
    on the dark ends (both ends are dark) and in black in the pale middle."""
    plot.number_grid(ax, matrix, title, cmap=plot.SIGNED_CMAP, fmt=fmt, limits=(-limit, limit))
    for text, value in zip(ax.texts, np.ravel(matrix)):
        text.set_color("white" if abs(value) > 0.5 * limit else "black")


# --- 1. The blog's 6x6 image and a vertical-edge filter ------------------------------
image = np.array([[10, 10, 10, 0, 0, 0]] * 6, dtype=np.float32)
edge_filter = np.array([[1, 0, -1]] * 3, dtype=np.float32)

# --- 2. Convolution by hand: slide, multiply, add ------------------------------------------
out_size = image.shape[0] - edge_filter.shape[0] + 1          # 6 - 3 + 1 = 4
by_hand = np.zeros((out_size, out_size))
for row in range(out_size):
    for col in range(out_size):
        patch = image[row:row + 3, col:col + 3]
        by_hand[row, col] = np.sum(patch * edge_filter)      # multiply element-wise, add
print("feature map computed by hand:")
print(by_hand)
edge_cols = sorted(set(np.nonzero(by_hand)[1].tolist()))
print(f"   nonzero only in columns {edge_cols} (value {by_hand.max():g}): the windows that "
      f"straddle the bright/dark boundary; the {by_hand.size - np.count_nonzero(by_hand)} "
      f"windows inside a flat half give 0")

# --- 3. The same as one matrix product: im2col -------------------------------------------
# Each 3x3 patch becomes one column of `cols` (9 rows x 16 patches); the filter
# becomes one row of 9 numbers; filter_row @ cols gives all 16 outputs at once.
cols = reference.im2col(image[None, None], 3, 3, (1, 1), (0, 0))
filter_row = edge_filter.reshape(1, 9)
by_matrix = (filter_row @ cols).reshape(out_size, out_size)
print(f"im2col: cols has shape {cols.shape}; filter_row @ cols equals the loops: "
      f"{np.array_equal(by_matrix, by_hand)}")

# --- 4. The same as a Conv2D layer -----------------------------------------------------
conv = sc.Conv2D(1, 1, 3)
conv.params["W"][0, 0] = edge_filter
conv.params["b"][:] = 0
by_layer = conv.forward(image[None, None])[0, 0]
assert np.array_equal(by_layer, by_hand)
print("Conv2D gives the same feature map:", np.array_equal(by_layer, by_hand))

fig = plot.number_grids([image, edge_filter, by_hand],
                        ["image (6x6)", "vertical-edge filter", "feature map (4x4)"])
filter_ax = fig.axes[1]                 # the signed filter: diverging, white = 0, blue = -1
filter_ax.clear()
signed_grid(filter_ax, edge_filter, "vertical-edge filter", 1)
common.save(fig, args, "1_edge_by_hand.png",
            "The blog's 6x6 image (bright left, dark right), the 3x3 vertical-edge filter (red "
            "+1, white 0, blue -1) and "
            "the 4x4 feature map computed by sliding, multiplying and adding: look at the two "
            "middle columns of 30, exactly where bright meets dark. Reproduces the blog seed's "
            "edge-detection example.")

# Both factors of the product and its result: the 1x9 filter row, the 9x16 matrix of
# patches, and the 16 outputs reshaped to 4x4.
fig = Figure(figsize=(13, 3.3), layout="constrained")
row_ax, cols_ax, out_ax = fig.subplots(1, 3, width_ratios=[9, 16, 5])
signed_grid(row_ax, filter_row, "filter_row (1 x 9)", 1)
plot.number_grid(cols_ax, cols, f"@  cols = im2col(image) ({cols.shape[0]} x {cols.shape[1]}, "
                                f"one column per 3x3 patch)")
plot.number_grid(out_ax, by_matrix, "=  1 x 16, reshaped to 4 x 4")
common.save(fig, args, "2_im2col.png",
            "im2col: the filter unrolled into one row of 9 numbers (left) times the 9 x 16 "
            "matrix whose columns are the 16 3x3 patches of the 6x6 image unrolled (middle) "
            "gives, reshaped, the same 4x4 feature map as the loops (right): look at the "
            "patches that straddle the edge, the columns with both 10s and 0s. Illustrates the "
            "blog seed's example computed as in Chellapilla et al. 2006.")

# --- 5. Edge filters on a real digit -------------------------------------------------------
x, label = common.digit(0)
filters = {
    "vertical edges": [[1, 0, -1], [2, 0, -2], [1, 0, -1]],          # Sobel x
    "horizontal edges": [[1, 2, 1], [0, 0, 0], [-1, -2, -1]],        # Sobel y
    "diagonal \\ edges": [[0, 1, 2], [-1, 0, 1], [-2, -1, 0]],      # Sobel x, turned
    "blur": [[1 / 9] * 3] * 3,
}
bank = sc.Conv2D(1, len(filters), 3, padding=1)
bank.params["W"][:, 0] = np.array(list(filters.values()), dtype=np.float32)
bank.params["b"][:] = 0
maps = bank.forward(x)[0]                                           # (4, 28, 28)

# Is the diagonal filter Sobel's? Its ring of 8 outer weights is Sobel x's ring turned by
# one step (45 degrees), with the sign flipped.
ring = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0)]       # clockwise
sobel_ring = [np.array(filters["vertical edges"])[p] for p in ring]
diagonal_ring = [np.array(filters["diagonal \\ edges"])[p] for p in ring]
turned = any(np.array_equal(-np.roll(sobel_ring, k), diagonal_ring) for k in (1, -1))
# Every kernel is named for the edges it finds, which run along its zero line: Sobel x's
# zero column finds vertical edges, this kernel's zero diagonal (top left to bottom right)
# finds edges along \.
print(f"kernels: vertical edges = Sobel x, horizontal edges = Sobel y; diagonal \\ edges is "
      f"Sobel x turned 45 degrees (sign flipped): {turned}; blur = the mean of 9 pixels")

# Top row: the four kernels, their numbers on one diverging scale (the blur's 1/9 is pale red).
# Bottom row: the digit in grey on its own range, then the four maps on ONE symmetric scale,
# so that their colours can be compared: white is 0, red > 0, blue < 0.
scale = plot.row_scale(maps, "signed")
kernel_names = ["Sobel x", "Sobel y", "Sobel x turned 45°" if turned else "diagonal", "mean"]
fig = Figure(figsize=(11.5, 5.4), layout="constrained")
axes = fig.subplots(2, 5, height_ratios=[1, 2.2])
axes[0, 0].set_visible(False)
for ax, (name, kernel), kind in zip(axes[0, 1:], filters.items(), kernel_names):
    signed_grid(ax, np.array(kernel), f"{name} kernel:\n{kind}", 2, fmt="{:.2g}")
plot.show_map(axes[1, 0], x[0], "image")
axes[1, 0].set_title(f"digit {label} (grey, 0 to 1)", fontsize=9)
for ax, response, name in zip(axes[1, 1:], maps, filters):
    shown = plot.show_map(ax, response, "signed", scale)
    ax.set_title(f"{name} map", fontsize=9)
bar = fig.colorbar(shown, ax=list(axes[1, 1:]), shrink=0.85, pad=0.01)
bar.set_ticks([-scale, 0, scale], labels=[f"-{scale:.2f}", "0", f"+{scale:.2f}"])
fig.suptitle(f"Four 3x3 kernels (top) on a handwritten digit (bottom): the four maps share "
             f"one scale, -{scale:.2f} (blue) to +{scale:.2f} (red)", fontsize=10)
common.save(fig, args, "3_digit_edge_maps.png",
            f"Top: the four 3x3 kernels with their weights, the Sobel x and Sobel y edge "
            f"filters, {'Sobel x turned 45 degrees' if turned else 'a diagonal edge filter'}, "
            f"and a 3x3 mean (blur). Bottom: a held-out "
            "digit (grey) and its four responses, all on one shared symmetric scale: look at the "
            "blue/red pairs along each stroke (an edge filter is negative on one side of a "
            "stroke, positive on the other) and at how faint and all-positive the blur is. The "
            "blog seed's edge detection, on MNIST.")

for name, response in zip(filters, maps):
    print(f"   {name:16s}: from {response.min():+.2f} to {response.max():+.2f}")


def blue_before_red(response):
    """Among the rows with a strong negative and a strong positive value (beyond half
    the scale), how many have their most negative pixel before their most positive one."""
    rows = [r for r in response if r.min() < -scale / 2 and r.max() > scale / 2]
    return sum(int(r.argmin() < r.argmax()) for r in rows), len(rows)


n_left, n_rows = blue_before_red(maps[0])          # along each row: left to right
n_above, n_cols = blue_before_red(maps[1].T)       # along each column: top to bottom
print(f"   vertical edges: in {n_left} of {n_rows} rows with strong responses, the most "
      f"negative (blue) pixel is left of the most positive (red) one: the filter computes "
      f"left column - right column, so a stroke's left edge is negative, its right edge positive")
print(f"   horizontal edges: in {n_above} of {n_cols} such columns the blue pixel is above "
      f"the red one (top row - bottom row: a stroke's top edge is negative)")
print(f"   blur: never negative, and at most {maps[3].max():.2f} = {maps[3].max() / scale:.0%} "
      f"of the shared scale (an average of pixels in [0, 1])")
