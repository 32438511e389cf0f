"""How an exercise is graded: run the learner's function on small seeded float64 inputs,
compare what it returns with an independent oracle (finite differences, a loop-level
version written here, or a hand-computed case) and stop at the FIRST thing wrong, with a
message that says what and where:

* a wrong shape: the expected shape and what its axes mean;
* a wrong value: the worst index, the two values and the relative error;
* a wrong gradient: the relative error against central finite differences and the worst
  index;
* a recognized typical mistake: its name, found by comparing the learner's answer with
  what the mistaken formula gives on the same inputs (computed here, independently).

Relative errors are those of scratchcnn/gradcheck.py,
max|a - e| / max(1e-8, max(|a| + |e|)).
"""
import dataclasses
import os
import traceback

import numpy as np

from ..gradcheck import central_difference, relative_error

TOLERANCE = 1e-8          # values that are computed exactly, up to rounding
GRADIENT_TOLERANCE = 1e-6  # against central finite differences, h = 1e-6
MISTAKE_TOLERANCE = 1e-6   # how close an answer must be to a mistaken formula to name it


class Failure(Exception):
    """The first thing wrong; ``str(failure)`` is what the learner reads."""


class NotImplementedYet(Failure):
    """The learner's function still raises the stub's NotImplementedError."""


@dataclasses.dataclass
class Exercise:
    """One exercise: what ``list``, ``start``, ``check`` and ``hint`` need.

    name: the function's name and the file's stem; description: one line for ``list``;
    lessons: the lesson numbers it goes with ("01", ...); stub: the text of the file
    ``start`` writes; hints: shown one at a time; solution: the library's own
    implementation, with the learner's signature; grade(fn) -> list of what was checked
    (raises Failure at the first thing wrong).
    """
    name: str
    description: str
    lessons: tuple
    stub: str
    hints: tuple
    solution: object
    grade: object


@dataclasses.dataclass
class Mistake:
    """A typical mistake: its name, what to do instead, and what it returns on the same
    inputs: ``value`` (an array, or a callable returning one, computed by the grader) or
    ``test(got) -> bool`` for a mistake recognized by a property rather than a value;
    ``tolerance``: how close (relative error) an answer must be to ``value`` to be named."""
    name: str
    advice: str
    value: object = None
    test: object = None
    tolerance: float = MISTAKE_TOLERANCE

    def matches(self, got):
        if self.test is not None:
            return bool(self.test(got))
        value = self.value() if callable(self.value) else self.value
        if value is None:
            return False
        value = np.asarray(value)
        if value.shape != got.shape or not np.all(np.isfinite(got)):
            return False
        return relative_error(got, value) <= self.tolerance


def mistake_message(case, what, mistake):
    return (f"{case}: {what} looks like a typical mistake: {mistake.name}.\n"
            f"  {mistake.advice}")


# ----- running the learner's function ------------------------------------------------------
def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def _where(error):
    """' at FILE, line N: CODE' for the deepest frame outside this package (the learner's
    code), or '' if there is none."""
    here = os.path.dirname(os.path.abspath(__file__))
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if not os.path.abspath(frame.filename).startswith(here)]
    if not frames:
        return ""
    frame = frames[-1]
    return f"\n  at {frame.filename}, line {frame.lineno}: {(frame.line or '').strip()}"


def call(fn, case, *args, **kwargs):
    """fn(*args, **kwargs) on copies of the array arguments; a NotImplementedError becomes
    NotImplementedYet, any other exception a Failure naming the case and the line, and a
    function that changes an input array in place fails too."""
    copies = [_copy(a) for a in args]
    keyword_copies = {k: _copy(v) for k, v in kwargs.items()}
    try:
        with np.errstate(all="ignore"):       # overflow shows up in the values instead
            result = fn(*copies, **keyword_copies)
    except NotImplementedError as error:
        raise NotImplementedYet(
            f"not implemented yet: your function raised NotImplementedError"
            f"{f' ({error})' if str(error) else ''}.\n  Replace the `raise "
            "NotImplementedError(...)` line with your code, then check again.") from None
    except Failure:
        raise
    except Exception as error:                # noqa: BLE001 (the learner's code: report it)
        raise Failure(f"{case}: your function raised {type(error).__name__}: {error}"
                      f"{_where(error)}") from None
    named = list(zip([f"argument {i + 1}" for i in range(len(args))], args, copies)) + \
        [(f"argument {k}", kwargs[k], keyword_copies[k]) for k in kwargs]
    for label, original, used in named:
        if isinstance(original, np.ndarray) and (used.shape != original.shape or
                                                 not np.array_equal(used, original,
                                                                    equal_nan=True)):
            raise Failure(f"{case}: your function changed its input ({label}) in place; "
                          "work on a copy (e.g. x = x.copy(), or dy * mask instead of "
                          "dy *= mask) so the caller's array stays as it was")
    return result


# ----- comparing -------------------------------------------------------------------------
def as_array(got, what, case, kind="f"):
    """The learner's answer as a NumPy array, or a Failure if it is not one (None, a list
    of arrays, ...). kind "f": numbers; "b": bool; "i": integers."""
    if got is None:
        raise Failure(f"{case}: {what} is None: did you forget the return statement?")
    try:
        array = np.asarray(got)
    except Exception:                          # noqa: BLE001
        raise Failure(f"{case}: {what} is not an array, got {type(got).__name__}") from None
    if kind == "b" and array.dtype != bool:
        raise Failure(f"{case}: {what} must be a bool array (True/False), got dtype "
                      f"{array.dtype}")
    if kind == "i" and array.dtype.kind not in "iu":
        raise Failure(f"{case}: {what} must hold integers (e.g. int64), got dtype "
                      f"{array.dtype}")
    if kind == "f" and array.dtype.kind not in "fiub":
        raise Failure(f"{case}: {what} must be an array of numbers, got dtype {array.dtype}")
    return array


def expect_shape(got, shape, what, case, axes="", mistakes=()):
    """A Failure if ``got`` does not have ``shape``; a mistake whose value has the shape
    ``got`` has (e.g. a transposed answer) is named."""
    if got.shape == tuple(shape):
        return
    for mistake in mistakes:
        if mistake.matches(got):
            raise Failure(mistake_message(case, what, mistake))
    meaning = f" = {axes}" if axes else ""
    raise Failure(f"{case}: {what} has shape {got.shape}, expected {tuple(shape)}{meaning}")


def _index(flat_index, shape):
    return tuple(int(i) for i in np.unravel_index(flat_index, shape)) if shape else ()


def _at(what, index):
    return f"{what}[{', '.join(map(str, index))}]" if index else what


def expect_close(got, expected, what, case, mistakes=(), tolerance=TOLERANCE, axes="",
                 kind="f"):
    """Shape, then (on a mismatch) the typical mistakes, then the worst index."""
    expected = np.asarray(expected)
    got = as_array(got, what, case, kind)
    expect_shape(got, expected.shape, what, case, axes, mistakes)
    if kind == "f" and not np.all(np.isfinite(got)):
        for mistake in mistakes:
            if mistake.matches(got):
                raise Failure(mistake_message(case, what, mistake))
        index = _index(np.flatnonzero(~np.isfinite(got))[0], got.shape)
        raise Failure(f"{case}: {_at(what, index)} = {got[index]}, expected "
                      f"{expected[index]:.6g} (the first of {int(np.sum(~np.isfinite(got)))} "
                      "NaN or infinite entries)")
    if kind == "f":
        error = relative_error(got, expected)
        if error <= tolerance:
            return error
        wrong = np.abs(got.astype(np.float64) - expected) > tolerance * max(
            1e-8, float(np.max(np.abs(got) + np.abs(expected))))
    else:
        wrong = got != expected
        if not wrong.any():
            return 0.0
    for mistake in mistakes:
        if mistake.matches(got):
            raise Failure(mistake_message(case, what, mistake))
    if kind == "f":
        index = _index(np.argmax(np.abs(got.astype(np.float64) - expected)), got.shape)
        raise Failure(f"{case}: {_at(what, index)} = {float(got[index]):.6g}, expected "
                      f"{float(expected[index]):.6g} (the worst entry; relative error "
                      f"{error:.1e}, tolerance {tolerance:.0e}; {int(wrong.sum())} of "
                      f"{wrong.size} entries differ)")
    index = _index(np.flatnonzero(wrong)[0], got.shape)
    raise Failure(f"{case}: {_at(what, index)} = {got[index]}, expected {expected[index]} "
                  f"(the first wrong entry; {int(wrong.sum())} of {wrong.size} entries differ)")


def finite_differences(f, x, h=1e-6):
    """Central differences of the scalar function f at every entry of x (float64, small):
    n_i = (f(x + h e_i) - f(x - h e_i)) / (2h), gradcheck.central_difference one entry at
    a time. x is perturbed in place and restored. returns x's shape."""
    return np.array([central_difference(f, x, i, h) for i in range(x.size)]).reshape(x.shape)


def expect_gradient(got, numeric, what, case, mistakes=(), tolerance=GRADIENT_TOLERANCE,
                    axes=""):
    """The learner's gradient against central finite differences ``numeric``."""
    got = as_array(got, what, case)
    expect_shape(got, numeric.shape, what, case, axes, mistakes)
    error = relative_error(got, numeric) if np.all(np.isfinite(got)) else np.inf
    if error <= tolerance:
        return error
    for mistake in mistakes:
        if mistake.matches(got):
            raise Failure(mistake_message(case, what, mistake) +
                          f"\n  (relative error against finite differences: {error:.1e})")
    index = _index(np.nanargmax(np.where(np.isfinite(got), np.abs(got - numeric), np.inf)),
                   got.shape)
    raise Failure(f"{case}: {what} disagrees with central finite differences: relative "
                  f"error {error:.1e} (tolerance {tolerance:.0e}); the worst entry is "
                  f"{_at(what, index)}: yours {float(got[index]):.6g}, finite differences "
                  f"{float(numeric[index]):.6g}")


def expect_tuple(result, length, names, case):
    """The learner's return value must be a tuple (or list) of ``length`` items."""
    if not isinstance(result, (tuple, list)) or len(result) != length:
        got = (f"a {type(result).__name__} of {len(result)}"
               if isinstance(result, (tuple, list)) else type(result).__name__)
        raise Failure(f"{case}: return the tuple ({names}), got {got}")
    return result


# ----- small helpers the exercises share -----------------------------------------------------
def pair(value):
    """3 -> (3, 3); (3, 2) -> (3, 2)."""
    return (int(value), int(value)) if np.isscalar(value) else (int(value[0]), int(value[1]))


def describe(**named):
    """'x (2, 3, 5, 7), stride (2, 1)': the shapes of arrays, the values of the rest."""
    return ", ".join(f"{k} {v.shape if isinstance(v, np.ndarray) else v!r}"
                     for k, v in named.items())


def show(value):
    """An array as a list, anything else as it is: for case descriptions."""
    return value.tolist() if isinstance(value, np.ndarray) else value


def distinct_values(rng, shape, low=-2.0, high=2.0, gap=1e-3):
    """Random float64 values of ``shape``, all different by at least ``gap`` (no ties for a
    max or a sort to break), away from 0 by ``gap`` (no kink of a ReLU or |x|)."""
    size = int(np.prod(shape))
    grid = np.arange(low + gap, high, gap)
    grid = grid[np.abs(grid) >= gap]
    values = rng.choice(grid, size=size, replace=False)
    return (values + rng.uniform(0, gap / 4, size)).reshape(shape)
