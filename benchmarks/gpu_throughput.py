"""Throughput on a CUDA GPU: scratchcnn on CuPy against PyTorch CUDA.

    python benchmarks/gpu_throughput.py [--repeats 5] [--steps 20]

The same models, batches and optimizer (Adam) as throughput.py, with the data
already on the GPU; every timed loop ends with a device synchronize, and the two
frameworks take turns, round by round. A row reports the median images/s and the
median of the rounds' ratios scratchcnn / PyTorch. Needs CuPy and a
CUDA GPU (pip install -e ".[gpu]"); the PyTorch column needs a CUDA build of
PyTorch and is skipped without one. Never run by the test suite.
"""
import argparse
import sys

from throughput import (cell, interleaved_rates, load_scratchcnn, load_torch, ratio,
                        scratch_runner, summarize, torch_runner)

sc = load_scratchcnn()

CONFIGS = [("slides", "train", 64), ("slides", "train", 128), ("slides", "infer", 256),
           ("gap", "train", 128)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    if not sc.gpu_available():
        print("needs CuPy and a CUDA GPU: pip install -e '.[gpu]' on a machine that has one")
        return 1
    import cupy
    torch = load_torch()
    torch_cuda = torch is not None and torch.cuda.is_available()
    gpu_name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    gpu_name = gpu_name.decode() if isinstance(gpu_name, bytes) else gpu_name
    print(f"GPU: {gpu_name}, "
          f"CuPy {cupy.__version__}, PyTorch "
          f"{torch.__version__ if torch_cuda else 'with CUDA not installed'}")

    def synchronize():
        cupy.cuda.Device().synchronize()
        if torch_cuda:
            torch.cuda.synchronize()

    header = f"{'model':8} {'pass':6} {'batch':>5} {'cupy':>10} {'pytorch':>10} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for name, mode, batch in CONFIGS:
        train = mode == "train"
        runs = {"cupy": (scratch_runner(name, batch, train, "gpu"), args.steps)}
        if torch_cuda:
            runs["torch"] = (torch_runner(name, batch, train, "cuda"), args.steps)
        medians, ratios = summarize(interleaved_rates(runs, batch, args.repeats, synchronize))
        print(f"{name:8} {mode:6} {batch:>5} {medians['cupy']:>10,.0f} "
              f"{cell(medians, 'torch'):>10} {ratio(ratios, 'cupy'):>7}", flush=True)
    print(f"(images/s: median of {args.repeats} rounds of {args.steps} steps, the frameworks "
          "taking turns; ratio: median of the rounds' ratios)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
