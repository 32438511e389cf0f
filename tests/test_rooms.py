"""The plain room and the fast room stay apart (issue 27).

* Outside scratchcnn/fast/ no module imports numba or cupy (backend.py may detect CuPy).
* Conv2D's source names no fast algorithm; every fast module's first docstring line
  names the plain function(s) it equals (or says it has no plain twin).
* In a fresh process, inside ``use_reference()``: training steps with Adam (the slides'
  model and ``zoo.resnet_gap()``, batch norm and residual blocks), eval at batch 64,
  occlusion (7x7, stride 1), LRP, Grad-CAM and a damage sweep run without importing
  numba or any computing module of fast/; then the same on the fast room agrees in
  float32: the gradients to 1e-5 (max |a - b| over all of a model's gradients / their
  max |b|: a conv bias before batch norm has a gradient of 0 up to rounding), and so do
  the eval logits, the maps and the sweep. The Adam step is checked to move every
  weight. Negative control: after the fast run, numba is imported.
* The README's "Reading order" lists at most 15 plain files, none in fast/.
"""
import ast
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import scratchcnn as sc

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "scratchcnn"
IMPORTS_SPEED = re.compile(r"^\s*(import|from) (numba|cupy)\b", re.M)


def test_only_the_fast_room_imports_numba_or_cupy():
    outside = [path.relative_to(ROOT).as_posix() for path in PACKAGE.rglob("*.py")
               if "fast" not in path.relative_to(PACKAGE).parts
               and IMPORTS_SPEED.search(path.read_text())]
    assert outside == ["scratchcnn/backend.py"]          # its CuPy detection only
    inside = [p for p in (PACKAGE / "fast").glob("*.py") if IMPORTS_SPEED.search(p.read_text())]
    assert len(inside) >= 8                              # the check finds what is there


def test_conv2d_names_no_fast_algorithm():
    source = inspect.getsource(sc.Conv2D).lower()
    for name in ("winograd", "chunk", "numba", "cupy", "cone", "scratch"):
        assert name not in source, name
    from scratchcnn.fast import conv2d
    assert "winograd" in inspect.getsource(conv2d).lower()           # the check can fail


def test_every_fast_module_names_its_plain_twin():
    for path in sorted((PACKAGE / "fast").glob("*.py")):
        if path.name == "__init__.py":
            continue
        first = ast.get_docstring(ast.parse(path.read_text())).splitlines()[0]
        assert re.search(r"reference[./]\w|explain\.\w|No plain twin", first), path.name


REFERENCE_RUN = r"""
import json, sys
import numpy as np
import scratchcnn as sc
from scratchcnn.resilience import damage_sweep

def fast_modules():
    return sorted(m for m in sys.modules if m.startswith("scratchcnn.fast.")
                  and m not in ("scratchcnn.fast.machine", "scratchcnn.fast.runtime"))

def results():
    rng = np.random.default_rng(0)
    x = rng.random((64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    out = {}
    for name, model in (("slides", sc.zoo.slides_mnist_model()), ("resnet", sc.zoo.resnet_gap())):
        batch = x if name == "slides" else x[:8]
        model.eval()
        out[name + "_eval"] = model.forward(batch)
        model.train()
        before = [p.copy() for layer in model for p in layer.params.values()]
        _, dlogits = sc.softmax_cross_entropy(model.forward(batch), y[:len(batch)])
        model.zero_grad()
        model.backward(dlogits)
        out[name + "_grads"] = [g.copy() for layer in model for g in layer.grads.values()]
        sc.Adam(model).step()
        moved = [p for layer in model for p in layer.params.values()]
        assert all((a != b).any() for a, b in zip(before, moved) if a.size > 1)
    slides = sc.zoo.slides_mnist_model().eval()
    out["occlusion"] = sc.explain.occlusion(slides, x[:1], 3, window=7, stride=1)
    out["lrp"] = sc.explain.lrp(slides, x[:4], y[:4])
    out["grad_cam"] = sc.explain.grad_cam(slides, x[:4], y[:4], layer="relu2")
    resnet = sc.zoo.resnet_gap().eval()
    rows, _ = damage_sweep(resnet, x[:16], y[:16], {"D4": ["block4.conv1"]}, [0.5])
    out["sweep"] = [rows[0]["accuracy"], rows[0]["har_iou"], rows[0]["cam_correlation"]]
    return out

with sc.use_reference():
    plain = results()
report = {"numba_after_reference": "numba" in sys.modules, "fast_after_reference": fast_modules()}
fast = results()
report["numba_after_fast"] = "numba" in sys.modules
worst = {}
for key, value in plain.items():       # max |a - b| / max |b|, over all of a model's grads
    pairs = list(zip(value, fast[key])) if isinstance(value, list) else [(value, fast[key])]
    scale = max(float(np.max(np.abs(b))) for _, b in pairs)
    worst[key] = max(float(np.max(np.abs(np.asarray(a, np.float64) - b))) for a, b in pairs) \
        / max(scale, 1e-30)
report["worst"] = worst
print(json.dumps(report))
"""


def test_use_reference_runs_no_fast_code_and_agrees_with_the_fast_room():
    result = subprocess.run([sys.executable, "-c", REFERENCE_RUN], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["numba_after_reference"] is False, report
    assert report["fast_after_reference"] == [], report
    assert report["numba_after_fast"] is True        # negative control: the check sees it
    for key, worst in report["worst"].items():
        assert worst <= 1e-5, (key, worst)


def test_the_reading_order():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Reading order", 1)[1].split("\n## ", 1)[0]
    files = re.findall(r"^\d+\. `([^`]+)`", section, re.M)
    assert 1 <= len(files) <= 15 and files[0].startswith("lessons/01"), files
    for name in files:
        path = ROOT / name
        assert path.is_file(), name
        assert "fast" not in Path(name).parts and not IMPORTS_SPEED.search(path.read_text()), name
