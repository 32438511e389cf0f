"""What this CPU is: its model, the SIMD instructions it offers, its caches, its threads.

Speed depends on the machine, so every speed figure names it (BENCHMARKS.md), and what
the kernels choose from the machine reads it here instead of a constant tuned on one
CPU: the chunk of images that Winograd and eval-mode im2col take at a time (a quarter
of the last-level cache, kernels/winograd.py) and the plane width from which Winograd
runs and how many images its transforms put side by side (``float32_lanes``, asked of
the compiler). Linux reports all of
it (/proc/cpuinfo, /sys/devices/system/cpu); elsewhere the fields are None and the
callers fall back to their defaults.
"""
import functools
import os
import platform
import re
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


# x86 vector registers, widest first, and the float32 numbers each holds.
VECTOR_REGISTERS = (("zmm", 16), ("ymm", 8), ("xmm", 4))


def lanes_in_assembly(assembly):
    """float32 lanes of the widest x86 vector register named in an assembly listing:
    zmm (512 bits) -> 16, ymm (256) -> 8, xmm (128) -> 4; None if it names none."""
    for register, lanes in VECTOR_REGISTERS:
        if re.search(rf"\b{register}[0-9]+\b", assembly):    # %zmm3 (AT&T) or zmm3 (Intel)
            return lanes
    return None


def _multiply_add(a, b, c):
    for i in range(a.size):
        c[i] += a[i] * b[i]


@functools.lru_cache(maxsize=1)
def compiled_float32_lanes():
    """float32 lanes per vector in the loops Numba compiles on this machine, read from
    the compiler itself: a float32 multiply-add loop is compiled once (about 0.2 s) and
    the widest vector register in its assembly is counted (``lanes_in_assembly``).
    None where that cannot be read (not x86, or no listing).

    The CPU's flags alone do not say it: on AVX-512 parts LLVM picks 256- or 512-bit
    vectors by CPU model (512 for AMD Zen 4, measured here; its tuning prefers 256 on
    many of Intel's AVX-512 parts)."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
        return None
    try:
        import numba
        loop = numba.njit(cache=False)(_multiply_add)
        loop.compile("(float32[::1], float32[::1], float32[::1])")
        assembly = "\n".join(loop.inspect_asm().values())
    except Exception:                    # no listing from this Numba: use the flags
        return None
    return lanes_in_assembly(assembly)


def float32_lanes(info=None):
    """float32 numbers in one vector of Numba's compiled loops.

    This machine (info None): what the compiler uses (``compiled_float32_lanes``: 16
    on AMD Zen 4, 8 on AVX2 parts), else the flags' rule.
    The flags' rule (``info`` given, or no assembly to read): 8 where the CPU has AVX
    (LLVM's vectors on AVX and AVX2, and on most AVX-512 parts), else 4 (SSE, NEON)."""
    if info is None:
        compiled = compiled_float32_lanes()
        if compiled is not None:
            return compiled
        info = this_machine()
    return 8 if "avx" in info["simd"] else 4


def summary(info=None):
    """One line: model (family/model), SIMD, caches, threads."""
    info = info or this_machine()
    caches = ", ".join(f"{level} {size >> 10} KiB" for level, size in info["caches"].items())
    family = f" (family {info['family']}, model {info['model_number']})" \
        if info["family"] is not None else ""
    return (f"{info['model']}{family}; SIMD: {' '.join(info['simd']) or 'unknown'}; "
            f"caches: {caches or 'unknown'}; {info['threads']} threads available")
