"""The ReLU's three backward rules (lessons 04 and 06): Gao & Mosalam's eq. 3, graded on
their worked example (Springenberg et al. 2015, Fig. 1), by finite differences for the
true gradient, and by what each rule must not depend on."""
import numpy as np

from . import oracles
from .grading import (Exercise, Failure, Mistake, NotImplementedYet, call, describe,
                      expect_close, expect_gradient, finite_differences)
from .stubs import stub

RULES = ("gradient", "deconvnet", "guided")

# The worked example (seed 000, Gao & Mosalam, eq. 3; Springenberg et al. 2015, Fig. 1):
# F is the ReLU's input, G the gradient arriving from above; R by each rule, by hand.
F = np.array([[1, -1, 5], [2, -5, -7], [-3, 2, 4]], dtype=np.float64)
G = np.array([[-2, 3, -1], [6, -3, 1], [2, -1, 3]], dtype=np.float64)
EXAMPLE = {
    "gradient": np.array([[-2, 0, -1], [6, 0, 0], [0, -1, 3]], dtype=np.float64),
    "deconvnet": np.array([[0, 3, 0], [6, 0, 1], [2, 0, 3]], dtype=np.float64),
    "guided": np.array([[0, 0, 0], [6, 0, 0], [0, 0, 3]], dtype=np.float64),
}


def _mistakes(rule, dy, x):
    """What the usual slips give for ``rule`` on (dy, x), elementwise."""
    by_x, by_dy = (x > 0) * dy, (dy > 0) * dy
    if rule == "gradient":
        return [Mistake("the gradient masked by dy > 0 (that is the DeconvNet rule)",
                        "the true gradient keeps G where the forward input was positive: "
                        "R = 1(F > 0) * G, with F = x.", by_dy),
                Mistake("the ReLU's forward output returned", "backward returns the masked "
                        "GRADIENT dy, not the masked input x.", oracles.relu(x))]
    if rule == "deconvnet":
        return [Mistake("the DeconvNet rule masked by x > 0 (that is the true gradient)",
                        "DeconvNet rectifies the backward signal itself: R = 1(G > 0) * G; it "
                        "ignores the forward input.", by_x),
                Mistake("both masks (that is guided backprop)", "DeconvNet keeps only "
                        "1(G > 0): R = 1(G > 0) * G.", (x > 0) * by_dy)]
    return [Mistake("guided backprop without 1(x > 0) (that is the DeconvNet rule)",
                    "guided backprop applies BOTH masks: R = 1(F > 0) * 1(G > 0) * G.", by_dy),
            Mistake("guided backprop without 1(dy > 0) (that is the true gradient)",
                    "guided backprop applies BOTH masks: R = 1(F > 0) * 1(G > 0) * G.", by_x)]


def _grade(fn):
    checked = []
    for rule in RULES:
        case = (f"Gao & Mosalam's worked example (eq. 3; F = x, G = dy, 3x3), "
                f"rule={rule!r}")
        got = call(fn, case, G, F, rule)
        expect_close(got, EXAMPLE[rule], "dx", case, _mistakes(rule, G, F),
                     axes="the shape of dy and x")
    checked.append("the three rules on Gao & Mosalam's worked example (eq. 3), by hand")

    rng = np.random.default_rng(34)
    x = rng.choice([-1, 1], (2, 3, 4, 5)) * rng.uniform(0.1, 2, (2, 3, 4, 5))   # no 0: no kink
    dy = rng.choice([-1, 1], x.shape) * rng.uniform(0.1, 2, x.shape)
    case = f"random arrays ({describe(dy=dy, x=x)}), rule='gradient'"
    numeric = finite_differences(lambda v: float(np.sum(oracles.relu(v) * dy)), x.copy())
    expect_gradient(call(fn, case, dy, x, "gradient"), numeric, "dx", case,
                    _mistakes("gradient", dy, x), axes="the shape of x")
    checked.append("rule 'gradient' against central finite differences of "
                   "L = sum(relu(x) * dy) on a random (2, 3, 4, 5) array")

    case = f"random arrays ({describe(dy=dy, x=x)}), rule='deconvnet'"
    got = call(fn, case, dy, x, "deconvnet")
    expect_close(got, (dy > 0) * dy, "dx", case, _mistakes("deconvnet", dy, x))
    case = "the same dy with x replaced by -x, rule='deconvnet'"
    again = call(fn, case, dy, -x, "deconvnet")
    expect_close(again, got, "dx", case, [Mistake(
        "the DeconvNet rule depends on the forward input x", "R = 1(G > 0) * G reads only "
        "the gradient: changing x must not change it.", (-x > 0) * dy)])
    checked.append("rule 'deconvnet' keeps the positive part of dy whatever x is "
                   "(x and -x give the same answer)")

    case = f"random arrays ({describe(dy=dy, x=x)}), rule='guided'"
    expect_close(call(fn, case, dy, x, "guided"), (x > 0) * (dy > 0) * dy, "dx", case,
                 _mistakes("guided", dy, x))
    checked.append("rule 'guided' on random arrays: both masks, 1(x > 0) and 1(dy > 0)")

    case = "rule='guide' (a typo)"
    try:
        result = fn(dy.copy(), x.copy(), "guide")
    except ValueError:
        result = None
    except NotImplementedError:
        raise NotImplementedYet("not implemented yet: your function raised "
                                "NotImplementedError for rule='guide'.") from None
    except Exception as error:                  # noqa: BLE001
        raise Failure(f"{case}: expected a ValueError naming the three rules, got "
                      f"{type(error).__name__}: {error}") from None
    if result is not None:
        raise Failure(f"{case}: your function returned an answer; a rule it does not know "
                      "must raise ValueError naming the valid rules (gradient, deconvnet, "
                      "guided), or a typo silently picks a rule")
    checked.append("an unknown rule raises ValueError")
    return checked


STUB = stub("relu_backward", "the ReLU's three backward rules", '''
import numpy as np


def relu_backward(dy, x, rule):
    """What a ReLU y = max(x, 0) passes down in the backward pass, by one of three rules
    (seed 000, Gao & Mosalam, "Visualizing and Understanding Deep CNN in Image-based
    Structural Health Monitoring", eq. 3). With F = x the ReLU's input, G = dy the
    gradient arriving from above and R = dx what is passed below:

        "gradient":  R = 1(F > 0) * G             the chain rule (saliency; Simonyan et al. 2014)
        "deconvnet": R = 1(G > 0) * G             rectify the backward signal (Zeiler & Fergus 2014)
        "guided":    R = 1(F > 0) * 1(G > 0) * G  guided backpropagation (Springenberg et al. 2015)

    Their worked example (F = x, G = dy):
        F = [[1, -1, 5], [2, -5, -7], [-3, 2, 4]]    G = [[-2, 3, -1], [6, -3, 1], [2, -1, 3]]
        guided: R = [[0, 0, 0], [6, 0, 0], [0, 0, 3]]

    dy, x: arrays of the same shape (any shape); rule: "gradient", "deconvnet" or "guided"
    returns dx: the shape of dy. Any other rule: raise ValueError naming the three.
    Do not change dy or x in place.
    """
    raise NotImplementedError("exercise relu_backward: one line per rule")
''')

RELU_BACKWARD = Exercise(
    name="relu_backward",
    description="the ReLU's backward rules: gradient, DeconvNet, guided (Gao & Mosalam eq. 3)",
    lessons=("04", "06"),
    stub=STUB,
    hints=(
        "1(F > 0) is the bool array x > 0; multiplying dy by it keeps dy where it is True "
        "and puts 0 elsewhere.",
        "Work out the worked example by hand first: which cells of G survive 1(F > 0), which "
        "survive 1(G > 0), which survive both?",
        "Guided backprop is both masks at once: dy * ((x > 0) & (dy > 0)). DeconvNet never "
        "looks at x.",
        "End with `raise ValueError(f\"rule must be one of ('gradient', 'deconvnet', "
        "'guided'), got {rule!r}\")`. The library's version: ReLU.backward in "
        "scratchcnn/layers/activation.py.",
    ),
    solution=lambda dy, x, rule: _reference(dy, x, rule),
    grade=_grade,
)


def _reference(dy, x, rule):
    """The library's ReLU layer: its forward keeps 1(x > 0), its backward applies the rule."""
    from ..layers import ReLU
    layer = ReLU()
    layer.forward(x)
    return layer.backward(dy, relu_rule=rule)


EXERCISES = [RELU_BACKWARD]
