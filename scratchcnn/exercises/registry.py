"""Every exercise, in learning order: the order of the lessons they go with.

Each family module (convolution.py, pooling.py, ...) defines its exercises: the stub's
text, the grader, the hints and the solution that calls the library's implementation.
"""
import difflib

from . import attribution, cam, convolution, loss, maximize, perturbation, pooling, relu, resilience

_ALL = {e.name: e for module in (convolution, pooling, loss, relu, cam, perturbation, maximize,
                                 resilience, attribution) for e in module.EXERCISES}
ORDER = (
    "conv2d_forward", "im2col", "conv2d_matmul", "col2im",         # lesson 01
    "maxpool_forward", "max_unpool", "global_avg_pool",            # lesson 02
    "conv2d_backward", "softmax_cross_entropy",                    # lesson 03
    "relu_backward",                                               # lessons 04, 06
    "cam", "grad_cam_weights",                                     # lessons 05, 06, 11
    "occlusion",                                                   # lesson 08
    "class_model_step",                                            # lesson 09
    "highest_activation_region", "damage_masks",                   # lesson 10
    "integrated_gradients", "lrp_epsilon", "deletion_curve",       # lessons 12, 13
)
assert sorted(ORDER) == sorted(_ALL), "every exercise has its place in ORDER, once"
EXERCISES = [_ALL[name] for name in ORDER]
BY_NAME = {e.name: e for e in EXERCISES}


def exercise(name):
    """The exercise called ``name``; a KeyError that lists the names (and the closest)."""
    if name not in BY_NAME:
        close = difflib.get_close_matches(name, BY_NAME, n=1)
        guess = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"no exercise called {name!r}.{guess} The exercises: "
                       f"{', '.join(BY_NAME)} (python -m scratchcnn.exercises list)")
    return BY_NAME[name]


def exercises_for_lesson(number):
    """The exercises whose ``lessons`` name lesson ``number`` ("01", ...), in order."""
    return [e for e in EXERCISES if number in e.lessons]
