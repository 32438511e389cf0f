"""The occlusion cone's table of the occluder's cases (explain/occlusion_cases.py).

* ``axis_cases``: the covered taps of every offset, by hand (3x3 filter, windows 7 and
  2) and against tap-by-tap counting for kernels 1-4 and windows 1-6.
* ``case_tables``: every entry the table holds for one occluder equals W_B[t] times the
  change of B's input that the layers themselves compute on the occluded image
  (float64, 1e-12 relative), on a network with padding, a non-square filter, batch norm
  and LeakyReLU between A and B; an occluder narrower than the filter included.
* ``occluder_case_sums``: the Numba kernel equals its NumPy twin (the same bits), and
  the twin equals a loop written out here, boxes reaching past B's output included.
* Which networks take the table, and from how many occluders on (``table_pays``); the
  cone then equals one full forward per occluder (test_explain_occlusion.py). A
  negative control: cases shifted by one are caught.
"""
import numpy as np
import pytest
from conftest import occlusion_by

import scratchcnn as sc
from scratchcnn.fast import occlusion as occlusion_cone
from scratchcnn.fast import occlusion_cases as cases
from scratchcnn.fast import occlusion_kernels
from scratchcnn.fast.occlusion import Cone, cone_plan
from scratchcnn.fast.occlusion_cases import axis_cases, axis_plan, case_tables, cases_split


def two_conv_net():
    """Conv A (3x2 filter, padding (1, 0)), batch norm, LeakyReLU, conv B (2x3, padding
    (0, 1)), ReLU, max pool, Flatten, Linear: input (2, 9, 10) -> A (3, 9, 9) -> B (4, 8, 9)."""
    net = sc.Sequential([sc.Conv2D(2, 3, (3, 2), padding=(1, 0)), sc.BatchNorm2D(3),
                         sc.LeakyReLU(0.1), sc.Conv2D(3, 4, (2, 3), padding=(0, 1)), sc.ReLU(),
                         sc.MaxPool2D(2), sc.Flatten(), sc.Linear(4 * 4 * 4, 5)],
                        seed=7).astype(np.float64)
    net["bn1"].buffers["running_mean"][...] = [0.2, -0.1, 0.4]
    net["bn1"].buffers["running_var"][...] = [0.7, 1.9, 1.2]
    net["bn1"].params["gamma"][...] = [1.3, -0.6, 0.9]
    return net.eval()


def test_axis_cases_by_hand_and_by_counting():
    # 3 taps, 7 wide: offsets -2 .. 6 cover {2}, {1, 2}, all (0 .. 4), {0, 1}, {0}
    intervals, case_of = axis_cases(3, 7)
    assert intervals == [(2, 2), (1, 2), (0, 2), (0, 1), (0, 0)]
    assert case_of.tolist() == [0, 1, 2, 2, 2, 2, 2, 3, 4]
    # a window narrower than the filter never covers every tap
    intervals, case_of = axis_cases(3, 2)
    assert intervals == [(2, 2), (1, 2), (0, 1), (0, 0)] and case_of.tolist() == [0, 1, 2, 3]
    for kernel in range(1, 5):
        for window in range(1, 7):
            intervals, case_of = axis_cases(kernel, window)
            for index, d in enumerate(range(-(kernel - 1), window)):
                taps = [a for a in range(kernel) if 0 <= d + a < window]     # covered
                first, last = intervals[case_of[index]]
                assert taps == list(range(first, last + 1)), (kernel, window, d)


@pytest.mark.parametrize("window", [(4, 3), (2, 1)], ids=["wide", "narrower-than-the-filter"])
def test_every_table_entry_is_the_change_the_layers_compute(window):
    net = two_conv_net()
    first, pointwise, second = net["conv1"], [net["bn1"], net["lrelu1"]], net["conv2"]
    image = np.random.default_rng(0).standard_normal((2, 9, 10))
    baseline = 0.3

    def b_input(x):                                  # f(A(x)): (3, 9, 9)
        return net.forward(x[None], stop="lrelu1")[0].copy()

    unoccluded = b_input(image)
    table = case_tables(first, pointwise, second, image, unoccluded, window, baseline)
    row_of, col_of = axis_cases(3, window[0])[1], axis_cases(2, window[1])[1]
    column_cases = len(axis_cases(2, window[1])[0])
    assert table.shape == (len(axis_cases(3, window[0])[0]) * column_cases, 81, 6, 4)
    w_b = second.params["W"]
    checked = 0
    for top, left in [(0, 0), (3, 4), (9 - window[0], 10 - window[1])]:
        occluded = image.copy()
        occluded[:, top:top + window[0], left:left + window[1]] = baseline
        change = b_input(occluded) - unoccluded                 # (3, 9, 9), by the layers
        for r in range(9):
            for c in range(9):
                d_row, d_col = r - 1 - top, c - 0 - left        # A's padding is (1, 0)
                if not (-2 <= d_row < window[0] and -1 <= d_col < window[1]):
                    assert np.abs(change[:, r, c]).max() == 0   # outside the cone: no change
                    continue
                case = row_of[d_row + 2] * column_cases + col_of[d_col + 1]
                for a in range(2):
                    for b in range(3):
                        expected = w_b[:, :, a, b] @ change[:, r, c]
                        entry = table[case, r * 9 + c, a * 3 + b]
                        assert np.abs(entry - expected).max() <= 1e-12 * max(
                            1.0, np.abs(expected).max())
                        checked += 1
    assert checked >= 50              # 324 entries for the 4x3 window, 84 for the 2x1


def sums_by_loops(table, maps, rows, cols, column_cases, width):
    """occluder_case_sums written as plain loops over occluders, box pixels and taps."""
    (row_case, row_position, row_q), (col_case, col_position, col_q) = rows, cols
    n, bh, kh = row_case.shape
    bw, kw = col_case.shape[1:]
    out = np.zeros((n, len(maps), bh, bw))
    for k in range(n):
        for i in range(bh):
            for j in range(bw):
                if row_q[k, i] < 0 or col_q[k, j] < 0:
                    continue
                total = maps[:, row_q[k, i], col_q[k, j]].astype(np.float64)
                for a in range(kh):
                    for b in range(kw):
                        if row_case[k, i, a] >= 0 and col_case[k, j, b] >= 0:
                            total = total + table[row_case[k, i, a] * column_cases
                                                  + col_case[k, j, b],
                                                  row_position[k, i, a] * width
                                                  + col_position[k, j, b], a * kw + b]
                out[k, :, i, j] = total
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_occluder_case_sums_match_reference_and_loops(dtype):
    """Boxes of B's output (8 x 9, 3x2 filter A, 2x3 filter B, a 3x4 window) whose
    corners reach 1 past either end, so that some box pixels fall outside B's output."""
    rng = np.random.default_rng(1)
    n, (bh, bw) = 6, (3, 4)
    top, left = rng.integers(0, 7, n), rng.integers(0, 7, n)
    corner_rows, corner_cols = np.clip(top - 2, -1, 6), np.clip(left - 2, -1, 6)
    corner_rows[0], corner_cols[1] = -1, 6               # past the top; past the right
    rows = axis_plan(corner_rows, bh, top, 3, (3, 1), (2, 0), (9, 8))
    cols = axis_plan(corner_cols, bw, left, 4, (2, 0), (3, 1), (9, 9))
    assert (rows[2] == -1).any() and (cols[2] == -1).any() and (rows[0] >= 0).any()
    row_cases, column_cases = len(axis_cases(3, 3)[0]), len(axis_cases(2, 4)[0])
    table = rng.standard_normal((row_cases * column_cases, 81, 6, 5)).astype(dtype)
    maps = rng.standard_normal((5, 8, 9)).astype(dtype)
    results = []
    for case_sums in (occlusion_kernels.occluder_case_sums_numpy,
                      occlusion_kernels.occluder_case_sums):
        out = np.full((n, 5, bh, bw), 7, dtype)
        assert case_sums(table, maps, rows, cols, column_cases, 9, out) is out
        results.append(out)
    assert np.array_equal(results[0], results[1])
    expected = sums_by_loops(table, maps, rows, cols, column_cases, 9)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    assert np.abs(results[0] - expected).max() <= tolerance * np.abs(expected).max()
    assert not results[0][0, :, 0].any()                  # the row above B's output: 0


def test_which_networks_take_the_table():
    def layers(model):
        return [model[name] for name in cone_plan(model)[0]]
    assert cases_split(layers(sc.zoo.slides_mnist_model())) == 2        # conv, ReLU, conv
    assert cases_split(layers(two_conv_net())) == 3                     # conv, BN, LReLU, conv
    assert cases_split(layers(sc.zoo.gap_model())) is None              # conv, ReLU, pool
    strided = sc.Sequential([sc.Conv2D(1, 2, 3, stride=2), sc.ReLU(), sc.Conv2D(2, 2, 3),
                             sc.Flatten(), sc.Linear(8, 2)])
    assert cases_split(layers(strided)) is None                         # A of stride 2


def test_when_the_table_pays():
    """The slides' model: 25 cases of a 26x26 map of 32 channels, 64 x 32 x 3 x 3 filters
    B, boxes of 12x12: table 25 * 676 * 32 * 9 * 64 = 311,500,800 multiply-adds, plus
    8 * 9 * 64 per box pixel, against 64 * 32 * 9 per box pixel on the crops: the table
    pays from 311,500,800 / (144 * 9 * 64 * 24) = 156.5 occluders on. So 7x7 occluders at
    stride 1 (484) take the table, at stride 2 (121) the crops."""
    conv_b = sc.zoo.slides_mnist_model()["conv2"]
    assert not cases.table_pays(conv_b, 25, (26, 26), 156, (12, 12))
    assert cases.table_pays(conv_b, 25, (26, 26), 157, (12, 12))
    model = sc.zoo.slides_mnist_model()
    plan = cone_plan(model)
    for stride, split in ((1, 2), (2, None)):
        corners = np.arange(0, 22, stride)
        cone = Cone(model, plan, (1, 28, 28), np.repeat(corners, len(corners)),
                    np.tile(corners, len(corners)), (7, 7), 0.0)
        assert cone.split == split, stride


def test_shifted_cases_are_caught(monkeypatch):
    """Negative control: the same table with every offset given the next offset's case
    (the last keeps its own) no longer gives one full forward per occluder. (This small
    network would take the crops; the table is forced.)"""
    monkeypatch.setattr(occlusion_cone, "table_pays", lambda *args: True)
    model = two_conv_net()
    x = np.random.default_rng(2).standard_normal((1, 2, 9, 10))
    full = occlusion_by("full", model, x, 1, (4, 3), (1, 2), 0.3, "score")
    cone = occlusion_by("cone", model, x, 1, (4, 3), (1, 2), 0.3, "score")
    assert np.abs(cone - full).max() <= 1e-10 * np.abs(full).max()
    right = cases.axis_cases

    def shifted(kernel, window):
        intervals, case_of = right(kernel, window)
        return intervals, np.append(case_of[1:], case_of[-1])

    monkeypatch.setattr(cases, "axis_cases", shifted)
    wrong = occlusion_by("cone", model, x, 1, (4, 3), (1, 2), 0.3, "score")
    assert np.abs(wrong - full).max() > 1e-6 * np.abs(full).max()
