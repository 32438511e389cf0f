"""Process-wide settings that keep the CPU busy with arithmetic, not waiting.

Both were measured on a 2-core machine training the slides' MNIST model
(BENCHMARKS.md); both can be turned off, and a user's own setting always wins.

1. ``OMP_WAIT_POLICY=passive``: Numba's OpenMP threads otherwise spin after each
   parallel kernel and steal the cores that the BLAS needs for the next matrix
   product (a GEMM followed by a max pool: 21 ms spinning vs 15 ms passive).
   An OpenMP runtime reads this once, when it loads; if one is already loaded
   (``import torch`` before ``import scratchcnn`` does that) it is too late, and
   Numba's own "workqueue" threads, which do not spin, are used instead
   (a training step: 101.8 ms spinning, 73.4 ms workqueue, 69.4 ms passive).
2. glibc ``mallopt``: by default every freed array over a few MB goes back to
   the operating system and the next one is faulted in again page by page
   (about 1 ms per MB on a virtual machine). Raising the mmap and trim
   thresholds keeps freed memory in the process for reuse, as PyTorch's caching
   allocator does: 81.6 -> 67.0 ms per training step at batch 64. The cost is
   that the process keeps its peak memory until it exits.

3. ``OPENBLAS_THREAD_TIMEOUT=4`` (set by ``scratchcnn/__init__.py``, and by the
   lesson runner and the benchmarks for their processes): OpenBLAS's worker threads
   otherwise spin for about 0.1 s after each matrix product, so the Numba kernel
   that follows gets half a core (im2col of conv2 at batch 64: 7.5 ms spinning vs
   3.9 ms). OpenBLAS reads it once, when NumPy is imported: importing NumPy before
   scratchcnn leaves its default in place.

Set SCRATCHCNN_DEFAULT_MALLOC=1 to skip (2).
"""
import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3     # glibc <malloc.h>


def _openmp_already_loaded():
    try:
        with open("/proc/self/maps") as maps:
            mapped = maps.read()
    except OSError:
        return False
    return "libgomp" in mapped or "libiomp" in mapped


def configure():
    if "OMP_WAIT_POLICY" not in os.environ:
        if _openmp_already_loaded():
            import numba
            numba.config.THREADING_LAYER = "workqueue"
        else:
            os.environ["OMP_WAIT_POLICY"] = "passive"
    if os.environ.get("SCRATCHCNN_DEFAULT_MALLOC") == "1":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):      # not glibc (macOS, musl, Windows): nothing to do
        return False
    ok_mmap = mallopt(M_MMAP_THRESHOLD, 1 << 30)          # arrays up to 1 GiB from the heap
    ok_trim = mallopt(M_TRIM_THRESHOLD, 1 << 31)          # keep freed heap memory
    return bool(ok_mmap and ok_trim)


MALLOC_TUNED = configure()
