"""What each filter responds to: feature maps, top-k activations with DeconvNet projections, and how they form during training.

What you will learn
  * a feature map is one channel of a layer's output: for one image, every channel of
    a convolution (after its ReLU) is a map of where its filter found its pattern
    (Tang, Yao, Jiang & Liu, "How the Deep Convolutional Networks see the World",
    Fig. 2.2). Drawn on ONE shared scale, it shows at a glance that many channels are
    (nearly) silent for a given image;
  * the receptive field of an activation is the box of input pixels it can see. A
    window layer (kernel k, stride s, padding p) maps output rows [r0, r1] to input
    rows
        [r0*s - p,  r1*s - p + k - 1]        (pointwise layers keep the box),
    so composed down the network the box side grows as r_in = (r_out - 1)*s + k
    (scratchcnn/explain/features.py); the box is clipped to the image;
  * the top-k activations of channel c at layer l over a data set {x_n}:
        A_n = max_(i,j) a_lc(x_n)[i, j],   top-k = the k images with the largest A_n,
    each image once, at its strongest position (i*, j*) (Zeiler & Fergus 2014,
    "Visualizing and understanding convolutional networks", sec. 4 and Fig. 2);
  * the DeconvNet projection of one activation: keep a_lc(x_n)[i*, j*], zero all
    other activations of layer l, and go down the mirrored network, layer by layer:
        unpool with the max-pool switches -> rectify (ReLU) -> transposed filter W^T
    (Zeiler & Fergus 2014, sec. 2.1). It is non-zero only inside the receptive
    field; the lesson measures how much of that box it really fills, per depth;
  * how a channel's preferred pattern forms during training: the top-1 projection
    of the same channels after epochs 0 (random weights), 1, 2 and 5, as in the
    Ruhr-Universität Bochum slides "Making the Training Visible" ("Visualisation
    during training (Layer 2, Feature Map 3)"; "top 5 activations"; the deeper
    model's Layer 4 / Layer 5).
Substitutions: the slides' "deeper model" was trained on the rock-paper-scissors data set
(2,520 colour images of 300x300 pixels, three classes), which is not here. Its place is
taken by Tang et al.'s deeper network (conv-relu-pool-bn four times, seed 004) trained on
five Fashion-MNIST classes (28x28 grey): the deep net of sections 2 and 3 is Tang's, not the
slides'.
Sources: Zeiler & Fergus 2014 (sec. 2.1, 4, Fig. 2); the Bochum slides (seed 003);
Tang et al. (seed 004), Fig. 2.2.
"""
import time

import numpy as np
from matplotlib.patches import Rectangle

import scratchcnn as sc
from scratchcnn import explain, plot, zoo

import common

args = common.start(__file__, __doc__)
tick = time.perf_counter()
FASHION = sc.datasets.CLASS_NAMES["fashion-mnist"]
FIVE_NAMES = [FASHION[c] for c in common.FIVE_CLASSES]

# --- 1. Feature maps of one digit 7 (Tang et al. Fig. 2.2) ---------------------------------
seed_model, _ = common.seed_model(args, "mnist")
_, (x_digits, y_digits) = common.load_data("mnist", args.quick)
print("   the slides' model:", " -> ".join(seed_model.names))
seven = int(np.flatnonzero(y_digits == 7)[0])
x7 = x_digits[seven:seven + 1]
SILENT = 0.05                                   # a channel is "nearly silent" below 5% of max
for conv, relu in (("conv1", "relu1"), ("conv2", "relu2")):
    maps = explain.feature_maps(seed_model, x7, relu)[0]           # (K, h, w)
    top = maps.max(axis=(1, 2))
    silent = int((top < SILENT * maps.max()).sum())
    dead = int((top == 0).sum())
    share = np.sort(maps.sum(axis=(1, 2)))[::-1]
    top4 = 100 * share[:4].sum() / max(share.sum(), 1e-12)
    weak = int((maps.reshape(len(maps), -1).max(axis=1) < 0.25 * maps.max()).sum())
    # where the strong channels' activation lies: on the stroke's pixels or beside them (a
    # valid 3x3 conv's output pixel (i, j) is centred on input pixel (i + o, j + o))
    o = (x7.shape[2] - maps.shape[1]) // 2
    stroke = x7[0, 0, o:o + maps.shape[1], o:o + maps.shape[2]] > 0.5
    strong = [k for k in range(len(maps)) if top[k] >= 0.25 * maps.max()]
    on_stroke = [maps[k][stroke].sum() / maps[k].sum() for k in strong]
    along, beside = sum(f > 0.6 for f in on_stroke), sum(f < 0.4 for f in on_stroke)
    print(f"   {relu} ({maps.shape[0]} channels, {maps.shape[1]}x{maps.shape[2]}) for test "
          f"digit #{seven} (a 7): nearly silent channels: {silent} (max < {100 * SILENT:.0f}% of "
          f"the layer's max {maps.max():.2f}), of them exactly zero: {dead}; under 25% of it: "
          f"{weak}; the 4 strongest channels "
          f"carry {top4:.0f}% of the layer's total activation")
    fig = plot.map_grid(maps, "positive", titles=[f"ch {k}" for k in range(len(maps))],
                        columns=8, size=1.75, title=f"{relu} = ReLU({conv}) of the slides' "
                        f"model for one test 7: all {len(maps)} channels on ONE shared scale "
                        f"(0 to {maps.max():.2f})")
    common.save(fig, args, f"1_feature_maps_{relu}.png",
                f"Every channel of {relu}, the ReLU after {conv} of the slides' MNIST model, for "
                f"one held-out 7, all on one shared viridis scale from 0. Look at how unevenly "
                f"the channels share the work: {silent} of {len(maps)} stay below "
                f"{100 * SILENT:.0f}% of the layer's maximum, {weak} stay below 25% of it (those "
                f"panels say 'weak', their percentage is of the layer's maximum), and the 4 "
                f"strongest carry {top4:.0f}% of the layer's total activation. Of the "
                f"{len(strong)} channels above 25%, {along} put most (over 60%) of their "
                f"activation on the stroke's pixels and {beside} most beside them (its edges "
                f"and surroundings; the rest in between). Reproduces the per-layer feature "
                f"maps of Tang et al., Fig. 2.2.")

# --- 2. Receptive fields --------------------------------------------------------------------
deep, deep_history = common.tang_deep_model(args)
_, (x_fashion, y_fashion) = common.five_class_data(args.quick)
print("   Tang et al.'s deeper network, on five Fashion-MNIST classes (standing in for the "
      "slides' rock-paper-scissors model, whose data is not here; held-out accuracy "
      f"{100 * deep_history['val_accuracy'][-1]:.1f}%):", " -> ".join(deep.names))
LAYERS = ("relu2", "relu3", "relu4")            # above pool1, pool2, pool3: through switches
size = x_fashion.shape[2:]
for name, model, layer in [("slides'", seed_model, "relu1"), ("slides'", seed_model, "relu2"),
                           ("slides'", seed_model, "pool1")] + [("deeper", deep, l) for l in LAYERS]:
    shape = explain.feature_maps(model, x_fashion[:1], layer).shape[2:]
    centre = (shape[0] // 2, shape[1] // 2)
    raw = explain.receptive_field(model, layer, centre)
    r0, r1, c0, c1 = explain.receptive_field(model, layer, centre, image_size=size)
    print(f"   {name:>7} {layer} ({shape[0]}x{shape[1]}) at {centre} sees input rows "
          f"{r0}-{r1 - 1}, cols {c0}-{c1 - 1} ({raw[1] - raw[0]}x{raw[3] - raw[2]} before "
          f"clipping to the {size[0]}x{size[1]} image)")

# --- 3. Top-k dataset activations with their DeconvNet projections (Zeiler & Fergus Fig. 2) --
K, CHANNELS = 5, 3


def top_k(maps, channel, k):
    """explain.top_activations on feature maps already computed (N, K, h, w): the k images
    whose strongest activation of ``channel`` is largest, each once, strongest first
    -> (indices, positions (k, 2) (row, col), values). Saves a forward pass per channel."""
    per_image = maps[:, channel].reshape(len(maps), -1)
    best = per_image.argmax(axis=1)
    values = per_image[np.arange(len(maps)), best]
    order = np.argsort(-values, kind="stable")[:k]
    return order, np.stack(np.unravel_index(best[order], maps.shape[2:]), axis=1), values[order]


def shifted_box(start, stop, length, limit):
    """A window of ``length`` pixels containing [start, stop), kept inside [0, limit)."""
    begin = min(max(start, 0), limit - length)
    return begin, begin + length


# (file stem, what the caption calls the net, the net, images, labels, class names, layer)
DIGITS = [str(d) for d in range(10)]
TOP_K_CASES = ([("slides", "the slides' own MNIST model", seed_model, x_digits, y_digits,
                 DIGITS, "relu2")] +
               [("deeper", "Tang et al.'s deeper network (five Fashion-MNIST classes)", deep,
                 x_fashion, y_fashion, FIVE_NAMES, layer) for layer in LAYERS])
extent = {}
for case, (stem, described, net, images, labels, names, layer) in enumerate(TOP_K_CASES):
    deconv = explain.DeconvNet(net)
    size = images.shape[2:]
    maps = explain.feature_maps(net, images, layer)
    raw = explain.receptive_field(net, layer, (0, 0))
    full = (min(raw[1] - raw[0], size[0]), min(raw[3] - raw[2], size[1]))   # the crop size
    strength = maps.max(axis=(2, 3)).mean(axis=0)                  # mean per-image max
    channels = np.argsort(-strength)[:CHANNELS]
    rows, crops_first, titles, boxes = [], None, {}, {}
    inside, spread90, side = [], [], []
    for ch in channels:
        idx, pos, values = top_k(maps, int(ch), K)
        if case == 0 and ch == channels[0]:                      # once: the library agrees
            same = [np.array_equal(a, b) for a, b in
                    zip((idx, pos, values), explain.top_activations(net, images, layer,
                                                                    int(ch), k=K))]
            print(f"   top_k on stored maps == explain.top_activations: {all(same)}")
        crops, projections, fields = [], [], []
        for n, (r, c) in zip(idx, pos):
            proj = sc.to_numpy(deconv.project(images[n:n + 1], layer, int(ch),
                                              position=(int(r), int(c)))[0])[0]   # (1, H, W)
            r0, r1, c0, c1 = explain.receptive_field(net, layer, (int(r), int(c)), size)
            energy = proj[0] ** 2
            inside.append(energy[r0:r1, c0:c1].sum() / max(energy.sum(), 1e-30))
            order = np.sort(energy[r0:r1, c0:c1].ravel())[::-1]    # pixels holding 90%
            spread90.append((np.searchsorted(np.cumsum(order), 0.9 * order.sum()) + 1)
                            / order.size)
            strong = np.argwhere(np.abs(proj[0]) > 0.1 * np.abs(proj[0]).max())
            side.append(np.ptp(strong, axis=0).max() + 1)
            # crop a box of the full receptive-field size, shifted inside the image where
            # the field runs over the border (so every crop of a layer has one size); the
            # clipped field itself is drawn dashed on the crop
            b0, b1 = shifted_box(r0, r1, full[0], size[0])
            d0, d1 = shifted_box(c0, c1, full[1], size[1])
            crops.append(images[n, :, b0:b1, d0:d1])
            projections.append(proj[:, b0:b1, d0:d1])
            fields.append((r0 - b0, r1 - b0, c0 - d0, c1 - d0, (r0, r1, c0, c1) != (b0, b1, d0, d1)))
        classes = [names[int(labels[n])] for n in idx]
        purity = max(classes.count(c) for c in set(classes))
        print(f"   {stem} {layer} channel {ch:3d}: top-{K} values [{', '.join(f'{v:.2f}' for v in values)}]"
              f", classes {classes} ({purity} of {K} the same)")
        rows += [(f"{layer} ch {ch}\ninput crop", "image", crops),
                 (f"{layer} ch {ch}\nDeconvNet", "gradient", projections)]
        boxes[len(rows) - 2] = fields
        titles[len(rows) - 2] = [f"#{n} {names[int(labels[n])]}\na={v:.2f} at "
                                 f"({r},{c})" for n, v, (r, c) in zip(idx, values, pos)]
        crops_first = crops if crops_first is None else crops_first
    box = crops_first[0].shape[1:]
    extent[f"{stem} {layer}"] = (box, np.mean(inside), np.mean(spread90), np.mean(side))
    fig = plot.method_grid(np.stack(crops_first), rows, outline_images=False, size=1.55)
    for r, row_titles in titles.items():
        for j, t in enumerate(row_titles):
            fig.panels[r, j].set_title(t, fontsize=6.5)
            f0, f1, g0, g1, clipped = boxes[r][j]
            fig.panels[r, j].images[0].set_clim(0, 1)            # crops on the image's 0..1
            plot.outline_image(fig.panels[r + 1, j], rows[r][2][j])
            for ax in (fig.panels[r, j], fig.panels[r + 1, j]) if clipped else ():
                ax.add_patch(Rectangle((g0 - 0.5, f0 - 0.5), g1 - g0, f1 - f0, fill=False,
                                       edgecolor="orange", linewidth=1.2, linestyle="--"))
    fig.suptitle(f"{described[0].upper() + described[1:]}, {layer}:\n"
                 f"top-{K} held-out images of its {CHANNELS} most active channels,\n"
                 f"cropped to the {box[0]}x{box[1]} receptive field (pixels); orange dashes:\n"
                 "the field's part inside the image where it runs over the border", fontsize=8)
    common.save(fig, args, f"2_top{K}_{stem}_{layer}.png",
                f"For the {CHANNELS} most active channels of {layer} in {described}, "
                f"the {K} held-out images that excite each "
                f"channel most, cropped to the activation's {box[0]}x{box[1]} receptive field, "
                f"and below each the DeconvNet projection of that single activation (signed, one "
                f"scale per row, the crop's outline in grey), cropped to the same box; where the field runs over the image border the box is shifted inside and the field's part in the image is dashed orange. Look at whether the five crops of a "
                f"channel share a pattern, and which of their pixels the projection keeps. "
                f"Reproduces Zeiler & Fergus 2014, Fig. 2, and the slides' top-5 activations.")
print("   DeconvNet projections by depth (means over the top-5 projections shown):")
for layer, (box, inside, spread, side) in extent.items():
    print(f"     {layer}: receptive field {box[0]}x{box[1]}, energy inside it "
          f"{100 * inside:.1f}%, 90% of the energy on {100 * spread:.0f}% of its pixels, "
          f"pixels above 10% of the peak span {side:.1f} px")

# --- 4. Visualization during training (the slides' "Layer 2, Feature Map 3") -----------------
LAYER, EPOCHS, SHOT_AT, FOLLOW = "pool1", 5, (0, 1, 2, 5), 3
snap_path = args.models / f"lesson07-snapshots{'-quick' if args.quick else ''}.npz"
(x_train, y_train), _ = common.load_data("mnist", args.quick)
PROBE = 64 if args.quick else 200
probe, probe_y = x_digits[-PROBE:], y_digits[-PROBE:]          # a fixed held-out probe set


def weights_of(model):
    """A copy of every parameter, to rebuild the model as it was at this moment."""
    return [{k: sc.to_numpy(v).copy() for k, v in layer.params.items()} for layer in model.layers]


def rebuilt(weights):
    model = zoo.slides_mnist_model(seed=1)
    for layer, params in zip(model.layers, weights):
        layer.params.update(params)
    return model.eval()


if snap_path.exists():
    print(f"   loaded the training snapshots from {snap_path}")
    saved = np.load(snap_path)
    snaps = {e: {k: saved[f"{k}_{e}"] for k in ("image", "position", "value", "projection",
                                                 "filter")} for e in SHOT_AT}
    chosen, accuracy = saved["chosen"].tolist(), dict(zip(SHOT_AT, saved["accuracy"]))
else:
    fresh = zoo.slides_mnist_model(seed=1)
    n_train = 256 if args.quick else 2000
    states = {0: weights_of(fresh)}
    accuracy = {0: sc.evaluate(fresh, probe, probe_y)["accuracy"]}

    def snapshot(model, epoch, history, batch):
        """fit's callback: keep the weights after the SHOT_AT epochs (cheap; the
        projections are computed from them afterwards)."""
        if epoch in SHOT_AT:
            states[epoch] = weights_of(model)
            accuracy[epoch] = history["val_accuracy"][-1]

    started = time.perf_counter()
    sc.fit(fresh, sc.Adam(fresh, lr=1e-3), x_train[:n_train], y_train[:n_train],
           epochs=1 if args.quick else EPOCHS, batch_size=64, seed=0,
           validation=(probe, probe_y), callbacks=[snapshot],
           max_batches=2 if args.quick else None, verbose=False)
    for e in SHOT_AT:                                            # quick mode: repeat the last
        states.setdefault(e, states[max(states)])
        accuracy.setdefault(e, accuracy[max(accuracy)])
    models = {e: rebuilt(states[e]) for e in SHOT_AT}
    maps = {e: explain.feature_maps(m, probe, LAYER) for e, m in models.items()}
    final = maps[SHOT_AT[-1]].max(axis=(0, 2, 3))                # top-1 value per channel
    chosen = [3] + [int(c) for c in np.argsort(-final) if c != 3][:FOLLOW - 1]
    snaps = {}
    for e, m in models.items():
        net, shot = explain.DeconvNet(m), dict(image=[], position=[], value=[], projection=[])
        for ch in chosen:
            idx, pos, values = top_k(maps[e], ch, 1)
            n, (r, c) = int(idx[0]), pos[0]
            shot["image"].append(n)
            shot["position"].append((int(r), int(c)))
            shot["value"].append(float(values[0]))
            shot["projection"].append(
                sc.to_numpy(net.project(probe[n:n + 1], LAYER, ch, position=(int(r), int(c)))[0])[0])
        shot = {k: np.array(v) for k, v in shot.items()}
        shot["filter"] = states[e][2]["W"][chosen]                 # conv2: pool1's filters
        snaps[e] = shot
    print(f"   trained a fresh slides' model on {n_train} digits for "
          f"{1 if args.quick else EPOCHS} epochs, snapshots and projections included: "
          f"{time.perf_counter() - started:.1f} s")
    np.savez(snap_path, accuracy=np.array([accuracy[e] for e in SHOT_AT]), chosen=chosen,
             **{f"{k}_{e}": v for e in SHOT_AT for k, v in snaps[e].items()})

last = snaps[SHOT_AT[-1]]
print(f"   {LAYER} channels followed: {chosen} (channel 3 as in the slides, and the two with the "
      f"largest top-1 activation after epoch {SHOT_AT[-1]})")
print("   epoch:                       " + "  ".join(f"{e:>6}" for e in SHOT_AT))
print("   probe accuracy (%):          " + "  ".join(f"{100 * accuracy[e]:6.1f}" for e in SHOT_AT))
WINDOW = 14                                                      # a zoom around the field
rows, marks = [], []
geometry = zoo.slides_mnist_model()                               # for receptive fields
for i, ch in enumerate(chosen):
    w_last = last["filter"][i].ravel()
    cosine = [float(snaps[e]["filter"][i].ravel() @ w_last / np.linalg.norm(snaps[e]["filter"][i])
                    / np.linalg.norm(w_last)) for e in SHOT_AT]
    print(f"   ch {ch:2d} top-1 activation:       " +
          "  ".join(f"{snaps[e]['value'][i]:6.2f}" for e in SHOT_AT))
    print(f"   ch {ch:2d} top-1 probe image:      " +
          "  ".join(f"{int(snaps[e]['image'][i]):6d}" for e in SHOT_AT))
    print(f"   ch {ch:2d} cos(conv2 filter, final):" + "  ".join(f"{c:6.2f}" for c in cosine))
    crops, shots, fields = [], [], []
    for e in SHOT_AT:
        r0, r1, c0, c1 = explain.receptive_field(geometry, LAYER, tuple(snaps[e]["position"][i]),
                                                 size)
        b0, b1 = shifted_box(r0 - (WINDOW - (r1 - r0)) // 2, r1, WINDOW, size[0])
        d0, d1 = shifted_box(c0 - (WINDOW - (c1 - c0)) // 2, c1, WINDOW, size[1])
        crops.append(probe[int(snaps[e]["image"][i]), :, b0:b1, d0:d1])
        shots.append(snaps[e]["projection"][i][:, b0:b1, d0:d1])
        fields.append((r0 - b0, r1 - b0, c0 - d0, c1 - d0, int(snaps[e]["image"][i])))
    rows += [(f"ch {ch}: top-1 digit", "image", crops), (f"ch {ch}: DeconvNet", "gradient", shots)]
    marks.append(fields)
fig = plot.method_grid(probe[:len(SHOT_AT)], rows, outline_images=False,
                       column_titles=[f"after epoch {e}" + (" (random)" if e == 0 else "") +
                                      f"\nprobe acc {100 * accuracy[e]:.0f}%" for e in SHOT_AT],
                       size=1.9)
for i, row_marks in enumerate(marks):
    for j, (r0, r1, c0, c1, n) in enumerate(row_marks):
        crop_ax, shot_ax = fig.panels[2 * i, j], fig.panels[2 * i + 1, j]
        crop_ax.images[0].set_clim(0, 1)
        crop_ax.set_xlabel(f"probe #{n}", fontsize=7, labelpad=1)
        plot.outline_image(shot_ax, rows[2 * i][2][j])
        for ax, colour in ((crop_ax, "orange"), (shot_ax, "black")):
            ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False,
                                   edgecolor=colour, linewidth=1.2, linestyle="--"))
common.save(fig, args, "3_during_training.png",
            f"The DeconvNet projection of the strongest activation, over {PROBE} held-out digits, of "
            f"{LAYER} channels {chosen} of a freshly trained slides' model, after epochs "
            f"{', '.join(map(str, SHOT_AT))} (0 = random weights); each column zoomed to a {WINDOW}x{WINDOW} window: the top-1 digit, then the signed "
            f"projection (one scale per row) with the digit's outline in grey; dashes mark the "
            f"{LAYER} activation's receptive field. Look at how "
            f"each row's pattern settles from epoch 1 to 5. Reproduces the Bochum slides' "
            f"'Visualisation during training (Layer 2, Feature Map 3)'.")

print(f"   lesson run time {time.perf_counter() - tick:.1f} s")
print("What to look at:")
print("  * 1_feature_maps_*: one scale per layer, so the 'weak' and 'constant 0' panels are the")
print("    (nearly) silent channels counted above; each bright one lights a different stroke part.")
print("  * 2_top5_*: the crops grow with depth (the receptive fields printed above); the")
print("    projection keeps only part of each box (the '90% of the energy' line).")
print("  * 3_during_training: compare each row left to right with the printed filter cosines")
print("    and top-1 activations: the pattern forms in the first epochs and then sharpens.")
