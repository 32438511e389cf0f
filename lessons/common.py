"""What every lesson shares: its command line, its output folder, and the trained
models cached between lessons (so training happens once)."""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import scratchcnn as sc
from scratchcnn import zoo

LESSONS = Path(__file__).resolve().parent
DEFAULT_OUT = LESSONS / "output"

# How the seed model is trained (lesson 03): Adam 1e-3, batch 64, the learning rate
# multiplied by lr_decay after each epoch; digits get random 2-pixel shifts (8,000
# images are few for this network). Measured: BENCHMARKS.md.
# Fashion-MNIST: 2 epochs (83.9% held-out; 6 epochs gave 87.4% for 45 s more of the
# main job's 8-minute budget).
SEED_RECIPE = {"mnist": dict(epochs=8, augment=True, lr_decay=0.8),
               "fashion-mnist": dict(epochs=2, augment=False, lr_decay=0.7)}

# The small ResNet (zoo.resnet_gap, seed 001's experiments): Adam 3e-3, 2-pixel shifts.
# Measured on MNIST: 98.05% held-out after 5 epochs, 46 s on 2 cores (98.45% after 6;
# BENCHMARKS.md).
RESNET_RECIPE = dict(epochs=5, lr=3e-3, lr_decay=0.7)


def start(lesson_file, doc):
    """Parse --quick / --out, make this lesson's folder, print its title; apply
    sc.runtime.tune() (malloc reuse, OpenBLAS threads that wait briefly) before any training."""
    sc.runtime.tune()
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny data and one short epoch: checks that the lesson runs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output folder (default {DEFAULT_OUT})")
    args = parser.parse_args()
    args.dir = args.out / Path(lesson_file).stem
    args.dir.mkdir(parents=True, exist_ok=True)
    args.models = args.out / "models"
    args.models.mkdir(parents=True, exist_ok=True)
    print(f"== {Path(lesson_file).stem}: {doc.strip().splitlines()[0]}" +
          ("  [quick mode]" if args.quick else ""), flush=True)
    return args


def save(fig, args, name, caption):
    """Write the figure to this lesson's folder, and its caption (what it shows, the one
    thing to look at, which paper figure it reproduces) to captions.json for the gallery."""
    if len(caption.split()) < 12:
        raise ValueError(f"the caption of {name} must say what it shows, what to look at and "
                         f"what it reproduces (12 words at least), got {caption!r}")
    path = args.dir / name
    fig.savefig(path, dpi=110)
    captions_file = args.dir / "captions.json"
    captions = json.loads(captions_file.read_text()) if captions_file.exists() else {}
    captions[name] = caption
    captions_file.write_text(json.dumps(captions, indent=1))
    print(f"   figure: {path}")
    return path


def load_data(dataset, quick):
    """The embedded split; in quick mode only the first 512 / 256 images."""
    (x, y), (xt, yt) = sc.datasets.load(dataset)
    if quick:
        return (x[:512], y[:512]), (xt[:256], yt[:256])
    return (x, y), (xt, yt)


def trained(args, tag, build, data, epochs, lr=1e-3, batch_size=64, lr_decay=1.0, augment=None,
            callbacks=None):
    """Model ``tag`` from the cache, or ``build()`` trained with Adam on
    data = ((x, y), (x_test, y_test)) and then cached. Quick mode: one epoch of
    four batches, cached under its own name. ``callbacks`` go to fit; what they add to
    the history is cached with it. returns (model in eval mode, history)."""
    tag += "-quick" if args.quick else ""
    path, history_path = args.models / f"{tag}.npz", args.models / f"{tag}.json"
    if path.exists() and history_path.exists():
        print(f"   loaded the trained model from {path}")
        return sc.load(path).eval(), json.loads(history_path.read_text())
    (x, y), (xt, yt) = data
    epochs = 1 if args.quick else epochs
    model = build()
    print(f"   training {tag}: {len(x)} images, {epochs} epoch{'s' if epochs > 1 else ''} "
          "(cached afterwards)", flush=True)
    tick = time.perf_counter()
    history = sc.fit(model, sc.Adam(model, lr=lr), x, y, epochs=epochs, batch_size=batch_size,
                     seed=0, validation=(xt, yt), lr_decay=lr_decay, augment=augment,
                     max_batches=4 if args.quick else None, callbacks=callbacks)
    history["wall_seconds"] = time.perf_counter() - tick
    sc.save(model, path)
    partial = history_path.with_suffix(".partial")
    partial.write_text(json.dumps(history))
    partial.replace(history_path)        # the history appears last, and whole: "cached now"
    return model.eval(), history


def seed_model(args, dataset="mnist"):
    """The slides' MNIST model trained on ``dataset`` (SEED_RECIPE), cached."""
    recipe = SEED_RECIPE[dataset]
    return trained(args, f"seed-{dataset}", zoo.slides_mnist_model, load_data(dataset, args.quick),
                   epochs=recipe["epochs"], lr_decay=recipe["lr_decay"],
                   augment=sc.datasets.random_shift if recipe["augment"] else None)


def resnet_model(args, dataset="mnist"):
    """zoo.resnet_gap trained on ``dataset`` (RESNET_RECIPE), cached."""
    return trained(args, f"resnet-{dataset}", zoo.resnet_gap, load_data(dataset, args.quick),
                   augment=sc.datasets.random_shift, **RESNET_RECIPE)


# Tang et al.'s networks (seed 004), trained with Adam. Not as the paper did: the paper
# trains the deeper network 5 epochs, we train it 3 (held-out 97.0% after 3, 96.5% after 5).
TANG_MNIST_RECIPE = dict(epochs=10, lr=2e-3, lr_decay=0.85)
TANG_DEEP_RECIPE = dict(epochs=3, lr=1e-3)    # held-out 97.0% after 3 epochs, 96.5% after 5
FIVE_CLASSES = (0, 1, 2, 5, 8)       # Fashion-MNIST: T-shirt/top, trouser, pullover, sandal, bag


def five_class_data(quick):
    """The FIVE_CLASSES of the embedded Fashion-MNIST split, relabelled 0-4: our stand-in
    for Tang et al.'s five ImageNet classes. returns ((x, y), (x_test, y_test))."""
    (x, y), (xt, yt) = load_data("fashion-mnist", quick)
    lookup = {c: i for i, c in enumerate(FIVE_CLASSES)}

    def pick(images, labels):
        keep = np.isin(labels, FIVE_CLASSES)
        return images[keep], np.array([lookup[int(v)] for v in labels[keep]], dtype=np.int64)
    return pick(x, y), pick(xt, yt)


def tang_mnist_model(args):
    """zoo.tang_mnist_model trained on the embedded MNIST (TANG_MNIST_RECIPE), cached."""
    return trained(args, "tang-mnist", zoo.tang_mnist_model, load_data("mnist", args.quick),
                   **TANG_MNIST_RECIPE)


def tang_deep_model(args):
    """zoo.tang_deep_model trained on five Fashion-MNIST classes (TANG_DEEP_RECIPE), cached."""
    return trained(args, "tang-deep-fashion5", zoo.tang_deep_model, five_class_data(args.quick),
                   **TANG_DEEP_RECIPE)


def surface_data(quick):
    """Procedural concrete surfaces (Gao & Mosalam's stand-in, lesson 06): 2,000 (150 in
    quick mode) 64x64 RGB images, the first 80 % for training.
    returns (x, y, masks, split)."""
    count = 150 if quick else 2000
    x, y, masks = sc.datasets.surface_defects(count, size=64, seed=0)
    return x, y, masks, int(0.8 * count)


def surface_model(args):
    """zoo.gap_model for the three surface classes, trained on surface_data (6 epochs of
    Adam 2e-3, batch 32, lr x0.8 per epoch), cached. returns (model, history)."""
    x, y, _, split = surface_data(args.quick)
    return trained(args, "gap-surface", lambda: zoo.gap_model(3, 3, widths=(16, 32, 64)),
                   ((x[:split], y[:split]), (x[split:], y[split:])), epochs=6, lr=2e-3,
                   batch_size=32, lr_decay=0.8)


def digit(index=0, dataset="mnist"):
    """One held-out image (1, 1, 28, 28) and its label."""
    _, (xt, yt) = sc.datasets.load(dataset)
    return xt[index:index + 1], int(yt[index])


if __name__ == "__main__":
    sys.exit("common.py is a helper; run a numbered lesson or run_all.py")

__all__ = ["start", "save", "load_data", "trained", "seed_model", "resnet_model",
           "tang_mnist_model", "tang_deep_model", "five_class_data", "surface_data",
           "surface_model", "digit"]
