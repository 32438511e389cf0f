"""The figure standard of plot.py: signed maps on a diverging map centred at 0 with a
symmetric range, non-negative maps on a sequential map from 0, one scale per row with
a colourbar, degenerate maps drawn and labelled (never NaN)."""
import numpy as np
import pytest
from matplotlib.figure import Figure

from scratchcnn import plot

DEGENERATE = [np.zeros((4, 4)), np.full((4, 4), 3.0), -np.arange(16.0).reshape(4, 4) - 1]


def panel_images(fig):
    """Every AxesImage of the figure's panels (not of its colourbars), in row order."""
    return [image for ax in fig.axes if ax.get_label() != "<colorbar>"
            for image in ax.get_images()]


@pytest.mark.parametrize("values", DEGENERATE, ids=["zero", "const", "neg"])
@pytest.mark.parametrize("kind", ["signed", "positive"])
def test_degenerate_maps_draw_and_say_so(values, kind, tmp_path):
    ax = Figure().subplots()
    shown = plot.show_map(ax, values, kind)
    low, high = shown.get_clim()
    assert np.isfinite(low) and np.isfinite(high) and high > low
    notes = [text.get_text() for text in ax.texts]
    if np.ptp(values) == 0:
        assert notes and notes[0].startswith("constant")
    elif kind == "positive":
        assert notes == ["all <= 0"]
    else:
        assert notes == []


def test_signed_maps_are_centred_and_positive_maps_start_at_zero():
    ax = Figure().subplots()
    signed = plot.show_map(ax, np.array([[-1.0, 3.0]]), "signed")
    assert signed.get_clim() == (-3.0, 3.0) and signed.get_cmap().name == plot.SIGNED_CMAP
    positive = plot.show_map(ax, np.array([[0.5, 2.0]]), "positive")
    assert positive.get_clim() == (0.0, 2.0) and positive.get_cmap().name == plot.POSITIVE_CMAP


def test_method_grid_one_scale_and_colourbar_per_row(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.random((3, 1, 8, 8))
    masks = np.zeros((3, 8, 8), bool)
    masks[:, 2:5, 2:5] = True
    signed = rng.standard_normal((3, 8, 8)) * np.array([1.0, 5.0, 0.1])[:, None, None]
    positive = np.abs(signed)
    rows = [("image", "image", images), ("signed", "signed", signed),
            ("positive", "positive", positive), ("gradient", "gradient", signed[:, None])]
    fig = plot.method_grid(images, rows, masks=masks, column_titles=["a", "b", "c"])
    fig.savefig(tmp_path / "grid.png")
    colourbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(colourbars) == 3                                # every row but the images
    maps = [im for im in panel_images(fig) if im.get_cmap().name != "gray"]
    top = np.abs(signed).max()
    signed_clims = {im.get_clim() for im in maps if im.get_cmap().name == plot.SIGNED_CMAP}
    assert signed_clims == {(-top, top)}                       # one symmetric scale, 2 rows
    positive_clims = {im.get_clim() for im in maps if im.get_cmap().name == plot.POSITIVE_CMAP}
    assert positive_clims == {(0.0, top)}
    with pytest.raises(ValueError, match="kind must be"):
        plot.method_grid(images, [("x", "rainbow", images)])


def test_map_grid_shares_one_scale():
    maps = np.stack([np.full((3, 3), v) for v in (-2.0, 0.5, 1.0)])
    maps[:, 0, 0] = 0
    fig = plot.map_grid(maps, "signed", titles=["a", "b", "c"], columns=2)
    assert {im.get_clim() for im in panel_images(fig)} == {(-2.0, 2.0)}
    assert sum(ax.get_label() == "<colorbar>" for ax in fig.axes) == 1


def test_a_weak_panel_says_so_and_maps_stay_opaque():
    """A panel under a quarter of its row's scale would look empty: it is labelled with
    its maximum. Maps are drawn opaque (alpha None) with the grey image as an outline."""
    images = np.zeros((2, 1, 6, 6))
    images[:, :, 2:4, 2:4] = 1.0
    maps = np.stack([np.full((6, 6), 1.0), np.full((6, 6), 0.01)])
    maps[:, 0, 0] = 0
    fig = plot.method_grid(images, [("map", "positive", maps)])
    strong, weak = fig.panels[0]
    assert [t.get_text() for t in strong.texts] == []
    assert [t.get_text() for t in weak.texts] == ["weak: max 0.01\n(1% of scale)"]
    assert not weak.texts[0].get_in_layout()          # a note never pushes its column apart
    assert all(im.get_alpha() is None for im in panel_images(fig))
    assert len(weak.collections) >= 1                            # the image's outline


def test_curve_panels_share_y_colours_and_one_legend(tmp_path):
    """Each label keeps its colour across panels; one legend; the y axis is shared."""
    xs = np.arange(4)
    panels = [("left", {"a": (xs, xs * 1.0), "b": (xs, xs * 2.0)}),
              ("right", {"a": (xs, -xs * 1.0), "b": (xs, xs * 0.5)})]
    fig = plot.curve_panels(panels, "x", "y", xticklabels=["w", "x", "y", "z"])
    left, right = fig.axes[:2]
    assert [line.get_color() for line in left.lines] == [line.get_color() for line in right.lines]
    assert left.lines[0].get_color() != left.lines[1].get_color()
    assert len(fig.legends) == 1 and [t.get_text() for t in fig.legends[0].texts] == ["a", "b"]
    assert left.get_ylim() == right.get_ylim()
    assert [t.get_text() for t in right.get_xticklabels()] == ["w", "x", "y", "z"]
    fig.savefig(tmp_path / "curves.png")
