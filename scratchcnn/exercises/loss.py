"""The loss that trains the network (lesson 03): softmax cross-entropy, the batch mean,
and its gradient, graded by hand-computed cases, a row-by-row oracle and finite
differences."""
import math

import numpy as np

from . import oracles
from .grading import (Exercise, Failure, Mistake, call, describe, expect_close, expect_gradient,
                      expect_tuple, finite_differences)
from .stubs import stub


def _cases():
    rng = np.random.default_rng(38)
    cases = [("the hand-computed case (logits all 0, K = 4, N = 2: loss = log 4)",
              np.zeros((2, 4)), np.array([1, 3])),
             ("the hand-computed case (logits [[0, log 3]], label 1: p = [1/4, 3/4], "
              "loss = log(4/3))", np.array([[0.0, math.log(3.0)]]), np.array([1]))]
    for n, k in ((5, 3), (3, 7)):
        logits, labels = rng.standard_normal((n, k)) * 2, rng.integers(0, k, n)
        cases.append((f"random logits ({describe(logits=logits)}, labels {labels.tolist()})",
                      logits, labels))
    cases.append(("huge logits ([[1000, 1001, 999], [-1000, 0, 1000], [5, 5, 1000]], labels "
                  "[1, 0, 2])", np.array([[1000.0, 1001, 999], [-1000, 0, 1000], [5, 5, 1000]]),
                  np.array([1, 0, 2])))
    return cases


def _grade(fn):
    for case, logits, labels in _cases():
        n = len(labels)
        loss, dlogits = expect_tuple(call(fn, case, logits, labels), 2, "loss, dlogits", case)
        expected = oracles.cross_entropy_rows(logits, labels)
        if np.ndim(loss) != 0:
            shape = np.shape(loss)
            raise Failure(f"{case}: loss has shape {shape}; it must be ONE number, the mean "
                          "over the batch" + (" (the per-example losses are not averaged)"
                                              if shape == (n,) else ""))
        overflow = Mistake("exp overflows (NaN): the row's maximum is not subtracted first",
                           "softmax(z) = softmax(z - max(z)), and log sum exp(z) = m + log sum "
                           "exp(z - m) with m = max(z): nothing overflows.",
                           test=lambda got: bool(np.isnan(got).any()))
        underflow = Mistake("the log of a probability that underflowed to 0 (infinite loss)",
                            "exp(-2000) is 0 in floating point, so log(softmax(z)) is -inf: "
                            "take log p = (z - m) - log(sum over j of exp(z_j - m)) directly.",
                            test=lambda got: bool(np.isinf(got).any()))
        expect_close(np.float64(loss), expected, "loss", case, [
            overflow, underflow,
            Mistake("the loss summed over the batch instead of averaged",
                    "loss = (1/N) * sum over the batch of -log p[n, labels[n]].", expected * n),
            Mistake("the sign of the loss flipped", "cross-entropy is -log p, a positive "
                    "number.", -expected)])
        numeric = finite_differences(lambda z: oracles.cross_entropy_rows(z, labels),
                                     logits.astype(np.float64).copy())
        softmax = oracles.softmax_rows(logits)
        expect_gradient(dlogits, numeric, "dlogits", case, [
            overflow,
            Mistake("the loss gradient without the 1/N of the mean",
                    "the loss is the batch MEAN, so dL/dlogits = (softmax - onehot) / N.",
                    numeric * n),
            Mistake("the gradient's sign flipped", "dL/dz = (p - onehot) / N: positive for the "
                    "wrong classes.", -numeric),
            Mistake("the one-hot not subtracted", "dL/dz[n, k] = (p[n, k] - 1(k = labels[n])) / "
                    "N.", softmax / n)], axes="(N, K), like logits")
    return ["two cases computed by hand (log 4 and log 4/3, and their gradients)",
            "random (5, 3) and (3, 7) logits against a row-by-row oracle (Python floats)",
            "dlogits against central finite differences of the mean loss, every entry",
            "logits of +-1000 stay finite (the maximum subtracted first)"]


STUB = stub("softmax_cross_entropy", "the loss and its gradient", '''
import numpy as np


def softmax_cross_entropy(logits, labels):
    """The mean cross-entropy of softmax(logits) against integer labels, and its gradient:
    the loss the MNIST model is trained with (seed 003, "Making the Training Visible";
    Goodfellow, Bengio & Courville, "Deep Learning", sec. 6.2.2.3).

        p[n, k] = exp(z[n, k]) / sum over j of exp(z[n, j])          (softmax of row n)
        loss    = (1/N) * sum over n of -log p[n, labels[n]]          (the batch MEAN)
        dL/dz   = (p - onehot(labels)) / N

    With m the row's maximum, log p[n, k] = (z[n, k] - m) - log(sum over j of
    exp(z[n, j] - m)) (log-sum-exp): exp(1000) would overflow, and log(exp(-2000))
    would be log(0).

    logits: (N, K) floats; labels: (N,) ints in [0, K)
    returns (loss, dlogits): loss one number (a float), dlogits (N, K)
    """
    raise NotImplementedError("exercise softmax_cross_entropy: return (loss, dlogits)")
''')

SOFTMAX_CROSS_ENTROPY = Exercise(
    name="softmax_cross_entropy",
    description="the mean softmax cross-entropy and its gradient (p - onehot) / N, overflow-safe",
    lessons=("03",),
    stub=STUB,
    hints=(
        "shifted = logits - logits.max(axis=1, keepdims=True): the same softmax, and no "
        "exp overflows.",
        "log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)); the loss is "
        "-log_p[np.arange(N), labels].mean().",
        "The gradient of the MEAN carries a 1/N: (np.exp(log_p) - onehot) / N, where onehot "
        "has a 1 at [n, labels[n]].",
        "The library's version: softmax_cross_entropy in scratchcnn/losses.py.",
    ),
    solution=lambda logits, labels: _reference(logits, labels),
    grade=_grade,
)


def _reference(logits, labels):
    from ..losses import softmax_cross_entropy
    return softmax_cross_entropy(logits, labels)


EXERCISES = [SOFTMAX_CROSS_ENTROPY]
