"""Perturbation exercises (lessons 08, 12 and 13): an occlusion map and a deletion curve,
each graded against loops that occlude or delete one position at a time and run the
grader's own forward pass of the same small network."""
import numpy as np

from .grading import (Exercise, Mistake, call, describe, distinct_values, expect_close, pair,
                      show)
from .networks import SmallConvNet
from .stubs import stub


# ----- occlusion -------------------------------------------------------------------------
def _occlusion_loops(net, x, targets, window, stride, baseline, output="probability",
                     channels=slice(None)):
    """The target's output with a (wh, ww) square of ``baseline`` at every position (top-left
    corner (r sh, c sw)), one copy of the image per position: (N, OH, OW)."""
    (wh, ww), (sh, sw) = window, stride
    _, _, h, w = x.shape
    rows, cols = range(0, h - wh + 1, sh), range(0, w - ww + 1, sw)
    out = np.zeros((len(x), len(rows), len(cols)))
    for n in range(len(x)):
        copies = []
        for r in rows:
            for c in cols:
                copy = x[n].copy()
                copy[channels, r:r + wh, c:c + ww] = baseline
                copies.append(copy)
        values = net.scores(np.array(copies)) if output == "score" else \
            net.probabilities(np.array(copies))
        out[n] = values[:, targets[n]].reshape(len(rows), len(cols))
    return out


def _grade_occlusion(fn):
    rng = np.random.default_rng(43)
    net = SmallConvNet(rng, (2, 6, 7))
    x = rng.standard_normal((2, 2, 6, 7))
    for window, stride, target, baseline in (((3, 2), (2, 1), np.array([1, 3]), 0.0),
                                             (2, 2, 0, 0.5)):
        case = (f"{describe(x=x)}, window {window}, stride {stride}, target {show(target)}, "
                f"baseline {baseline}")
        targets = np.broadcast_to(np.asarray(target), (len(x),))
        w, s = pair(window), pair(stride)
        expected = _occlusion_loops(net, x, targets, w, s, baseline)
        got = call(fn, case, net.model(), x, target, window=window, stride=stride,
                   baseline=baseline)
        unoccluded = net.probabilities(x)[np.arange(len(x)), targets][:, None, None]
        expect_close(got, expected, "occlusion map", case, [
            Mistake("the class score (logit) instead of its probability", "apply the softmax "
                    "to the model's output and read the target's probability.",
                    lambda: _occlusion_loops(net, x, targets, w, s, baseline, "score")),
            Mistake("the drop p(x) - p(occluded) instead of the probability", "the map holds "
                    "the probability itself with the square at each position (Zeiler & "
                    "Fergus Fig. 7): dark where occluding hurts.", unoccluded - expected),
            Mistake("only the first channel occluded", "the grey square covers every channel: "
                    "x[n, :, r : r + wh, c : c + ww] = baseline.",
                    lambda: _occlusion_loops(net, x, targets, w, s, baseline, channels=0)),
            Mistake("the square moved one pixel at a time (the stride ignored)", "the corners "
                    "are (r*sh, c*sw): OH = (H - wh) // sh + 1.",
                    lambda: _occlusion_loops(net, x, targets, w, (1, 1), baseline))],
            axes="(N, OH, OW), OH = (H - wh) // sh + 1, OW = (W - ww) // sw + 1")
    return ["two window/stride/baseline settings (a non-square window and stride, ints and "
            "pairs) on a small conv net, against loops that occlude one position at a time "
            "and run the grader's own forward pass"]


OCCLUSION_STUB = stub("occlusion", "an occlusion sensitivity map", '''
import numpy as np


def occlusion(model, x, target, window=(3, 3), stride=1, baseline=0.0):
    """Occlusion sensitivity (Zeiler & Fergus 2014, sec. 4.2 and Fig. 7; seed 003, "Making
    the Training Visible", occlusion sensitivity): slide a grey square over the image and
    record the target class's probability with the square at each position.

        map[n, i, j] = softmax(model(x_n with x_n[:, i*sh : i*sh + wh, j*sw : j*sw + ww]
                                     = baseline))[target_n]

    The square covers every channel. Where the map is low, that part of the image matters.

    What you need from the library: model.forward(images) -> class scores (B, classes)
    (it takes any batch; the softmax is yours).

    model: a scratchcnn network; x: (N, C, H, W); target: one int or N ints;
    window: (wh, ww) or an int; stride: (sh, sw) or an int; baseline: the square's value
    returns (N, OH, OW), OH = (H - wh) // sh + 1, OW = (W - ww) // sw + 1
    """
    raise NotImplementedError("exercise occlusion: one occluded copy per position")
''')

OCCLUSION = Exercise(
    name="occlusion",
    description="an occlusion map: the class probability with a grey square at each position",
    lessons=("08", "13"),
    stub=OCCLUSION_STUB,
    hints=(
        "The corners are r = 0, sh, 2*sh, ... while r + wh <= H: range(0, H - wh + 1, sh) "
        "(likewise the columns).",
        "For each image build every occluded copy (copy = x[n].copy(); copy[:, r : r + wh, "
        "c : c + ww] = baseline), stack them and call model.forward once.",
        "Probabilities: p = exp(z - max z) / sum exp(z - max z) per row; keep column "
        "target[n] and reshape to (OH, OW).",
        "The library's version: occlusion and occluded_logits in "
        "scratchcnn/explain/occlusion.py.",
    ),
    solution=lambda model, x, target, window=(3, 3), stride=1, baseline=0.0: _reference_occlusion(
        model, x, target, window, stride, baseline),
    grade=_grade_occlusion,
)


def _reference_occlusion(model, x, target, window, stride, baseline):
    from ..explain import occlusion
    return occlusion(model, x, target, window=window, stride=stride, baseline=baseline)


# ----- the deletion curve ------------------------------------------------------------------
def _deletion_loops(net, x, targets, attribution, steps, baseline, ascending=False,
                    floor=False, output="probability", per_entry=False):
    """The target's output after deleting (setting to ``baseline``) the round(k H W / steps)
    highest-ranked pixels, k = 0..steps, one pixel at a time: (N, steps + 1). The flags
    give the typical mistakes (lowest first, floor counts, the score, each channel ranked
    apart)."""
    n, c, h, w = x.shape
    ranked = attribution if per_entry else (
        attribution.sum(axis=1) if attribution.ndim == 4 else attribution)
    units = ranked[0].size
    curve = np.zeros((n, steps + 1))
    for image in range(n):
        flat = ranked[image].ravel()
        order = sorted(range(units), key=lambda p: flat[p] if ascending else -flat[p])
        copies = []
        for k in range(steps + 1):
            count = k * units // steps if floor else (2 * k * units + steps) // (2 * steps)
            copy = x[image].copy()
            for p in order[:count]:
                if per_entry:
                    ch, rest = divmod(p, h * w)
                    copy[ch, rest // w, rest % w] = baseline
                else:
                    copy[:, p // w, p % w] = baseline
            copies.append(copy)
        values = net.scores(np.array(copies)) if output == "score" else \
            net.probabilities(np.array(copies))
        curve[image] = values[:, targets[image]]
    return curve


def _grade_deletion(fn):
    rng = np.random.default_rng(44)
    net = SmallConvNet(rng, (2, 5, 7))
    x = rng.standard_normal((2, 2, 5, 7))
    predicted = net.scores(x).argmax(axis=1)
    pixels = x.shape[2] * x.shape[3]
    per_pixel = distinct_values(rng, (2, 5, 7), gap=1e-2)          # no ties in the ranking
    split = rng.uniform(0.2, 0.8, (2, 1, 5, 7))
    per_channel = np.concatenate([per_pixel[:, None] * split, per_pixel[:, None] * (1 - split)],
                                 axis=1)
    for attribution, steps, target, baseline in (
            (per_pixel, 4, (predicted + 1) % 4, 0.0),
            (per_channel, 5, int((predicted[0] + 2) % 4), 0.25)):
        case = (f"{describe(x=x, attribution=attribution)}, steps {steps}, target "
                f"{show(target)}, baseline {baseline}")
        targets = np.broadcast_to(np.asarray(target), (len(x),))
        expected = _deletion_loops(net, x, targets, attribution, steps, baseline)
        got = call(fn, case, net.model(), x, target, attribution, steps=steps, baseline=baseline)
        mistakes = [
            Mistake("the least important pixels deleted first", "sort by the attribution in "
                    "DESCENDING order (np.argsort(-scores)).",
                    lambda: _deletion_loops(net, x, targets, attribution, steps, baseline,
                                            ascending=True)),
            Mistake("the pixel counts rounded down", f"step k deletes round(k * H*W / steps) "
                    f"pixels, halves up: (2*k*P + steps) // (2*steps); with P = {pixels} and "
                    f"steps {steps} that is "
                    f"{[(2 * k * pixels + steps) // (2 * steps) for k in range(steps + 1)]}.",
                    lambda: _deletion_loops(net, x, targets, attribution, steps, baseline,
                                            floor=True)),
            Mistake("the class score (logit) instead of its probability", "apply the softmax "
                    "and read the target's probability.",
                    lambda: _deletion_loops(net, x, targets, attribution, steps, baseline,
                                            output="score")),
            Mistake("the predicted class's probability instead of the target's", "follow the "
                    "class you were asked about: target[n].",
                    lambda: _deletion_loops(net, x, predicted, attribution, steps, baseline))]
        if attribution.ndim == 4:
            mistakes.append(Mistake(
                "each channel's entries ranked and deleted apart", "a pixel is deleted in all "
                "channels at once, ranked by its attribution summed over the channels.",
                lambda: _deletion_loops(net, x, targets, attribution, steps, baseline,
                                        per_entry=True)))
        expect_close(got, expected, "deletion curve", case, mistakes,
                     axes="(N, steps + 1): the probability after k = 0..steps deletions")
    return ["a (N, H, W) and a (N, C, H, W) attribution (summed over the channels), steps 4 "
            "and 5 on 35 pixels (halves rounded up), baselines 0 and 0.25, against loops "
            "that delete one pixel at a time and run the grader's own forward pass"]


DELETION_STUB = stub("deletion_curve", "the deletion curve of an attribution map", '''
import numpy as np


def deletion_curve(model, x, target, attribution, steps=20, baseline=0.0):
    """The deletion curve (Petsiuk, Das & Saenko 2018, "RISE", sec. 4.1; not in the five
    seeds: lesson 12 uses it to ask which explanation to trust): delete the pixels the map
    ranks highest, a few more at each step, and follow the target class's probability. A
    map that finds what the model uses makes it fall fast.

        P = H*W pixels ranked by the attribution, highest first (summed over the channels
            if the attribution has them); at step k = 0..steps the first
            round(k*P/steps) of them (halves round up) are set to ``baseline`` in every
            channel, and curve[n, k] = softmax(model(that image))[target_n]

    What you need from the library: model.forward(images) -> class scores (B, classes).

    model: a scratchcnn network; x: (N, C, H, W); target: one int or N ints;
    attribution: (N, H, W) or (N, C, H, W); steps: how many steps; baseline: a number
    returns (N, steps + 1): the probability after 0, 1, ..., steps steps
    """
    raise NotImplementedError("exercise deletion_curve: rank, delete, measure")
''')

DELETION_CURVE = Exercise(
    name="deletion_curve",
    description="a deletion curve: the probability as the top-ranked pixels are deleted",
    lessons=("12",),
    stub=DELETION_STUB,
    hints=(
        "Sum a 4-D attribution over axis 1; then order = np.argsort(-scores.reshape(N, -1), "
        "axis=1) lists the pixels from the highest to the lowest.",
        "The counts: (2*k*P + steps) // (2*steps) for k = 0..steps rounds k*P/steps with "
        "halves up (int(k*P/steps) rounds down: 8.75 -> 8 instead of 9).",
        "Pixel p is (p // W, p % W); delete it in every channel: copy[:, p // W, p % W] = "
        "baseline. Stack the steps + 1 copies and call model.forward once per image.",
        "The library's version: deletion_insertion in scratchcnn/explain/sanity.py.",
    ),
    solution=lambda model, x, target, attribution, steps=20, baseline=0.0: _reference_deletion(
        model, x, target, attribution, steps, baseline),
    grade=_grade_deletion,
)


def _reference_deletion(model, x, target, attribution, steps, baseline):
    from ..explain import deletion_insertion
    return deletion_insertion(model, x, target, attribution, steps=steps,
                              baseline=baseline)["deletion"]


EXERCISES = [OCCLUSION, DELETION_CURVE]
