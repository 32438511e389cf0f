"""Throughput of scratchcnn against PyTorch, each at its own defaults.

    python benchmarks/throughput.py                     # 5 rounds, both import orders
    python benchmarks/throughput.py --rounds 3 --steps 8 --only slides
    python benchmarks/throughput.py --tune              # scratchcnn's runs call tune() first
    python benchmarks/throughput.py --reference         # also the plain room (slow)
    python benchmarks/throughput.py --layers            # also the per-layer table

Every number comes from a fresh child process that imports, builds the model, warms up
(5 steps), then times ``--steps`` steps of the same architecture, batch and optimizer
(Adam) in each framework:

* scratchcnn as a plain script runs it: no ``sc.runtime.tune()`` (unless ``--tune``), no
  environment variable, in both import orders: "sc first" imports scratchcnn, then
  numpy, matplotlib and torch; "sc last" imports torch, numpy and matplotlib first;
* PyTorch alone, at its defaults: nothing of scratchcnn is imported in its process.

Each round runs every child once, the order rotating from round to round, so a shared
machine whose speed drifts skews no framework. A row reports the median images/s over
the rounds and the median of the rounds' ratios (scratchcnn / PyTorch of the same round).
Peak memory (VmHWM, training at batch 128) comes from the same children, and from
children where scratchcnn runs alone ("sc alone": scratchcnn, numpy and matplotlib, no
torch): the "sc first"/"sc last" children carry PyTorch's libraries too (about 190 MiB of
resident memory), which is no part of scratchcnn's cost, so the target is judged on "sc
alone" against PyTorch alone. PyTorch is optional (benchmark only: pip install
torch==2.13.0). Never run by the test suite.
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

torch = nn = sc = zoo = input_checked_for_nan = None
THREADS = os.cpu_count()
ORDERS = ("sc first", "sc last")
WARM_UP = 5                         # untimed steps in each process before the timed ones


def load_scratchcnn():
    """Import scratchcnn (only in the processes that use it)."""
    global sc, zoo, input_checked_for_nan
    import scratchcnn
    from scratchcnn import zoo as zoo_module
    from scratchcnn.layers.base import input_checked_for_nan as checked
    sc, zoo, input_checked_for_nan = scratchcnn, zoo_module, checked
    return sc


def load_torch():
    """Import PyTorch if it is installed, at its defaults (its own thread count); returns
    the module or None."""
    global torch, nn
    try:
        import torch as torch_module
        from torch import nn as nn_module
    except ImportError:
        return None
    torch, nn = torch_module, nn_module
    return torch


def load_in_order(order, tune=False):
    """Import scratchcnn, numpy, matplotlib and torch in the order a user's script might:
    "sc first" or "sc last"; ``tune``: call sc.runtime.tune() right after importing
    scratchcnn; "sc alone" imports no torch. Returns what tune() applied, or None."""
    tuned = None
    if order == "sc alone":
        load_scratchcnn()
        tuned = sc.runtime.tune() if tune else None
        import matplotlib.pyplot  # noqa: F401
        return tuned
    if order == "sc first":
        load_scratchcnn()
        tuned = sc.runtime.tune() if tune else None
    import matplotlib.pyplot  # noqa: F401
    load_torch()
    if order == "sc last":
        load_scratchcnn()
        tuned = sc.runtime.tune() if tune else None
    return tuned


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


def peak_memory_mib():
    """VmHWM, the peak resident memory of this process (it resets at exec)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def run_child(framework, name, mode, batch, steps, order, tune):
    """One timed run in this (fresh) process; prints {"images_per_s", "peak_mib", ...}."""
    if framework == "torch":
        load_torch()
        step = torch_runner(name, batch, mode == "train")
    else:
        tuned = load_in_order(order, tune)
        step = scratch_runner(name, batch, mode == "train")
        if framework == "reference":
            plain = step

            def step():
                with sc.use_reference():
                    plain()
    for _ in range(WARM_UP):                        # JIT, allocator, caches
        step()
    tick = time.perf_counter()
    for _ in range(steps):
        step()
    rate = batch * steps / (time.perf_counter() - tick)
    out = {"images_per_s": rate, "peak_mib": peak_memory_mib()}
    if framework == "torch":
        out["threads"] = torch.get_num_threads()
    else:
        out["engine"] = sc.runtime.report()
        out["tune"] = tuned
    print(json.dumps(out))


def child(framework, name, mode, batch, steps, order="sc first", tune=False):
    command = [sys.executable, __file__, "--child", framework, name, mode, str(batch),
               str(steps), order] + (["--tune"] if tune else [])
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ----- where the time goes: one layer at a time ---------------------------------------------
def scratch_layer_steps(name, batch):
    """[(layer label, forward, backward to input, backward to weights, whole backward)]
    (None where a layer has no weights) for the layers of our model in training mode,
    each on the input it sees in a forward pass."""
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

        def both(layer=layer, dy=dy):
            layer.backward(dy)
        label = f"{node.name} {type(layer).__name__}"
        weighted = bool(layer.params)
        steps.append((label, forward, to_input, to_weights if weighted else None,
                      both if weighted else to_input))
    return steps


def torch_layer_steps(name, batch):
    """The same for the PyTorch model (autograd.grad to the input, to the weights, to
    both; the forward under autograd, as in training)."""
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

        def both(module=module, source=source, dy=dy, weights=weights):
            torch.autograd.grad(module(source), [source] + weights, dy)
        steps.append((forward, to_input, to_weights if weights else None,
                      both if weights else to_input))
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
    """Per layer: forward, backward to the input, to the weights, and the whole backward
    (both, as in training; ms, median), ours and PyTorch's, taking turns layer by layer.
    PyTorch's backward columns each include the forward that autograd needs (ours reuse
    the forward's state), so its forward time is subtracted from them. The sum row adds
    the forward and the whole backward only: "to input" and "to weights" share work
    (Winograd's dM = A dY A^T, im2col's dy_mat), which their sum would count twice."""
    ours = scratch_layer_steps(name, batch)
    theirs = torch_layer_steps(name, batch) if torch is not None else [None] * len(ours)
    if len(theirs) != len(ours):
        raise RuntimeError(f"{name}: {len(ours)} layers here, {len(theirs)} in PyTorch; the "
                           "rows would not match")
    print(f"\nper layer, {name} at batch {batch} (ms, median of {repeats}; PyTorch's "
          "backward columns minus its forward):")
    header = f"  {'layer':22} {'forward':>15} {'to input':>15} {'to weights':>15} " \
             f"{'backward':>15}"
    print(header + "\n  " + " " * 22 + "   ours / torch" * 4)
    totals = np.zeros((4, 2))
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
    step_total = totals[0] + totals[3]
    print(f"  {'forward + backward':22} {step_total[0]:6.2f} / {step_total[1]:6.2f}")


def cell(medians, key):
    return f"{medians[key]:,.0f}" if key in medians else "-"


def ratio(ratios, key):
    return f"{ratios[key]:.2f}x" if key in ratios else "-"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--only", choices=["slides", "gap"], help="one model's rows only")
    parser.add_argument("--reference", action="store_true",
                        help="also the plain room (use_reference(); slow)")
    parser.add_argument("--tune", action="store_true",
                        help="scratchcnn's processes call sc.runtime.tune() before anything else")
    parser.add_argument("--layers", action="store_true",
                        help="also the per-layer table (one process, no tune())")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        framework, name, mode, batch, steps, order = args.child
        return run_child(framework, name, mode, int(batch), int(steps), order, args.tune)

    load_scratchcnn()
    has_torch = load_torch() is not None
    print(f"machine: {sc.machine.summary()}")
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, "
          f"PyTorch {torch.__version__ if has_torch else 'not installed (pip install torch==2.13.0)'}")
    print("scratchcnn: a plain script" + (" calling sc.runtime.tune() first" if args.tune else
                                         " (no tune(), no environment variable)")
          + "; PyTorch alone at its defaults; a fresh process per run")
    configs = [("slides", "train", 64), ("slides", "train", 128), ("slides", "infer", 256),
               ("gap", "train", 128)]
    runs = [("numba", order) for order in ORDERS] + ([("torch", None)] if has_torch else []) \
        + ([("reference", "sc first")] if args.reference else [])
    header = f"{'model':7} {'pass':5} {'batch':>5} " + " ".join(
        f"{'sc ' + o.split()[1] if f == 'numba' else f:>10}" for f, o in runs) + \
        "".join(f" {'/pt ' + o.split()[1]:>10}" for f, o in runs if f == "numba" and has_torch)
    print(header)
    print("-" * len(header))
    notes, memory = {}, {}
    for name, mode, batch in configs:
        if args.only and name != args.only:
            continue
        rates = {run: [] for run in runs}
        for round_index in range(args.rounds):
            turn = round_index % len(runs)
            for framework, order in runs[turn:] + runs[:turn]:    # the order rotates
                steps = max(2, args.steps // 4) if framework == "reference" else args.steps
                out = child(framework, name, mode, batch, steps, order or "sc first",
                            args.tune and framework != "torch")
                rates[(framework, order)].append(out["images_per_s"])
                notes[framework] = out.get("engine", out.get("threads"))
                if (name, mode, batch) == ("slides", "train", 128):
                    memory.setdefault((framework, order), []).append(out["peak_mib"])
        medians = {run: statistics.median(values) for run, values in rates.items()}
        ratios = {run: statistics.median(a / b for a, b in zip(values, rates[("torch", None)]))
                  for run, values in rates.items() if has_torch and run[0] == "numba"}
        print(f"{name:7} {mode:5} {batch:>5} " + " ".join(f"{medians[run]:>10,.0f}" for run in runs)
              + "".join(f" {ratios[run]:>9.2f}x" for run in runs if run in ratios), flush=True)
    print(f"(images/s: median of {args.rounds} rounds; ratio: median of the rounds' ratios)")
    print(f"scratchcnn's engine: {notes.get('numba')}")
    if has_torch:
        print(f"PyTorch's threads: {notes.get('torch')}")
    if memory:
        for _ in range(args.rounds):                 # scratchcnn without torch's libraries
            out = child("numba", "slides", "train", 128, args.steps, "sc alone", args.tune)
            memory.setdefault(("numba", "sc alone"), []).append(out["peak_mib"])
        print("peak memory training the slides' model at batch 128 (VmHWM, MiB, median): " +
              ", ".join(f"{f if f != 'numba' else 'sc ' + o.split()[1]} "
                        f"{statistics.median(v):,.0f}" for (f, o), v in memory.items()))
    if args.layers:
        for name, batch in (("slides", 64), ("gap", 128)):
            if not args.only or name == args.only:
                layer_profile(name, batch, 7)


if __name__ == "__main__":
    sys.exit(main())
