"""The exercises (scratchcnn/exercises, issue 30): for every exercise the fresh stub fails
with a message, ``check --solution`` passes, a typical mistake written as a learner would
is caught by name, and ``start`` never overwrites; answers written here independently (plain
loops and NumPy, not the library) pass the three fixed-signature exercises; the messages
say what and where; the gallery lists each lesson's exercises.

The command's main() runs in-process (one subprocess test of ``list``), so the whole file
takes a few seconds.
"""
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from scratchcnn.exercises import EXERCISES, cli, exercises_for_lesson, oracles

NAMES = [e.name for e in EXERCISES]
LESSONS = Path(__file__).resolve().parent.parent / "lessons"


def run(capsys, *argv):
    """main(argv) in this process -> (exit code, what it printed)."""
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().out


def write(folder, name, source):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(source))


# ----- the command --------------------------------------------------------------------------
def test_list_prints_every_exercise_in_order_one_a_line():
    result = subprocess.run([sys.executable, "-m", "scratchcnn.exercises", "list"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) >= 18
    assert [line.split()[0] for line in lines] == NAMES
    assert all(len(line.split()) >= 4 for line in lines)          # a name, then a description
    assert NAMES[0] == "conv2d_forward"


@pytest.mark.parametrize("name", NAMES)
def test_the_fresh_stub_fails_with_a_message(tmp_path, capsys, name):
    assert run(capsys, "start", name, "--dir", tmp_path)[0] == 0
    source = (tmp_path / f"{name}.py").read_text()
    assert f"def {name}(" in source and "raise NotImplementedError" in source
    assert "returns" in source and "seed" in source.lower()        # shapes, and the paper
    code, out = run(capsys, "check", name, "--dir", tmp_path)
    assert code == 1
    assert "not implemented yet" in out and "NotImplementedError" in out, out


@pytest.mark.parametrize("name", NAMES)
def test_the_librarys_solution_passes(capsys, name):
    code, out = run(capsys, "check", name, "--solution")
    assert code == 0, out
    assert out.startswith(f"{name}: passed") and "Checked:" in out


@pytest.mark.parametrize("name", NAMES)
def test_start_never_overwrites(tmp_path, capsys, name):
    assert run(capsys, "start", name, "--dir", tmp_path)[0] == 0
    (tmp_path / f"{name}.py").write_text("# my work\n")
    code, out = run(capsys, "start", name, "--dir", tmp_path)
    assert code == 1 and "exists already" in out and "never overwrites" in out
    assert (tmp_path / f"{name}.py").read_text() == "# my work\n"


def test_start_and_check_default_to_my_exercises(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "start", "global_avg_pool")[0] == 0
    assert (tmp_path / "my_exercises" / "global_avg_pool.py").exists()
    write(tmp_path / "my_exercises", "global_avg_pool", """
        def global_avg_pool(x):
            return x.mean(axis=(2, 3))
        """)
    code, out = run(capsys, "check", "global_avg_pool")
    assert code == 0 and "passed" in out


def test_an_unknown_name_or_a_missing_file_is_told_clearly(tmp_path, capsys):
    code, out = run(capsys, "check", "conv2d_foward")
    assert code == 1 and "no exercise called 'conv2d_foward'" in out
    assert "Did you mean 'conv2d_forward'" in out
    code, out = run(capsys, "check", "conv2d_forward", "--dir", tmp_path)
    assert code == 1 and "there is no" in out and "start conv2d_forward" in out


def test_hints_come_one_at_a_time_and_the_state_is_kept_in_the_folder(tmp_path, capsys):
    total = len(EXERCISES[0].hints)
    seen = []
    for k in range(1, total + 1):
        code, out = run(capsys, "hint", "conv2d_forward", "--dir", tmp_path)
        assert code == 0 and f"hint {k} of {total}" in out
        seen.append(out)
    assert len(set(seen)) == total                                  # a new hint each time
    assert (tmp_path / ".hints.json").exists()
    code, out = run(capsys, "hint", "conv2d_forward", "--dir", tmp_path)
    assert code == 0 and "all" in out and f"hint {total} of {total}" in out
    assert "hint 1 of" in run(capsys, "hint", "im2col", "--dir", tmp_path)[1]    # per exercise
    run(capsys, "hint", "conv2d_forward", "--dir", tmp_path, "--reset")
    assert "hint 1 of" in run(capsys, "hint", "conv2d_forward", "--dir", tmp_path)[1]


# ----- typical mistakes, as a learner would write them -------------------------------------------
COMMON = """
import numpy as np

def pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)

def padded(x, ph, pw):
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))

def im2col_cols(x, kh, kw, stride, padding):
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    n, c, h, w = x.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    xp = padded(x, ph, pw)
    cols = np.zeros((c * kh * kw, n * oh * ow))
    for i in range(n):
        for r in range(oh):
            for q in range(ow):
                patch = xp[i, :, r * sh:r * sh + kh, q * sw:q * sw + kw]
                cols[:, (i * oh + r) * ow + q] = patch.ravel()
    return cols, oh, ow

def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)

def targets_of(target, n):
    return np.broadcast_to(np.asarray(target), (n,))
"""

MISTAKES = {
    "conv2d_forward": ("the kernel flipped", """
        def conv2d_forward(x, W, b, stride, padding):
            (sh, sw), (ph, pw) = pair(stride), pair(padding)
            o, c, kh, kw = W.shape
            xp = padded(x, ph, pw)
            oh, ow = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
            y = np.zeros((len(x), o, oh, ow))
            for n in range(len(x)):
                for f in range(o):
                    for r in range(oh):
                        for q in range(ow):
                            patch = xp[n, :, r * sh:r * sh + kh, q * sw:q * sw + kw]
                            y[n, f, r, q] = np.sum(patch * W[f, :, ::-1, ::-1]) + b[f]
            return y
        """),
    "im2col": ("rows in (kernel row, kernel column, channel) order", """
        def im2col(x, kh, kw, stride, padding):
            cols, oh, ow = im2col_cols(x, kh, kw, stride, padding)
            c = x.shape[1]
            return cols.reshape(c, kh * kw, -1).transpose(1, 0, 2).reshape(c * kh * kw, -1)
        """),
    "conv2d_matmul": ("reshaped straight to (N, O, OH, OW)", """
        def conv2d_matmul(x, W, b, stride, padding):
            cols, oh, ow = im2col_cols(x, W.shape[2], W.shape[3], stride, padding)
            y_mat = W.reshape(len(W), -1) @ cols + b[:, None]
            return y_mat.reshape(len(x), len(W), oh, ow)
        """),
    "col2im": ("overlapping windows assign instead of adding", """
        def col2im(cols, x_shape, kh, kw, stride, padding):
            (sh, sw), (ph, pw) = pair(stride), pair(padding)
            n, c, h, w = x_shape
            oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
            dx = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
            for i in range(n):
                for r in range(oh):
                    for q in range(ow):
                        patch = cols[:, (i * oh + r) * ow + q].reshape(c, kh, kw)
                        dx[i, :, r * sh:r * sh + kh, q * sw:q * sw + kw] = patch
            return dx[:, :, ph:ph + h, pw:pw + w]
        """),
    "maxpool_forward": ("switches counted inside the window", """
        def maxpool_forward(x, kh, kw, stride):
            sh, sw = pair(stride)
            n, c, h, w = x.shape
            oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
            out, switches = np.zeros((n, c, oh, ow)), np.zeros((n, c, oh, ow), dtype=np.int64)
            for i in range(n):
                for ch in range(c):
                    for r in range(oh):
                        for q in range(ow):
                            window = x[i, ch, r * sh:r * sh + kh, q * sw:q * sw + kw]
                            out[i, ch, r, q] = window.max()
                            switches[i, ch, r, q] = np.argmax(window)
            return out, switches
        """),
    "max_unpool": ("unpooling assigns instead of accumulating", """
        def max_unpool(values, switches, x_shape):
            n, c, h, w = x_shape
            out = np.zeros((n * c, h * w))
            planes = np.arange(n * c)[:, None]
            out[planes, switches.reshape(n * c, -1)] = values.reshape(n * c, -1)
            return out.reshape(x_shape)
        """),
    "global_avg_pool": ("the sum of each map instead of its mean", """
        def global_avg_pool(x):
            return x.sum(axis=(2, 3))
        """),
    "conv2d_backward": ("dx computed with the kernel not flipped", """
        def conv2d_backward(dy, x, W, stride, padding):
            (sh, sw), (ph, pw) = pair(stride), pair(padding)
            o, c, kh, kw = W.shape
            cols, oh, ow = im2col_cols(x, kh, kw, stride, padding)
            dy_mat = dy.transpose(1, 0, 2, 3).reshape(o, -1)
            dW = (dy_mat @ cols.T).reshape(W.shape)
            db = dy.sum(axis=(0, 2, 3))
            dx = np.zeros(padded(x, ph, pw).shape)
            for n in range(len(x)):
                for f in range(o):
                    for r in range(oh):
                        for q in range(ow):       # the full correlation, the kernel unflipped
                            dx[n, :, r * sh:r * sh + kh, q * sw:q * sw + kw] += \\
                                W[f, :, ::-1, ::-1] * dy[n, f, r, q]
            return dW, db, dx[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]
        """),
    "softmax_cross_entropy": ("the loss gradient without the 1/N of the mean", """
        def softmax_cross_entropy(logits, labels):
            z = logits - logits.max(axis=1, keepdims=True)
            log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            rows = np.arange(len(labels))
            dlogits = np.exp(log_p)
            dlogits[rows, labels] -= 1
            return -log_p[rows, labels].mean(), dlogits
        """),
    "relu_backward": ("guided backprop without 1(x > 0)", """
        def relu_backward(dy, x, rule):
            if rule == "gradient":
                return dy * (x > 0)
            if rule == "deconvnet":
                return dy * (dy > 0)
            if rule == "guided":
                return dy * (dy > 0)
            raise ValueError(rule)
        """),
    "cam": ("a ReLU applied to the CAM", """
        def cam(features, class_weights, target):
            t = targets_of(target, len(features))
            return np.maximum(np.einsum("nk,nkhw->nhw", class_weights[t], features), 0)
        """),
    "grad_cam_weights": ("Grad-CAM weights summed instead of averaged", """
        def grad_cam_weights(model, x, target, layer):
            logits = model.forward(x)
            seed = np.zeros_like(logits)
            seed[np.arange(len(x)), targets_of(target, len(x))] = 1
            a = model.outputs[layer]
            g = model.backward(seed, stop=layer, param_grads=False)
            return g.sum(axis=(2, 3)), a
        """),
    "occlusion": ("the class score (logit) instead of its probability", """
        def occlusion(model, x, target, window=(3, 3), stride=1, baseline=0.0):
            (wh, ww), (sh, sw) = pair(window), pair(stride)
            t = targets_of(target, len(x))
            rows, cols = range(0, x.shape[2] - wh + 1, sh), range(0, x.shape[3] - ww + 1, sw)
            out = np.zeros((len(x), len(rows), len(cols)))
            for n in range(len(x)):
                for i, r in enumerate(rows):
                    for j, c in enumerate(cols):
                        copy = x[n:n + 1].copy()
                        copy[:, :, r:r + wh, c:c + ww] = baseline
                        out[n, i, j] = model.forward(copy)[0, t[n]]
            return out
        """),
    "class_model_step": ("the L1 penalty with the wrong sign", """
        import scratchcnn as sc

        def class_model_step(model, image, target, step_size=0.5, alpha=0.1):
            t = targets_of(target, len(image))
            score = model.forward(image)[np.arange(len(image)), t]
            objective = score - alpha * np.abs(image).sum(axis=(1, 2, 3))
            grad = sc.explain.saliency(model, image, target) + alpha * np.sign(image)
            return image + step_size * grad, objective
        """),
    "highest_activation_region": ("8-connected regions", """
        from collections import deque

        def highest_activation_region(cam_map, threshold=0.2):
            h, w = cam_map.shape
            best = np.zeros((h, w), dtype=bool)
            if cam_map.max() <= 0:
                return best
            inside = cam_map >= threshold * cam_map.max()
            seen = np.zeros((h, w), dtype=bool)
            for r in range(h):
                for c in range(w):
                    if inside[r, c] and not seen[r, c]:
                        region, todo = np.zeros((h, w), dtype=bool), deque([(r, c)])
                        seen[r, c] = True
                        while todo:
                            i, j = todo.popleft()
                            region[i, j] = True
                            for di in (-1, 0, 1):
                                for dj in (-1, 0, 1):
                                    a, b = i + di, j + dj
                                    if (0 <= a < h and 0 <= b < w and inside[a, b]
                                            and not seen[a, b]):
                                        seen[a, b] = True
                                        todo.append((a, b))
                        if region.sum() > best.sum():
                            best = region
            return best
        """),
    "damage_masks": ("Python's round()", """
        def damage_masks(model, layers, fraction, seed=0):
            rng = np.random.default_rng(seed)
            masks = {}
            for name in layers:
                w = model[name].params["W"]
                keep = np.ones(w.size, dtype=bool)
                keep[rng.choice(w.size, size=round(fraction * w.size), replace=False)] = False
                masks[name + ".W"] = keep.reshape(w.shape)
            return masks
        """),
    "integrated_gradients": ("IG without the (x - x') factor", """
        import scratchcnn as sc

        def integrated_gradients(model, x, target, baseline=None, steps=50):
            baseline = np.zeros_like(x) if baseline is None else baseline
            total = np.zeros_like(x)
            for k in range(steps + 1):
                weight = (0.5 if k in (0, steps) else 1.0) / steps
                point = baseline + k / steps * (x - baseline)
                total += weight * sc.explain.saliency(model, point, target)
            t, rows = targets_of(target, len(x)), np.arange(len(x))
            change = model.forward(x)[rows, t] - model.forward(baseline)[rows, t]
            return total, total.sum(axis=(1, 2, 3)) - change
        """),
    "lrp_epsilon": ("epsilon added without the sign of z", """
        def lrp_epsilon(x, weights, bias, relevance, epsilon=1e-9):
            z = x @ weights.T + bias
            return x * ((relevance / (z + epsilon)) @ weights)
        """),
    "deletion_curve": ("the least important pixels deleted first", """
        def deletion_curve(model, x, target, attribution, steps=20, baseline=0.0):
            scores = attribution.sum(axis=1) if attribution.ndim == 4 else attribution
            n, _, h, w = x.shape
            t = targets_of(target, n)
            order = np.argsort(scores.reshape(n, -1), axis=1)          # lowest first
            curve = np.zeros((n, steps + 1))
            for i in range(n):
                for k in range(steps + 1):
                    copy = x[i:i + 1].copy()
                    for p in order[i, :(2 * k * h * w + steps) // (2 * steps)]:
                        copy[0, :, p // w, p % w] = baseline
                    curve[i, k] = softmax(model.forward(copy))[0, t[i]]
            return curve
        """),
}


def test_every_exercise_has_a_typical_mistake_here():
    assert sorted(MISTAKES) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_a_typical_mistake_is_caught_by_name(tmp_path, capsys, name):
    fragment, source = MISTAKES[name]
    write(tmp_path, name, COMMON + textwrap.dedent(source))
    code, out = run(capsys, "check", name, "--dir", tmp_path)
    assert code == 1, out
    assert "typical mistake" in out and fragment in out, out


# ----- answers written independently, with the fixed signatures --------------------------------
INDEPENDENT = {
    "conv2d_forward": """
        import numpy as np

        def conv2d_forward(x, W, b, stride, padding):
            sh, sw = (stride, stride) if isinstance(stride, int) else stride
            ph, pw = (padding, padding) if isinstance(padding, int) else padding
            n_images, channels, height, width = x.shape
            filters, _, kh, kw = W.shape
            out_h = (height + 2 * ph - kh) // sh + 1
            out_w = (width + 2 * pw - kw) // sw + 1
            y = np.zeros((n_images, filters, out_h, out_w))
            for n in range(n_images):
                for o in range(filters):
                    for r in range(out_h):
                        for c in range(out_w):
                            total = b[o]
                            for ch in range(channels):
                                for i in range(kh):
                                    for j in range(kw):
                                        row, col = r * sh + i - ph, c * sw + j - pw
                                        if 0 <= row < height and 0 <= col < width:
                                            total += W[o, ch, i, j] * x[n, ch, row, col]
                            y[n, o, r, c] = total
            return y
        """,
    "relu_backward": """
        def relu_backward(dy, x, rule):
            if rule not in ("gradient", "deconvnet", "guided"):
                raise ValueError(f"unknown rule {rule!r}")
            keep = dy > 0 if rule == "deconvnet" else x > 0
            if rule == "guided":
                keep = keep & (dy > 0)
            return dy * keep
        """,
    "softmax_cross_entropy": """
        import math
        import numpy as np

        def softmax_cross_entropy(logits, labels):
            n, k = logits.shape
            loss, dlogits = 0.0, np.zeros((n, k))
            for row in range(n):
                top = max(logits[row])
                total = sum(math.exp(v - top) for v in logits[row])
                loss += top + math.log(total) - logits[row, labels[row]]
                for j in range(k):
                    p = math.exp(logits[row, j] - top) / total
                    dlogits[row, j] = (p - (j == labels[row])) / n
            return loss / n, dlogits
        """,
}


@pytest.mark.parametrize("name", sorted(INDEPENDENT))
def test_an_answer_written_independently_passes(tmp_path, capsys, name):
    write(tmp_path, name, INDEPENDENT[name])
    code, out = run(capsys, "check", name, "--dir", tmp_path)
    assert code == 0, out


# ----- the messages -----------------------------------------------------------------------
def test_a_wrong_shape_gets_the_expected_shape(tmp_path, capsys):
    write(tmp_path, "conv2d_forward", """
        import numpy as np

        def conv2d_forward(x, W, b, stride, padding):
            return np.zeros((len(x), len(W), 1, 1))
        """)
    code, out = run(capsys, "check", "conv2d_forward", "--dir", tmp_path)
    assert code == 1
    assert "y has shape (1, 1, 1, 1), expected (1, 1, 2, 3) = (N, O, OH, OW)" in out


def test_a_wrong_gradient_gets_the_relative_error_and_the_worst_index(tmp_path, capsys):
    write(tmp_path, "softmax_cross_entropy", """
        import numpy as np

        def softmax_cross_entropy(logits, labels):
            z = logits - logits.max(axis=1, keepdims=True)
            log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            rows = np.arange(len(labels))
            d = np.exp(log_p)
            d[rows, labels] -= 1
            d[-1, -1] += 0.01                                 # one entry off
            return -log_p[rows, labels].mean(), d / len(labels)
        """)
    code, out = run(capsys, "check", "softmax_cross_entropy", "--dir", tmp_path)
    assert code == 1
    assert "disagrees with central finite differences: relative error" in out
    assert "dlogits[1, 3]" in out and "typical mistake" not in out


def test_an_exception_names_the_line_and_an_in_place_change_is_caught(tmp_path, capsys):
    write(tmp_path, "global_avg_pool", """
        def global_avg_pool(x):
            return x.mean(axis=(2, 3)) / undefined_name
        """)
    code, out = run(capsys, "check", "global_avg_pool", "--dir", tmp_path)
    assert code == 1 and "NameError" in out and "line 3" in out
    write(tmp_path, "relu_backward", """
        def relu_backward(dy, x, rule):
            dy *= x > 0
            return dy
        """)
    code, out = run(capsys, "check", "relu_backward", "--dir", tmp_path)
    assert code == 1 and "in place" in out


def test_one_exercise_may_import_another_and_edits_are_seen(tmp_path, capsys):
    write(tmp_path, "im2col", COMMON + textwrap.dedent("""
        def im2col(x, kh, kw, stride, padding):
            return im2col_cols(x, kh, kw, stride, padding)[0]
        """))
    write(tmp_path, "conv2d_matmul", """
        from im2col import im2col

        def conv2d_matmul(x, W, b, stride, padding):
            s = (stride, stride) if isinstance(stride, int) else stride
            p = (padding, padding) if isinstance(padding, int) else padding
            oh = (x.shape[2] + 2 * p[0] - W.shape[2]) // s[0] + 1
            ow = (x.shape[3] + 2 * p[1] - W.shape[3]) // s[1] + 1
            y = W.reshape(len(W), -1) @ im2col(x, W.shape[2], W.shape[3], stride, padding)
            return (y + b[:, None]).reshape(len(W), len(x), oh, ow).transpose(1, 0, 2, 3)
        """)
    code, out = run(capsys, "check", "conv2d_matmul", "--dir", tmp_path)
    assert code == 0, out
    write(tmp_path, "im2col", "def im2col(*args):\n    raise NotImplementedError\n")
    assert run(capsys, "check", "conv2d_matmul", "--dir", tmp_path)[0] == 1   # re-imported


def test_the_graders_oracles_agree_with_the_librarys_loops():
    """Two independent writings of the same definitions (negative control: a flipped kernel
    does not agree)."""
    from scratchcnn.reference import conv, pool
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 6, 7)), rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    expected = conv.conv2d_loops(x, w, b, (2, 1), (1, 2))
    for oracle in (oracles.conv_loops, oracles.conv_offsets):
        np.testing.assert_allclose(oracle(x, w, b, (2, 1), (1, 2)), expected, atol=1e-12)
    assert not np.allclose(oracles.conv_loops(x, w[:, :, ::-1, ::-1], b, (2, 1), (1, 2)), expected)
    out, switches = pool.maxpool_loops(x, 3, 2, (2, 1))
    mine = oracles.maxpool_loops(x, 3, 2, (2, 1))
    np.testing.assert_array_equal(mine[0], out)
    np.testing.assert_array_equal(mine[1], switches)


# ----- the gallery -----------------------------------------------------------------------
def test_the_gallery_lists_each_lessons_exercises(tmp_path):
    sys.path.insert(0, str(LESSONS))
    try:
        import run_all
    finally:
        sys.path.remove(str(LESSONS))
    first = sorted(LESSONS.glob("01_*.py"))[0]
    twelfth = sorted(LESSONS.glob("12_*.py"))[0]
    page = run_all.write_gallery(tmp_path, [(first, True, 1.0, "printed"),
                                            (twelfth, True, 1.0, "printed")]).read_text()
    section_01 = page[page.index(f'<section id="{first.stem}">'):page.index(
        f'<section id="{twelfth.stem}">')]
    for exercise in exercises_for_lesson("01"):
        assert exercise.name in section_01
        assert f"python -m scratchcnn.exercises start {exercise.name}" in section_01
    assert "deletion_curve" not in section_01 and "deletion_curve" in page
    assert [e.name for e in exercises_for_lesson("01")] == ["conv2d_forward", "im2col",
                                                            "conv2d_matmul", "col2im"]
    assert run_all.AFTER["13"] == ("03",)
