"""Images/s of saliency, Grad-CAM, Score-CAM and LRP on the slides' digit model,
scratchcnn vs PyTorch.

    python benchmarks/explain_throughput.py [--batch 64] [--repeats 5] [--steps 10]
    python benchmarks/explain_throughput.py --only-occlusion   # occlusion: cone vs full
    python benchmarks/explain_throughput.py --check            # our maps = PyTorch's?

Saliency: one forward and one backward to the input for the class score.
Grad-CAM at relu2 (the last conv's ReLU): forward, backward to relu2, weights,
weighted sum, ReLU. Score-CAM at relu2: 64 masked copies of each image, forwarded
64 at a time in both frameworks. LRP-epsilon: one forward, then per layer a forward of
z, a division and a backward (PyTorch: the autograd "gradient trick" per layer). Same
batch and threads; median of the repeats. Never run by the test suite. PyTorch is
optional (pip install torch==2.13.0).
"""
import argparse
import sys

import numpy as np
import throughput
from throughput import THREADS, interleaved_rates, load_torch, summarize, torch_model

from scratchcnn import explain, zoo


def scratch_methods(batch, model=None, x=None, targets=None):
    model = zoo.slides_mnist_model().eval() if model is None else model
    rng = np.random.default_rng(0)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32) if x is None else x
    targets = rng.integers(0, 10, batch) if targets is None else targets
    return {"saliency": lambda: explain.saliency(model, x, targets),
            "grad_cam": lambda: explain.grad_cam(model, x, targets, layer="relu2"),
            "score_cam": lambda: explain.score_cam(model, x, targets, layer="relu2"),
            "lrp": lambda: explain.lrp(model, x, targets)}


def torch_methods(batch, model=None, x=None, targets=None):
    torch, nn = throughput.torch, throughput.nn
    model = torch_model("slides").eval() if model is None else model
    x = torch.rand(batch, 1, 28, 28) if x is None else x
    targets = torch.randint(0, 10, (batch,)) if targets is None else targets
    relu2 = model[3]
    captured = {}
    relu2.register_forward_hook(lambda module, inputs, output: captured.update(a=output))

    def saliency():
        image = x.clone().requires_grad_(True)
        model(image).gather(1, targets[:, None]).sum().backward()
        return image.grad

    def grad_cam():
        scores = model(x).gather(1, targets[:, None]).sum()
        activations = captured["a"]
        grads, = torch.autograd.grad(scores, activations)
        weights = grads.mean(dim=(2, 3), keepdim=True)
        return torch.relu((weights * activations).sum(dim=1))
    def score_cam():
        with torch.no_grad():
            model(x)
            activations = captured["a"]                                  # (N, K, h, w)
            masks = torch.nn.functional.interpolate(activations, size=x.shape[2:],
                                                    mode="bilinear", align_corners=False)
            low = masks.amin(dim=(2, 3), keepdim=True)
            span = masks.amax(dim=(2, 3), keepdim=True) - low
            masks = torch.where(span > 0, (masks - low) / span.clamp_min(1e-30), 0)
            n, k = masks.shape[:2]
            owners = targets.repeat_interleave(k)
            copies = (x[:, None] * masks[:, :, None]).reshape(n * k, *x.shape[1:])
            scores = torch.cat([model(copies[i:i + 64]).gather(1, owners[i:i + 64, None])[:, 0]
                                for i in range(0, n * k, 64)])
            weights = torch.softmax(scores.reshape(n, k), dim=1)
            return torch.relu((weights[:, :, None, None] * activations).sum(dim=1))

    def lrp(epsilon=1e-9):
        values = [x]
        with torch.no_grad():
            for layer in model:
                values.append(layer(values[-1]))
        relevance = torch.zeros_like(values[-1])
        relevance[torch.arange(len(x)), targets] = values[-1][torch.arange(len(x)), targets]
        for layer, a in zip(reversed(model), reversed(values[:-1])):
            if isinstance(layer, (nn.ReLU, nn.Flatten)):
                relevance = relevance.reshape(a.shape)
                continue
            a = a.detach().requires_grad_(True)
            z = layer(a)
            if isinstance(layer, nn.MaxPool2d):                          # winner takes all
                relevance, = torch.autograd.grad(z, a, relevance)
                continue
            share = relevance / (z + epsilon * torch.where(z >= 0, 1.0, -1.0))
            grad, = torch.autograd.grad(z, a, share.detach())
            relevance = a.detach() * grad
        return relevance
    return {"saliency": saliency, "grad_cam": grad_cam, "score_cam": score_cam, "lrp": lrp}


def check_against_torch(batch=8):
    """Our saliency, Grad-CAM, Score-CAM and LRP against the PyTorch versions above, with
    the weights copied over: max |difference| / max |value| per method (float32)."""
    torch = throughput.torch
    ours = zoo.slides_mnist_model().eval()
    theirs = torch_model("slides").eval()
    with torch.no_grad():
        for module, name in zip([m for m in theirs if hasattr(m, "weight")],
                                ["conv1", "conv2", "fc1", "fc2"]):
            module.weight.copy_(torch.from_numpy(ours[name].params["W"]))
            module.bias.copy_(torch.from_numpy(ours[name].params["b"]))
    rng = np.random.default_rng(0)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    targets = rng.integers(0, 10, batch)
    methods = torch_methods(batch, model=theirs, x=torch.from_numpy(x),
                            targets=torch.from_numpy(targets))
    for name, mine in scratch_methods(batch, model=ours, x=x, targets=targets).items():
        other = methods[name]().detach().numpy()
        error = np.abs(mine() - other).max() / np.abs(other).max()
        print(f"  {name:9} max |scratchcnn - pytorch| / max |pytorch| = {error:.1e}")


def occlusion_by(method, model, x, target):
    """explain.occlusion by the cone ("cone", the default) or by the definition ("full":
    the cone's plan withheld, so ops.py runs explain/occlusion.py's loop)."""
    from scratchcnn.fast import occlusion as cone
    planned = cone.cone_plan
    if method == "full":
        cone.cone_plan = lambda model: None
    try:
        return explain.occlusion(model, x, target)
    finally:
        cone.cone_plan = planned


def occlusion_rows(repeats):
    """Occlusion of the slides' model (7x7 window, stride 1, 28x28: 484 occluders per
    image): one full forward per occluder, batched ("full", the definition), against the
    cone of influence ("cone", the fast room's default), taking turns; 2 images per call.
    Prints images/s."""
    model = zoo.slides_mnist_model().eval()
    x = np.random.default_rng(1).random((2, 1, 28, 28), dtype=np.float32)
    runs = {method: (lambda m=method: occlusion_by(m, model, x, [3, 7]), 1)
            for method in ("full", "cone")}
    medians, ratios = summarize(interleaved_rates(runs, len(x), repeats), against="full")
    print(f"  occlusion full {medians['full']:6.2f} images/s   cone {medians['cone']:6.2f} "
          f"images/s   cone / full {ratios['cone']:.2f}x  (484 occluders per image)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--only-occlusion", action="store_true")
    parser.add_argument("--check", action="store_true",
                        help="only compare our maps with PyTorch's on the same weights")
    args = parser.parse_args()
    if args.only_occlusion:
        return occlusion_rows(args.repeats)
    torch = load_torch()
    if args.check:
        return check_against_torch()
    print(f"{THREADS} threads, batch {args.batch}; images/s, median of {args.repeats} rounds "
          "(the frameworks taking turns, in one process, each at its defaults: no tune()); ratio: "
          "median of the rounds' ratios")
    ours = scratch_methods(args.batch)
    theirs = torch_methods(args.batch) if torch is not None else {}
    for name in ours:
        runs = {"scratchcnn": (ours[name], args.steps)}
        if name in theirs:
            runs["torch"] = (theirs[name], args.steps)
        medians, ratios = summarize(interleaved_rates(runs, args.batch, args.repeats))
        line = f"  {name:9} scratchcnn {medians['scratchcnn']:8,.0f}"
        if "torch" in medians:
            line += f"   pytorch {medians['torch']:8,.0f}   ratio {ratios['scratchcnn']:.2f}x"
        print(line, flush=True)
    occlusion_rows(args.repeats)


if __name__ == "__main__":
    sys.exit(main())
