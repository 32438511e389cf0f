"""No plain twin (it decides how the fast room's threads wait, never a result): the
engine's thread discipline, chosen when the fast room's kernels first load.

Two thread pools share the cores: OpenBLAS's (NumPy's matrix products) and Numba's
(every other kernel). Idle threads of both spin for a while before they sleep, waiting
for the next piece of work. On few cores a spinning pool steals the cores the other one
needs next, and with Numba's default OpenMP threads a training step ran at a quarter of
its speed (BENCHMARKS.md, "Rules in the code": threads). Numba's "workqueue" threads
sleep between kernels: with them, neither pool waits for the other.

So when the fast room first loads its Numba kernels (never at ``import scratchcnn``),
``prepare()`` sets ``numba.config.THREADING_LAYER = "workqueue"``, unless you chose a
threading layer yourself (``NUMBA_THREADING_LAYER`` or ``NUMBA_THREADING_LAYER_PRIORITY``
in the environment, or ``numba.config.THREADING_LAYER`` set in your code) or Numba has
already started its threads (a parallel Numba function of yours ran first): then
yours stays. Nothing else in the process changes: not the environment, not OpenBLAS,
not PyTorch. ``report()`` (also ``sc.runtime.report()``) says what was chosen and why.

The workqueue layer runs one parallel kernel at a time: run scratchcnn from one thread
of a process (or choose "omp" or "tbb" yourself).
"""
import os

ENGINE_LAYER = "workqueue"
_choice = None


def prepare():
    """Choose Numba's threading layer for the fast room, once (see the module docstring);
    returns what ``report()`` returns."""
    global _choice
    if _choice is not None:
        return _choice
    import numba
    from numba.np.ufunc import parallel
    if parallel._is_initialized:
        _choice = {"threading_layer": numba.threading_layer(),
                   "chosen_by": "Numba's threads were already running (a parallel Numba "
                                "function ran before scratchcnn's kernels): kept"}
    elif any(key in os.environ for key in ("NUMBA_THREADING_LAYER",
                                           "NUMBA_THREADING_LAYER_PRIORITY")):
        _choice = {"threading_layer": numba.config.THREADING_LAYER,
                   "chosen_by": "you (NUMBA_THREADING_LAYER in the environment): kept"}
    elif numba.config.THREADING_LAYER != "default":
        _choice = {"threading_layer": numba.config.THREADING_LAYER,
                   "chosen_by": "you (numba.config.THREADING_LAYER): kept"}
    else:
        numba.config.THREADING_LAYER = ENGINE_LAYER
        _choice = {"threading_layer": ENGINE_LAYER,
                   "chosen_by": "scratchcnn, at its first kernel (threads that sleep "
                                "between kernels)"}
    return _choice


def report():
    """{"threading_layer", "chosen_by", "threads"}: Numba's threading layer for the fast
    room and who chose it; None for the first two until the fast room's kernels load."""
    import sys
    threads = sys.modules["numba"].get_num_threads() if "numba" in sys.modules else None
    chosen = _choice or {"threading_layer": None,
                         "chosen_by": "nobody yet: the fast room has not run a kernel"}
    return dict(chosen, threads=threads)
