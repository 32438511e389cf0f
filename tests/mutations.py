"""Mutation testing: does the suite fail when one line of the library breaks?

    .venv/bin/python tests/mutations.py              # every mutation (about 10-20 minutes)
    .venv/bin/python tests/mutations.py --only core  # the core-math ones
    .venv/bin/python tests/mutations.py --list       # what would be applied
    .venv/bin/python tests/mutations.py --grep "batch norm"   # the matching ones only

Not part of the default test run (pytest collects test_*.py only). The script copies
the repository once into a temporary folder, then for each mutation below replaces
one exact piece of one line of the library there, runs ``pytest -x -q -m "not slow"``
in the copy, and restores the file. A mutation is *killed* when the suite fails and
*survives* when it passes. A survivor is a line whose breaking no test notices.
Each mutation must match its file exactly once (a stale entry is reported, not
skipped silently). Exit status 1 when a core-math mutation survives.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (kind, file, original text, mutated text, what the mutation means)
MUTATIONS = [
    # --- core math: layers, kernels, loss, explanations ----------------------------------
    ("core", "scratchcnn/layers/conv.py", 'self.grads["W"] += dw', 'self.grads["W"] -= dw',
     "conv dL/dW sign flipped (the layer)"),
    ("core", "scratchcnn/reference/conv.py", "dw = (dy_mat @ cols.T)", "dw = -(dy_mat @ cols.T)",
     "conv dL/dW sign flipped (plain)"),
    ("core", "scratchcnn/fast/conv2d.py", "dw = (dy_mat @ cols.T)", "dw = -(dy_mat @ cols.T)",
     "conv dL/dW sign flipped (fast, im2col)"),
    ("core", "scratchcnn/reference/conv.py", "dx = col2im(dcols, x_shape",
     "dx = 0 * col2im(dcols, x_shape", "conv dL/dx dropped (plain)"),
    ("core", "scratchcnn/fast/conv2d.py", "return dw, db, kernels.col2im(dcols, x.shape",
     "return dw, db, 0 * kernels.col2im(dcols, x.shape", "conv dL/dx dropped (fast, im2col)"),
    ("core", "scratchcnn/reference/conv.py", "y_mat = weights.reshape(o, -1) @ cols",
     "y_mat = weights.reshape(o, -1)[::-1] @ cols", "conv forward (plain): filters swapped"),
    ("core", "scratchcnn/reference/conv.py",
     "patch = x_padded[image, :, r * sh:r * sh + kh, c * sw:c * sw + kw]",
     "patch = x_padded[image, :, r * sh:r * sh + kh, c:c + kw]",
     "the loop-level convolution (the oracle) ignores the column stride"),
    ("core", "scratchcnn/reference/pool.py", "for where, value in window\n",
     "for where, value in window[::-1]\n", "the loop-level max pool: the last max wins ties"),
    ("core", "scratchcnn/reference/pool.py", "if best - value <= tolerance[image])",
     "if best - value <= 0)", "the loop-level max pool: no tie tolerance"),
    ("core", "scratchcnn/reference/pool.py", "        ties = candidate >= lowest_tie",
     "        ties = candidate >= best", "plain max pool: no tie tolerance"),
    ("core", "scratchcnn/reference/pool.py", "    return (TIE_ULPS * np.finfo(x.dtype).eps * largest)",
     "    return (TIE_ULPS * np.finfo(x.dtype).eps * (0 * largest + largest.max()))",
     "the tie tolerance of the whole batch, not of each image"),
    ("core", "scratchcnn/explain/occlusion.py",
     "occluded[k, :, top:top + window[0], left:left + window[1]] = baseline",
     "occluded[k, :, top:top + window[1], left:left + window[0]] = baseline",
     "occlusion (the definition): the window's height and width swapped"),
    ("core", "scratchcnn/ops.py", "    return is_gpu_array(x) or not _reference_only.get()",
     "    return True", "use_reference() runs the fast room"),
    ("core", "scratchcnn/reference/conv.py",
     "dx_padded[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += window",
     "dx_padded[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] = window",
     "reference col2im overwrites instead of adding overlaps"),
    ("core", "scratchcnn/fast/conv.py", "dx_flat[dst + xo] += cols_flat[src + xo]",
     "dx_flat[dst + xo] = cols_flat[src + xo]", "Numba col2im overwrites overlaps"),
    ("core", "scratchcnn/fast/activation.py", "active_flat[k] = v > 0", "active_flat[k] = v >= 0",
     "Numba ReLU mask counts an input of exactly 0 as active"),
    ("core", "scratchcnn/reference/activation.py", "active = x > 0", "active = x >= 0",
     "reference ReLU mask counts an input of exactly 0 as active"),
    ("core", "scratchcnn/layers/activation.py", "return dy * self.active                # R",
     "return dy                # R", "ReLU gradient rule drops the forward mask"),
    ("core", "scratchcnn/layers/activation.py", "return dy * (dy > 0)                   # R",
     "return dy * (dy < 0)                   # R", "DeconvNet rule keeps the negative part"),
    ("core", "scratchcnn/layers/activation.py", "return dy * (self.active & (dy > 0))",
     "return dy * (dy > 0)", "guided rule drops the forward mask"),
    ("core", "scratchcnn/fast/pool.py", "if where < 0 and best - x_flat[base + row + j] <= tie:",
     "if best - x_flat[base + row + j] <= tie:", "Numba max pool: the last tie wins"),
    ("core", "scratchcnn/fast/pool.py", "        tie = tolerance[plane // c]\n        for y in range(oh):\n            for xo",
     "        tie = tolerance[0]\n        for y in range(oh):\n            for xo",
     "Numba max pool: image 0's tie tolerance for every image"),
    ("core", "scratchcnn/fast/pool.py",
     "out[b, ch, switches[b, ch, y, xo]] += values[b, ch, y, xo]",
     "out[b, ch, switches[b, ch, y, xo]] = values[b, ch, y, xo]",
     "Numba unpooling overwrites a pixel that wins several windows"),
    ("core", "scratchcnn/reference/pool.py", "return total / x.dtype.type(kh * kw)",
     "return total", "average pooling forgets to divide"),
    ("core", "scratchcnn/layers/pool.py", "dy[:, :, None, None] / (h * w)",
     "dy[:, :, None, None]", "GAP backward forgets 1/(h*w)"),
    ("core", "scratchcnn/layers/norm.py", "mean_dx_hat_x_hat = gamma * sum_dy_x_hat / m",
     "mean_dx_hat_x_hat = 0 * gamma * sum_dy_x_hat / m",
     "batch norm backward drops the variance term"),
    ("core", "scratchcnn/fast/norm.py",
     "dx_flat[base + k] = s * (dx_hat - m1 - x_hat_flat[base + k] * m2)",
     "dx_flat[base + k] = s * (dx_hat - m1)", "Numba batch norm dx drops the variance term"),
    ("core", "scratchcnn/reference/norm.py",
     "- x_hat * mean_dx_hat_x_hat.reshape(shape))", ")",
     "reference batch norm dx drops the variance term"),
    ("core", "scratchcnn/fast/norm.py", "squares += d * d", "squares += d",
     "Numba batch norm variance sums deviations, not their squares"),
    ("core", "scratchcnn/fast/norm.py", "weighted += g * x_hat_flat[base + k]",
     "weighted += g", "Numba batch norm dL/dgamma sums dy, not dy * x_hat"),
    ("core", "scratchcnn/layers/norm.py", "m * var * (count / (count - 1))", "m * var",
     "batch norm running variance biased"),
    ("core", "scratchcnn/layers/norm.py", 'self.buffers["running_mean"] *= 1 - m',
     'self.buffers["running_mean"] *= m', "batch norm momentum inverted"),
    ("core", "scratchcnn/layers/linear.py", 'self.grads["W"] += dy.T @ self.x',
     'self.grads["W"] = dy.T @ self.x', "Linear overwrites instead of accumulating dL/dW"),
    ("core", "scratchcnn/layers/linear.py", 'self.grads["b"] += dy.sum(axis=0)',
     'self.grads["b"] += dy.mean(axis=0)', "Linear dL/db averaged"),
    ("core", "scratchcnn/layers/dropout.py", "keep.astype(x.dtype) / x.dtype.type(1 - self.p)",
     "keep.astype(x.dtype)", "dropout without the 1/(1-p) scale"),
    ("core", "scratchcnn/layers/residual.py", "return (dy,) * self.count",
     "return (dy,) + (0 * dy,) * (self.count - 1)", "Add passes the gradient to one input"),
    ("core", "scratchcnn/model.py",
     "grads[source] = grad_in if source not in grads else grads[source] + grad_in",
     "grads[source] = grad_in", "the residual rule: overwrite instead of sum"),
    ("core", "scratchcnn/losses.py", "dlogits[rows, labels] -= 1", "dlogits[rows, labels] += 1",
     "softmax cross-entropy gradient sign"),
    ("core", "scratchcnn/losses.py", "return loss, dlogits / logits.dtype.type(n)",
     "return loss, dlogits", "loss gradient not divided by N"),
    ("core", "scratchcnn/reference/winograd.py", "[0.5, -0.5, 0.5],", "[0.5, 0.5, 0.5],",
     "Winograd G with a wrong sign"),
    ("core", "scratchcnn/explain/cam.py", "return grads.mean(axis=(2, 3)), activations",
     "return grads.sum(axis=(2, 3)), activations", "Grad-CAM weights summed, not averaged"),
    ("core", "scratchcnn/explain/cam.py", "return upsample(coarse, x.shape[2:])[:, None] * guided",
     "return 0 * upsample(coarse, x.shape[2:])[:, None] + guided",
     "Guided Grad-CAM ignores the Grad-CAM map"),
    ("core", "scratchcnn/explain/gradients.py", "weight = (0.5 if k in (0, steps) else 1.0)",
     "weight = (1.0 if k in (0, steps) else 1.0)", "Integrated Gradients: not a trapezoid"),
    ("core", "scratchcnn/resize.py", "source = (np.arange(size_out) + 0.5)",
     "source = (np.arange(size_out) + 0.0)", "upsampling without half-pixel centres"),
    ("core", "scratchcnn/gradcheck.py",
     "return float(np.max(np.abs(analytic - numerical))) / scale",
     "return 0.0 * scale", "the gradient checker always passes"),
    # --- the audit's list (issue 11) ----------------------------------------------------
    ("audit", "scratchcnn/reference/adam.py", "denom = (v / bias2) ** 0.5 + eps",
     "denom = (v / bias2 + eps) ** 0.5", "Adam (reference): epsilon inside the square root"),
    ("audit", "scratchcnn/reference/adam.py", "denom = (v / bias2) ** 0.5 + eps",
     "denom = (v / bias2) ** 0.5 + 1e-30", "Adam (reference): epsilon removed"),
    ("audit", "scratchcnn/fast/adam.py", "(np.sqrt(v[k] / bias2) + eps)",
     "np.sqrt(v[k] / bias2 + eps)", "Adam (Numba): epsilon inside the square root"),
    ("audit", "scratchcnn/optim.py", "grad = grad * mask                 # no gradient",
     "grad = grad                 # no gradient", "masks: the gradient is not masked"),
    ("audit", "scratchcnn/optim.py", "param *= mask                      # exactly zero",
     "param *= 1                      # exactly zero", "masks: not re-applied after the step"),
    ("audit", "scratchcnn/optim.py", 'state["velocity"] *= self.momentum',
     'state["velocity"] *= 0', "SGD without momentum"),
    ("audit", "scratchcnn/model.py", "for store in (node.layer.params, node.layer.buffers)",
     "for store in (node.layer.params,)", "state_dict skips batch norm's running statistics"),
    ("audit", "scratchcnn/checkpoint.py", "    model.load_state_dict(state)\n",
     "    pass\n", "checkpoint.load never loads the saved weights"),
    ("audit", "scratchcnn/datasets/embedded.py", "N_TRAIN, N_TEST, SPLIT_SEED = 8000, 2000, 0",
     "N_TRAIN, N_TEST, SPLIT_SEED = 8000, 2000, 1", "another dataset split seed"),
    ("audit", "scratchcnn/datasets/embedded.py", "left = rng.integers(0, 2 * max_shift + 1, n)",
     "left = top", "random_shift: the same offset on both axes"),
    ("audit", "scratchcnn/model.py", "    model.eval()\n    try:", "    try:",
     "eval_mode never switches to eval"),
    ("audit", "scratchcnn/train.py", "optimizer.lr *= lr_decay", "optimizer.lr *= 1",
     "the learning-rate decay never applied"),
    ("audit", "scratchcnn/train.py", "order = rng.permutation(len(x))",
     "order = np.arange(len(x))", "the training data never shuffled"),
    # --- weight damage (seed 001) --------------------------------------------------------
    ("core", "scratchcnn/resilience/damage.py", "keep[damaged] = False",
     "keep[damaged[1:]] = False", "damage_masks: one weight too few damaged"),
    ("core", "scratchcnn/resilience/damage.py", "store[pkey][~mask] = 0",
     "store[pkey][~mask] *= 0.5", "apply_masks: damaged weights halved, not zeroed"),
    ("core", "scratchcnn/resilience/damage.py", "steps = {4: [(-1, 0), (1, 0), (0, -1), (0, 1)],",
     "steps = {4: [(-1, 0), (1, 0), (0, -1)],", "label_regions: one neighbour forgotten"),
    ("core", "scratchcnn/resilience/damage.py", "preferred = [region for region in largest if region in holding_peak]",
     "preferred = []", "HAR: size ties ignore the peak"),
    ("core", "scratchcnn/resilience/recovery.py", "Adam(model, lr=lr, masks=masks)",
     "Adam(model, lr=lr)", "retrain: the damaged weights are free to move"),
    ("core", "scratchcnn/resilience/recovery.py", "layer.momentum = 1.0 / k",
     "layer.momentum = 0.5", "update_batch_statistics: not the plain average"),
    ("core", "scratchcnn/resilience/sweep.py", "model.load_state_dict(state)                       # undamaged",
     "pass  # undamaged", "damage_sweep: weights not restored between points"),
    ("core", "scratchcnn/fast/conv2d.py", '    saved["cols"] = None                 # its buffer',
     "    pass  # its buffer", "conv backward: a patch matrix overwritten by dcols reused"),
    # --- beyond the classic methods (issue 15) --------------------------------------------
    ("core", "scratchcnn/explain/cam_variants.py",
     "denominator = 2 * squared + channel_sums", "denominator = squared + channel_sums",
     "Grad-CAM++: eq. 19 without its factor 2"),
    ("core", "scratchcnn/explain/cam_variants.py",
     "return xp.maximum((xp.maximum(grads, 0) * activations)",
     "return xp.maximum((grads * activations)", "LayerCAM: negative gradients kept"),
    ("core", "scratchcnn/explain/cam_variants.py",
     "return xp.where(span > 0, (masks - low) / xp.where(span > 0, span, 1), 0)",
     "return masks", "Score-CAM: masks not min-max normalized"),
    ("core", "scratchcnn/explain/lrp.py", "return x * twin.backward(share, param_grads=False)",
     "return twin.backward(share, param_grads=False)", "LRP rule: not multiplied by x"),
    ("core", "scratchcnn/explain/lrp.py", "xp.where(z >= 0, 1, -1)", "xp.where(z >= 0, -1, 1)",
     "LRP: the stabilizer pushes z towards 0"),
    ("core", "scratchcnn/explain/lrp.py", ' + bn.params["beta"]\n', "\n",
     "LRP: BatchNorm folded without beta"),
    ("core", "scratchcnn/explain/lrp.py", "relevance[source] + share         # a node",
     "share         # a node", "LRP: relevance from two consumers overwritten"),
    ("core", "scratchcnn/explain/sanity.py", "np.argsort(-scores.reshape(",
     "np.argsort(scores.reshape(", "deletion/insertion: lowest attribution first"),
    ("core", "scratchcnn/explain/sanity.py", "        model.load_state_dict(saved)",
     "        pass", "randomization_check: weights not restored"),
    ("core", "scratchcnn/explain/metrics.py",
     "ranks[row, index] = np.repeat((starts + 1 + ends) / 2, ends - starts)",
     "ranks[row, index] = np.arange(1, len(sorted_row) + 1)", "spearman: ties not averaged"),
    ("core", "scratchcnn/fast/occlusion.py", "        logits[self.order] = result",
     "        logits[...] = result", "occlusion cone: logits left in the sorted order"),
    ("core", "scratchcnn/fast/winograd_kernels.py", "+ c3 * src[o3 + k] + c4 * src[o4 + k] + c5 * src[o5 + k] + bias[k])",
     "+ c3 * src[o3 + k] + c4 * src[o4 + k] + c5 * src[o5 + k] + bias[0])",
     "Winograd output (Numba): every channel gets channel 0's bias"),
    ("core", "scratchcnn/fast/winograd_kernels.py", "src = u(row) * width + u(oc)",
     "src = u(row) * width", "Winograd output (Numba): every channel read from channel 0"),
    ("core", "scratchcnn/fast/winograd_kernels.py",
     "dst = u((y + ph) * pc + pw) * C + u(ch)", "dst = u((y + ph) * pc + pw) * C",
     "Winograd input (Numba): every channel copied onto channel 0"),
    ("core", "scratchcnn/fast/winograd_kernels.py",
     "o0 = u(a * th + ty) * line + u(m * tx) * C", "o0 = u(a * th + ty) * line + u(tx) * C",
     "Winograd input (Numba): tiles moved by one column, not m"),
    ("core", "scratchcnn/reference/winograd.py", "[-1 / 3, 1 / 3, -1 / 3],",
     "[1 / 3, 1 / 3, -1 / 3],", "Winograd F4's G with a wrong sign"),
    ("audit", "scratchcnn/fast/winograd_kernels.py", "    if scheme.m != 4:",
     "    if False:", "Winograd (Numba): F2's matrices read as if 6x6"),
    ("core", "scratchcnn/reference/winograd.py",
     'v = xp.einsum("ar,rsncyx,bs->abnyxc", bt, tiles, bt)',
     'v = xp.einsum("ar,rsncyx,bs->abnxyc", bt, tiles, bt)',
     "Winograd input (NumPy twin): tiles in (n, tx, ty) order"),
    ("core", "scratchcnn/fast/winograd_kernels.py", "padded = np.zeros(pr * pc * c, x.dtype)",
     "padded = np.ones(pr * pc * c, x.dtype)",
     "Winograd input (Numba): the padding borders not zero"),
    ("core", "scratchcnn/fast/occlusion_kernels.py",
     "band[b, r, ch, l + c] = values[b, ch, r, c] - maps[ch, t + r, l + c]",
     "band[b, r, ch, l + c] = values[b, ch, r, c] - maps[ch, t + r, c]",
     "occlusion band (Numba): old map read at the box's column, not the map's"),
    ("core", "scratchcnn/fast/occlusion_kernels.py",
     "change = values[b] - maps[:, t:t + bh, l:l + bw]",
     "change = values[b] - maps[:, t:t + bh, :bw]",
     "occlusion band (reference): old map read at the box's column, not the map's"),
    ("core", "scratchcnn/fast/occlusion.py",
     'return type(layer).__name__ in ("ReLU", "LeakyReLU")',
     'return type(layer).__name__ in ("ReLU", "LeakyReLU", "BatchNorm2D")',
     "occlusion cone: batch norm (maybe decreasing) swapped with a max pool"),
    ("core", "scratchcnn/fast/pool.py", "                if a >= lowest:",
     "                if a > lowest:", "2x2 max pool: an exact tie goes to a later entry"),
    ("core", "scratchcnn/fast/pool.py", "value, where = d, first + w + np.int64(left)",
     "value, where = d, first + np.int64(left)",
     "2x2 max pool: the bottom row's switch points at the top row"),
    ("core", "scratchcnn/fast/occlusion_cases.py",
     "covered = (max(0, -d), min(kernel - 1, window - 1 - d))",
     "covered = (max(0, -d), min(kernel - 1, window - d))",
     "occlusion cases: the covered taps reach one past the window"),
    ("core", "scratchcnn/fast/occlusion_cases.py",
     "z += (is_covered @ covered)[:, :, None, None] + bias[:, None, None]",
     "z += bias[:, None, None]", "occlusion cases: the covered taps lose the baseline"),
    ("core", "scratchcnn/fast/occlusion_cases.py", "change = z - unoccluded",
     "change = z", "occlusion cases: the table holds B of the new values, not of the change"),
    ("core", "scratchcnn/fast/occlusion_cases.py",
     "offset = position - pa - occluder[:, None, None]",
     "offset = position - occluder[:, None, None]",
     "occlusion cases: the offset forgets A's padding"),
    ("core", "scratchcnn/fast/occlusion_cases.py",
     "position = q[:, :, None] - pb + np.arange(kb)", "position = q[:, :, None] + np.arange(kb)",
     "occlusion cases: B's taps forget its padding"),
    ("audit", "scratchcnn/fast/occlusion_cases.py",
     "return table + SUM_COST * pixels * taps * outputs < pixels * outputs * channels * taps",
     "return table < pixels * outputs * channels * taps",
     "occlusion cases: the rule forgets what the sums cost"),
    ("audit", "scratchcnn/fast/occlusion.py", "                self.split = None\n",
     "                pass\n", "occlusion cone: the table even where the crops cost less"),
    ("core", "scratchcnn/fast/occlusion_kernels.py", "acc[ch] = maps_by_pixel[qr, qc, ch]",
     "acc[ch] = 0", "occlusion case sums (Numba): B's unoccluded output left out"),
    ("core", "scratchcnn/fast/occlusion_kernels.py",
     "position = row_position[k, i, a] * width + col_position[k, j, b]",
     "position = row_position[k, i, a] * width + col_position[k, j, a]",
     "occlusion case sums (Numba): the column position of the row's tap"),
    ("core", "scratchcnn/fast/occlusion_kernels.py", "reached = (r_case >= 0) & (c_case >= 0) & inside",
     "reached = (r_case >= 0) & inside",
     "occlusion case sums (reference): a column tap no occluder reaches added"),
    ("core", "scratchcnn/fast/conv2d.py", "for start in range(0, n, chunk):",
     "for start in range(0, n - 1, chunk):", "eval conv in chunks: the last image skipped"),
    ("core", "scratchcnn/fast/winograd_kernels.py",
     "dst[d + k] = c0 * src[o0 + k] + c1 * src[o1 + k] + c2 * src[o2 + k] + c3 * src[o3 + k]",
     "dst[d + k] = c0 * src[o0 + k] + c1 * src[o1 + k] + c2 * src[o2 + k] - c3 * src[o3 + k]",
     "Winograd training (Numba): dM = A dY A^T with a wrong sign"),
    ("core", "scratchcnn/fast/winograd_kernels.py", "            rows[:] = 0\n            padded[:] = 0\n",
     "            rows[:] = 0\n", "Winograd dL/dx (Numba): a block's plane not cleared between images"),
    ("audit", "scratchcnn/fast/winograd_kernels.py", "    if tuple(array.shape) != tuple(shape):",
     "    if False:", "Winograd (Numba): an out of the wrong shape accepted"),
    ("core", "scratchcnn/fast/winograd_kernels.py", "o0, entry, b_t[s], C, True)",
     "o0, entry, b_t[s], C, False)",
     "Winograd training (Numba): B dV B^T, overlapping columns overwrite instead of adding"),
    ("core", "scratchcnn/fast/winograd_kernels.py", "b_t[r], line, True)",
     "b_t[r], line, False)",
     "Winograd training (Numba): B dV B^T, overlapping rows overwrite instead of adding"),
    ("core", "scratchcnn/reference/winograd.py",
     "padded[:, :, r:r + m * th:m, s:s + m * tw:m] += dd[r, s]",
     "padded[:, :, r:r + m * th:m, s:s + m * tw:m] = dd[r, s]",
     "Winograd training (NumPy): overlapping tiles overwrite instead of adding"),
    ("core", "scratchcnn/reference/winograd.py", "return g.T @ du @ g",
     "return g.T @ du.transpose(0, 1, 3, 2) @ g", "Winograd dL/dW: the tile transposed"),
    ("core", "scratchcnn/fast/winograd.py",
     "du += xp.matmul(dm.transpose(0, 2, 1), v[:, rows])",
     "du = xp.matmul(dm.transpose(0, 2, 1), v[:, rows])",
     "Winograd dL/dW: only the last chunk of images counts"),
    ("core", "scratchcnn/layers/conv.py",
     "            self.grads[\"b\"] += db ", "            pass ",
     "conv dL/db forgotten (the layer)"),
    ("core", "scratchcnn/fast/conv2d.py",
     "db = dy.sum(axis=(0, 2, 3)) if param_grads else None",
     "db = 0 * dy.sum(axis=(0, 2, 3)) if param_grads else None",
     "conv dL/db forgotten (fast: every route, Winograd, im2col, first layer)"),
    ("core", "scratchcnn/reference/conv.py", "db = dy.sum(axis=(0, 2, 3))",
     "db = 0 * dy.sum(axis=(0, 2, 3))", "conv dL/db forgotten (plain)"),
    ("core", "scratchcnn/fast/conv2d.py",
     "per_image = cols.reshape(patch, n, -1).transpose(1, 2, 0)",
     "per_image = cols.reshape(patch, -1, n).transpose(2, 1, 0)",
     "conv dL/dW without dx: the patch matrix's columns split into images wrongly"),
    ("core", "scratchcnn/fast/conv2d.py", "per_image).sum(axis=0)", "per_image)[-1]",
     "conv dL/dW without dx: only the last image counts"),
    ("audit", "scratchcnn/fast/conv2d.py",
     "if param_grads and not input_grad and patch <= dy[0, 0].size:",
     "if param_grads and not input_grad:",
     "conv dL/dW without dx: per-image partial sums even where larger than dy"),
    ("audit", "scratchcnn/fast/winograd_kernels.py",
     '    _check_shape(bias, "bias", (o,), "winograd_output")', "",
     "Winograd output (Numba): a short bias read past its end"),
    ("audit", "scratchcnn/fast/winograd_kernels.py", "    if out.dtype != dtype:",
     "    if False:", "Winograd (Numba): an out of another dtype rounded silently"),
    ("core", "scratchcnn/fast/adam.py",
     "param[k] -= step_size * m[k] / (np.sqrt(v[k] / bias2) + eps)",
     "param[k] -= step_size * m[k] / (np.sqrt(v[k]) + eps)",
     "Adam (Numba): v's bias correction forgotten"),
    ("core", "scratchcnn/fast/adam.py", "m[k] = b1 * m[k] + one_minus_b1 * g",
     "m[k] = b1 * m[k] + one_minus_b1 * g * g", "Adam (Numba): m averages g^2"),
    ("audit", "scratchcnn/fast/adam.py",
     "    if (not all(a.flags.c_contiguous for a in arrays) or len({a.shape for a in arrays}) > 1",
     "    if (False or len({a.shape for a in arrays}) > 1",
     "Adam (Numba): a strided parameter's update written into a copy"),
    # --- speed rules (issue 16): which algorithm runs where ------------------------------
    ("audit", "scratchcnn/fast/winograd.py",
     "first, last = n * index // count, n * (index + 1) // count",
     "first, last = fit * index, min(n, fit * (index + 1))",
     "Winograd chunks: full ones and a short last one"),
    ("audit", "scratchcnn/fast/winograd.py", "and weights_shape[1] >= MIN_CHANNELS and tiles >= MIN_TILES)",
     "and weights_shape[1] >= MIN_CHANNELS)", "Winograd on batches of any number of tiles"),
    ("audit", "scratchcnn/fast/winograd.py",
     "tiles = x_shape[0] * int(np.prod(winograd_tiles(x_shape[2], x_shape[3], padding)))",
     "tiles = int(np.prod(winograd_tiles(x_shape[2], x_shape[3], padding)))",
     "Winograd's tile rule counts one image, not the batch"),
    # --- the GPU path, checked on the CPU (issue 28) ----------------------------------
    ("core", "scratchcnn/fast/gpu_sources.py", "long long yy = y * sh + ki - ph, xx = xo * sw + kj - pw;",
     "long long yy = y * sh + ki - ph, xx = xo * sw + kj;",
     "CUDA im2col: the column padding forgotten"),
    ("core", "scratchcnn/fast/gpu_sources.py", "for (long long a = 0; a < kh && where < 0; ++a)",
     "for (long long a = kh - 1; a >= 0 && where < 0; --a)", "CUDA max pool: the last row's tie wins"),
    ("core", "scratchcnn/fast/gpu_sources.py", "<= tolerance[plane / c]) where = here;",
     "<= tolerance[0]) where = here;", "CUDA max pool: image 0's tie tolerance for every image"),
    ("core", "scratchcnn/fast/gpu_sources.py", "if (ynum < 0 || ynum % sh != 0 || ynum / sh >= oh) continue;",
     "if (ynum < 0 || ynum / sh >= oh) continue;", "CUDA col2im: rows between strides gathered"),
    ("core", "scratchcnn/reference/conv.py", "    xp, channels = array_module(out), out.shape[0]",
     "    xp, channels = np, out.shape[0]", "the GPU path: a layout move allocates on the host"),
    ("audit", "scratchcnn/fast/conv2d.py", "    return (_winograd_enabled.get() and not is_gpu_array(x)",
     "    return (not is_gpu_array(x)", "without_winograd() still runs Winograd"),
    # --- fast/recycle.py: a block nobody holds, every element written ---------------------
    ("core", "scratchcnn/fast/recycle.py", "            if _references(entry) == _FREE:",
     "            if True:", "recycle: a block that an array still holds is handed out"),
    ("core", "scratchcnn/fast/recycle.py", "            if _references(entry) == _FREE:",
     "            if _references(entry) <= _FREE + 1:",
     "recycle: a block with one holder counted as free"),
    ("core", "scratchcnn/fast/pool.py", "        out[b, ch, :] = 0\n",
     "        pass\n", "fast max_unpool: a recycled block not zeroed"),
    ("audit", "scratchcnn/fast/recycle.py", "        if _requests % KEEP == 0:",
     "        if False:", "recycle: free blocks never let go"),
    ("audit", "scratchcnn/fast/winograd.py", "TRAINING_CHUNK_FACTOR = 4",
     "TRAINING_CHUNK_FACTOR = 1", "Winograd: a training step takes eval's chunks"),
]


def apply(root, relative, original, mutated):
    """Replace the one occurrence of ``original`` in root/relative; returns a function
    that restores the file, its modification time included (so Numba's on-disk cache of
    an unmutated kernel file stays valid)."""
    path = root / relative
    text, stamp = path.read_text(), path.stat()
    count = text.count(original)
    if count != 1:
        raise ValueError(f"{relative}: expected exactly one {original!r}, found {count}")
    path.write_text(text.replace(original, mutated))

    def restore():
        path.write_text(text)
        os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    return restore


def run_suite(root, timeout):
    """True when the suite fails (the mutation is killed)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-m", "not slow",
               "-p", "no:cacheprovider", "--ignore=tests/test_lessons.py"]
    try:
        result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                                timeout=timeout)
    except subprocess.TimeoutExpired:
        return True, "timed out"
    last = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
    return result.returncode != 0, last


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["core", "audit"])
    parser.add_argument("--grep", help="only the mutations whose meaning contains this text")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per suite run")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if args.only in (None, m[0])
              and (args.grep is None or args.grep in m[4])]
    if args.list:
        for kind, relative, _, _, meaning in chosen:
            print(f"{kind:6} {relative:34} {meaning}")
        return 0
    with tempfile.TemporaryDirectory(prefix="scratchcnn-mutations-") as folder:
        root = Path(folder) / "repo"
        shutil.copytree(ROOT, root, ignore=shutil.ignore_patterns(
            ".venv", ".git", "output", ".pytest_cache"))
        where = "import scratchcnn; print(scratchcnn.__file__)"
        imported = subprocess.run([sys.executable, "-c", where], cwd=root, capture_output=True,
                                  text=True, check=True).stdout
        if not Path(imported.strip()).is_relative_to(root):
            print(f"the copy imports scratchcnn from {imported.strip()}, not from {root}")
            return 2
        killed, clean = run_suite(root, args.timeout)
        if killed:
            print(f"the unmutated suite fails in the copy ({clean}); fix that first")
            return 2
        survivors, rows = [], []
        for kind, relative, original, mutated, meaning in chosen:
            tick = time.perf_counter()
            restore = apply(root, relative, original, mutated)
            try:
                dead, last = run_suite(root, args.timeout)
            finally:
                restore()
            verdict = "killed" if dead else "SURVIVED"
            rows.append((kind, verdict))
            if not dead:
                survivors.append((kind, meaning))
            print(f"{verdict:8} {kind:5} {meaning:60} {time.perf_counter() - tick:5.0f} s  "
                  f"({last})", flush=True)
    for kind in ("core", "audit"):
        total = sum(1 for k, _ in rows if k == kind)
        if total:
            dead = sum(1 for k, v in rows if k == kind and v == "killed")
            print(f"{kind}: {dead} / {total} killed")
    print(f"all: {sum(v == 'killed' for _, v in rows)} / {len(rows)} killed")
    return 1 if any(kind == "core" for kind, _ in survivors) else 0


if __name__ == "__main__":
    sys.exit(main())
