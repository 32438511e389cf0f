"""The fast room: code that exists only for speed. Nothing here is on the reading path.

Every module names, in its first line, the plain function(s) it must equal; tests/fast/
checks each against its twin. ops.py is the only module outside this room that calls
into it, and only outside ``use_reference()``. Nothing is imported here, so that
``import scratchcnn.fast.machine`` loads no Numba.

    conv.py, pool.py, activation.py,   Numba twins of reference/conv.py, pool.py,
    norm.py, adam.py                   activation.py, norm.py, adam.py
    conv2d.py                          Conv2D's route: Winograd, im2col in chunks, reused
                                       buffers, a first layer's dL/dW
    winograd.py, winograd_kernels.py   Winograd F(4x4, 3x3): drivers and rules, Numba transforms
    occlusion.py, occlusion_cases.py,  the cone of influence: explain/occlusion.py by reuse
    occlusion_kernels.py
    gpu.py, gpu_sources.py             CuPy twins, and their CUDA sources
    recycle.py                         large outputs in blocks that nobody holds any more
    threads.py                         the engine's thread discipline (Numba's threads)
    machine.py, runtime.py             what this CPU is; the engine's report, opt-in
                                       process tuning (tune())
"""
