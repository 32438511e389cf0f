"""Bad input gets a clear error naming the argument and what was expected."""
import numpy as np
import pytest

import scratchcnn as sc


def test_wrong_rank():
    with pytest.raises(ValueError, match=r"conv1: x must have shape \(N, C, H, W\) \(4 dims\), "
                                         r"got shape \(1, 28, 28\)"):
        sc.Sequential([sc.Conv2D(1, 2, 3)]).forward(np.zeros((1, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"in_features"):
        sc.Linear(4, 2).forward(np.zeros((2, 2, 2), np.float32))


def test_channel_mismatch():
    with pytest.raises(ValueError, match=r"x has 3 channels.*in_channels=1"):
        sc.Conv2D(1, 2, 3).forward(np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"in_features=9216"):
        sc.Linear(9216, 64).forward(np.zeros((2, 100), np.float32))
    with pytest.raises(ValueError, match=r"num_features=4"):
        sc.BatchNorm2D(4).forward(np.zeros((2, 3, 2, 2), np.float32))


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"kernel_size \(5, 5\) is larger than the padded input"):
        sc.Conv2D(1, 1, 5, padding=1).forward(np.zeros((1, 1, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"kernel_size \(3, 3\) is larger than the input"):
        sc.MaxPool2D(3).forward(np.zeros((1, 1, 2, 5), np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_inputs(bad):
    x = np.zeros((1, 1, 5, 5), np.float32)
    x[0, 0, 2, 2] = bad
    with pytest.raises(ValueError, match="conv1: x contains NaN or Inf"):
        sc.Sequential([sc.Conv2D(1, 1, 3)]).forward(x)
    with pytest.raises(ValueError, match="logits contain NaN or Inf"):
        sc.softmax_cross_entropy(np.array([[0.0, bad]]), np.array([0]))


def test_labels_out_of_range_and_wrong_dtype():
    logits = np.zeros((2, 10))
    with pytest.raises(ValueError, match=r"labels must be class ids in \[0, 9\], got values "
                                         r"from 0 to 10"):
        sc.softmax_cross_entropy(logits, np.array([0, 10]))
    with pytest.raises(ValueError, match="labels must be class ids"):
        sc.softmax_cross_entropy(logits, np.array([-1, 0]))
    with pytest.raises(TypeError, match="labels must be integer class ids, got dtype float64"):
        sc.softmax_cross_entropy(logits, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        sc.softmax_cross_entropy(logits, np.array([0, 1, 2]))


def test_wrong_dtype():
    with pytest.raises(TypeError, match="x must be float32 or float64, got dtype uint8"):
        sc.Conv2D(1, 1, 3).forward(np.zeros((1, 1, 5, 5), np.uint8))
    with pytest.raises(TypeError, match=r"x has dtype float64 but the parameters are float32"):
        sc.Conv2D(1, 1, 3).forward(np.zeros((1, 1, 5, 5)))
    with pytest.raises(TypeError, match="must be an array"):
        sc.ReLU().forward([[1.0, 2.0]])


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="kernel_size must be an int >= 1"):
        sc.Conv2D(1, 1, 0)
    with pytest.raises(ValueError, match="padding must be an int >= 0"):
        sc.Conv2D(1, 1, 3, padding=-1)
    with pytest.raises(ValueError, match="in_channels must be a positive int"):
        sc.Conv2D(0, 1, 3)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        sc.Dropout(1.0)
    with pytest.raises(ValueError, match="output_padding must be smaller than stride"):
        sc.ConvTranspose2D(1, 1, 3, stride=2, output_padding=2)


def test_backward_errors():
    conv = sc.Conv2D(1, 2, 3)
    with pytest.raises(RuntimeError, match="before forward"):
        conv.backward(np.zeros((1, 2, 3, 3), np.float32))
    conv.forward(np.zeros((1, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape \(1, 2, 3, 3\)"):
        conv.backward(np.zeros((1, 2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="relu_rule must be one of"):
        sc.Sequential([sc.ReLU()]).backward(np.zeros(2), relu_rule="guided-ish")


def test_empty_batch_and_wrong_image_size():
    model = sc.zoo.slides_mnist_model()
    with pytest.raises(ValueError, match=r"conv1: x must hold at least one example \(N >= 1"):
        model.forward(np.zeros((0, 1, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"fc1: x has 4096 .*in_features=9216.*not the size "
                                         r"the model was built for"):
        model.forward(np.zeros((2, 1, 20, 20), np.float32))
    with pytest.raises(ValueError, match=r"x must hold at least one image"):
        sc.predict(model, np.zeros((0, 1, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"x must hold at least one image"):
        sc.fit(model, sc.Adam(model), np.zeros((0, 1, 28, 28), np.float32),
               np.zeros(0, np.int64), verbose=False)


@pytest.mark.parametrize("batch_size", [0, -3, 2.5])
def test_bad_batch_size(batch_size):
    model = sc.zoo.slides_mnist_model()
    x, y = np.zeros((4, 1, 28, 28), np.float32), np.zeros(4, np.int64)
    with pytest.raises(ValueError, match=r"batch_size must be a positive int"):
        sc.predict(model, x, batch_size=batch_size)
    with pytest.raises(ValueError, match=r"batch_size must be a positive int"):
        sc.evaluate(model, x, y, batch_size=batch_size)
    with pytest.raises(ValueError, match=r"batch_size must be a positive int"):
        sc.fit(model, sc.Adam(model), x, y, batch_size=batch_size, verbose=False)


def test_random_shift_and_image_grid_name_the_expected_shapes():
    from scratchcnn import plot                     # matplotlib: imported only where drawn
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"x must be a batch of images \(N, C, H, W\), got "
                                         r"shape \(2, 28, 28\)"):
        sc.datasets.random_shift(np.zeros((2, 28, 28), np.float32), rng)
    with pytest.raises(ValueError, match=r"max_shift must be an int >= 0"):
        sc.datasets.random_shift(np.zeros((2, 1, 28, 28), np.float32), rng, max_shift=-1)
    with pytest.raises(ValueError, match=r"each image must have shape \(H, W\), \(1, H, W\) or "
                                         r"\(3, H, W\), got \(5,\)"):
        plot.image_grid(np.zeros((5, 5)))
