"""What ``sc.fit`` costs over the raw training loop, on the slides' MNIST model.

    python benchmarks/fit_overhead.py                          # 8,000 digits, 1 epoch, 3 rounds
    python benchmarks/fit_overhead.py --images 60000 --epochs 2 --rounds 1   # a full-size run

The raw loop is the least a training step can do: a seeded random order each epoch
(as fit's), the batch gathered by fancy indexing, forward, softmax cross-entropy,
backward (parameter gradients only), Adam's step. ``fit`` adds what a user gets from
it: the checks of its arguments, the loss and accuracy of every batch, the history,
callbacks (none here), no validation. Both start from the same weights and take turns, round after
round (who goes first alternates); the overhead is the median of the rounds'
(fit time / raw time - 1).
More images than the embedded 8,000 training digits are the same digits repeated
(the speed does not depend on which digits they are). Never run by the test suite.
"""
import argparse
import statistics
import sys
import time

import numpy as np

import scratchcnn as sc
from scratchcnn import zoo



def raw_loop(model, optimizer, x, y, epochs, batch_size):
    rng = np.random.default_rng(0)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            index = order[start:start + batch_size]
            logits = model.forward(x[index])
            _, dlogits = sc.softmax_cross_entropy(logits, y[index])
            optimizer.zero_grad()
            model.backward(dlogits, input_grad=False)
            optimizer.step()


def with_fit(model, optimizer, x, y, epochs, batch_size):
    sc.fit(model, optimizer, x, y, epochs=epochs, batch_size=batch_size, seed=0, verbose=False)


def timed(run, x, y, epochs, batch_size):
    model = zoo.slides_mnist_model(seed=0)
    optimizer = sc.Adam(model, lr=1e-3)
    tick = time.perf_counter()
    run(model, optimizer, x, y, epochs, batch_size)
    return time.perf_counter() - tick


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    (x, y), _ = sc.datasets.load("mnist")
    repeat = -(-args.images // len(x))
    x, y = np.concatenate([x] * repeat)[:args.images], np.concatenate([y] * repeat)[:args.images]
    print(f"scratchcnn's engine (a plain script, no tune()): {sc.runtime.report()}")
    print(f"{len(x)} images, {args.epochs} epoch(s), batch {args.batch}, {args.rounds} round(s)")
    timed(raw_loop, x[:512], y[:512], 1, args.batch)             # compile the kernels first
    overheads = []
    for round_ in range(1, args.rounds + 1):
        if round_ % 2:                                           # who goes first alternates
            raw = timed(raw_loop, x, y, args.epochs, args.batch)
            fitted = timed(with_fit, x, y, args.epochs, args.batch)
        else:
            fitted = timed(with_fit, x, y, args.epochs, args.batch)
            raw = timed(raw_loop, x, y, args.epochs, args.batch)
        overheads.append(fitted / raw - 1)
        images = len(x) * args.epochs
        print(f"  round {round_}: raw loop {raw:7.1f} s ({images / raw:6.0f} images/s)   fit "
              f"{fitted:7.1f} s ({images / fitted:6.0f} images/s)   fit / raw - 1 = "
              f"{100 * overheads[-1]:+.1f} %", flush=True)
    print(f"fit's overhead over the raw loop: median {100 * statistics.median(overheads):+.1f} %")


if __name__ == "__main__":
    sys.exit(main())
