"""Seconds from a cold start to the end of the first training step.

    python benchmarks/startup.py                 # as things are (Numba cache on disk or not)
    python benchmarks/startup.py --cold          # delete the Numba cache first

The first process compiles the Numba kernels and caches them next to
their modules in scratchcnn/fast/; a second process loads them from disk.
"""
import sys
import time
from pathlib import Path

start = time.perf_counter()
if "--cold" in sys.argv:
    kernels = Path(__file__).resolve().parent.parent / "scratchcnn" / "fast"
    for cached in list(kernels.rglob("*.nbi")) + list(kernels.rglob("*.nbc")):
        cached.unlink()
    start = time.perf_counter()

import scratchcnn as sc  # noqa: E402
import numpy as np  # noqa: E402

imported = time.perf_counter()
model = sc.zoo.slides_mnist_model()
optimizer = sc.Adam(model)
x = np.random.default_rng(0).random((64, 1, 28, 28), dtype=np.float32)
y = np.arange(64) % 10
_, dlogits = sc.softmax_cross_entropy(model.forward(x), y)
model.backward(dlogits, input_grad=False)
optimizer.step()
done = time.perf_counter()
print(f"import {imported - start:.2f} s, first training step {done - imported:.2f} s, "
      f"total {done - start:.2f} s")
