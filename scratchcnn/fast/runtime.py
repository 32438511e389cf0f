"""No plain twin (it changes how the process runs, never a result): opt-in process tuning,
``tune()``, which keeps the CPU busy with arithmetic, not waiting.

Importing scratchcnn changes nothing in your process. ``sc.runtime.tune()`` (called
by the lesson runner, the lessons and the benchmarks) changes three process-wide
settings (measurements: BENCHMARKS.md, "Rules in the code": tune()). A setting you made
yourself (an environment variable) always wins.

1. Numba's threads do not spin after a parallel kernel (they would steal the cores the
   BLAS needs next): ``OMP_WAIT_POLICY=passive``, which an OpenMP runtime reads once,
   when it loads; if one is already loaded (``import torch`` does that), Numba's own
   "workqueue" threads, which do not spin. Either only works before Numba runs its first
   parallel kernel.
2. Freed memory is kept for reuse (glibc ``mallopt``): by default every freed array over
   a few MB goes back to the operating system and the next one is faulted in again page
   by page. Raising the mmap and trim thresholds keeps it in the process, as PyTorch's
   caching allocator does; the process then keeps its peak memory until it exits. Not
   glibc (macOS, musl, Windows): skipped.
3. OpenBLAS's threads wait only briefly for the next matrix product
   (``OPENBLAS_THREAD_TIMEOUT=12``: 2^12 ticks of the CPU's time-stamp counter, 1-2
   microseconds, instead of 2^28, about 0.1 s, during which they would steal the cores
   from the Numba kernel that follows; asleep at once, each of Winograd's many small
   products would wait for them to wake). OpenBLAS reads this when it starts its
   threads. NumPy has started them by the time scratchcnn is imported, so ``tune()``
   sets the variable, asks OpenBLAS to read its environment again
   (``openblas_read_env``) and stops its threads (``blas_thread_shutdown_``); the next
   matrix product starts them with the new timeout. Both are exported C functions of
   OpenBLAS; where the loaded BLAS lacks them (another BLAS, an old OpenBLAS), this step
   is skipped and says so.
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


def _tune_numba_threads():
    if "OMP_WAIT_POLICY" in os.environ:
        return f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']} (yours, kept)"
    if any("libgomp" in lib or "libiomp" in lib for lib in _loaded_libraries()):
        import numba
        numba.config.THREADING_LAYER = "workqueue"
        return "an OpenMP runtime was already loaded: Numba's workqueue threads"
    os.environ["OMP_WAIT_POLICY"] = "passive"
    return "OMP_WAIT_POLICY=passive"


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


def tune():
    """Apply the three settings above to this process; returns {setting: what was done}.

    Call it early (before the first training step): the thread settings only take
    effect before Numba's first parallel kernel. A second call changes nothing and
    returns what the first one did.
    """
    global _applied
    if _applied is None:
        _applied = {"numba_threads": _tune_numba_threads(), "malloc": _tune_malloc(),
                    "openblas_threads": _tune_openblas()}
    return dict(_applied)
