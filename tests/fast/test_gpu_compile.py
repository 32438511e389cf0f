"""Every CUDA kernel of fast/gpu.py compiles with NVRTC for sm_80 and sm_90.

No GPU and no CuPy needed: the kernel sources are plain data in
``fast/gpu_sources.py``. Each ``cupy.ElementwiseKernel`` spec is turned into the
translation unit CuPy would generate (``translation_unit``), compiled with NVRTC
(loaded with ctypes from the ``nvidia-cuda-nvrtc-cu12`` wheel) to a cubin for each
architecture, with T = float and T = double. A negative control checks that a broken
kernel does fail through the same path.

This catches what a compiler sees (typos, undeclared names, type errors, writes to an
input), not wrong results: those need a GPU (``pytest -m gpu``).

The compile tests skip cleanly without NVRTC; install it with
``pip install -e ".[test,nvrtc]"`` (Linux x86-64 / aarch64 wheels).
"""
import ast
import ctypes
from pathlib import Path
from typing import NamedTuple

import pytest

from scratchcnn.fast import gpu_sources
from scratchcnn.fast.gpu_sources import ElementwiseSpec

ARCHITECTURES = ("sm_80", "sm_90")
#: What T stands for in each compile: NumPy dtype name -> C type.
FLOAT_TYPES = {"float32": "float", "float64": "double"}
#: The fixed parameter types the kernels use: CuPy's type name -> C type.
C_TYPES = {"bool": "bool", "int32": "int", "int64": "long long", **FLOAT_TYPES}
#: The options CuPy passes to NVRTC for an elementwise kernel (cupy/cuda/compiler.py).
CUPY_OPTIONS = ("-ftz=true", "--device-as-default-execution-space")
NVRTC_ERROR_COMPILATION = 6

# CuPy's CArray (cupy/_core/include/cupy/carray.cuh), reduced to what these kernels can
# use of it: flat indexing x[k] of a contiguous array with any integer k. Read-only
# through a const CArray, as for CuPy's input parameters.
CARRAY = """\
template <typename T>
struct CArray {
    T* data_;
    __device__ T& operator[](long long k) { return data_[k]; }
    __device__ const T& operator[](long long k) const { return data_[k]; }
};
"""


def parse_params(declarations):
    """CuPy's parameter declarations -> a list of (is_raw, type_name, name).

    declarations: a comma-separated string such as "raw T x, int64 c".
    """
    params = []
    for declaration in declarations.split(","):
        words = declaration.split()
        is_raw = words[:1] == ["raw"]
        words = words[1:] if is_raw else words
        if len(words) != 2:
            raise ValueError(f"not a CuPy parameter declaration: {declaration!r}")
        params.append((is_raw, words[0], words[1]))
    return params


def translation_unit(spec, type_vars):
    """The CUDA C++ source CuPy generates for an elementwise kernel, with plain types.

    spec: an ElementwiseSpec; type_vars: type variable -> C type, e.g. {"T": "float"}.
    Returns the source of one ``extern "C" __global__`` function named spec.name: a
    grid-stride loop over ``long long i`` (CuPy's ptrdiff_t) below ``_size``. Like
    CuPy's, a raw parameter is a CArray; any other parameter is a CArray ``_raw_NAME``
    and the body sees ``NAME``, a reference to element i; inputs are const.
    """
    def c_type(type_name):
        if type_name in type_vars:
            return type_name  # typedef'd below, as CuPy does
        if type_name not in C_TYPES:
            raise ValueError(f"{spec.name}: unknown parameter type {type_name!r}")
        return C_TYPES[type_name]

    params, bindings = [], []
    for const, declarations in (("const ", spec.in_params), ("", spec.out_params)):
        for is_raw, type_name, name in parse_params(declarations):
            ctype = c_type(type_name)
            if is_raw:
                params.append(f"{const}CArray<{ctype}> {name}")
            else:
                params.append(f"{const}CArray<{ctype}> _raw_{name}")
                bindings.append(f"        {const}{ctype} &{name} = _raw_{name}[i];\n")
    typedefs = "".join(f"typedef {ctype} {var};\n" for var, ctype in type_vars.items())
    return (CARRAY + typedefs
            + f'extern "C" __global__ void {spec.name}({", ".join(params)}, '
            "const long long _size) {\n"
            "    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x"
            " + threadIdx.x;\n"
            "         i < _size; i += static_cast<long long>(blockDim.x) * gridDim.x) {\n"
            + "".join(bindings) + spec.operation + "\n    }\n}\n")


class Compiled(NamedTuple):
    """What NVRTC made of one source: whether it compiled, its log, and the cubin."""
    succeeded: bool
    log: str
    cubin: bytes


class Nvrtc:
    """libnvrtc.so driven through ctypes (it needs no GPU and no CUDA driver)."""

    def __init__(self, path):
        """path: the shared library, e.g. .../nvidia/cuda_nvrtc/lib/libnvrtc.so.12."""
        self.lib = ctypes.CDLL(str(path))
        self.lib.nvrtcGetErrorString.restype = ctypes.c_char_p

    def _check(self, result, call):
        """Raise RuntimeError, naming ``call``, if the nvrtcResult ``result`` is not success."""
        if result != 0:
            message = self.lib.nvrtcGetErrorString(result).decode()
            raise RuntimeError(f"{call} failed: {message}")

    def version(self):
        """NVRTC's CUDA version -> (major, minor)."""
        major, minor = ctypes.c_int(), ctypes.c_int()
        self._check(self.lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)),
                    "nvrtcVersion")
        return major.value, minor.value

    def compile(self, source, arch, options=CUPY_OPTIONS):
        """Compile CUDA C++ ``source`` to a cubin for ``arch`` ("sm_80") -> Compiled.

        A compile error gives Compiled(False, log, b""); any other NVRTC failure
        (say, an option it does not know) raises RuntimeError.
        """
        program = ctypes.c_void_p()
        self._check(self.lib.nvrtcCreateProgram(ctypes.byref(program), source.encode(),
                                                b"kernel.cu", 0, None, None),
                    "nvrtcCreateProgram")
        try:
            args = [f"-arch={arch}".encode(), *(option.encode() for option in options)]
            result = self.lib.nvrtcCompileProgram(program, len(args),
                                                  (ctypes.c_char_p * len(args))(*args))
            if result not in (0, NVRTC_ERROR_COMPILATION):
                self._check(result, "nvrtcCompileProgram")
            size = ctypes.c_size_t()
            self._check(self.lib.nvrtcGetProgramLogSize(program, ctypes.byref(size)),
                        "nvrtcGetProgramLogSize")
            log = ctypes.create_string_buffer(size.value)
            self._check(self.lib.nvrtcGetProgramLog(program, log), "nvrtcGetProgramLog")
            if result != 0:
                return Compiled(False, log.value.decode(), b"")
            self._check(self.lib.nvrtcGetCUBINSize(program, ctypes.byref(size)),
                        "nvrtcGetCUBINSize")
            cubin = ctypes.create_string_buffer(size.value)
            self._check(self.lib.nvrtcGetCUBIN(program, cubin), "nvrtcGetCUBIN")
            return Compiled(True, log.value.decode(), cubin.raw)
        finally:
            self._check(self.lib.nvrtcDestroyProgram(ctypes.byref(program)),
                        "nvrtcDestroyProgram")


@pytest.fixture(scope="module")
def nvrtc():
    """NVRTC from the nvidia-cuda-nvrtc-cu12 wheel; skips the test when it is not installed."""
    reason = 'needs NVRTC: pip install -e ".[nvrtc]" (nvidia-cuda-nvrtc-cu12)'
    package = pytest.importorskip("nvidia.cuda_nvrtc", reason=reason)
    libraries = sorted(path for folder in package.__path__
                       for path in Path(folder, "lib").glob("libnvrtc.so.*"))
    if not libraries:
        pytest.skip(f"{reason}; no lib/libnvrtc.so.* in {list(package.__path__)}")
    return Nvrtc(libraries[0])


def numbered(source):
    """source with 1-based line numbers, to read NVRTC's "kernel.cu(LINE)" messages."""
    return "\n".join(f"{n:4} {line}" for n, line in enumerate(source.splitlines(), 1))


def test_gpu_py_builds_every_kernel_from_gpu_sources():
    """gpu.py builds each CuPy kernel as cp.ElementwiseKernel(*gpu_sources.NAME), one per
    spec in gpu_sources.KERNELS, so the compile tests below see all of them."""
    specs = {name: value for name, value in vars(gpu_sources).items()
             if isinstance(value, ElementwiseSpec)}
    assert set(specs.values()) == set(gpu_sources.KERNELS)
    tree = ast.parse(Path(gpu_sources.__file__).with_name("gpu.py").read_text())
    built = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr.endswith(("Kernel", "Module"))):
            args = node.args
            assert (node.func.attr == "ElementwiseKernel" and not node.keywords
                    and len(args) == 1 and isinstance(args[0], ast.Starred)), (
                f"gpu.py: {ast.unparse(node)} is not built from a gpu_sources spec")
            built.append(ast.unparse(args[0].value))
    assert sorted(built) == sorted(f"gpu_sources.{name}" for name in specs)


@pytest.mark.parametrize("dtype", FLOAT_TYPES)
@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("spec", gpu_sources.KERNELS, ids=lambda spec: spec.name)
def test_kernel_compiles(nvrtc, spec, arch, dtype):
    source = translation_unit(spec, {"T": FLOAT_TYPES[dtype]})
    compiled = nvrtc.compile(source, arch)
    assert compiled.succeeded, (
        f"{spec.name} (T={dtype}) does not compile for {arch} with NVRTC "
        f"{nvrtc.version()}:\n{compiled.log}\n{numbered(source)}")
    assert spec.name.encode() in compiled.cubin  # the kernel's symbol is in the binary


#: Negative controls: mistake -> (a kernel that makes it, what NVRTC's log must say).
BROKEN = {
    "undeclared variable": (ElementwiseSpec("raw T x, int64 n", "T y", "y = x[i % m];",
                                            "broken_undeclared"),
                            'identifier "m" is undefined'),
    "write to an input": (ElementwiseSpec("raw T x", "T y", "x[i] = 0; y = x[i];",
                                          "broken_const"),
                          "expression must be a modifiable lvalue"),
}


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("mistake", BROKEN)
def test_broken_kernel_fails_to_compile(nvrtc, mistake, arch):
    """Negative control: the same path rejects a kernel with a mistake in it, for that
    mistake (not for a fault of the harness)."""
    spec, message = BROKEN[mistake]
    compiled = nvrtc.compile(translation_unit(spec, {"T": "float"}), arch)
    assert not compiled.succeeded and message in compiled.log, compiled.log
