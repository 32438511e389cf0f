"""Attribution exercises (lessons 12 and 13): Integrated Gradients with its completeness
gap, graded against the exact path integral of a ReLU network (computed from the points
where each hidden unit switches), and one LRP-epsilon step through a Linear layer, graded
by loops and a case computed by hand."""
import numpy as np

from .grading import Exercise, Mistake, call, describe, expect_close, expect_tuple, show
from .networks import SmallMLP
from .stubs import stub


# ----- Integrated Gradients ----------------------------------------------------------------
def _ig_cases():
    rng = np.random.default_rng(41)
    image = (2, 3, 4)
    linear, relu_net = SmallMLP(rng, image, linear=True), SmallMLP(rng, image)
    x = rng.uniform(0.2, 1.0, (2,) + image) * rng.choice([-1, 1], (2,) + image)
    baseline = rng.uniform(-0.3, 0.3, x.shape)
    return [
        # (description, network, x, target, baseline given, steps, tolerance)
        ("a linear model (the gradient is W[c] everywhere, so IG = x * W[c] exactly), "
         "baseline None (zeros), steps 10", linear, x, np.array([0, 2]), None, 10, 1e-8),
        ("the linear model, a non-zero baseline, steps 7", linear, x, 1, baseline, 7, 1e-8),
        ("a ReLU network (flatten -> fc 24->6 -> ReLU -> fc 6->3), a non-zero baseline, "
         "steps 100, against the exact integral", relu_net, x, np.array([2, 1]), baseline, 100,
         1e-2)]


def _grade_ig(fn):
    for description, net, x, target, baseline, steps, tolerance in _ig_cases():
        case = f"{description} ({describe(x=x)}, target {show(target)})"
        x_prime = np.zeros_like(x) if baseline is None else baseline
        targets = np.broadcast_to(np.asarray(target), (len(x),))
        args = (net.model(), x, target) + (() if baseline is None else (baseline,))
        attributions, gap = expect_tuple(call(fn, case, *args, steps=steps), 2,
                                         "attributions, gap", case)
        path_mean = net.exact_path_mean(x, x_prime, targets)
        expected = (x - x_prime) * path_mean
        expect_close(attributions, expected, "attributions", case, [
            Mistake("IG without the (x - x') factor", "the path integral of the gradient is "
                    "only half of it: IG = (x - x') * (the mean gradient along the path).",
                    path_mean, tolerance=tolerance),
            Mistake("the baseline ignored (the path starts at 0)", "the path runs from the "
                    "baseline x' to x: x' + a (x - x'), and the factor is (x - x').",
                    lambda: x * net.exact_path_mean(x, np.zeros_like(x), targets),
                    tolerance=tolerance),
            Mistake("the gradient at x only (gradient x input), no path integral",
                    "average the gradient at the points x' + (k/m)(x - x'), k = 0..m.",
                    (x - x_prime) * net.gradient(x, targets), tolerance=tolerance)],
            tolerance=tolerance, axes="(N, C, H, W), like x")
        rows = np.arange(len(x))
        score_gap = net.scores(x)[rows, targets] - net.scores(x_prime)[rows, targets]
        attributions = np.asarray(attributions, dtype=np.float64)
        own_gap = attributions.reshape(len(x), -1).sum(axis=1) - score_gap
        expect_close(gap, own_gap, "gap", case, [
            Mistake("the gap's sign flipped", "gap = sum(attributions) - (S(x) - S(x')).",
                    -own_gap)], tolerance=1e-8, axes="(N,): sum of attributions - (S(x) - S(x'))")
    return ["a linear model, where IG = (x - x') * W[c] exactly, with and without a baseline",
            "a ReLU network against the exact path integral (each hidden unit's switching "
            "point computed), within 1e-2 at 100 steps (the trapezoid rule: 1.5e-3)",
            "the completeness gap sum(IG) - (S(x) - S(x')) against the scores computed apart"]


IG_STUB = stub("integrated_gradients", "Integrated Gradients and its completeness gap", '''
import numpy as np


def integrated_gradients(model, x, target, baseline=None, steps=50):
    """Integrated Gradients (Sundararajan, Taly & Yan 2017, eq. 1; not in the five seeds:
    lessons 12 and 13 compare it with the seeds' methods): the gradient of the class score
    averaged along the straight path from a baseline x' to x, times (x - x').

        IG(x) = (x - x') * integral from 0 to 1 of dS_c/dx (x' + a (x - x')) da
              ~ (x - x') * sum over k = 0..m of w_k dS_c/dx (x' + (k/m) (x - x'))

    with the trapezoid weights w = (1/2, 1, 1, ..., 1, 1/2) / m (m = steps).
    Completeness: sum(IG(x)) = S_c(x) - S_c(x') for the exact integral; the gap
    sum(IG) - (S_c(x) - S_c(x')) measures how far the m steps are from it.

    What you need from the library:
        import scratchcnn as sc
        sc.explain.saliency(model, x, target)    dS_c/dx, shape of x (one backward pass)
        model.forward(x)                         the class scores S (N, classes)

    model: a scratchcnn network; x: (N, C, H, W); target: one int or N ints;
    baseline: x' shaped like x, or None for zeros; steps: m
    returns (attributions (N, C, H, W), gap (N,))
    """
    raise NotImplementedError("exercise integrated_gradients: return (attributions, gap)")
''')

INTEGRATED_GRADIENTS = Exercise(
    name="integrated_gradients",
    description="Integrated Gradients along the path from a baseline, and its completeness gap",
    lessons=("12", "13"),
    stub=IG_STUB,
    hints=(
        "baseline = np.zeros_like(x) if baseline is None else baseline; the path's points "
        "are baseline + (k / steps) * (x - baseline), k = 0, 1, ..., steps.",
        "Sum weight_k * saliency at each point, with weight 0.5/steps at k = 0 and k = steps "
        "and 1/steps in between: that is the path's mean gradient.",
        "Multiply the mean gradient by (x - baseline): without that factor the attributions "
        "do not add up to S(x) - S(x').",
        "gap = attributions.sum(axis=(1, 2, 3)) - (S[x] - S[x']) at each image's target. The "
        "library's version: integrated_gradients in scratchcnn/explain/gradients.py.",
    ),
    solution=lambda model, x, target, baseline=None, steps=50: _reference_ig(
        model, x, target, baseline, steps),
    grade=_grade_ig,
)


def _reference_ig(model, x, target, baseline, steps):
    from ..explain import integrated_gradients
    return integrated_gradients(model, x, target, baseline=baseline, steps=steps)


# ----- LRP-epsilon through a Linear layer ---------------------------------------------------
# By hand: x = (1, 2), W = [[1, -1], [2, 1], [0.5, 0.5]], b = (0, 1, -1), R = (1, 2, 3),
# eps = 0.5: z = (-1, 5, 0.5), z + eps sign(z) = (-1.5, 5.5, 1), s = R / that = (-2/3, 4/11, 3),
# R_i = x_i sum_j W[j, i] s_j.
HAND_X = np.array([[1.0, 2.0]])
HAND_W = np.array([[1.0, -1.0], [2.0, 1.0], [0.5, 0.5]])
HAND_B = np.array([0.0, 1.0, -1.0])
HAND_R = np.array([[1.0, 2.0, 3.0]])
HAND_RELEVANCE = np.array([[1 * (-2 / 3 + 2 * 4 / 11 + 0.5 * 3),
                            2 * (2 / 3 + 4 / 11 + 0.5 * 3)]])


def _lrp_loops(x, weights, bias, relevance, epsilon, signed=True, with_bias=True, times_x=True):
    """R_i = x_i sum_j W[j, i] R_j / (z_j + eps sign(z_j)), sign(0) = +1, one term at a time;
    the flags switch off a part (the typical mistakes)."""
    n, d = x.shape
    out = np.zeros((n, d))
    for image in range(n):
        for i in range(d):
            total = 0.0
            for j in range(weights.shape[0]):
                z = sum(x[image, k] * weights[j, k] for k in range(d)) + \
                    (bias[j] if with_bias else 0.0)
                denominator = z + (epsilon if (z >= 0 or not signed) else -epsilon)
                total += weights[j, i] * relevance[image, j] / denominator
            out[image, i] = (x[image, i] if times_x else 1.0) * total
    return out


def _grade_lrp(fn):
    rng = np.random.default_rng(42)
    cases = [("the hand-computed case (x (1, 2), W (3, 2), eps 0.5; a negative z)",
              HAND_X, HAND_W, HAND_B, HAND_R, 0.5, HAND_RELEVANCE)]
    for eps in (0.3, 1e-9):
        x, w = rng.standard_normal((3, 5)), rng.standard_normal((4, 5))
        b, r = rng.standard_normal(4) * 0.5, rng.standard_normal((3, 4))
        cases.append((f"random ({describe(x=x, weights=w, bias=b, relevance=r)}), epsilon {eps}",
                      x, w, b, r, eps, _lrp_loops(x, w, b, r, eps)))
    for case, x, w, b, r, eps, expected in cases:
        got = call(fn, case, x, w, b, r, eps)
        expect_close(got, expected, "relevance of the inputs", case, [
            Mistake("the inputs' x_i left out", "LRP hands relevance out in proportion to each "
                    "input's CONTRIBUTION x_i w_ij: R_i = x_i * sum_j w_ij R_j / (z_j + ...).",
                    lambda: _lrp_loops(x, w, b, r, eps, times_x=False)),
            Mistake("epsilon added without the sign of z", "z_j + eps * sign(z_j) moves z AWAY "
                    "from zero on both sides (sign(0) = +1); z_j + eps pulls a negative z "
                    "toward zero.", lambda: _lrp_loops(x, w, b, r, eps, signed=False)),
            Mistake("z computed without the bias", "z_j = sum_i x_i w_ij + b_j is the layer's "
                    "own output.", lambda: _lrp_loops(x, w, b, r, eps, with_bias=False))],
            axes="(N, in_features), like x")
    return ["a two-input layer computed by hand (with a negative z, where eps's sign matters)",
            "random layers (in 5, out 4) against loops over every (i, j), with epsilon 0.3 "
            "and 1e-9"]


LRP_STUB = stub("lrp_epsilon", "one LRP-epsilon step through a Linear layer", '''
import numpy as np


def lrp_epsilon(x, weights, bias, relevance, epsilon=1e-9):
    """Hand the relevance of a Linear layer's outputs down to its inputs by the LRP-epsilon
    rule (Bach et al. 2015; Montavon et al. 2019, "Layer-Wise Relevance Propagation: An
    Overview", eq. 4-5; not in the five seeds: lessons 12 and 13 compare it with them).

        z_j = sum over i of x_i W[j, i] + b_j                      (the layer's output)
        R_i = x_i * sum over j of W[j, i] R_j / (z_j + epsilon * sign(z_j)),  sign(0) = +1

    Each output's relevance R_j is split among the inputs in proportion to their
    contributions x_i W[j, i]; epsilon keeps the division away from 0.

    x:         (N, in_features), the layer's input
    weights:   (out_features, in_features), the PyTorch layout; bias: (out_features,)
    relevance: (N, out_features), R_j of the outputs
    returns (N, in_features): R_i of the inputs
    """
    raise NotImplementedError("exercise lrp_epsilon: z, divide, send back, times x")
''')

LRP_EPSILON = Exercise(
    name="lrp_epsilon",
    description="one LRP-epsilon step: a Linear layer's output relevance handed to its inputs",
    lessons=("12", "13"),
    stub=LRP_STUB,
    hints=(
        "Four lines: z = x @ weights.T + bias; s = relevance / (z + eps * sign); "
        "c = s @ weights; return x * c.",
        "The sign with sign(0) = +1: np.where(z >= 0, 1.0, -1.0) (np.sign(0) is 0).",
        "s @ weights is the layer's backward pass with dy = s: the sum over j of W[j, i] s_j.",
        "The library's version: linear_rule in scratchcnn/explain/lrp.py.",
    ),
    solution=lambda x, weights, bias, relevance, epsilon=1e-9: _reference_lrp(
        x, weights, bias, relevance, epsilon),
    grade=_grade_lrp,
)


def _reference_lrp(x, weights, bias, relevance, epsilon):
    from ..explain.lrp import linear_rule
    from ..layers import Linear
    layer = Linear(weights.shape[1], weights.shape[0]).astype(weights.dtype)
    return linear_rule(layer, weights, bias, x, relevance, "epsilon", epsilon)


EXERCISES = [INTEGRATED_GRADIENTS, LRP_EPSILON]
