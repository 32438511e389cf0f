"""fast/recycle.py: a block is handed out again only when no array made from it is alive,
and every kernel that writes into one writes every element.

Each checker has a negative control: the same check with the pool's "nobody holds it"
rule broken (every block counted as free) must fail.
"""
import gc
import threading
import time

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import ops
from scratchcnn.fast import pool as fast_pool
from scratchcnn.fast import recycle

SHAPE = (8, 8, 32, 32)                    # 256 KiB of float32: pooled
assert np.prod(SHAPE) * 4 >= recycle.MIN_BYTES


@pytest.fixture
def every_block_free(monkeypatch):
    """The broken rule of the negative controls: every block counts as free."""
    monkeypatch.setattr(recycle, "_references", lambda entry: recycle._FREE)


def _address(array):
    return array.__array_interface__["data"][0]


HOLDERS = {
    "the array": lambda a: a,
    "a view": lambda a: a.view(),
    "a slice": lambda a: a[1:2, :, 3],
    "a reshape": lambda a: a.reshape(-1),
    "a transpose": lambda a: a.transpose(0, 2, 3, 1),
    "a memoryview": lambda a: memoryview(a),
    "a dtype view": lambda a: a.view(np.int32),
}


def handed_out_while_held(hold):
    """Take an array from the pool, keep only ``hold(array)``, ask for the same shape
    again and fill it: True if that changed what ``kept`` shows (it must not)."""
    first = recycle.empty(SHAPE, np.float32)
    first[...] = 1.0
    kept = hold(first)
    before = np.array(kept, copy=True)
    del first
    second = recycle.empty(SHAPE, np.float32)
    second[...] = 2.0
    return not np.array_equal(np.asarray(kept), before)


@pytest.mark.parametrize("holder", list(HOLDERS))
def test_a_held_block_is_never_handed_out(holder):
    assert not handed_out_while_held(HOLDERS[holder])


@pytest.mark.parametrize("holder", ["the array", "a slice", "a memoryview"])
def test_negative_control_a_broken_rule_is_caught(holder, every_block_free):
    assert handed_out_while_held(HOLDERS[holder])


def test_a_dropped_block_comes_back():
    first = recycle.empty(SHAPE, np.float32)
    address = _address(first)
    del first
    again = recycle.empty(SHAPE, np.float32)
    assert _address(again) == address
    del again
    as_bytes = recycle.empty((int(np.prod(SHAPE)) * 4,), np.uint8)   # any dtype, same size
    assert _address(as_bytes) == address


def test_small_arrays_and_other_sizes_are_not_shared():
    small = recycle.empty((8, 8), np.float32)
    assert small.base is None                          # np.empty's own array
    a = recycle.empty(SHAPE, np.float32)
    b = recycle.empty(SHAPE[:3] + (33,), np.float32)   # another size: another block
    assert not np.shares_memory(a, b)


def test_results_are_plain_c_contiguous_arrays_of_the_asked_shape():
    for dtype in (np.float32, np.float64, np.int64, np.bool_):
        out = recycle.empty(SHAPE, dtype)
        assert out.shape == SHAPE and out.dtype == dtype and out.flags.c_contiguous
        assert out.flags.writeable


def test_free_blocks_are_let_go_after_keep_requests_and_by_release():
    gc.collect()                                             # other tests' arrays, if any
    held_by_others = recycle.release()
    stale = recycle.empty((9,) + SHAPE[1:], np.float32)      # a size nothing else asks for
    stale_size = stale.nbytes
    del stale
    assert stale_size in recycle._pool
    for _ in range(2 * recycle.KEEP):                        # checked every KEEP requests
        recycle.empty(SHAPE, np.float32)                     # dropped at once
    assert stale_size not in recycle._pool                   # not reused for KEEP requests
    held = recycle.empty(SHAPE, np.float32)
    assert recycle.release() == held_by_others + held.nbytes  # only held blocks stay
    report = recycle.report()
    assert abs(report["held_mib"] - (held_by_others + held.nbytes) / (1 << 20)) < 0.01
    assert report["free_mib"] == 0
    del held
    assert recycle.release() == held_by_others


def test_free_blocks_beyond_free_bytes_are_let_go_oldest_first(monkeypatch):
    gc.collect()
    recycle.release()
    monkeypatch.setattr(recycle, "FREE_BYTES", 3 * recycle.MIN_BYTES)
    sizes = [(k,) + SHAPE[1:] for k in (8, 9, 10)]            # 256, 288, 320 KiB
    for shape in sizes:
        recycle.empty(shape, np.float32)                     # made, then dropped
    newest = recycle.empty((11,) + SHAPE[1:], np.float32)    # made: the cap is checked
    free = {n for n, group in recycle._pool.items() for entry in group
            if recycle._references(entry) == recycle._FREE}
    bytes_of = [int(np.prod(shape)) * 4 for shape in sizes]
    assert free == set(bytes_of[1:])                         # the oldest (8, ...) let go
    assert sum(free) <= recycle.FREE_BYTES
    assert newest.nbytes in recycle._pool                    # held: never let go
    assert sc.runtime.release() >= newest.nbytes


def test_threads_never_share_a_held_block(monkeypatch):
    """Four threads take and hold blocks; a sleep after each reference count lets the
    other threads run before the block is taken, so without the pool's lock two threads
    would both see one block free and both take it (seen: this test fails then)."""
    count = recycle._references

    def slow_count(entry):
        references = count(entry)
        time.sleep(1e-4)                              # between the count and the take
        return references
    monkeypatch.setattr(recycle, "_references", slow_count)
    clashes, held, guard = [], set(), threading.Lock()

    def worker():
        for _ in range(50):
            mine = recycle.empty(SHAPE, np.float32)
            address = _address(mine)
            with guard:
                if address in held:                   # another thread holds it now
                    clashes.append(address)
                held.add(address)
            time.sleep(1e-4)                          # hold it a while
            with guard:
                held.discard(address)
            del mine
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not clashes


# ----- the layers: a result the user holds is never written over ----------------------
def held_results_change(seed=0):
    """Train the slides' model two steps, keeping step 1's relu2 and pool1 outputs, the
    pool's switches and dL/dx (all recycled arrays); True if any changed in step 2."""
    model = sc.zoo.slides_mnist_model(seed=seed)
    optimizer = sc.Adam(model, lr=1e-3)
    rng = np.random.default_rng(seed)
    kept = {}
    for step in range(2):
        x = rng.random((16, 1, 28, 28), dtype=np.float32)
        y = rng.integers(0, 10, 16)
        logits = model.forward(x)
        loss, dlogits = sc.softmax_cross_entropy(logits, y)
        optimizer.zero_grad()
        dx = model.backward(dlogits)
        optimizer.step()
        if step == 0:
            kept = {"relu2": model.outputs["relu2"], "pool1": model.outputs["pool1"],
                    "switches": model["pool1"].switches, "dx": dx}
            copies = {k: v.copy() for k, v in kept.items()}
    return any(not np.array_equal(kept[k], copies[k]) for k in kept)


def test_a_users_held_activations_survive_the_next_step():
    assert not held_results_change()


def test_negative_control_held_activations_are_overwritten_by_a_broken_rule(
        every_block_free):
    assert held_results_change()


# ----- every kernel writes every element of its recycled output ------------------------
def _poisoned_empty(shape, dtype):
    dtype = np.dtype(dtype)
    fill = {"f": np.nan, "i": -7, "b": True, "u": 7}[dtype.kind]
    return np.full(tuple(shape), fill, dtype)


def _kernel_results(seed=0):
    """Outputs and gradients of the fast room's kernels that write recycled arrays:
    Winograd, im2col and chunked convolutions (forward, dL/dx, col2im), ReLU, max pools
    (2x2 and overlapping 3x3), unpooling, batch norm and the residual network."""
    rng = np.random.default_rng(seed)
    results = []
    for model, shape in ((sc.zoo.slides_mnist_model(seed=seed), (16, 1, 28, 28)),
                         (sc.zoo.resnet_gap(widths=(4, 8, 8, 8), seed=seed), (4, 1, 16, 16))):
        x = rng.standard_normal(shape).astype(np.float32)
        logits = model.forward(x)
        dx = model.backward(np.ones_like(logits))
        results += [logits, dx] + [layer.grads[key].copy()
                                   for _, layer, key in model.named_parameters()]
        with sc.model.eval_mode(model):
            results.append(model.forward(x))
    x = rng.standard_normal((2, 3, 9, 9))
    values, switches = ops.maxpool_forward(x, 3, 3, (1, 1))
    results += [values, switches, ops.max_unpool(values, switches, x.shape),
                ops.gather_at_switches(x, switches),
                ops.im2col(x, 3, 3, (2, 2), (1, 1))]
    return results


def poison_shows(monkeypatch):
    """Run the kernels twice, the second time with every recycled array made full of
    NaN (-7, True) before the kernel writes it: True if any result differs."""
    clean = _kernel_results()
    with monkeypatch.context() as patch:
        patch.setattr(recycle, "empty", _poisoned_empty)
        poisoned = _kernel_results()
    return any(not np.array_equal(a, b) for a, b in zip(clean, poisoned))


def test_every_recycled_element_is_written(monkeypatch):
    assert not poison_shows(monkeypatch)


def _unpool_without_zeros(values, switches, out):
    """fast/pool.py's _max_unpool with its ``out[b, ch, :] = 0`` dropped."""
    planes = values.shape[0] * values.shape[1]
    np.add.at(out.reshape(planes, -1), (np.arange(planes)[:, None],
                                        switches.reshape(planes, -1)),
              values.reshape(planes, -1))
    return out


def test_negative_control_an_unwritten_element_is_caught(monkeypatch):
    monkeypatch.setattr(fast_pool, "_max_unpool", _unpool_without_zeros)
    assert poison_shows(monkeypatch)
