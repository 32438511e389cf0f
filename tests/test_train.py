"""fit / evaluate on tiny real data: learning happens, and a seed repeats bit for bit."""
import numpy as np
import pytest

import scratchcnn as sc


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
