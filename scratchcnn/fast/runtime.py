"""No plain twin (it changes how the process runs, never a result): opt-in process tuning,
``tune()``, which keeps the CPU busy with arithmetic, not waiting.

Importing scratchcnn changes nothing in your process. ``sc.runtime.tune()`` (called
by the lesson runner, the lessons and the benchmarks) changes three process-wide
settings, each measured on a 2-core machine training the slides' MNIST model
(BENCHMARKS.md). A setting you made yourself (an environment variable) always wins.

1. Numba's threads do not spin. Numba's OpenMP threads otherwise spin after each
   parallel kernel and steal the cores that the BLAS needs for the next matrix
   product (a GEMM followed by a max pool: 21 ms spinning vs 15 ms passive). So
   ``OMP_WAIT_POLICY=passive`` is set, which an OpenMP runtime reads once, when it
   loads. If one is already loaded (``import torch`` does that) it is too late, and
   Numba's own "workqueue" threads, which do not spin, are chosen instead
   (a training step: 101.8 ms spinning, 73.4 ms workqueue, 69.4 ms passive). Either
   only works before Numba runs its first parallel kernel.
2. Freed memory is kept for reuse (glibc ``mallopt``). By default every freed array
   over a few MB goes back to the operating system and the next one is faulted in
   again page by page (about 1 ms per MB on a virtual machine). Raising the mmap and
   trim thresholds keeps it in the process, as PyTorch's caching allocator does:
   81.6 -> 67.0 ms per training step at batch 64. The cost: the process keeps its
   peak memory until it exits. Not glibc (macOS, musl, Windows): skipped.
3. OpenBLAS's threads wait only briefly for the next matrix product
   (``OPENBLAS_THREAD_TIMEOUT=12``: 2^12 ticks of the CPU's time-stamp counter, 1-2
   microseconds, instead of 2^28, about 0.1 s). Spinning for 0.1 s, they steal the
   cores from the Numba kernel that follows (im2col of conv2 at batch 64: 7.5 ms
   spinning vs 3.9 ms). Asleep at once (2^4 ticks, this setting until 2026-12-05), each
   of the many small products in a row (Winograd's 36 per chunk of images, 16 with the
   F(2x2, 3x3) of these measurements) waits for them to wake up: 16 products of
   (1296 x 64) @ (64 x 32) took 1.00 ms against 0.52 ms at 2^12, and a training step of
   the slides' model at batch 64 (F2) ran at 0.88x PyTorch against 1.05x (2^8: 0.89x, 2^14: 1.05x, 2^16: 1.04x; AMD Zen 4,
   BENCHMARKS.md). OpenBLAS reads this when it starts its threads. NumPy has started
   them by the time scratchcnn is imported, so ``tune()`` sets the variable, asks
   OpenBLAS to read its environment again (``openblas_read_env``) and stops its threads
   (``blas_thread_shutdown_``); the next matrix product starts them with the new
   timeout. Both are exported C functions of OpenBLAS; where the loaded BLAS lacks
   them (another BLAS, an old OpenBLAS), this step is skipped and says so.
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
