"""No plain twin (it computes nothing a model does): what this CPU is, its model, SIMD
instructions, caches and threads.

Speed depends on the machine, so every speed figure names it (BENCHMARKS.md), and what
the kernels choose from the machine reads it here instead of a constant tuned on one
CPU: the chunk of images that Winograd and eval-mode im2col take at a time (a quarter
of the last-level cache in eval, all of it in a training step; fast/winograd.py). Linux
reports all of
it (/proc/cpuinfo, /sys/devices/system/cpu); elsewhere the fields are None and the
callers fall back to their defaults.
"""
import functools
import os
import platform
from pathlib import Path

# The vector extensions that matter to NumPy, OpenBLAS and LLVM (Numba): x86 from the
# narrowest to the widest, then ARM's.
SIMD_FLAGS = ("sse4_2", "avx", "fma", "avx2", "avx512f", "avx512bw", "avx512_vnni",
              "avx512_bf16", "amx_tile", "asimd", "sve")
CACHE_ROOT = Path("/sys/devices/system/cpu/cpu0/cache")


def parse_cpuinfo(text):
    """The first processor's entries of /proc/cpuinfo: {"model name": ..., "flags": ...}."""
    entries = {}
    for line in text.splitlines():
        if not line.strip():
            if entries:
                break                        # the first processor's block is enough
            continue
        key, _, value = line.partition(":")
        entries.setdefault(key.strip(), value.strip())
    return entries


def parse_size(text):
    """A sysfs cache size ("32K", "512K", "32768K", "1M") -> bytes."""
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


def read_caches(root=CACHE_ROOT):
    """{"L1d": bytes, "L2": bytes, "L3": bytes} of one core's caches (those it shares
    included) from sysfs; missing levels are left out."""
    caches = {}
    for index in sorted(Path(root).glob("index[0-9]*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = parse_size((index / "size").read_text())
        except (OSError, ValueError):
            continue
        if kind == "Instruction":
            continue
        caches[f"L{level}" + ("d" if level == "1" else "")] = size
    return caches


def describe(cpuinfo_text=None, cache_root=CACHE_ROOT):
    """{"model", "family", "model_number", "simd", "threads", "caches"} of this machine
    (or of the given /proc/cpuinfo text and cache folder, for tests)."""
    if cpuinfo_text is None:
        try:
            cpuinfo_text = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo_text = ""
    entries = parse_cpuinfo(cpuinfo_text)
    flags = set((entries.get("flags") or entries.get("Features") or "").split())
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else os.cpu_count()
    return {"model": entries.get("model name") or platform.processor() or platform.machine(),
            "family": entries.get("cpu family"), "model_number": entries.get("model"),
            "simd": [flag for flag in SIMD_FLAGS if flag in flags],
            "threads": threads, "caches": read_caches(cache_root)}


@functools.lru_cache(maxsize=1)
def this_machine():
    """``describe()`` of the machine we run on, read once."""
    return describe()


def summary(info=None):
    """One line: model (family/model), SIMD, caches, threads."""
    info = info or this_machine()
    caches = ", ".join(f"{level} {size >> 10} KiB" for level, size in info["caches"].items())
    family = f" (family {info['family']}, model {info['model_number']})" \
        if info["family"] is not None else ""
    return (f"{info['model']}{family}; SIMD: {' '.join(info['simd']) or 'unknown'}; "
            f"caches: {caches or 'unknown'}; {info['threads']} threads available")
