"""Activation maximization (lesson 09): one step of gradient ascent on a class model's
objective with Tang et al.'s L1 penalty, graded by finite differences of the objective."""
import numpy as np

from .grading import (Exercise, Mistake, as_array, call, describe, expect_close, expect_gradient,
                      expect_shape, expect_tuple, finite_differences, show)
from .networks import SmallMLP
from .stubs import stub


def _grade(fn):
    rng = np.random.default_rng(45)
    net = SmallMLP(rng, (1, 4, 5), hidden=8, classes=3)
    cases = []
    for shape, target, step_size, alpha in (((1, 1, 4, 5), 2, 0.5, 0.1),
                                            ((2, 1, 4, 5), np.array([0, 2]), 0.2, 0.3)):
        image = rng.uniform(0.1, 1.0, shape) * rng.choice([-1, 1], shape)   # |I| > 0: no kink
        cases.append((image, target, step_size, alpha))
    for image, target, step_size, alpha in cases:
        case = (f"{describe(image=image)}, target {show(target)}, step_size {step_size}, "
                f"alpha {alpha}")
        targets = np.broadcast_to(np.asarray(target), (len(image),))
        rows = np.arange(len(image))

        def scores(v):
            return net.scores(v)[rows, targets]

        def objective(v):                                # O(I) = S_c(I) - alpha ||I||_1
            return scores(v) - alpha * np.abs(v).reshape(len(v), -1).sum(axis=1)
        new_image, value = expect_tuple(
            call(fn, case, net.model(), image, target, step_size=step_size, alpha=alpha), 2,
            "new_image, objective", case)
        new_image = as_array(new_image, "new_image", case)
        expect_shape(new_image, image.shape, "new_image", case, axes="(N, C, H, W), like image")
        numeric = finite_differences(lambda v: float(objective(v).sum()), image.copy())
        score_gradient = finite_differences(lambda v: float(scores(v).sum()), image.copy())
        sign = np.sign(image)
        expect_gradient((new_image - image) / step_size, numeric,
                        "the step (new_image - image) / step_size", case, [
                            Mistake("the L1 penalty with the wrong sign", "the objective "
                                    "SUBTRACTS alpha * ||I||_1, so the step adds "
                                    "-alpha * sign(I).", score_gradient + alpha * sign),
                            Mistake("an L2 penalty instead of the L1 penalty", "the gradient of "
                                    "alpha * ||I||_1 is alpha * sign(I), not alpha * I.",
                                    score_gradient - alpha * image),
                            Mistake("the L2 penalty's gradient 2 * alpha * I", "the gradient of "
                                    "alpha * ||I||_1 is alpha * sign(I).",
                                    score_gradient - 2 * alpha * image),
                            Mistake("the penalty left out", "step along dS_c/dI - alpha * "
                                    "sign(I).", score_gradient),
                            Mistake("the penalty not scaled by alpha", "the penalty's gradient "
                                    "is alpha * sign(I).", score_gradient - sign),
                            Mistake("a descent step instead of an ascent step", "a class model "
                                    "MAXIMIZES the objective: I + step_size * dO/dI.", -numeric)],
                        axes="(N, C, H, W), like image")
        l1 = np.abs(image).reshape(len(image), -1)
        expect_close(value, objective(image), "objective", case, [
            Mistake("the objective without the penalty", "O(I) = S_c(I) - alpha * ||I||_1.",
                    scores(image)),
            Mistake("the penalty added instead of subtracted", "O(I) = S_c(I) - alpha * "
                    "||I||_1.", scores(image) + alpha * l1.sum(axis=1)),
            Mistake("the mean of |I| instead of the sum", "||I||_1 is the SUM of |I| over "
                    "every pixel of an image.", scores(image) - alpha * l1.mean(axis=1)),
            Mistake("the objective at the new image", "report O at the image you were given "
                    "(before the step).",
                    lambda: objective(image + step_size * numeric))],
            axes="(N,): O at the given image")
    return ["the step's direction against central finite differences of "
            "O(I) = S_c(I) - alpha * ||I||_1 at every pixel (alpha 0.1, step 0.5 as in seed "
            "004; and alpha 0.3, step 0.2 with a target per image)",
            "the objective's value against the grader's own forward pass"]


STUB = stub("class_model_step", "one gradient-ascent step of a class model", '''
import numpy as np


def class_model_step(model, image, target, step_size=0.5, alpha=0.1):
    """One step of a class model: the image the network finds most typical of class c,
    found by gradient ascent on the class score with an L1 penalty that keeps it sparse
    (seed 004, Tang, Yao, Jiang & Liu, "How the Deep Convolutional Networks see the World":
    argmax over I of S_c(I) - alpha * |I|, step size 0.5, alpha 0.1; Simonyan et al. 2014,
    eq. 1):

        O(I)      = S_c(I) - alpha * ||I||_1          (||I||_1: the sum of |I| per image)
        dO/dI     = dS_c/dI - alpha * sign(I)
        I_{t+1}   = I_t + step_size * dO/dI(I_t)

    S_c is the class score (the logit). What you need from the library:
        import scratchcnn as sc
        sc.explain.saliency(model, image, target)   dS_c/dI, shape of image
        model.forward(image)                        the class scores (N, classes)

    model: a scratchcnn network; image: (N, C, H, W); target: one int or N ints
    returns (new_image (N, C, H, W), objective (N,)): I_{t+1}, and O(I_t) at the given image
    """
    raise NotImplementedError("exercise class_model_step: return (new_image, objective)")
''')

CLASS_MODEL_STEP = Exercise(
    name="class_model_step",
    description="one gradient-ascent step of a class model with the L1 penalty (Tang et al.)",
    lessons=("09",),
    stub=STUB,
    hints=(
        "dS_c/dI is one call: sc.explain.saliency(model, image, target).",
        "The L1 penalty's gradient is alpha * np.sign(image); the objective SUBTRACTS it.",
        "Ascent: image + step_size * (dS - alpha * np.sign(image)). The objective: the "
        "target's score minus alpha * np.abs(image).sum(axis=(1, 2, 3)).",
        "The library's version: class_objective and class_model in "
        "scratchcnn/explain/maximize.py.",
    ),
    solution=lambda model, image, target, step_size=0.5, alpha=0.1: _reference(
        model, image, target, step_size, alpha),
    grade=_grade,
)


def _reference(model, image, target, step_size, alpha):
    from ..explain import class_objective
    values, gradient = class_objective(model, image, target, alpha)
    return image + step_size * gradient, values


EXERCISES = [CLASS_MODEL_STEP]
