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


def feature_maps(maps, title=None, columns=8, cmap="viridis"):
    """All channels of one image's activations (C, H, W), each on its own scale."""
    maps = to_numpy(maps)
    return image_grid(list(maps), [f"ch {c}" for c in range(len(maps))], columns, cmap, title)
