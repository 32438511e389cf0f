"""sc.fit on the full Fashion-MNIST (60,000 images, 2 epochs) in a plain script, against a
plain PyTorch training loop, each in a fresh process at its own defaults.

    apt-get install dataset-fashion-mnist
    python benchmarks/full_fashion_mnist.py [--epochs 2] [--rounds 1] [--dir DIR]

Both train the slides' model (Conv 32 3x3, Conv 64 3x3, MaxPool 2, Dense 64, Dense 10)
with Adam (lr 1e-3), batch 64, a fresh shuffle every epoch, then report the wall time of
training and the accuracy on the 10,000 test images. scratchcnn's process is a plain
user script: ``sc.datasets.load_idx`` and ``sc.fit``, no ``tune()``, no environment
variable. PyTorch's process imports nothing of scratchcnn but the IDX reader's arrays
(read in a first, untimed step). The processes take turns, round after round, and
report their peak memory (VmHWM). Never run by the test suite.
"""
import argparse
import json
import subprocess
import sys
import time

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"


def peak_memory_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def scratchcnn_run(directory, epochs):
    import scratchcnn as sc
    x, y = sc.datasets.load_idx(directory, "train")
    x_test, y_test = sc.datasets.load_idx(directory, "test")
    model = sc.zoo.slides_mnist_model()
    tick = time.perf_counter()
    sc.fit(model, sc.Adam(model, lr=1e-3), x, y, epochs=epochs, batch_size=64, verbose=False)
    seconds = time.perf_counter() - tick
    accuracy = sc.evaluate(model, x_test, y_test)["accuracy"]
    return {"seconds": seconds, "accuracy": accuracy, "engine": sc.runtime.report()}


def torch_run(directory, epochs):
    import numpy as np
    import torch
    from torch import nn
    from scratchcnn.datasets.idx import load_idx      # the same arrays; no engine code runs
    x, y = load_idx(directory, "train")
    x_test, y_test = load_idx(directory, "test")
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(9216, 64), nn.ReLU(),
                          nn.Linear(64, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)
    tick = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 64):
            batch = order[start:start + 64]
            optimizer.zero_grad()
            loss_fn(model(x[batch]), y[batch]).backward()
            optimizer.step()
    seconds = time.perf_counter() - tick
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(torch.from_numpy(x_test[i:i + 500])).argmax(1)
                               for i in range(0, len(x_test), 500)]).numpy()
    return {"seconds": seconds, "accuracy": float(np.mean(predicted == y_test)),
            "threads": torch.get_num_threads()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=DEFAULT_DIR)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", choices=["scratchcnn", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run = scratchcnn_run if args.child == "scratchcnn" else torch_run
        result = run(args.dir, args.epochs)
        print(json.dumps(dict(result, peak_mib=peak_memory_mib())))
        return 0
    for round_index in range(args.rounds):
        frameworks = ["scratchcnn", "torch"][::1 if round_index % 2 == 0 else -1]
        for framework in frameworks:
            command = [sys.executable, __file__, "--child", framework, "--dir", args.dir,
                       "--epochs", str(args.epochs)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                print(done.stderr)
                return 1
            out = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"round {round_index + 1} {framework:10} {out['seconds']:7.1f} s  "
                  f"test accuracy {100 * out['accuracy']:.2f} %  peak {out['peak_mib']:,.0f} MiB"
                  f"  {out.get('engine') or out.get('threads')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
