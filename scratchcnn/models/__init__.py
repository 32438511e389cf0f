"""Models, all in one place: the zoo of ready-made networks (zoo.py) and the residual block
(blocks.py)."""
from . import zoo  # noqa: F401
from .blocks import residual_block  # noqa: F401
