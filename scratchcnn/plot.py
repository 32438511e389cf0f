"""Every figure of the lessons. Methods return raw arrays; this module draws them.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot, no
window), so they render on any machine; call ``fig.savefig(path)``.

The figure standard (every lesson uses these functions):
* signed maps (gradients, DeconvNet, signed CAM, filters, feature maps before a ReLU):
  the diverging SIGNED_CMAP, centred at 0 with a symmetric range, and a colourbar;
* non-negative maps (Grad-CAM, |saliency|, activations after a ReLU, probabilities):
  the perceptual sequential POSITIVE_CMAP from 0, and a colourbar;
* images: grey (or their own colours), on their own range;
* one scale per figure row (every panel of a row shares vmin/vmax and one colourbar);
* maps are opaque (every colour reads off the colourbar); a grey image they belong to
  is drawn as a thin outline on them;
* a map that is constant, all <= 0 where a non-negative map is expected, or under a
  quarter of its row's scale (it would look empty) still draws, and its panel says so.
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


def number_grid(ax, matrix, title=None, cmap="Greys_r", fmt="{:g}", limits=None):
    """Draw a small matrix as an image with its numbers written in each cell; grey levels
    on ``limits`` = (low, high), by default the matrix's own range."""
    matrix = to_numpy(matrix)
    low, high = limits if limits is not None else (float(matrix.min()), float(matrix.max()))
    ax.imshow(matrix, cmap=cmap, vmin=low, vmax=high)
    span, reach = (high - low) or 1.0, max(abs(low), abs(high)) or 1.0
    for (i, j), value in np.ndenumerate(matrix):
        # white text on dark cells: the low end of a grey map, both ends of a diverging one
        dark = abs(value) > 0.6 * reach if cmap == SIGNED_CMAP else (value - low) / span < 0.5
        ax.text(j, i, fmt.format(value + 0.0), ha="center", va="center", fontsize=8,
                color="white" if dark else "black")           # + 0.0: no "-0"
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def number_grids(matrices, titles, size=2.4, shared=False):
    """Several small annotated matrices side by side; ``shared=True`` puts them on one
    grey scale (the same value, the same grey in every panel)."""
    fig, axes = _grid(1, len(matrices), size)
    limits = None
    if shared:
        values = np.concatenate([np.ravel(to_numpy(m)) for m in matrices])
        limits = (float(values.min()), float(values.max()))
    for ax, matrix, title in zip(axes.flat, matrices, titles):
        number_grid(ax, matrix, title, limits=limits)
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


def curves(series, xlabel, ylabel, title=None, size=(6.0, 3.4)):
    """One line per entry of series = {label: (x values, y values)}, markers at the
    measured points."""
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, "o-", markersize=3, label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def curve_panels(panels, xlabel, ylabel, size=(5.0, 3.6), xticklabels=None):
    """Line plots side by side on one shared y axis, one legend (outside, right):
    panels = [(title, {label: (x values, y values)})], the same labels in each panel
    (the same label keeps its colour and marker across panels). ``xticklabels``: names
    for the x values (e.g. the layers randomized so far)."""
    fig = Figure(figsize=(size[0] * len(panels) + 2.2, size[1]), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    labels = list(panels[0][1])
    colours = [_tab20(i) for i in range(len(labels))]
    markers = "osD^v<>phX*"
    for ax, (title, series) in zip(axes, panels):
        for i, label in enumerate(labels):
            xs, ys = series[label]
            ax.plot(xs, ys, marker=markers[i % len(markers)], markersize=3.5, linewidth=1.3,
                    color=colours[i], label=label)
        ax.set(title=title, xlabel=xlabel)
        ax.grid(alpha=0.3)
        if xticklabels is not None:
            ax.set_xticks(list(series[labels[0]][0]), xticklabels, fontsize=7, rotation=30)
    axes[0].set_ylabel(ylabel)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right center", fontsize=7.5)
    return fig


def _tab20(i):
    """Colour i of matplotlib's 20 qualitative colours, dark shades first."""
    from matplotlib import colormaps
    return colormaps["tab20"].colors[(2 * i) % 20 + (1 if i % 20 >= 10 else 0)]


# ----- maps with a stated scale ----------------------------------------------------------------
SIGNED_CMAP = "RdBu_r"         # diverging: blue < 0 (white) < red
POSITIVE_CMAP = "viridis"      # perceptual, sequential, from 0
MAP_KINDS = ("image", "signed", "positive", "gradient")


def row_scale(maps, kind):
    """The one scale shared by a row of maps: max|v| for "signed" and "gradient" maps,
    max(v) for "positive" maps (1.0 where that is 0, so an all-zero row still draws)."""
    values = np.concatenate([np.ravel(to_numpy(m)).astype(np.float64) for m in maps])
    top = np.abs(values).max() if kind in ("signed", "gradient") else values.max(initial=0.0)
    return float(top) if top > 0 else 1.0


def map_note(values, kind, scale=None):
    """A short note for a panel that would otherwise mislead: a constant map, an all <= 0
    map where a non-negative one is expected, or a map whose largest |value| is under a
    quarter of its row's shared ``scale`` (it would look empty). None otherwise."""
    values = to_numpy(values)
    if np.ptp(values) == 0:
        return f"constant {float(values.flat[0]):.3g}"
    if kind == "positive" and values.max() <= 0:
        return "all <= 0"
    top = float(np.abs(values).max())
    if scale is not None and top < 0.25 * scale:
        largest = "max |v|" if kind in ("signed", "gradient") else "max"
        return f"weak: {largest} {top:.2g}\n({100 * top / scale:.0f}% of scale)"
    return None


def outline_image(ax, image, color="0.6"):
    """Draw a grey image's bright part (above half its maximum) as a thin contour, so a
    map drawn opaque still shows where the image is. Colour images are left out."""
    image = as_display_image(image)
    if image.ndim == 2 and np.ptp(image) > 0:
        ax.contour(image, levels=[0.5 * float(image.max())], colors=color, linewidths=0.6)


def show_map(ax, values, kind, scale=None, image=None, mask=None):
    """Draw one panel and return its AxesImage (for a colourbar).

    kind: "image" (grey, or RGB for (3, H, W), on its own range); "signed"
    (SIGNED_CMAP from -scale to +scale); "positive" (POSITIVE_CMAP from 0 to scale);
    "gradient" (a pixel-space gradient (C, H, W): signed for C = 1, RGB around mid-grey
    for C = 3). Maps are drawn opaque, so every colour reads off the colourbar; ``image``
    (a grey image) adds its outline as a thin grey contour. ``scale`` defaults to this
    map's own (row_scale of one map). ``mask`` (H, W) bool draws the ground-truth outline.
    """
    if kind not in MAP_KINDS:
        raise ValueError(f"kind must be one of {MAP_KINDS}, got {kind!r}")
    if kind == "image":
        shown = ax.imshow(as_display_image(values), cmap="gray")
    else:
        values = to_numpy(values)
        own_scale = scale is None
        scale = row_scale([values], kind) if own_scale else scale
        if kind == "gradient" and values.shape[0] == 3:
            shown = ax.imshow(np.clip(0.5 + 0.5 * np.transpose(values, (1, 2, 0)) / scale, 0, 1))
        elif kind in ("gradient", "signed"):
            flat = values[0] if kind == "gradient" else values
            shown = ax.imshow(flat, cmap=SIGNED_CMAP, vmin=-scale, vmax=scale)
        else:
            shown = ax.imshow(values, cmap=POSITIVE_CMAP, vmin=0, vmax=scale)
        if image is not None:
            outline_image(ax, image)
        note = map_note(values, kind, None if own_scale else scale)
        if note:        # two short lines inside the panel, left out of the layout: a note
            # wider than a small panel would otherwise push its column apart
            ax.text(0.5, 0.03, note, transform=ax.transAxes, ha="center", va="bottom",
                    fontsize=6.5, color="black", bbox=dict(facecolor="white", alpha=0.6,
                                                           edgecolor="none", pad=1)
                    ).set_in_layout(False)         # see-through: it may lie on the ground truth
    if mask is not None:            # white on a dark sequential map, black on a diverging one
        ax.contour(to_numpy(mask).astype(float), levels=[0.5], linewidths=0.8,
                   colors="black" if kind in ("signed", "gradient") else "white")
    ax.set_xticks([])
    ax.set_yticks([])
    return shown


def method_grid(images, rows, masks=None, column_titles=None, size=1.7, outline_images=True,
                outline=("image", "positive", "signed", "gradient")):
    """Rows = methods, columns = images, one scale and one colourbar per row.

    images: (N, C, H, W); with ``outline_images`` a grey image's outline is drawn on
    every map of its column (maps stay opaque, so their colours match the colourbar);
    rows: a list of (title, kind, maps) with maps indexable by image (kind as in
    ``show_map``); every panel of a row shares the row's scale (``row_scale``), so
    images can be compared within a method. ``masks`` (N, H, W) outlines the ground
    truth on the rows whose kind is in ``outline``. The panels are kept as
    ``fig.panels`` (rows, N), for markers or outlines a lesson adds on top.
    """
    n = len(images)
    fig, axes = _grid(len(rows), n, size)
    for r, (title, kind, maps) in enumerate(rows):
        scale = None if kind == "image" else row_scale([maps[i] for i in range(n)], kind)
        for i in range(n):
            shown = show_map(axes[r, i], maps[i], kind, scale,
                             image=images[i] if outline_images and kind != "image" else None,
                             mask=masks[i] if masks is not None and kind in outline else None)
            if r == 0 and column_titles is not None:
                axes[r, i].set_title(column_titles[i], fontsize=8)
        axes[r, 0].set_ylabel(title, fontsize=8)
        if kind != "image":
            fig.colorbar(shown, ax=list(axes[r]), shrink=0.85, pad=0.01)
    fig.panels = axes
    return fig


def map_grid(maps, kind, titles=None, columns=8, title=None, size=1.4, images=None):
    """Many maps of one kind (feature maps, filters) on ONE shared scale with one colourbar:
    maps (K, h, w); kind "signed" or "positive"; ``images`` (optional, K grey images)
    outlined on their maps. The title should say that the scale is shared."""
    maps = [to_numpy(m) for m in maps]
    rows = max(1, -(-len(maps) // columns))
    fig, axes = _grid(rows, min(columns, len(maps)), size)
    scale = row_scale(maps, kind)
    shown = None
    for i, ax in enumerate(axes.flat):
        if i >= len(maps):
            ax.set_visible(False)
            continue
        shown = show_map(ax, maps[i], kind, scale, image=None if images is None else images[i])
        if titles is not None:
            ax.set_title(titles[i], fontsize=7)
    fig.colorbar(shown, ax=[ax for ax in axes.flat if ax.get_visible()], shrink=0.8, pad=0.01)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def image_and_maps(image, maps, kind, titles, image_title, title=None, size=2.2):
    """One image in grey, then K maps of one kind on ONE shared scale with one colourbar:
    image (C, H, W) or (H, W); maps (K, h, w); titles: K names. The suptitle (``title``)
    should say that the maps share their scale; returns the figure."""
    maps = [to_numpy(m) for m in maps]
    fig = Figure(figsize=(size * (len(maps) + 1), size + 0.7), layout="constrained")
    axes = fig.subplots(1, len(maps) + 1)
    show_map(axes[0], image, "image")
    axes[0].set_title(image_title, fontsize=9)
    scale = row_scale(maps, kind)
    for ax, values, name in zip(axes[1:], maps, titles):
        shown = show_map(ax, values, kind, scale)
        ax.set_title(name, fontsize=9)
    fig.colorbar(shown, ax=list(axes[1:]), shrink=0.85, pad=0.01)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
