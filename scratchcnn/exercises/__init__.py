"""Exercises: the learner writes the math, the graders say precisely what is wrong.

    python -m scratchcnn.exercises list                 the exercises, in learning order
    python -m scratchcnn.exercises start conv2d_forward writes my_exercises/conv2d_forward.py
    python -m scratchcnn.exercises check conv2d_forward grades it (exit 0: passed)
    python -m scratchcnn.exercises hint conv2d_forward  the next hint, one at a time

Each exercise (registry.py) is graded against an independent oracle (oracles.py's loops,
central finite differences, or a case computed by hand) and names the typical mistakes
it recognizes; ``check NAME --solution`` grades the library's own implementation.
"""
from .registry import EXERCISES, exercise, exercises_for_lesson

__all__ = ["EXERCISES", "exercise", "exercises_for_lesson"]
