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
    model's Layer 4 / Layer 5);
  * what the layers of a deeper COLOUR network ask for: channel activation maximization
    (Tang et al., sec. 3.2: 20 steps of gradient ascent on a channel's mean activation
    from N(0, 1) noise) at every one of its six conv layers, with two numbers per layer
    for what the ascent added: the share of its energy in one uniform colour, and the
    typical wavelength of the rest (Tang et al. Fig. 3.2.1-3.2.3: colour at the first
    layer, textures later, parts of objects at the last).
Substitutions: the slides' "deeper model" was trained on the rock-paper-scissors data set
(2,520 colour images of 300x300 pixels, three classes), which is not here. Its place is
taken by Tang et al.'s deeper network (conv-relu-pool-bn four times, seed 004) trained on
five Fashion-MNIST classes (28x28 grey): the deep net of sections 2 and 3 is Tang's, not the
slides'. Tang et al.'s colour-to-parts finding comes from VGG16 (13 conv layers) trained on
ImageNet, neither of which is here: section 5 uses a six-conv VGG-style network
(zoo.vgg_colour_model) trained on colour_shapes, 32x32 procedural colour objects whose eight
classes differ in hue (one pixel), texture (stripes or dots, a few pixels) and shape (disc
or cross, most of the image).
Sources: Zeiler & Fergus 2014 (sec. 2.1, 4, Fig. 2); the Bochum slides (seed 003);
Tang et al. (seed 004), Fig. 2.2, sec. 3.2 and Fig. 3.2.1-3.2.3.
"""
import time

import numpy as np
from matplotlib.patches import Rectangle

import scratchcnn as sc
from scratchcnn import explain, plot, zoo
from scratchcnn.datasets.colour_shapes import CLASS_NAMES as COLOUR_NAMES
from scratchcnn.datasets.colour_shapes import class_cues, colour_shapes
from scratchcnn.explain import maximize

import common

args = common.start(__file__, __doc__)
tick = time.perf_counter()
FASHION = sc.datasets.CLASS_NAMES["fashion-mnist"]
FIVE_NAMES = [FASHION[c] for c in common.FIVE_CLASSES]

# --- 1. Feature maps of one digit 7 (Tang et al. Fig. 2.2) ---------------------------------
seed_model, _ = common.seed_model(args, "mnist")
tang, tang_history = common.tang_mnist_model(args)
_, (x_digits, y_digits) = common.load_data("mnist", args.quick)
print("   the slides' model:", " -> ".join(seed_model.names))
print("   Tang et al.'s MNIST net:", " -> ".join(tang.names), f"(held-out accuracy "
      f"{100 * tang_history['val_accuracy'][-1]:.1f}% after {len(tang_history['val_accuracy'])} "
      f"epoch(s) on our {len(common.load_data('mnist', args.quick)[0][0])}-image MNIST; the paper: "
      "98.2% test on the full 60,000)")
seven = int(np.flatnonzero(y_digits == 7)[0])
x7 = x_digits[seven:seven + 1]
SILENT, WEAK = 0.05, 0.25              # "nearly silent" below 5% of the layer's max, weak < 25%


def feature_map_figure(model, described, stem, conv, relu):
    """Every channel of ``relu`` for the test 7, on one shared scale; the panel title says
    when a channel is weak (its max under 25% of the layer's) in a font that reads."""
    maps = explain.feature_maps(model, x7, relu)[0]                  # (K, h, w)
    top = maps.max(axis=(1, 2))
    silent, dead = int((top < SILENT * maps.max()).sum()), int((top == 0).sum())
    share = np.sort(maps.sum(axis=(1, 2)))[::-1]
    top4 = 100 * share[:4].sum() / max(share.sum(), 1e-12)
    weak = int((top < WEAK * maps.max()).sum())
    # where the strong channels' activation lies: on the stroke or beside it. Each map pixel
    # is scored by the input pixel at the centre of its receptive field
    centre = np.zeros(maps.shape[1:], bool)
    for i in range(maps.shape[1]):
        for j in range(maps.shape[2]):
            r0, r1, c0, c1 = explain.receptive_field(model, relu, (i, j))
            r, c = np.clip([(r0 + r1 - 1) // 2, (c0 + c1 - 1) // 2], 0, 27)
            centre[i, j] = x7[0, 0, r, c] > 0.5
    strong = [k for k in range(len(maps)) if top[k] >= WEAK * maps.max()]
    on_stroke = [maps[k][centre].sum() / maps[k].sum() for k in strong]
    along, beside = sum(f > 0.6 for f in on_stroke), sum(f < 0.4 for f in on_stroke)
    print(f"   {described}, {relu} ({maps.shape[0]} channels, {maps.shape[1]}x{maps.shape[2]}) "
          f"for test digit #{seven} (a 7): nearly silent channels: {silent} (max < "
          f"{100 * SILENT:.0f}% of the layer's max {maps.max():.2f}), of them exactly zero: "
          f"{dead}; under {100 * WEAK:.0f}% of it: {weak}; the 4 strongest channels carry "
          f"{top4:.0f}% of the layer's total activation; of the {len(strong)} others, {along} "
          f"mostly on the stroke, {beside} mostly beside it")
    fig = plot.map_grid(maps, "positive", columns=8, size=1.75,
                        title=f"{relu} = ReLU({conv}) of {described} for one test 7: all "
                              f"{len(maps)} channels ({maps.shape[1]}x{maps.shape[2]}) on ONE "
                              f"shared scale (0 to {maps.max():.2f})")
    for k, ax in enumerate(fig.axes[:len(maps)]):
        for text in list(ax.texts):                  # the small note: into the title instead
            text.remove()
        note = ("silent (0)" if top[k] == 0 else
                f"weak: {100 * top[k] / maps.max():.1f}%" if top[k] < WEAK * maps.max() else "")
        ax.set_title(f"ch {k}" + (f"  {note}" if note else ""), fontsize=10,
                     color="firebrick" if note else "black")
    common.save(fig, args, f"1_feature_maps_{stem}_{relu}.png",
                f"Every channel of {relu}, the ReLU after {conv} of {described}, for one "
                f"held-out 7, all on one shared viridis scale from 0. Look at how unevenly "
                f"the channels share the work: {silent} of {len(maps)} stay below "
                f"{100 * SILENT:.0f}% of the layer's maximum ({dead} exactly 0, titled "
                f"'silent'), {weak} stay below {100 * WEAK:.0f}% of it (titled in red with "
                f"their maximum as a percentage of the layer's), and the 4 strongest carry "
                f"{top4:.0f}% of the layer's total activation. Of the {len(strong)} channels "
                f"above {100 * WEAK:.0f}%, {along} put most (over 60%) of their activation "
                f"where the pixel at the centre of its receptive field is stroke, and "
                f"{beside} most beside the stroke (its edges and surroundings; the rest in "
                f"between). Reproduces the per-layer feature maps of Tang et al., Fig. 2.2"
                + (" (on their own MNIST network: two 3x3 stride-2 convolutions, 32 and 64 "
                   "channels, each followed by a 2x2 max pool)." if stem == "tang" else
                   ", here on the slides' model."))
    return maps


for conv, relu in (("conv1", "relu1"), ("conv2", "relu2")):
    feature_map_figure(seed_model, "the slides' MNIST model", "slides", conv, relu)
for conv, relu in (("conv1", "relu1"), ("conv2", "relu2")):
    feature_map_figure(tang, "Tang et al.'s MNIST net", "tang", conv, relu)

# --- 2. Receptive fields --------------------------------------------------------------------
deep, deep_history = common.tang_deep_model(args)
_, (x_fashion, y_fashion) = common.five_class_data(args.quick)
deep_epochs, PAPER_DEEP_EPOCHS = len(deep_history["val_accuracy"]), 5
print("   Tang et al.'s deeper network, on five Fashion-MNIST classes (standing in for the "
      "slides' rock-paper-scissors model, whose data is not here; held-out accuracy "
      f"{100 * deep_history['val_accuracy'][-1]:.1f}% after {deep_epochs} epoch"
      f"{'s' if deep_epochs > 1 else ''}, where the paper trains {PAPER_DEEP_EPOCHS} (see "
      "common.TANG_DEEP_RECIPE); the paper's 0.801 test accuracy is on five ImageNet "
      "classes):", " -> ".join(deep.names))
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


# relu4 is left out of the top-k figures: at every position of its 3x3 map its receptive
# field covers the whole 28x28 image, so its "crops" would be whole images.
r0, r1, c0, c1 = explain.receptive_field(deep, "relu4", (1, 1))
print(f"   top-k: the deeper net's relu2 and relu3 only; relu4's field at (1, 1) spans rows "
      f"{r0}..{r1 - 1} and cols {c0}..{c1 - 1}, more than the 28x28 image, so its crops "
      "would be whole images (lesson 07's colour network below shows the deep end)")
# The sign of a DeconvNet projection: its last step is conv1's transposed filter applied to
# a rectified (non-negative) signal, so the projection is a non-negative mix of conv1's
# filters. On the deeper net the signal reaches conv1 through bn1, which multiplies each
# channel by gamma / sqrt(running_var + eps): channels that hardly vary on the data get
# the largest factors. NEAR_CONSTANT names those whose factor is over 10x the median.
bn1 = deep["bn1"]
running_var = sc.to_numpy(bn1.buffers["running_var"])
bn_scale = sc.to_numpy(bn1.params["gamma"]) / (running_var + bn1.eps) ** 0.5
NEAR_CONSTANT = [int(k) for k in np.flatnonzero(bn_scale > 10 * np.median(bn_scale))]
filter_sums = sc.to_numpy(deep["conv1"].params["W"]).sum(axis=(1, 2, 3))
print(f"   bn1's factor gamma/sqrt(running var + eps): median {np.median(bn_scale):.1f}; " +
      ("no conv1 channel's factor is over 10x that" if not NEAR_CONSTANT else
       f"over 10x that in conv1 channels {NEAR_CONSTANT} (factors "
      f"{', '.join(f'{bn_scale[k]:.0f}' for k in NEAR_CONSTANT)}; running variances "
      f"{', '.join(f'{float(running_var[k]):.1g}' for k in NEAR_CONSTANT)}; "
      f"their conv1 filters sum to {', '.join(f'{filter_sums[k]:.2f}' for k in NEAR_CONSTANT)})"))


def without_channels(net, image, layer, channel, position, drop):
    """The DeconvNet projection of one activation minus what reaches the pixels through the
    conv1 channels ``drop``: the projection is linear in the rectified signal at relu1, so
    it splits exactly into one part per conv1 channel. Computed with backward's
    "deconvnet" rule (which equals the explicit DeconvNet, tests/test_explain_deconvnet.py):
    down to relu1's output, those channels zeroed, then relu1 and conv1 as before.
    returns (projection without them (C, H, W), their share of the signal's energy at relu1)."""
    net.forward(image)
    seed, _ = explain.top_activation_seed(net.outputs[layer], channel, position)
    at_relu1 = net.backward(seeds={layer: seed}, relu_rule="deconvnet", stop="relu1",
                            param_grads=False)
    energy = (np.maximum(sc.to_numpy(at_relu1), 0) ** 2).sum(axis=(0, 2, 3))
    kept = at_relu1.copy()
    kept[:, drop] = 0
    rest = net.backward(seeds={"relu1": kept}, relu_rule="deconvnet", param_grads=False)
    return sc.to_numpy(rest)[0], energy[drop].sum() / max(energy.sum(), 1e-30)


def negative_share(maps):
    """The share of sum |p| over the given maps that sits in negative pixels."""
    values = np.concatenate([np.ravel(m) for m in maps])
    return np.clip(-values, 0, None).sum() / max(np.abs(values).sum(), 1e-30)


# (file stem, what the caption calls the net, the net, images, labels, class names, layer)
DIGITS = [str(d) for d in range(10)]
TOP_K_CASES = ([("slides", "the slides' own MNIST model", seed_model, x_digits, y_digits,
                 DIGITS, "relu2")] +
               [("deeper", "Tang et al.'s deeper network (five Fashion-MNIST classes)", deep,
                 x_fashion, y_fashion, FIVE_NAMES, layer) for layer in LAYERS[:2]])
extent = {}
for case, (stem, described, net, images, labels, names, layer) in enumerate(TOP_K_CASES):
    deconv = explain.DeconvNet(net)
    has_bn = stem == "deeper" and bool(NEAR_CONSTANT)    # split off the amplified channels
    size = images.shape[2:]
    maps = explain.feature_maps(net, images, layer)
    raw = explain.receptive_field(net, layer, (0, 0))
    full = (min(raw[1] - raw[0], size[0]), min(raw[3] - raw[2], size[1]))   # the crop size
    strength = maps.max(axis=(2, 3)).mean(axis=0)                  # mean per-image max
    channels = np.argsort(-strength)[:CHANNELS]
    rows, crops_first, titles, boxes = [], None, {}, {}
    inside, spread90, side = [], [], []
    all_projections, all_rest, shares = [], [], []
    for ch in channels:
        idx, pos, values = top_k(maps, int(ch), K)
        if case == 0 and ch == channels[0]:                      # once: the library agrees
            same = [np.array_equal(a, b) for a, b in
                    zip((idx, pos, values), explain.top_activations(net, images, layer,
                                                                    int(ch), k=K))]
            print(f"   top_k on stored maps == explain.top_activations: {all(same)}")
        crops, projections, fields, rests = [], [], [], []
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
            all_projections.append(proj)
            if has_bn:
                rest, share = without_channels(net, images[n:n + 1], layer, int(ch),
                                               (int(r), int(c)), NEAR_CONSTANT)
                rests.append(rest[:, b0:b1, d0:d1])
                all_rest.append(rest)
                shares.append(share)
            fields.append((r0 - b0, r1 - b0, c0 - d0, c1 - d0, (r0, r1, c0, c1) != (b0, b1, d0, d1)))
        classes = [names[int(labels[n])] for n in idx]
        purity = max(classes.count(c) for c in set(classes))
        print(f"   {stem} {layer} channel {ch:3d}: top-{K} values [{', '.join(f'{v:.2f}' for v in values)}]"
              f", classes {classes} ({purity} of {K} the same)")
        # one scale per row, announced: each projection divided by the row's largest |value|
        peak = max(float(np.abs(p).max()) for p in projections) or 1.0
        rows += [(f"{layer} ch {ch}\ninput crop", "image", crops),
                 (f"{layer} ch {ch}\nDeconvNet\n/ {peak:.3g}", "gradient",
                  [p / peak for p in projections])]
        if has_bn:
            rows.append((f"ch {ch}: without\nconv1 ch {','.join(map(str, NEAR_CONSTANT))}"
                         f"\n/ {peak:.3g}", "gradient", [p / peak for p in rests]))
        first_row = len(rows) - (3 if has_bn else 2)
        boxes[first_row] = fields
        titles[first_row] = [f"#{n} {names[int(labels[n])]}\na={v:.2f} at "
                             f"({r},{c})" for n, v, (r, c) in zip(idx, values, pos)]
        crops_first = crops if crops_first is None else crops_first
    box = crops_first[0].shape[1:]
    negative = negative_share(all_projections)
    extent[f"{stem} {layer}"] = (box, np.mean(inside), np.mean(spread90), np.mean(side), negative)
    fig = plot.method_grid(np.stack(crops_first), rows, outline_images=False, size=1.45)
    for r, row_titles in titles.items():
        for j, t in enumerate(row_titles):
            fig.panels[r, j].set_title(t, fontsize=6.5)
            f0, f1, g0, g1, clipped = boxes[r][j]
            fig.panels[r, j].images[0].set_clim(0, 1)            # crops on the image's 0..1
            below = [fig.panels[r + 1 + extra, j] for extra in range(2 if has_bn else 1)]
            for ax in below:
                plot.outline_image(ax, rows[r][2][j])
            for ax in [fig.panels[r, j]] + below if clipped else ():
                ax.add_patch(Rectangle((g0 - 0.5, f0 - 0.5), g1 - g0, f1 - f0, fill=False,
                                       edgecolor="orange", linewidth=1.2, linestyle="--"))
    fig.suptitle(f"{described[0].upper() + described[1:]}, {layer}:\n"
                 f"top-{K} held-out images of its {CHANNELS} most active channels,\n"
                 f"cropped to the {box[0]}x{box[1]} receptive field (pixels); DeconvNet rows\n"
                 "divided by the row's largest |value| (given after '/'), so -1..1", fontsize=8)
    sign = (f"The projections are signed: {100 * negative:.0f}% of their total |value| is "
            f"negative. A DeconvNet projection ends with conv1's transposed filters applied to "
            f"a rectified (non-negative) signal, so it is a non-negative mix of conv1's "
            f"filters: a pixel is red where the filters it mixes have positive weights there "
            f"(the channel's pattern has brightness there), blue where they have negative ones "
            f"(darkness there).")
    if has_bn:
        rest_negative = negative_share(all_rest)
        mean_share = float(np.mean(shares))
        sign += (f" In this network the signal reaches conv1 through bn1, which multiplies "
                 f"conv1 channel k by gamma_k / sqrt(running_var_k + eps); in channels "
                 f"{NEAR_CONSTANT} that factor is {bn_scale[NEAR_CONSTANT].min():.0f}-"
                 f"{bn_scale[NEAR_CONSTANT].max():.0f}, over 10x the median "
                 f"{np.median(bn_scale):.1f}, because they hardly vary on the data. "
                 f"{'Most' if mean_share > 0.5 else 'A part'} ({100 * mean_share:.0f}% on "
                 f"average) of the signal's energy at relu1 goes through them, and their "
                 f"filters sum to {', '.join(f'{filter_sums[k]:.1f}' for k in NEAR_CONSTANT)}"
                 + (": hence the blue. " if negative > 0.5 and
                    all(filter_sums[k] < 0 for k in NEAR_CONSTANT) else ". ")
                 + f"The third row of each channel is the same projection without their part "
                 f"(an exact split: the projection is linear in the signal at relu1), divided "
                 f"by the same number as the row above it, so its colourbar shows how small "
                 f"the rest is next to the whole; {100 * rest_negative:.0f}% of its |value| is "
                 f"negative.")
    common.save(fig, args, f"2_top{K}_{stem}_{layer}.png",
                f"For the {CHANNELS} most active channels of {layer} in {described}, "
                f"the {K} held-out images that excite each "
                f"channel most, cropped to the activation's {box[0]}x{box[1]} receptive field, "
                f"and below each the DeconvNet projection of that single activation, cropped to "
                f"the same box, divided by the row's largest |value| (the number after '/' in "
                f"the row label, in the DeconvNet's arbitrary units), so each channel's projection "
                f"row reads on a -1..1 scale (the crop's outline in grey); where the field runs over the "
                f"image border the box is shifted inside and the field's part in the image is "
                f"dashed orange. {sign} Look at whether the five crops of a channel share a "
                f"pattern, and which of their pixels the projection keeps. "
                f"Reproduces Zeiler & Fergus 2014, Fig. 2, and the slides' top-5 activations.")
print("   DeconvNet projections by depth (means over the top-5 projections shown):")
for layer, (box, inside, spread, side, negative) in extent.items():
    print(f"     {layer}: receptive field {box[0]}x{box[1]}, energy inside it "
          f"{100 * inside:.1f}%, 90% of the energy on {100 * spread:.0f}% of its pixels, "
          f"pixels above 10% of the peak span {side:.1f} px, negative share of |value| "
          f"{100 * negative:.0f}%")

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
rows, marks, peaks, settled = [], [], [], {}
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
    settled[ch] = next(e for e, c in zip(SHOT_AT, cosine) if c >= 0.9)   # the last is 1.0
    crops, shots, fields = [], [], []
    for e in SHOT_AT:
        r0, r1, c0, c1 = explain.receptive_field(geometry, LAYER, tuple(snaps[e]["position"][i]),
                                                 size)
        b0, b1 = shifted_box(r0 - (WINDOW - (r1 - r0)) // 2, r1, WINDOW, size[0])
        d0, d1 = shifted_box(c0 - (WINDOW - (c1 - c0)) // 2, c1, WINDOW, size[1])
        crops.append(probe[int(snaps[e]["image"][i]), :, b0:b1, d0:d1])
        # each panel on its own scale: divided by its peak |value| (written under it), so a
        # small early projection shows its pattern instead of reading as "weak"
        shot = snaps[e]["projection"][i][:, b0:b1, d0:d1]
        peak = float(np.abs(snaps[e]["projection"][i]).max())
        shots.append(shot / max(peak, 1e-30))
        peaks.append(peak)
        fields.append((r0 - b0, r1 - b0, c0 - d0, c1 - d0, int(snaps[e]["image"][i]), peak))
    rows += [(f"ch {ch}: top-1 digit", "image", crops),
             (f"ch {ch}: DeconvNet\n/ its own peak", "gradient", shots)]
    marks.append(fields)
fig = plot.method_grid(probe[:len(SHOT_AT)], rows, outline_images=False,
                       column_titles=[f"after epoch {e}" + (" (random)" if e == 0 else "") +
                                      f"\nprobe acc {100 * accuracy[e]:.0f}%" for e in SHOT_AT],
                       size=1.9)
for i, row_marks in enumerate(marks):
    for j, (r0, r1, c0, c1, n, peak) in enumerate(row_marks):
        crop_ax, shot_ax = fig.panels[2 * i, j], fig.panels[2 * i + 1, j]
        crop_ax.images[0].set_clim(0, 1)
        crop_ax.set_xlabel(f"probe #{n}", fontsize=7, labelpad=1)
        shot_ax.set_xlabel(f"peak |value| {peak:.2g}", fontsize=8, labelpad=1)
        plot.outline_image(shot_ax, rows[2 * i][2][j])
        for ax, colour in ((crop_ax, "orange"), (shot_ax, "black")):
            ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False,
                                   edgecolor=colour, linewidth=1.2, linestyle="--"))
first, final = np.array(peaks).reshape(len(chosen), len(SHOT_AT))[:, [0, -1]].T
early = [ch for ch, e in settled.items() if e <= SHOT_AT[2]]
common.save(fig, args, "3_during_training.png",
            f"The DeconvNet projection of the strongest activation, over {PROBE} held-out digits, of "
            f"{LAYER} channels {chosen} of a freshly trained slides' model, after epochs "
            f"{', '.join(map(str, SHOT_AT))} (0 = random weights); each column zoomed to a "
            f"{WINDOW}x{WINDOW} window: the top-1 digit, then the signed projection with the "
            f"digit's outline in grey, EACH PANEL ON ITS OWN SCALE: divided by its own peak "
            f"|value|, which is written under it (so an early, small projection shows its "
            f"pattern rather than reading as weak: the peaks grow from "
            f"{first.min():.2g}-{first.max():.2g} at epoch 0 to {final.min():.2g}-"
            f"{final.max():.2g} at epoch {SHOT_AT[-1]}); dashes mark the {LAYER} activation's "
            f"receptive field. Look at the pattern, not the colour depth: "
            + (f"the conv2 filters of channels {early} are within cosine 0.9 of their final "
               f"form by epoch {SHOT_AT[2]}" if early else
               f"no conv2 filter is within cosine 0.9 of its final form by epoch {SHOT_AT[2]}")
            + ", as printed: "
            + ", ".join(f"ch {ch} from epoch {e}" for ch, e in settled.items())
            + ". Reproduces the Bochum slides' 'Visualisation during training (Layer 2, "
            "Feature Map 3)'.")

# --- 5. Colour, texture, parts: channel activation maximization at every layer (Tang 3.2) --
# Tang et al. ran this on VGG16 (13 conv layers, ImageNet), which is not here: the stand-in
# is zoo.vgg_colour_model (six 3x3 conv layers, VGG-style) trained on colour_shapes, eight
# classes that differ in colour (one pixel), texture (a few pixels) and shape (the image).
print("   Substitution: Tang et al.'s VGG16 on ImageNet is not here; a six-conv VGG-style "
      "network (zoo.vgg_colour_model) trained on colour_shapes (32x32 procedural colour "
      "objects, 8 classes: warm/cool hue x stripes/dots x disc/cross) stands in for it.")
COLOUR_LAYERS = [f"relu{k}" for k in range(1, 7)]
count = 300 if args.quick else 3000
x_colour, y_colour, _ = colour_shapes(count, size=32, seed=0)
split = int(0.8 * count)
colour_net, colour_history = common.trained(
    args, "vgg-colour-shapes", zoo.vgg_colour_model,
    ((x_colour[:split], y_colour[:split]), (x_colour[split:], y_colour[split:])),
    epochs=6, lr=2e-3, batch_size=32, lr_decay=0.8)
x_held, y_held = x_colour[split:], y_colour[split:]
predicted = sc.predict(colour_net, x_held).argmax(axis=1)
truth, guess = (np.array([class_cues(int(c)) for c in v]) for v in (y_held, predicted))
cue_accuracy = (truth == guess).mean(axis=0)              # colour, texture, shape right
print(f"   the colour network (standing in for Tang et al.'s VGG16 on ImageNet): "
      f"{' -> '.join(colour_net.names)}; held-out accuracy "
      f"{100 * colour_history['val_accuracy'][-1]:.1f}% on the 8 classes of colour_shapes "
      f"after {len(colour_history['val_accuracy'])} epoch(s); each cue right: colour "
      f"{100 * cue_accuracy[0]:.1f}%, texture {100 * cue_accuracy[1]:.1f}%, shape "
      f"{100 * cue_accuracy[2]:.1f}%")
shown = [int(np.flatnonzero(y_colour == c)[0]) for c in range(8)]
fig = plot.image_grid(x_colour[shown], [COLOUR_NAMES[int(y_colour[i])] for i in shown],
                      columns=8, size=1.6, title="colour_shapes: one image of each class "
                      "(32x32 RGB); class = colour x texture x shape")
common.save(fig, args, "4_colour_shapes.png",
            "One image of each of the eight classes of colour_shapes, the colour data standing "
            "in for Tang et al.'s ImageNet: warm or cool hue (visible in any one pixel), "
            "stripes or dots (visible over a few pixels), disc or cross (visible only over most "
            "of the image). Look at which pairs differ in one cue only: the network must see all "
            "three scales to tell the eight apart.")

STEPS, FIRST_STEP = (3 if args.quick else 20), 0.25   # Tang et al.: 20 steps from N(0, 1)
MEASURED, SHOWN = (1, 1) if args.quick else (8, 4)
TEXTURE_PERIOD = (4, 6)                # colour_shapes' stripes and dots, in pixels
strength = {layer: sc.activations(colour_net, x_held[:200], layer).mean(axis=(0, 2, 3))
            for layer in COLOUR_LAYERS}
freq = np.hypot(*np.meshgrid(np.fft.fftfreq(32), np.fft.fftfreq(32), indexing="ij"))


def plain_ascent(layer, channel):
    """Tang et al. sec. 3.2 on one channel: 20 steps of plain gradient ascent on its mean
    activation from N(0, 1) noise (explain.maximize_activation). The step size is set so
    that the FIRST step moves the image by FIRST_STEP times the start noise's norm (the
    gradient's size differs by orders of magnitude between layers; Tang et al. do not give
    theirs). returns (image (3, 32, 32), what the ascent added I_20 - I_0, A_0, A_20, dead)."""
    start = np.random.default_rng(channel).standard_normal((1, 3, 32, 32)).astype(np.float32)
    _, gradient = maximize.channel_objective(colour_net, start, layer, channel)
    lr = FIRST_STEP * np.linalg.norm(start) / max(float(np.linalg.norm(gradient)), 1e-30)
    image, history, dead = explain.maximize_activation(colour_net, layer, channel,
                                                       image_shape=(3, 32, 32), steps=STEPS,
                                                       lr=lr, seed=channel)
    return image[0], (image - start)[0], history[0], history[-1], dead


# Olah et al. 2017's regularizers (explain.maximize's arguments): a 1/f Fourier
# parameterization, 1-pixel jitter, pixels squashed into 0..1, steps of a fixed RMS size
REGULARIZED = dict(fourier=True, jitter=1, value_range=(0.0, 1.0), normalized_steps=True)
REGULARIZED_STEPS, REGULARIZED_STEP = (3 if args.quick else 40), 0.05


def regularized_ascent(layer, channel):
    """The same objective with REGULARIZED, from noise around mid-grey 0.5 (the start of a
    value_range ascent). returns (image, what the ascent added (about I - 0.5), A_0, A_T, dead)."""
    image, history, dead = explain.maximize_activation(
        colour_net, layer, channel, image_shape=(3, 32, 32), steps=REGULARIZED_STEPS,
        lr=REGULARIZED_STEP, seed=channel, **REGULARIZED)
    return image[0], image[0] - 0.5, history[0], history[-1], dead


def measures(change):
    """Two numbers for what an ascent added, change (3, H, W):
    uniform = the share of its energy in one uniform colour, ||mean_xy||^2 H W / ||change||^2
              (1: a flat colour; 0: no colour cast at all);
    wavelength = 1 / (the power-weighted mean spatial frequency of the rest), in pixels
              (2: a one-pixel checkerboard; larger: larger patterns)."""
    flat = change.mean(axis=(1, 2), keepdims=True)
    uniform = float((flat ** 2).sum() * change[0].size / max((change ** 2).sum(), 1e-30))
    power = (np.abs(np.fft.fft2(change - flat)) ** 2).sum(axis=0)
    return uniform, float(power.sum() / max((power * freq).sum(), 1e-30))


def layer_figure(ascent, measured, label, how, name, reproduces):
    """A row per conv layer: the maximizing images of its SHOWN most active channels (of
    the ``measured`` most active, which the row's medians describe). returns the medians
    {layer: (uniform, wavelength)} and the verdict sentence."""
    rows, titles, table, stuck = [], [], {}, 0
    for layer in COLOUR_LAYERS:
        channels = [int(k) for k in np.argsort(-strength[layer])[:measured]]
        runs = [ascent(layer, k) for k in channels]
        alive = [(k, run) for k, run in zip(channels, runs) if not run[4]]
        stuck += len(runs) - len(alive)
        values = np.array([measures(run[1]) for _, run in alive]).reshape(-1, 2)
        table[layer] = np.median(values, axis=0) if len(values) else np.full(2, np.nan)
        conv = layer.replace("relu", "conv")
        print(f"   {label}, {conv} ({len(strength[layer])} channels): the {len(channels)} most "
              f"active on held-out images, {len(runs) - len(alive)} stuck at 0; median "
              f"uniform-colour share {table[layer][0]:.2f}, median wavelength "
              f"{table[layer][1]:.1f} px; A rose from a median "
              f"{np.median([r[2] for _, r in alive] or [np.nan]):.3g} to "
              f"{np.median([r[3] for _, r in alive] or [np.nan]):.3g}")
        # shown as RGB: the image minus its mean, over 6 of its standard deviations, + 0.5
        # (each image on its own contrast; its colours keep their balance)
        rows.append((f"{conv}\nuniform {table[layer][0]:.2f}\nwavelength "
                     f"{table[layer][1]:.1f} px", "image",
                     [np.clip(0.5 + (run[0] - run[0].mean()) / (6 * run[0].std() + 1e-12), 0, 1)
                      for _, run in alive[:SHOWN]]))
        titles.append([f"ch {k}: A {run[2]:.2g} -> {run[3]:.3g}" for k, run in alive[:SHOWN]])
    width = max(len(row[2]) for row in rows)
    rows = [(t, kind, maps + [np.ones((3, 32, 32))] * (width - len(maps)))
            for t, kind, maps in rows]
    fig = plot.method_grid(np.zeros((width, 3, 32, 32)), rows, outline_images=False, size=1.9)
    for r, row_titles in enumerate(titles):
        for j in range(width):
            if j < len(row_titles):
                fig.panels[r, j].set_title(row_titles[j], fontsize=8)
            else:
                fig.panels[r, j].set_visible(False)
    fig.suptitle(f"The image that maximizes a channel's mean activation A\n({how}),\nat every "
                 f"conv layer of the colour network (after its ReLU);\nRGB, each image on its "
                 f"own contrast", fontsize=9)
    uniform = {layer: table[layer][0] for layer in COLOUR_LAYERS}
    wave = {layer: table[layer][1] for layer in COLOUR_LAYERS}
    # the first block (conv1, conv2: before the first pool, like VGG16's conv1_1, conv1_2)
    first_block, deeper = min(uniform["relu1"], uniform["relu2"]), max(
        uniform[layer] for layer in COLOUR_LAYERS[2:])
    colour_first = first_block > deeper and first_block > 0.3
    early, late = min(list(wave.values())[:3]), max(list(wave.values())[-2:])
    textured = [layer.replace("relu", "conv") for layer in COLOUR_LAYERS
                if TEXTURE_PERIOD[0] <= wave[layer] <= TEXTURE_PERIOD[1]]
    verdict = ((f"the first block's layers (conv1 and conv2, before the first pool) ask more "
                f"for one flat colour (median uniform share at least {first_block:.2f}) than "
                f"any deeper layer (at most {deeper:.2f})" if colour_first else
                f"the first block's layers (conv1 and conv2, before the first pool) do not ask "
                f"more for one flat colour than every deeper layer (their median uniform share "
                f"is at least {first_block:.2f}, a deeper layer's up to {deeper:.2f}, and "
                f"'mostly' would need over 0.3)") +
               (f", and the patterns grow with depth (the longest median wavelength of "
                f"conv5-conv6, {late:.1f} px, is over 1.3x the shortest of conv1-conv3, "
                f"{early:.1f} px)" if late > 1.3 * early else
                f", but the patterns do not grow with depth (the longest median wavelength of "
                f"conv5-conv6, {late:.1f} px, is within 1.3x of the shortest of conv1-conv3, "
                f"{early:.1f} px)") +
               (f"; the layers whose median wavelength lies in the data's texture period of "
                f"{TEXTURE_PERIOD[0]}-{TEXTURE_PERIOD[1]} px: {', '.join(textured)}" if textured
                else f"; no layer's median wavelength lies in the data's texture period of "
                f"{TEXTURE_PERIOD[0]}-{TEXTURE_PERIOD[1]} px, so these numbers show no "
                f"texture stage") +
               (". Colour first, then larger patterns: Tang et al.'s progression from colour "
                "towards parts" if colour_first and late > 1.3 * early else
                ". Tang et al.'s colour-then-parts progression does not show in these numbers"))
    common.save(fig, args, name,
                f"For the {SHOWN} most active channels (on held-out images) of every conv layer "
                f"of the colour network (six 3x3 convs, standing in for VGG16), the RGB image "
                f"after {how}; each shown minus its mean, over 6 of its standard deviations. "
                f"Measured on what the ascent added, over the {measured} most active channels "
                f"(medians in the row labels): 'uniform' is the share of its energy in one flat "
                f"colour, 'wavelength' the typical period of the rest (2 px is a one-pixel "
                f"checkerboard). " + (f"{stuck} of the measured channels stayed stuck at 0 "
                                       f"from the start noise and {'is' if stuck == 1 else 'are'}"
                                       f" skipped, as Tang et al. do. " if stuck else "")
                + f"{verdict[0].upper()}{verdict[1:]}. {reproduces}")
    return table, verdict, stuck


_, plain_verdict, _ = layer_figure(
    plain_ascent, MEASURED, "plain ascent",
    f"{STEPS} plain ascent steps from N(0,1) noise, as Tang et al.; first step "
    f"{FIRST_STEP} x the noise's norm", "5_colour_layers.png",
    "Why a first layer asks for a colour: where a first-layer channel is active, the "
    "gradient of its mean is its filter summed over every position, the same colour at "
    "every interior pixel. Reproduces Tang et al., Fig. 3.2.1-3.2.3 (first, second and last "
    "conv layers of VGG16).")
_, regular_verdict, _ = layer_figure(
    regularized_ascent, SHOWN, "regularized",
    f"{REGULARIZED_STEPS} steps of RMS {REGULARIZED_STEP} with Olah et al.'s regularizers: "
    "1/f Fourier parameterization, 1 px jitter, pixels in 0..1", "6_colour_layers_regularized.png",
    "The plain ascent of the previous figure leaves pixel-scale noise that the network also "
    "responds to; the regularizers (Olah et al. 2017, 'Feature Visualization', "
    "explain.maximize) favour large, smooth patterns, so compare the two figures' "
    "wavelengths knowing that. Extends Tang et al., Fig. 3.2.1-3.2.3.")

print(f"   lesson run time {time.perf_counter() - tick:.1f} s")
print("What to look at:")
print("  * 1_feature_maps_*: one scale per layer, so the panels titled 'weak' or 'silent' are the")
print("    (nearly) silent channels counted above; the rest light up on or beside the stroke.")
print("  * 2_top5_*: the crops grow with depth (the receptive fields printed above); the")
print("    projection keeps only part of each box (the '90% of the energy' line).")
print("  * 5_colour_layers (Tang et al.'s plain ascent): " + plain_verdict + ".")
print("  * 6_colour_layers_regularized: " + regular_verdict + ".")
print("  * 3_during_training: compare each row left to right with the printed filter cosines")
print("    and top-1 activations; the first epoch at which each filter's cosine with its final")
print("    form reaches 0.9: " + ", ".join(f"ch {ch}: {e}" for ch, e in settled.items()) + ".")
