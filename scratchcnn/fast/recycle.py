"""No plain twin (it decides where an output's memory comes from, never a value): the
fast room's large outputs, taken from blocks that earlier calls made and nobody holds any
more, instead of fresh memory each time.

A training step makes the same large arrays every step: a layer's output, its mask, its
switches, its input gradient. Asked of malloc, each one over glibc's thresholds is fresh
memory that the operating system maps in page by page when it is first written, a
fault per 4 KiB page (what that costs a training step: BENCHMARKS.md, "Rules in the
code": recycle). So the fast room's kernels write their large outputs into
``empty(shape, dtype)``:

* a block of the same size that no array refers to any more is handed out again, as a
  new array of the shape and dtype asked for;
* a block is never handed out while an array made from it is alive: every view, slice
  or reshape of an array keeps its block alive, and CPython counts those references
  (``sys.getrefcount``); holding a result, or any view of it, is enough to keep it;
* the pool lets go of free blocks so that it holds what recent calls used, not more:
  every ``KEEP`` requests, those not handed out during the last ``KEEP``; and when a new
  block is made, the least recently used ones beyond ``FREE_BYTES`` in all.
  ``release()`` (also ``sc.runtime.release()``) lets go of every free block now.

Nothing outside scratchcnn's own calls changes: not the allocator, not NumPy. The
values are the kernels' own: only the address differs. ``report()`` says how much the
pool holds. The GPU room needs none of this: CuPy has its own memory pool.
"""
import math
import sys
import threading

import numpy as np

MIN_BYTES = 1 << 18      # smaller arrays come from malloc's heap, already mapped
KEEP = 128               # requests a free block waits to be handed out again
FREE_BYTES = 256 << 20   # free blocks kept at most, in bytes

_lock = threading.Lock()
_pool = {}               # nbytes -> [[block (uint8, nbytes), request it was last handed out]]
_requests = 0


def _references(entry):
    """How many references the entry's block has, counted the same way for every entry."""
    return sys.getrefcount(entry[0])


_FREE = _references([np.empty(0, np.uint8), 0])   # a block that only its entry holds


def empty(shape, dtype):
    """An uninitialized C-contiguous NumPy array of ``shape`` and ``dtype``, like
    ``np.empty``: a free block of the pool when one of its size is there, else a new one
    (kept in the pool). Arrays under ``MIN_BYTES`` come from ``np.empty`` itself."""
    global _requests
    dtype = np.dtype(dtype)
    shape = tuple(int(size) for size in shape)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    with _lock:
        _requests += 1
        entries = _pool.setdefault(nbytes, [])
        for entry in entries:
            if _references(entry) == _FREE:
                entry[1] = _requests
                block = entry[0]
                break
        else:
            block = np.empty(nbytes, np.uint8)
            entries.append([block, _requests])
            _keep_at_most(FREE_BYTES)
        if _requests % KEEP == 0:
            _let_go(lambda entry: _requests - entry[1] >= KEEP)
        return block.view(dtype).reshape(shape)


def _let_go(stale):
    """Drop the free blocks for which stale(entry) is true (caller holds the lock)."""
    for nbytes in list(_pool):
        kept = [entry for entry in _pool[nbytes]
                if not (_references(entry) == _FREE and stale(entry))]
        if kept:
            _pool[nbytes] = kept
        else:
            del _pool[nbytes]


def _keep_at_most(free_bytes):
    """Drop the least recently handed-out free blocks until at most ``free_bytes`` are
    free (caller holds the lock)."""
    free = sorted(((entry[1], nbytes, id(entry)) for nbytes, group in _pool.items()
                   for entry in group if _references(entry) == _FREE), reverse=True)
    total, doomed = 0, set()
    for _, nbytes, key in free:                        # the most recent first
        total += nbytes
        if total > free_bytes:
            doomed.add(key)
    if doomed:
        _let_go(lambda entry: id(entry) in doomed)


def release():
    """Let go of every block nobody holds (they go back to malloc); returns the bytes
    the pool still holds, all of them in arrays that are alive."""
    with _lock:
        _let_go(lambda entry: True)
        return sum(nbytes * len(entries) for nbytes, entries in _pool.items())


def report():
    """{"blocks", "held_mib", "free_mib"}: the pool's blocks, and the MiB in those that
    arrays still use and in those free for the next call."""
    with _lock:
        entries = [(nbytes, _references(entry) == _FREE)
                   for nbytes, group in _pool.items() for entry in group]
    mib = 1 << 20
    return {"blocks": len(entries),
            "held_mib": round(sum(n for n, free in entries if not free) / mib, 2),
            "free_mib": round(sum(n for n, free in entries if free) / mib, 2)}
