"""The weight-damage study (lesson 10; seed 001, Vasu & Savakis): the highest activation
region of a CAM, graded on a hand-built map and against a breadth-first search, and
damage masks with exact counts, graded by the counts computed in exact fractions."""
import math
from fractions import Fraction

import numpy as np

from . import oracles
from .grading import (Exercise, Failure, Mistake, as_array, call, expect_close, expect_shape)
from .stubs import stub

THRESHOLD = 0.2


# ----- the highest activation region ------------------------------------------------------------
def _hand_map():
    """A 7x10 map, maximum 5 at (0, 0); 0.2 * 5 = 1 is the threshold. Regions at or above it:
    the peak's (3 pixels), a 6-pixel block plus one pixel exactly AT the threshold (7: the
    answer), and two 4-pixel blocks that touch only at a corner (8 if corners counted)."""
    m = np.full((7, 10), 0.5)                     # above 0.2 (absolute), below 1 (relative)
    m[0, 0], m[0, 1], m[1, 0] = 5.0, 2.0, 2.0                        # the peak's region
    m[0:2, 4:7] = 2.0                                                # the 6-pixel block ...
    m[2, 5] = 1.0                                                    # ... + one AT the threshold
    m[4:6, 0:2] = 3.0                                                # 4 pixels, and 4 more
    m[6, 2:6] = 3.0                                                  # touching at (5,1)-(6,2)
    m[3, 8:10] = -1.0
    expected = np.zeros(m.shape, dtype=bool)
    expected[0:2, 4:7] = True
    expected[2, 5] = True
    return m, expected


def _har(cam_map, threshold, connectivity=4, strict=False, absolute=False, by_peak=False):
    """The largest region of pixels >= threshold * max (the typical mistakes by flag)."""
    peak = cam_map.max()
    if peak <= 0:
        return np.zeros(cam_map.shape, dtype=bool)
    level = threshold if absolute else threshold * peak
    inside = cam_map > level if strict else cam_map >= level
    found = oracles.regions(inside, connectivity)
    if by_peak:
        where = tuple(np.argwhere(cam_map == peak)[0])
        chosen = next(r for r in found if where in r)
    else:
        chosen = max(found, key=len)
    return oracles.as_mask(chosen, cam_map.shape)


def _random_map(rng, shape):
    """A smooth random map whose largest region is unique (no tie for the grader to break)."""
    while True:
        noise = rng.standard_normal((shape[0] + 2, shape[1] + 2))
        smooth = sum(noise[i:i + shape[0], j:j + shape[1]] for i in range(3) for j in range(3))
        sizes = sorted((len(r) for r in oracles.regions(smooth >= THRESHOLD * smooth.max())),
                       reverse=True)
        if smooth.max() > 0 and (len(sizes) == 1 or sizes[0] > sizes[1]):
            return smooth


def _grade_har(fn):
    rng = np.random.default_rng(46)
    hand, hand_expected = _hand_map()
    smooth = _random_map(rng, (9, 13))
    cases = [("the hand-built 7x10 map (maximum 5, threshold 0.2 * 5 = 1)", hand, THRESHOLD,
              hand_expected),
             ("a smooth random 9x13 map", smooth, THRESHOLD, _har(smooth, THRESHOLD)),
             ("the same map, threshold 0.5", smooth, 0.5, _har(smooth, 0.5)),
             ("an all-negative 3x4 map (no positive activation: no region)",
              -np.abs(rng.standard_normal((3, 4))) - 0.1, THRESHOLD,
              np.zeros((3, 4), dtype=bool))]
    for case, cam_map, threshold, expected in cases:
        got = call(fn, case, cam_map, threshold)
        mistakes = [
            Mistake("8-connected regions (corners counted)", "the HAR's regions are "
                    "4-connected: a pixel's neighbours are up, down, left and right only.",
                    lambda: _har(cam_map, threshold, connectivity=8)),
            Mistake("the region holding the maximum instead of the largest region",
                    "the HAR is the LARGEST connected region above the threshold.",
                    lambda: _har(cam_map, threshold, by_peak=True)),
            Mistake("the threshold taken as an absolute value", "a pixel is inside when its "
                    "value >= threshold * the map's MAXIMUM.",
                    lambda: _har(cam_map, threshold, absolute=True)),
            Mistake("pixels exactly at the threshold left out", "use >= (a value equal to "
                    "threshold * max is inside).", lambda: _har(cam_map, threshold, strict=True))]
        for mistake in mistakes:                      # bool maps: the exact same pixels
            mistake.tolerance = 0.0
        expect_close(got, expected, "region", case, mistakes, axes="(H, W) bool", kind="b")
    return ["a hand-built map whose answer is known: the largest 4-connected region (not the "
            "8-connected one, not the peak's), a pixel exactly at the threshold inside",
            "a smooth random 9x13 map at thresholds 0.2 and 0.5 against a breadth-first search",
            "an all-negative map gives no region"]


HAR_STUB = stub("highest_activation_region", "the highest activation region of a CAM", '''
import numpy as np


def highest_activation_region(cam_map, threshold=0.2):
    """The highest activation region (HAR) of a class activation map: "the image region
    that most contributes to the network activation" (seed 001, Vasu & Savakis,
    "Visualizing the Resilience of Deep Convolutional Network Interpretations", sec. 3.1),
    which the paper follows as the weights are damaged.

        inside = cam_map >= threshold * max(cam_map)   (a value exactly at it is inside)
        HAR    = the largest 4-connected region of `inside` (neighbours: up, down, left,
                 right; two pixels touching only at a corner are NOT connected)

    The paper gives no threshold; 0.2 is Zhou et al. 2016's, for their CAM boxes.
    A map whose maximum is <= 0 has no positive activation: return all False.

    cam_map: (H, W) floats; threshold: a share of the maximum, in [0, 1]
    returns (H, W) bool, True on the HAR
    (The graders' maps never have two largest regions of the same size.)
    """
    raise NotImplementedError("exercise highest_activation_region: threshold, then flood fill")
''')

HIGHEST_ACTIVATION_REGION = Exercise(
    name="highest_activation_region",
    description="the HAR of a CAM: its largest 4-connected region above 0.2 x its maximum",
    lessons=("10", "11"),
    stub=HAR_STUB,
    hints=(
        "inside = cam_map >= threshold * cam_map.max(); return np.zeros(shape, bool) first if "
        "cam_map.max() <= 0.",
        "Label the regions with a flood fill: for each unvisited pixel inside, a queue "
        "(collections.deque) visits its neighbours (i-1, j), (i+1, j), (i, j-1), (i, j+1) "
        "that are inside and not yet visited.",
        "Keep the largest region; return a bool map that is True on its pixels only.",
        "The library's version: highest_activation_regions and label_regions in "
        "scratchcnn/resilience/damage.py.",
    ),
    solution=lambda cam_map, threshold=0.2: _reference_har(cam_map, threshold),
    grade=_grade_har,
)


def _reference_har(cam_map, threshold):
    from ..resilience import highest_activation_region
    return highest_activation_region(cam_map, threshold)


# ----- damage masks ------------------------------------------------------------------------
def _damage_model():
    """conv1 (2 -> 5, 3x3: 90 weights) -> relu1 -> gap1 -> fc1 (5 -> 21: 105 weights)."""
    from ..layers import Conv2D, GlobalAvgPool2D, Linear, ReLU
    from ..model import Sequential
    return Sequential([Conv2D(2, 5, 3), ReLU(), GlobalAvgPool2D(), Linear(5, 21)]).astype(
        np.float64)


def exact_count(fraction, n):
    """fraction * n rounded half up, in exact fractions: floor(fraction * n + 1/2)."""
    return math.floor(Fraction(fraction) * n + Fraction(1, 2))


def _count_mistake(damaged, fraction, n):
    """The name of the rounding that gives ``damaged``, or None."""
    product = fraction * n
    names = []
    if damaged == round(product):
        names.append("Python's round(), which rounds halves to EVEN")
    if damaged == math.floor(product):
        names.append("int() or floor, which round DOWN")
    if damaged == n - exact_count(fraction, n):
        names.append("True and False swapped (True must KEEP a weight)")
    return " or ".join(names) or None


def _check_masks(masks, model, layers, fraction, case):
    if not isinstance(masks, dict):
        raise Failure(f"{case}: return a dict {{'<node>.W': bool mask}}, got "
                      f"{type(masks).__name__}")
    wanted = {f"{name}.W" for name in layers}
    if set(masks) != wanted:
        raise Failure(f"{case}: the keys are {sorted(masks)}, expected {sorted(wanted)} "
                      "('<node name>.W', one per damaged layer)")
    for name in layers:
        key, weights = f"{name}.W", model[name].params["W"]
        mask = as_array(masks[key], f"masks[{key!r}]", case, "b")
        expect_shape(mask, weights.shape, f"masks[{key!r}]", case, axes="the shape of W")
        n = weights.size
        damaged, expected = int(np.count_nonzero(~mask)), exact_count(fraction, n)
        if damaged != expected:
            named = _count_mistake(damaged, fraction, n)
            what = (f" It looks like a typical mistake: {named}." if named else
                    " (Drawing each weight with probability p gives about, not exactly, "
                    "p * N: draw exactly that many positions without replacement.)")
            raise Failure(f"{case}: masks[{key!r}] damages {damaged} of {n} weights, expected "
                          f"{expected} = {fraction} * {n} = {fraction * n:g} rounded half up "
                          f"(floor(p * N + 0.5)).{what}")


def _grade_damage(fn):
    model = _damage_model()
    before = {key: value.copy() for key, value in model.state_dict().items()}
    checked = []
    for layers, fraction, seed in ((["conv1"], 0.25, 0), (["conv1", "fc1"], 0.5, 3),
                                   (["fc1", "conv1"], 0.75, 1), (["conv1", "fc1"], 0.0, 0),
                                   (["fc1"], 1.0, 0)):
        case = f"layers {layers}, fraction {fraction}, seed {seed} (conv1: 90 weights, fc1: 105)"
        masks = call(fn, case, model, layers, fraction, seed=seed)
        _check_masks(masks, model, layers, fraction, case)
        changed = [key for key, value in model.state_dict().items()
                   if not np.array_equal(value, before[key])]
        if changed:
            raise Failure(f"{case}: the model's {changed} changed: damage_masks only draws the "
                          "masks (apply_masks zeroes the weights)")
    checked.append("exact counts: 0.25 * 90 = 22.5 -> 23, 0.5 * 105 = 52.5 -> 53, "
                   "0.75 * 90 = 67.5 -> 68, 0.75 * 105 = 78.75 -> 79, 0 and 1; keys, shapes, "
                   "bool; the model untouched")
    case = "layers ['conv1'], fraction 0.25, seed 7 twice"
    first, again = (call(fn, case, model, ["conv1"], 0.25, seed=7) for _ in range(2))
    if not np.array_equal(first["conv1.W"], again["conv1.W"]):
        raise Failure(f"{case}: two calls with the same seed gave different masks; draw with "
                      "np.random.default_rng(seed)")
    ever, draws = np.zeros((5, 2, 3, 3), dtype=bool), set()
    for seed in range(60):
        case = f"layers ['conv1'], fraction 0.25, seeds 0..59 (now {seed})"
        mask = as_array(call(fn, case, model, ["conv1"], 0.25, seed=seed)["conv1.W"],
                        "masks['conv1.W']", case, "b")
        ever |= ~mask
        draws.add(mask.tobytes())
    if len(draws) < 50 or not ever.all():
        raise Failure("layers ['conv1'], fraction 0.25, seeds 0..59: the damaged weights "
                      f"are not spread at random ({len(draws)} different masks in 60 seeds, "
                      f"{int((~ever).sum())} of 90 weights never damaged); draw the positions "
                      "uniformly (rng.choice(N, size=k, replace=False))")
    checked.append("the same seed gives the same masks; over 60 seeds the masks differ and "
                   "every weight is damaged at some point")
    return checked


DAMAGE_STUB = stub("damage_masks", "weight-damage masks with exact counts", '''
import numpy as np


def damage_masks(model, layers, fraction, seed=0):
    """Keep-masks that damage a given share of the weights of each named layer, "stuck at
    zero" (seed 001, Vasu & Savakis, "Visualizing the Resilience of Deep Convolutional
    Network Interpretations", sec. 3.2: "If a layer contains N trainable weights, we drop
    D% of N weights", drawn at random).

        for each layer with N weights W: exactly k = floor(fraction * N + 0.5) of them
        (fraction * N rounded half up: 0.5 * 105 = 52.5 -> 53) are drawn uniformly
        without replacement and marked False (damaged); the others stay True (kept)

    One np.random.default_rng(seed) draws every layer, in the order given, so a seed
    reproduces all the masks. Do not change the model: apply_masks zeroes the weights.

    model: a scratchcnn network (model[name].params["W"] is a layer's weight array)
    layers: node names, e.g. ["conv1", "fc1"]; fraction: in [0, 1]; seed: an int
    returns {"<name>.W": bool array shaped like that layer's W, ...}
    """
    raise NotImplementedError("exercise damage_masks: exact counts, random positions")
''')

DAMAGE_MASKS = Exercise(
    name="damage_masks",
    description="weight-damage keep-masks: exactly round-half-up(p*N) weights per layer, at random",
    lessons=("10",),
    stub=DAMAGE_STUB,
    hints=(
        "k = int(np.floor(fraction * n + 0.5)). Python's round(52.5) is 52 (halves to even) "
        "and int(22.5) is 22: both miss by one.",
        "rng = np.random.default_rng(seed) once, outside the loop over layers; then "
        "rng.choice(n, size=k, replace=False) picks k distinct flat positions.",
        "keep = np.ones(n, dtype=bool); keep[positions] = False; reshape it like W.",
        "The library's version: damage_masks and damage_count in "
        "scratchcnn/resilience/damage.py.",
    ),
    solution=lambda model, layers, fraction, seed=0: _reference_damage(model, layers, fraction,
                                                                       seed),
    grade=_grade_damage,
)


def _reference_damage(model, layers, fraction, seed):
    from ..resilience import damage_masks
    return damage_masks(model, layers, fraction, seed=seed)


EXERCISES = [HIGHEST_ACTIVATION_REGION, DAMAGE_MASKS]
