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
conv = sc.Conv2D(1, 1, 3).astype(np.float64)
conv.params["W"][0, 0] = edge_filter
conv.params["b"][:] = 0
by_layer = conv.forward(image[None, None])[0, 0]
assert np.array_equal(by_layer, by_hand)
print("Conv2D gives the same feature map:", np.array_equal(by_layer, by_hand))

fig = plot.number_grids([image, edge_filter, by_hand],
                        ["image (6x6)", "vertical-edge filter", "feature map (4x4)"])
common.save(fig, args, "1_edge_by_hand.png",
            "The blog's 6x6 image (bright left, dark right), the 3x3 vertical-edge filter and "
            "the 4x4 feature map computed by sliding, multiplying and adding: look at the two "
            "middle columns of 30, exactly where bright meets dark. Reproduces the blog seed's "
            "edge-detection example.")

fig = plot.number_grids([cols[:, :6], by_matrix], ["first 6 columns of im2col (9 x 16)",
                                                   "filter_row @ cols, reshaped"])
common.save(fig, args, "2_im2col.png",
            "im2col: each column on the left is one 3x3 patch of the 6x6 image unrolled into 9 "
            "numbers; one matrix product with the unrolled filter gives the same 4x4 feature map "
            "as the loops (right). Illustrates the blog seed's example computed as in "
            "Chellapilla et al. 2006.")

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
maps = bank.forward(x)[0]                                           # (4, 28, 28)

# The digit in grey on its own range; the four maps on ONE symmetric scale, so that
# their colours can be compared: white is 0, red > 0, blue < 0.
scale = plot.row_scale(maps, "signed")
fig = plot.image_and_maps(x[0], maps, "signed", list(filters), f"digit {label} (grey, 0 to 1)",
                          title=f"Four 3x3 filters on a handwritten digit: the four maps share "
                                f"one scale, -{scale:.2f} (blue) to +{scale:.2f} (red)")
common.save(fig, args, "3_digit_edge_maps.png",
            "A held-out digit (grey) and its responses to three edge filters and a blur, all "
            "four on one shared symmetric scale: look at the blue/red pairs along each stroke "
            "(an edge filter is negative on one side of a stroke, positive on the other) and at "
            "how faint and all-positive the blur is. The blog seed's edge detection, on MNIST.")

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
