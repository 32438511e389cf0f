"""No plain twin (it changes how the process runs, never a result): opt-in process tuning,
``tune()``, which keeps the CPU busy with arithmetic, not waiting.

Importing scratchcnn changes nothing in your process, and a plain script runs at full
speed without this module: the engine's own thread discipline (threads.py) keeps
Numba's threads from spinning against OpenBLAS's. ``sc.runtime.tune()`` is an optional
extra that changes two process-wide settings, for your whole process, other libraries
included (measurements: BENCHMARKS.md, "Rules in the code": tune()). A setting you made
yourself (an environment variable) always wins.

1. Freed memory is kept for reuse (glibc ``mallopt``): by default every freed array over
   a few MB goes back to the operating system and the next one is faulted in again page
   by page. Raising the mmap and trim thresholds keeps it in the process, as PyTorch's
   caching allocator does; the process then keeps its peak memory until it exits. Not
   glibc (macOS, musl, Windows): skipped. ``SCRATCHCNN_DEFAULT_MALLOC=1`` skips it.
2. OpenBLAS's threads wait only briefly for the next matrix product
   (``OPENBLAS_THREAD_TIMEOUT=12``: 2^12 ticks of the CPU's time-stamp counter, 1-2
   microseconds, instead of 2^28, about 0.1 s, during which they take turns with the
   Numba kernel that follows). OpenBLAS reads this when it starts its threads. NumPy
   has started them by the time scratchcnn is imported, so ``tune()`` sets the variable,
   asks OpenBLAS to read its environment again (``openblas_read_env``) and stops its
   threads (``blas_thread_shutdown_``); the next matrix product starts them with the
   new timeout. Both are exported C functions of OpenBLAS; where the loaded BLAS lacks
   them (another BLAS, an old OpenBLAS), this step is skipped and says so.

``report()`` says what the engine chose for its threads, what its recycled outputs hold
(recycle.py) and what ``tune()`` applied.
"""
import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3     # glibc <malloc.h>
OPENBLAS_TIMEOUT = "12"


def _loaded_libraries():
    try:
        with open("/proc/self/maps") as maps:
            return {line.split()[-1] for line in maps if "/" in line}
    except OSError:                     # not Linux: no map to read
        return set()


def _tune_malloc():
    if os.environ.get("SCRATCHCNN_DEFAULT_MALLOC") == "1":
        return "glibc default (SCRATCHCNN_DEFAULT_MALLOC=1)"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return "not glibc: unchanged"
    ok = mallopt(M_MMAP_THRESHOLD, 1 << 30) and mallopt(M_TRIM_THRESHOLD, 1 << 31)
    return "freed memory kept for reuse" if ok else "mallopt refused: unchanged"


def _tune_openblas():
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        return f"OPENBLAS_THREAD_TIMEOUT={os.environ['OPENBLAS_THREAD_TIMEOUT']} (yours, kept)"
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = OPENBLAS_TIMEOUT
    libraries = [lib for lib in _loaded_libraries() if "openblas" in os.path.basename(lib)]
    if not libraries:
        return f"no OpenBLAS loaded: OPENBLAS_THREAD_TIMEOUT={OPENBLAS_TIMEOUT} set for when one loads"
    for path in libraries:
        library = ctypes.CDLL(path)
        read_env = getattr(library, "openblas_read_env", None)
        shutdown = getattr(library, "blas_thread_shutdown_", None)
        if read_env is None or shutdown is None:
            return f"{os.path.basename(path)} cannot re-read its environment: unchanged"
        read_env()
        shutdown()
    return f"OPENBLAS_THREAD_TIMEOUT={OPENBLAS_TIMEOUT} (OpenBLAS threads restarted)"


_applied = None


def report():
    """What the engine chose for its threads, and who chose it (threads.py: Numba's
    threading layer, chosen at the fast room's first kernel unless you chose one); the
    memory its recycled outputs hold (recycle.py: "recycled", blocks and MiB held by
    live arrays or free for the next call); and what ``tune()`` applied (None if it was
    not called)."""
    from .recycle import report as recycled
    from .threads import report as engine
    return dict(engine(), recycled=recycled(),
                tune=None if _applied is None else dict(_applied))


def release():
    """Let go of the memory the engine keeps for its next outputs (recycle.py: the free
    blocks); returns the bytes still in arrays that are alive."""
    from .recycle import release as let_go
    return let_go()


def tune():
    """Apply the two settings above to this process; returns {setting: what was done}.
    A second call changes nothing and returns what the first one did."""
    global _applied
    if _applied is None:
        _applied = {"malloc": _tune_malloc(), "openblas_threads": _tune_openblas()}
    return dict(_applied)
