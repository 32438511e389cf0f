"""The figures of the weight-damage lessons (Vasu & Savakis, seed 001): the damage sweep
as curves, and Fig. 5's rows of CAM and highest activation region (HAR) before damage,
after it and after retraining. Same standard as plot.py: signed maps on SIGNED_CMAP,
symmetric, one scale (and colourbar) per row; the HAR drawn as a region on the image.
"""
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from ..backend import to_numpy
from ..plot import SIGNED_CMAP, as_display_image, outline_image, row_scale
from .summary import over_seeds

METRIC_LABELS = {"accuracy": "held-out accuracy", "har_iou": "HAR IoU with the intact HAR",
                 "cam_correlation": "CAM correlation with the intact CAM"}
HAR_COLOUR = "#ff7f0e"


def sweep_curves(rows, intact_accuracy, metrics=("accuracy", "har_iou", "cam_correlation"),
                 chance=None):
    """One panel per metric against the damage fraction (in %), one line per site: the
    mean over the seeds, with the band from the lowest to the highest seed. rows: from
    resilience_sweep.damage_sweep; ``intact_accuracy`` (and ``chance``, e.g. 0.1) are drawn
    as dashed lines on the accuracy panel."""
    fig = Figure(figsize=(4.2 * len(metrics), 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    for ax, metric in zip(axes, metrics):
        for site, (fractions, mean, low, high) in over_seeds(rows, metric).items():
            line, = ax.plot(100 * fractions, mean, "o-", markersize=3, label=site)
            ax.fill_between(100 * fractions, low, high, color=line.get_color(), alpha=0.2)
        if metric == "accuracy":
            ax.axhline(intact_accuracy, color="black", linestyle="--", linewidth=1,
                       label=f"intact {100 * intact_accuracy:.1f}%")
            if chance is not None:
                ax.axhline(chance, color="0.5", linestyle=":", linewidth=1,
                           label=f"chance {100 * chance:.0f}%")
        ax.set(xlabel="weights damaged at the site (%)", ylabel=METRIC_LABELS[metric],
               xlim=(0, 100))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return fig


def show_region(ax, image, region, color=HAR_COLOUR):
    """The grey image with a bool region (H, W) filled half-transparent and outlined."""
    ax.imshow(as_display_image(image), cmap="gray")
    region = to_numpy(region).astype(float)
    overlay = np.zeros(region.shape + (4,))
    overlay[..., :3] = to_rgb(color)
    overlay[..., 3] = 0.6 * region
    ax.imshow(overlay)
    if region.any():
        ax.contour(region, levels=[0.5], colors=color, linewidths=1.2)


def damage_rows(images, columns, size=1.55):
    """Rows = images, columns = stages (Vasu & Savakis Fig. 5's layout).

    images: (N, C, H, W). columns: a list of (title, kind, values), kind one of
      "image"  values ignored: the image itself;
      "cam"    values (N, H, W) signed maps; every "cam" panel of a row shares the row's
               symmetric scale and one colourbar, so a map weakened by damage looks weak;
      "har"    values (N, H, W) bool regions, drawn on the image;
      "label"  values: a list of (text, is_wrong) per image, written red when wrong.
    A column may carry a 4th entry: N short notes written under its panels (e.g. each
    HAR's IoU with the intact one). Titles go on the first row. ``fig.panels``: (N, columns).
    """
    n, ncols = len(images), len(columns)
    fig = Figure(figsize=(size * ncols + 0.9, size * n + 0.5), layout="constrained")
    axes = np.array(fig.subplots(n, ncols, squeeze=False))
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for i in range(n):
        cams = [to_numpy(values[i]) for _, kind, values, *_ in columns if kind == "cam"]
        scale = row_scale(cams, "signed") if cams else None
        shown = None
        for j, (title, kind, values, *notes) in enumerate(columns):
            ax = axes[i, j]
            if kind == "image":
                ax.imshow(as_display_image(images[i]), cmap="gray")
            elif kind == "cam":
                shown = ax.imshow(to_numpy(values[i]), cmap=SIGNED_CMAP, vmin=-scale, vmax=scale)
                outline_image(ax, images[i])
            elif kind == "har":
                show_region(ax, images[i], values[i])
            elif kind == "label":
                text, wrong = values[i]
                ax.set_facecolor("#fde0dd" if wrong else "#f0f0f0")
                ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
                        fontsize=9, color="#c00000" if wrong else "black",
                        fontweight="bold" if wrong else "normal")
            else:
                raise ValueError(f"kind must be image, cam, har or label, got {kind!r}")
            if notes:
                ax.set_xlabel(notes[0][i], fontsize=7)
            if i == 0:
                ax.set_title(title, fontsize=8)
        if shown is not None:
            fig.colorbar(shown, ax=list(axes[i]), shrink=0.8, pad=0.01)
    fig.panels = axes
    return fig


def recovery_bars(labels, panels, reference=None):
    """Grouped bars: one group per damage configuration (``labels``, e.g. "D2 50%"), one
    panel per metric. panels: a list of (y label, {series name: values (G,)}), e.g. the
    accuracy damaged / BN statistics only / retrained; ``reference``: {panel index:
    (value, label)} drawn as a dashed line (the intact network)."""
    fig = Figure(figsize=(max(6.0, 0.75 * len(labels)) + 1, 3.3 * len(panels)),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(panels), 1))
    positions = np.arange(len(labels))
    names = list(dict.fromkeys(name for _, series in panels for name in series))
    colours = {name: f"C{k}" for k, name in enumerate(names)}     # one colour per series
    for p, (ax, (ylabel, series)) in enumerate(zip(axes, panels)):
        width = 0.8 / len(series)
        for k, (name, values) in enumerate(series.items()):
            ax.bar(positions + (k - (len(series) - 1) / 2) * width, values, width, label=name,
                   color=colours[name])
        if reference and p in reference:
            value, text = reference[p]
            ax.axhline(value, color="black", linestyle="--", linewidth=1, label=text)
        ax.set_xticks(positions, labels, fontsize=8)
        ax.set(ylabel=ylabel, ylim=(0, 1.05))
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, ncols=len(series) + 1, loc="lower left", bbox_to_anchor=(0, 1),
                  frameon=False)                                  # above the bars
    return fig
