"""The plain room's kernels: the readable math, in plain NumPy, one module a family.

    conv.py        the convolution as loops (the oracle), im2col and col2im, and
                   Conv2D's forward and backward as one matrix product
    pool.py        max pooling as loops (the oracle), with switches, unpooling, average pooling
    activation.py  the ReLU's forward
    norm.py        batch normalization's statistics, forward and backward
    adam.py        Adam's update
    winograd.py    Winograd's minimal filtering F(2x2, 3x3) and F(4x4, 3x3), as a lesson

Layers and optimizers reach these through ops.py, which runs them inside
``use_reference()`` and their fast twins (fast/) everywhere else.
"""
