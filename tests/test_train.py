"""fit / evaluate on tiny real data: learning happens, and a seed repeats bit for bit;
fit's callbacks (when they run, stopping, modes, no effect on the bits); activations."""
import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn.model import eval_mode



def tiny_model():
    return sc.Sequential([sc.Conv2D(1, 4, 3), sc.ReLU(), sc.MaxPool2D(2), sc.Flatten(),
                          sc.Linear(4 * 13 * 13, 10)])


@pytest.fixture(scope="module")
def mnist_small():
    (x, y), (xt, yt) = sc.datasets.load("mnist")
    return x[:512], y[:512], xt[:256], yt[:256]


def test_fit_learns_and_reports(mnist_small, capsys):
    x, y, xt, yt = mnist_small
    model = tiny_model()
    before = sc.evaluate(model, xt, yt)
    history = sc.fit(model, sc.Adam(model, lr=3e-3), x, y, epochs=2, batch_size=32,
                     validation=(xt, yt), augment=sc.datasets.random_shift, lr_decay=0.5)
    after = sc.evaluate(model, xt, yt)
    assert after["loss"] < before["loss"] and after["accuracy"] > 0.6
    assert history["val_accuracy"][-1] == pytest.approx(after["accuracy"])
    out = capsys.readouterr().out
    assert "epoch 2/2" in out and "img/s" in out and "val_acc" in out


def test_fit_is_bitwise_repeatable(mnist_small):
    x, y, _, _ = mnist_small
    runs = []
    for _ in range(2):
        model = tiny_model()
        sc.fit(model, sc.SGD(model, lr=0.05, momentum=0.9), x, y, epochs=1, batch_size=64,
               seed=3, verbose=False, augment=sc.datasets.random_shift)
        runs.append(model.state_dict())
    for key in runs[0]:
        assert np.array_equal(runs[0][key], runs[1][key]), key


def test_fit_rejects_bad_labels(mnist_small):
    x, y, _, _ = mnist_small
    model = tiny_model()
    with pytest.raises(ValueError, match=r"class ids in \[0, 9\]"):
        sc.fit(model, sc.SGD(model, lr=0.1), x[:8], np.full(8, 10), verbose=False)
    with pytest.raises(TypeError, match="integer class ids"):
        sc.fit(model, sc.SGD(model, lr=0.1), x[:8], np.zeros(8), verbose=False)
    with pytest.raises(ValueError, match="same length"):
        sc.fit(model, sc.SGD(model, lr=0.1), x[:8], y[:7], verbose=False)


# ----- callbacks ---------------------------------------------------------------------------
def small_model(dropout=False):
    """conv-relu-(dropout)-flatten-linear on 1x6x6 images, 3 classes."""
    layers = [sc.Conv2D(1, 2, 3), sc.ReLU()] + ([sc.Dropout(0.5)] if dropout else [])
    return sc.Sequential(layers + [sc.Flatten(), sc.Linear(2 * 4 * 4, 3)], seed=1)


def small_data(n=10):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 1, 6, 6)).astype(np.float32), rng.integers(0, 3, n)


def run_fit(model, callbacks=None, epochs=2, **kw):
    """10 images in batches of 2: 5 batches per epoch."""
    x, y = small_data()
    optimizer = sc.SGD(model, lr=0.05)
    history = sc.fit(model, optimizer, x, y, epochs=epochs, batch_size=2, verbose=False,
                     callbacks=callbacks, **kw)
    return history, optimizer


def recorder(calls, every=None, stop=lambda epoch, batch: False):
    def callback(model, epoch, history, batch):
        calls.append((epoch, batch, list(history["epoch"])))
        return stop(epoch, batch)
    if every is not None:
        callback.every_batches = every
    return callback


def test_callbacks_called_each_epoch_and_every_k_batches():
    at_end, every2, every1, every5 = [], [], [], []
    history, _ = run_fit(small_model(), [recorder(at_end), recorder(every2, 2),
                                         recorder(every1, 1), recorder(every5, 5)])
    # history holds the finished epochs at each call; the epoch-end call sees its own row
    assert at_end == [(1, None, [1]), (2, None, [1, 2])]
    assert every2 == [(1, 2, []), (1, 4, []), (1, None, [1]),
                      (2, 2, [1]), (2, 4, [1]), (2, None, [1, 2])]
    assert [c[:2] for c in every1] == [(e, b) for e in (1, 2) for b in (1, 2, 3, 4, None)]
    # the last batch coincides with the epoch's end: only the batch=None call
    assert every5 == at_end
    assert "stopped_at" not in history


def test_callback_gets_the_history_fit_returns_and_subclasses_work():
    class Snapshot(sc.Callback):
        every_batches = 3

        def __init__(self):
            self.seen = []

        def __call__(self, model, epoch, history, batch):
            self.seen.append((epoch, batch, history))

    snap = Snapshot()
    history, _ = run_fit(small_model(), (snap,), max_batches=4)
    assert [s[:2] for s in snap.seen] == [(1, 3), (1, None), (2, 3), (2, None)]
    assert all(s[2] is history for s in snap.seen)
    with pytest.raises(NotImplementedError, match="__call__"):
        run_fit(small_model(), [sc.Callback()])


def test_callback_returning_true_mid_epoch_stops_at_once():
    calls, others = [], []
    stop = recorder(calls, every=1, stop=lambda epoch, batch: epoch == 2 and batch == 3)
    history, optimizer = run_fit(small_model(), [stop, recorder(others, 1)], epochs=3,
                                 lr_decay=0.5)
    assert optimizer.steps == 5 + 3                          # 3 batches of epoch 2, none after
    assert history["stopped_at"] == {"epoch": 2, "batch": 3}
    assert history["epoch"] == [1, 2] and len(history["loss"]) == 2   # epoch 2 recorded
    assert calls[-1][:2] == (2, 3)                           # no epoch-end call after the stop
    assert others[-1][:2] == (2, 3)                          # the others due then still ran
    assert optimizer.lr == pytest.approx(0.05 * 0.5)         # only the completed epoch decays


def test_callback_returning_true_at_epoch_end_stops_further_epochs():
    calls = []
    stop = recorder(calls, stop=lambda epoch, batch: epoch == 2)
    history, optimizer = run_fit(small_model(), [stop], epochs=4)
    assert optimizer.steps == 2 * 5
    assert history["epoch"] == [1, 2] and calls[-1][:2] == (2, None)
    assert history["stopped_at"] == {"epoch": 2, "batch": None}


def test_callback_in_eval_mode_does_not_leave_training_in_eval_mode():
    model = small_model(dropout=True)
    dropout = model["dropout1"]
    modes, forward = [], dropout.forward

    def spy(x):                                              # the mode of each training step
        modes.append(dropout.training)
        return forward(x)
    dropout.forward = spy

    def switch_to_eval(model, epoch, history, batch):
        model.eval()                                         # and never switches back
    switch_to_eval.every_batches = 1
    run_fit(model, [switch_to_eval])
    assert modes == [True] * 10
    assert all(layer.training for layer in model.layers)


def test_noop_callback_changes_no_bit():
    x, _ = small_data()

    def snapshot(model, epoch, history, batch):              # eval-mode work, then nothing
        sc.predict(model, x, batch_size=3)
        sc.activations(model, x, "relu1")
    snapshot.every_batches = 1

    runs = []
    for callbacks in (None, [snapshot]):
        model = small_model(dropout=True)
        history, _ = run_fit(model, callbacks, epochs=2, seed=5,
                             augment=lambda xb, rng: sc.datasets.random_shift(xb, rng, 1))
        runs.append((model.state_dict(), history["loss"]))
    for key in runs[0][0]:
        assert np.array_equal(runs[0][0][key], runs[1][0][key]), key
    assert runs[0][1] == runs[1][1]


def test_fit_rejects_bad_callbacks():
    def f(model, epoch, history, batch):
        pass

    model = small_model()
    with pytest.raises(TypeError, match=r"callbacks must be a list or tuple.*callbacks=\[f\]"):
        run_fit(model, f)
    with pytest.raises(TypeError, match=r"callbacks\[1\] must be callable.*got int"):
        run_fit(model, [f, 3])
    for bad in (0, -1, 2.0, True, "2"):
        g = recorder([], every=bad)
        with pytest.raises(ValueError, match=r"callbacks\[0\]\.every_batches must be None or "
                                             r"an int >= 1, got"):
            run_fit(model, [g])
    with pytest.raises(TypeError, match=r"callbacks\[0\] must return None, False or True"):
        run_fit(model, [lambda *args: "stop"])
    _, optimizer = run_fit(model, [f])                       # None is fine, and so is f
    assert optimizer.steps == 10


# ----- activations -------------------------------------------------------------------------
def test_activations_match_one_full_forward():
    model = small_model(dropout=True)
    x, _ = small_data(7)
    with eval_mode(model):
        model.forward(x)
    full = dict(model.outputs)
    model.layers[0].training = False                         # a mixed mode, to be restored
    for name in model.names:
        out = sc.activations(model, x, name, batch_size=3)     # 3 + 3 + 1
        assert isinstance(out, np.ndarray) and out.shape == full[name].shape
        np.testing.assert_allclose(out, full[name], rtol=1e-5, atol=1e-6)
        assert [layer.training for layer in model.layers] == [False, True, True, True, True]
    assert sc.activations(model, x, "conv1").shape == (7, 2, 4, 4)
    assert list(model.outputs) == ["conv1"]                  # the forward stopped there


def test_activations_errors():
    model = small_model()
    x, _ = small_data(4)
    with pytest.raises(KeyError, match=r"no layer named 'conv9'.*valid names"):
        sc.activations(model, x, "conv9")
    with pytest.raises(KeyError, match="valid names"):      # the name is checked first
        sc.activations(model, x[:0], "conv9", batch_size=0)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        sc.activations(model, x, "relu1", batch_size=0)
    with pytest.raises(ValueError, match="at least one image"):
        sc.activations(model, x[:0], "relu1")
