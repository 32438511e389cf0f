"""Run the CUDA bodies of fast/gpu_sources.py on the CPU, as CuPy would run them on a GPU.

A ``cupy.ElementwiseKernel(in_params, out_params, operation, name)`` runs ``operation``
once per output index ``i``, in parallel threads. ``compile_kernel`` turns one spec into
a C++ function with a plain loop ``for (i = 0; i < n; ++i) { operation }`` around the
same body, compiled by the system's g++ (for float and for double), and ``run`` calls it
with CuPy's conventions:

* a ``raw`` parameter is the whole array, indexed by hand (``x[...]``); a raw input is
  ``const``, so a body that writes to one does not compile;
* any other parameter is the element ``i`` of its array, or a scalar broadcast to every
  ``i`` (a Python int such as ``kh``); an output is a reference to element ``i``;
* ``T`` is the dtype of the arguments declared ``T``; ``int64`` is ``long long``.

What this proves: the index arithmetic, the loops, ties and the data types of the bodies,
with the arguments gpu.py passes. What it does not: anything that only a GPU shows
(the launch, memory coalescing, races between threads: every body here writes only its
own output element, which the one-thread loop cannot test), nor CuPy's own code
generation (tests/fast/test_gpu_compile.py compiles that with NVRTC, where installed).
"""
import ctypes
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

CPP_TYPES = {"T": "T", "int64": "long long", "int32": "int", "float64": "double",
             "float32": "float", "bool": "bool"}
NUMPY_TYPES = {"int64": np.int64, "int32": np.int32, "float64": np.float64,
               "float32": np.float32, "bool": np.bool_}
T_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
_BUILD = Path(tempfile.gettempdir()) / "scratchcnn_cuda_on_cpu"


def compiler():
    """The path of g++, or None."""
    return shutil.which("g++")


def parameters(declarations, output):
    """[(name, type, raw, output)] from CuPy's "raw T x, int64 c" declarations."""
    found = []
    for declaration in filter(None, (d.strip() for d in declarations.split(","))):
        words = declaration.split()
        raw = words[0] == "raw"
        kind, name = words[-2], words[-1]
        found.append((name, kind, raw, output))
    return found


def source(spec):
    """The C++ translation unit for one spec: run_float and run_double."""
    params = parameters(spec.in_params, False) + parameters(spec.out_params, True)
    functions = []
    for t in ("float", "double"):
        lines = [f"extern \"C\" void run_{t}(long long n, void** args, const long long* strides) {{",
                 f"    typedef {t} T;"]
        for k, (name, kind, raw, output) in enumerate(params):
            cpp = CPP_TYPES[kind]
            if raw:
                const = "" if output else "const "
                lines.append(f"    {const}{cpp}* {name} = ({const}{cpp}*)args[{k}];")
        lines.append("    for (long long i = 0; i < n; ++i) {")
        for k, (name, kind, raw, output) in enumerate(params):
            cpp = CPP_TYPES[kind]
            if raw:
                continue
            if output:
                lines.append(f"        {cpp}& {name} = (({cpp}*)args[{k}])[i * strides[{k}]];")
            else:
                lines.append(f"        const {cpp} {name} = ((const {cpp}*)args[{k}])"
                             f"[i * strides[{k}]];")
        lines.append("        {" + spec.operation + "}")
        lines += ["    }", "}"]
        functions.append("\n".join(lines))
    return "\n\n".join(functions) + "\n"


class CompiledKernel:
    """One spec compiled for the CPU; call it with CuPy's argument order (inputs, then
    outputs) on NumPy arrays and Python scalars."""

    def __init__(self, spec, library):
        self.spec, self.library = spec, library
        self.params = parameters(spec.in_params, False) + parameters(spec.out_params, True)

    def __call__(self, *args):
        if len(args) != len(self.params):
            raise TypeError(f"{self.spec.name}: {len(self.params)} arguments expected "
                            f"(outputs included), got {len(args)}")
        t_dtype = next(np.asarray(a).dtype for a, (_, kind, _, _) in zip(args, self.params)
                       if kind == "T")
        n = max(np.asarray(a).size for a, (_, _, raw, _) in zip(args, self.params) if not raw)
        keep, pointers, strides = [], [], []
        for value, (name, kind, raw, output) in zip(args, self.params):
            dtype = t_dtype if kind == "T" else NUMPY_TYPES[kind]
            if output or raw:
                array = value
                if not (isinstance(array, np.ndarray) and array.flags.c_contiguous
                        and array.dtype == dtype):
                    raise TypeError(f"{self.spec.name}: {name} must be a C-contiguous "
                                    f"{np.dtype(dtype)} array, got {type(value).__name__} "
                                    f"{getattr(value, 'dtype', '')}")
            else:
                array = np.ascontiguousarray(value, dtype=dtype)
            if not raw and array.size not in (1, n):
                raise ValueError(f"{self.spec.name}: {name} has {array.size} elements, the "
                                 f"kernel runs {n}")
            keep.append(array)
            pointers.append(array.ctypes.data)
            strides.append(0 if (not raw and array.size == 1 and n > 1) else 1)
        function = getattr(self.library, f"run_{T_TYPES[np.dtype(t_dtype)]}")
        function(ctypes.c_longlong(n), (ctypes.c_void_p * len(pointers))(*pointers),
                 (ctypes.c_longlong * len(strides))(*strides))


def compile_kernel(spec):
    """Compile ``spec`` with g++ (cached by its source's hash); returns a CompiledKernel.
    Raises subprocess.CalledProcessError with g++'s message if it does not compile."""
    text = source(spec)
    digest = hashlib.sha1(text.encode()).hexdigest()[:16]
    _BUILD.mkdir(parents=True, exist_ok=True)
    library = _BUILD / f"{spec.name}_{digest}.so"
    if not library.exists():
        cpp = _BUILD / f"{spec.name}_{digest}.cpp"
        cpp.write_text(text)
        partial = library.with_suffix(".so.part")
        subprocess.run([compiler(), "-O1", "-shared", "-fPIC", "-Wall", "-Werror",
                        "-Wno-unused-variable", "-o", str(partial), str(cpp)],
                       check=True, capture_output=True, text=True)
        partial.rename(library)
    lib = ctypes.CDLL(str(library))
    for t in ("float", "double"):
        getattr(lib, f"run_{t}").restype = None
    return CompiledKernel(spec, lib)
