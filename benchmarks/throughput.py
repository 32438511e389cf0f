"""Throughput of scratchcnn (NumPy reference path, Numba path) against PyTorch.

    python benchmarks/throughput.py               # all configurations, 5 repeats
    python benchmarks/throughput.py --repeats 3 --steps 8 --no-memory

Same architecture, batch, thread count and optimizer (Adam) for every framework,
in this process, taking turns: each of the repeated rounds times every framework
once. A row reports the median images/s over the rounds and the median of the
rounds' ratios scratchcnn / PyTorch, so a shared machine whose speed drifts
during the run (this one's does, by up to 1.5x) skews no framework. Peak memory (max RSS) of
training at batch 128 is measured in a fresh child process per framework.
PyTorch is optional (benchmark only: pip install torch==2.13.0); without it the
PyTorch columns are skipped. Never run by the test suite.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

import scratchcnn as sc
from scratchcnn import zoo
from scratchcnn.layers.base import input_checked_for_nan

# The process settings of scratchcnn/runtime.py, before PyTorch loads its OpenMP (so
# both frameworks get passive OpenMP threads); --no-tune measures without them.
TUNING = {} if "--no-tune" in sys.argv else sc.runtime.tune()

torch = nn = None
THREADS = os.cpu_count()


def load_torch():
    """Import PyTorch if it is installed (only in the processes that use it, so its
    import does not inflate the memory of the others); returns the module or None."""
    global torch, nn
    try:
        import torch as torch_module
        from torch import nn as nn_module
    except ImportError:
        return None
    torch, nn = torch_module, nn_module
    torch.set_num_threads(THREADS)
    return torch


# ----- the two architectures, in PyTorch ---------------------------------------------------
def torch_model(name):
    if name == "slides":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(9216, 64), nn.ReLU(),
                             nn.Linear(64, 10))
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))


def scratch_model(name):
    return zoo.slides_mnist_model() if name == "slides" else zoo.gap_model()


# ----- one timed loop per framework ---------------------------------------------------------
def scratch_runner(name, batch, train, device="cpu"):
    model = scratch_model(name).to(device)
    optimizer = sc.Adam(model, lr=1e-3)
    rng = np.random.default_rng(0)
    x = sc.to_device(rng.random((batch, 1, 28, 28), dtype=np.float32), device)
    y = sc.to_device(rng.integers(0, 10, batch), device)
    if not train:
        model.eval()

    def step():
        logits = model.forward(x)
        if train:
            _, dlogits = sc.softmax_cross_entropy(logits, y)
            optimizer.zero_grad()
            model.backward(dlogits, input_grad=False)   # as fit() does; PyTorch has no dx either
            optimizer.step()
    return step


def torch_runner(name, batch, train, device="cpu"):
    model = torch_model(name).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    loss_fn = nn.CrossEntropyLoss()
    if not train:
        model.eval()

    def step():
        if train:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
        else:
            with torch.no_grad():
                model(x)
    return step


def interleaved_rates(runs, batch, repeats, synchronize=lambda: None):
    """images/s of several step functions, timed in turns.

    runs: {name: (step, steps)}. Each of ``repeats`` rounds times every step function
    once (``steps`` calls in a row), so a shared machine that slows down or speeds up
    during the run affects every framework alike. On a GPU pass the device's
    ``synchronize``: kernels run asynchronously, so the clock stops only after the
    queued work has finished. Returns {name: [images/s of each round]}.
    """
    for step, _ in runs.values():
        step()
        step()                                      # warm up: JIT, allocator, caches
    synchronize()
    rates = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (step, steps) in runs.items():
            tick = time.perf_counter()
            for _ in range(steps):
                step()
            synchronize()
            rates[name].append(batch * steps / (time.perf_counter() - tick))
    return rates


def summarize(rates, against="torch"):
    """Median images/s per name, and the median over rounds of each name's ratio to
    ``against`` (a ratio of the same round's two rates)."""
    medians = {name: statistics.median(values) for name, values in rates.items()}
    ratios = {name: statistics.median(a / b for a, b in zip(values, rates[against], strict=True))
              for name, values in rates.items() if against in rates and name != against}
    return medians, ratios


def child_peak_memory(framework, name, batch):
    """Max RSS (MiB) of a fresh process that trains 5 steps, and of one that only imports."""
    out = {}
    for phase in ("imports", "train"):
        result = subprocess.run([sys.executable, __file__, "--child", framework, name, str(batch),
                                 phase] + [a for a in sys.argv if a == "--no-tune"],
                                capture_output=True, text=True, check=True)
        out[phase] = json.loads(result.stdout.strip().splitlines()[-1])["max_rss_mib"]
    return out


def run_child(framework, name, batch, phase):
    if framework == "torch":
        load_torch()
    if phase == "train":
        runner = scratch_runner if framework != "torch" else torch_runner
        if framework == "reference":
            with sc.use_reference():
                step = runner(name, batch, True)
                for _ in range(5):
                    step()
        else:
            step = runner(name, batch, True)
            for _ in range(5):
                step()
    # VmHWM (peak resident memory of this address space) resets at exec; ru_maxrss
    # would carry over the parent's peak into the child.
    with open("/proc/self/status") as status:
        peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    print(json.dumps({"max_rss_mib": peak_kib / 1024}))


# ----- where the time goes: one layer at a time ---------------------------------------------
def scratch_layer_steps(name, batch):
    """[(layer label, forward, backward to input, backward to weights or None)] for the
    layers of our model in training mode, each on the input it sees in a forward pass."""
    model = scratch_model(name).train()
    x = np.random.default_rng(0).random((batch, 1, 28, 28), dtype=np.float32)
    model.forward(x)
    steps = []
    for node in model.nodes:
        layer = node.layer
        source = model.input if node.inputs[0] == "input" else model.outputs[node.inputs[0]]
        dy = np.ones_like(model.outputs[node.name])

        def forward(layer=layer, source=source):
            with input_checked_for_nan():         # as inside model.forward: one NaN scan
                layer.forward(source)             # per pass, not one per layer

        def to_input(layer=layer, dy=dy):
            layer.backward(dy, param_grads=False)

        def to_weights(layer=layer, dy=dy):
            layer.backward(dy, input_grad=False)
        label = f"{node.name} {type(layer).__name__}"
        steps.append((label, forward, to_input, to_weights if layer.params else None))
    return steps


def torch_layer_steps(name, batch):
    """The same triples for the PyTorch model (autograd.grad to the input, then to the
    weights only; the forward under autograd, as in training)."""
    model = torch_model(name).train()
    value = torch.rand(batch, 1, 28, 28)
    steps = []
    modules = list(model)
    for i, module in enumerate(modules):           # our GlobalAvgPool2D is pool + flatten
        if isinstance(module, nn.AdaptiveAvgPool2d) and isinstance(modules[i + 1], nn.Flatten):
            modules[i:i + 2] = [nn.Sequential(module, modules[i + 1])]
            break
    for module in modules:
        source = value.detach().requires_grad_(True)
        output = module(source)
        dy = torch.ones_like(output)
        weights = [p for p in module.parameters()]

        def forward(module=module, source=source):
            module(source)

        def to_input(module=module, source=source, dy=dy):
            torch.autograd.grad(module(source), source, dy)

        def to_weights(module=module, source=source, dy=dy, weights=weights):
            torch.autograd.grad(module(source.detach()), weights, dy)
        steps.append((forward, to_input, to_weights if weights else None))
        value = output.detach()
    return steps


def median_ms(step, repeats):
    step()
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        step()
        times.append(time.perf_counter() - tick)
    return 1000 * statistics.median(times)


def layer_profile(name, batch, repeats):
    """Per layer: forward, backward to the input and to the weights (ms, median), ours
    and PyTorch's, taking turns layer by layer. PyTorch's 'to input' and 'to weights'
    each include the forward that autograd needs (ours reuse the forward's state), so
    the forward time is subtracted from them."""
    ours = scratch_layer_steps(name, batch)
    theirs = torch_layer_steps(name, batch) if torch is not None else [None] * len(ours)
    if len(theirs) != len(ours):
        raise RuntimeError(f"{name}: {len(ours)} layers here, {len(theirs)} in PyTorch; the "
                           "rows would not match")
    print(f"\nper layer, {name} at batch {batch} (ms, median of {repeats}; PyTorch's "
          "backward columns minus its forward):")
    header = f"  {'layer':22} {'forward':>15} {'to input':>15} {'to weights':>15}"
    print(header + "\n  " + " " * 22 + "   ours / torch" * 3)
    totals = np.zeros((3, 2))
    for (label, *our_steps), their_steps in zip(ours, theirs):
        cells = []
        their_forward = median_ms(their_steps[0], repeats) if their_steps else None
        for k, step in enumerate(our_steps):
            mine = median_ms(step, repeats) if step else None
            other = None
            if their_steps and their_steps[k]:
                other = median_ms(their_steps[k], repeats)
                other = other if k == 0 else max(0.0, other - their_forward)
            if mine is not None:
                totals[k, 0] += mine
            if other is not None:
                totals[k, 1] += other
            cells.append(f"{'-' if mine is None else f'{mine:6.2f}'} / "
                         f"{'-' if other is None else f'{other:6.2f}'}")
        print(f"  {label:22} " + " ".join(f"{c:>15}" for c in cells), flush=True)
    print(f"  {'sum':22} " + " ".join(f"{a:6.2f} / {b:6.2f}" for a, b in totals))


def cell(medians, key):
    return f"{medians[key]:,.0f}" if key in medians else "-"


def ratio(ratios, key):
    return f"{ratios[key]:.2f}x" if key in ratios else "-"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--only", choices=["slides", "gap"], help="one model's rows only")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the slow NumPy reference path")
    parser.add_argument("--no-tune", action="store_true",
                        help="do not call sc.runtime.tune() (OpenBLAS, OpenMP, malloc defaults)")
    parser.add_argument("--layers", action="store_true",
                        help="also the per-layer table (forward, backward to input and to weights)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        framework, name, batch, phase = args.child
        return run_child(framework, name, int(batch), phase)

    load_torch()
    print(f"sc.runtime.tune(): {TUNING or 'not called (--no-tune)'}")
    print(f"machine: {sc.machine.summary()}; {THREADS} used")
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, "
          f"PyTorch {torch.__version__ if torch else 'not installed (pip install torch==2.13.0)'}")
    configs = [("slides", "train", 64), ("slides", "train", 128), ("slides", "infer", 256),
               ("gap", "train", 128)]
    header = f"{'model':8} {'pass':6} {'batch':>5} {'reference':>10} {'numba':>10} " \
             f"{'pytorch':>10} {'numba/pt':>9} {'ref/pt':>7}"
    print(header)
    print("-" * len(header))
    for name, mode, batch in configs:
        if args.only and name != args.only:
            continue
        train = mode == "train"
        runs = {}
        if not args.no_reference:
            reference_step = scratch_runner(name, batch, train)

            def on_reference(step=reference_step):
                with sc.use_reference():
                    step()
            runs["reference"] = (on_reference, max(2, args.steps // 3))
        runs["numba"] = (scratch_runner(name, batch, train), args.steps)
        if torch is not None:
            runs["torch"] = (torch_runner(name, batch, train), args.steps)
        medians, ratios = summarize(interleaved_rates(runs, batch, args.repeats))
        print(f"{name:8} {mode:6} {batch:>5} {cell(medians, 'reference'):>10} "
              f"{cell(medians, 'numba'):>10} {cell(medians, 'torch'):>10} "
              f"{ratio(ratios, 'numba'):>9} {ratio(ratios, 'reference'):>7}", flush=True)
    print(f"(images/s: median of {args.repeats} rounds, the frameworks taking turns in each; "
          "ratio: median of the rounds' ratios)")
    if args.layers:
        for name, batch in (("slides", 64), ("gap", 128)):
            if not args.only or name == args.only:
                layer_profile(name, batch, max(5, args.repeats))

    if not args.no_memory:
        print("\npeak memory, training the slides' model at batch 128 (max RSS, MiB; "
              "fresh process each):")
        frameworks = ["numba"] + ([] if args.no_reference else ["reference"]) + \
                     (["torch"] if torch is not None else [])
        peaks = {f: child_peak_memory(f, "slides", 128) for f in frameworks}
        for f, p in peaks.items():
            print(f"  {f:10} peak {p['train']:7.0f}   after imports {p['imports']:6.0f}   "
                  f"training adds {p['train'] - p['imports']:6.0f}")
        if "torch" in peaks:
            share = peaks["numba"]["train"] / peaks["torch"]["train"]
            print(f"  numba / pytorch peak: {share:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
