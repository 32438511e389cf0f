"""Every figure of the lessons. Methods return raw arrays; this module draws them.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot, no
window), so they render on any machine; call ``fig.savefig(path)``.
"""
import numpy as np
from matplotlib.figure import Figure

from .backend import to_numpy


def _grid(rows, cols, size=2.0):
    fig = Figure(figsize=(size * cols, size * rows), layout="constrained")
    axes = np.array(fig.subplots(rows, cols, squeeze=False))
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def as_display_image(image):
    """(H, W), (1, H, W) or (3, H, W) -> (H, W) or (H, W, 3) for imshow."""
    image = to_numpy(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[0] not in (1, 3)):
        raise ValueError(f"each image must have shape (H, W), (1, H, W) or (3, H, W), got "
                         f"{tuple(image.shape)} (pass a batch (N, [C,] H, W) to image_grid)")
    if image.ndim == 3:
        image = image[0] if image.shape[0] == 1 else np.transpose(image, (1, 2, 0))
    return image


def image_grid(images, titles=None, columns=8, cmap="gray", title=None, size=1.6):
    """A grid of images (N, [C,] H, W), each with an optional title."""
    images = [as_display_image(im) for im in images]
    rows = max(1, -(-len(images) // columns))
    fig, axes = _grid(rows, min(columns, len(images)), size)
    for i, ax in enumerate(axes.flat):
        if i >= len(images):
            ax.set_visible(False)
            continue
        ax.imshow(images[i], cmap=cmap)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def number_grid(ax, matrix, title=None, cmap="Greys_r", fmt="{:g}"):
    """Draw a small matrix as an image with its numbers written in each cell."""
    matrix = to_numpy(matrix)
    ax.imshow(matrix, cmap=cmap)
    span = float(matrix.max() - matrix.min()) or 1.0
    for (i, j), value in np.ndenumerate(matrix):
        dark = (value - matrix.min()) / span < 0.5
        ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=8,
                color="white" if dark else "black")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def number_grids(matrices, titles, size=2.4):
    """Several small annotated matrices side by side."""
    fig, axes = _grid(1, len(matrices), size)
    for ax, matrix, title in zip(axes.flat, matrices, titles):
        number_grid(ax, matrix, title)
    return fig


def training_curves(histories, labels):
    """Loss and accuracy per epoch for one or more fit() histories."""
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    for history, label in zip(histories, labels):
        epochs = history["epoch"]
        loss_ax.plot(epochs, history["loss"], "o-", label=f"{label} train")
        acc_ax.plot(epochs, 100 * np.array(history["accuracy"]), "o-", label=f"{label} train")
        if history.get("val_loss"):
            loss_ax.plot(epochs, history["val_loss"], "s--", label=f"{label} held out")
            acc_ax.plot(epochs, 100 * np.array(history["val_accuracy"]), "s--",
                        label=f"{label} held out")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


# ----- explanation maps ----------------------------------------------------------------------
def normalize(values, signed=False, eps=1e-12):
    """Scale a map for display only (the methods return raw values).

    unsigned: (v - min) / (max - min + eps), in [0, 1];
    signed:   v / (max|v| + eps), in [-1, 1], so 0 stays 0 (white on a diverging map).
    A constant, all-zero or all-negative map gives finite numbers, never NaN.
    """
    values = to_numpy(values).astype(np.float64)
    if signed:
        return values / (np.abs(values).max() + eps)
    return (values - values.min()) / (values.max() - values.min() + eps)


def gradient_image(gradient):
    """A pixel-space gradient (C, H, W) as something to look at: grey images (C=1)
    as a signed map in [-1, 1]; colour images as RGB around mid-grey, 0.5 + g/(2 max|g|)."""
    gradient = to_numpy(gradient)
    if gradient.shape[0] == 1:
        return normalize(gradient[0], signed=True)
    return 0.5 + 0.5 * normalize(np.transpose(gradient, (1, 2, 0)), signed=True)


def show_map(ax, values, kind, image=None, mask=None, alpha=0.5):
    """Draw one panel. kind: "image" (as is), "heat" (normalized, over ``image`` if
    given, jet), "signed" (diverging RdBu_r centred at 0), "gradient" (gradient_image).
    ``mask`` (H, W) bool draws the ground-truth outline in white."""
    if kind == "image":
        ax.imshow(as_display_image(values), cmap="gray")
    elif kind == "heat":
        if image is not None:
            ax.imshow(as_display_image(image), cmap="gray")
        ax.imshow(normalize(values), cmap="jet", alpha=alpha if image is not None else 1.0,
                  vmin=0, vmax=1)
    elif kind == "signed":
        ax.imshow(normalize(values, signed=True), cmap="RdBu_r", vmin=-1, vmax=1)
    elif kind == "gradient":
        shown = gradient_image(values)
        if shown.ndim == 2:
            ax.imshow(shown, cmap="RdBu_r", vmin=-1, vmax=1)
        else:
            ax.imshow(np.clip(shown, 0, 1))
    else:
        raise ValueError(f"kind must be 'image', 'heat', 'signed' or 'gradient', got {kind!r}")
    if mask is not None:
        ax.contour(to_numpy(mask).astype(float), levels=[0.5], colors="white", linewidths=0.8)
    ax.set_xticks([])
    ax.set_yticks([])


def method_grid(images, columns, masks=None, row_titles=None, size=1.7,
                outline=("image", "heat", "signed", "gradient")):
    """Rows = images, columns = methods: ``columns`` is a list of (title, kind, maps)
    with maps indexable by image (kind as in ``show_map``); heat maps are drawn over
    their image. ``masks`` (N, H, W) outlines the ground truth on the panels whose
    kind is in ``outline`` (leave out kinds whose thin details the line would hide)."""
    fig, axes = _grid(len(images), len(columns), size)
    for row, image in enumerate(images):
        for col, (title, kind, maps) in enumerate(columns):
            ax = axes[row, col]
            show_map(ax, maps[row], kind, image=image if kind == "heat" else None,
                     mask=masks[row] if masks is not None and kind in outline else None)
            if row == 0:
                ax.set_title(title, fontsize=9)
        if row_titles is not None:
            axes[row, 0].set_ylabel(row_titles[row], fontsize=8)
    return fig
