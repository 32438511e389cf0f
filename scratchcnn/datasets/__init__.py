"""Data, all in one place: the embedded MNIST and Fashion-MNIST subsets (embedded.py), the
IDX reader for the full sets (idx.py), the procedural concrete surfaces (surfaces.py), the
procedural colour objects (colour_shapes.py) and Decoy-MNIST's planted patch (decoy.py).
See data/README.md for provenance and licences."""
from .embedded import (CLASS_NAMES, DATA_DIR, EMBEDDED, N_TEST, N_TRAIN, SPLIT_SEED,  # noqa: F401
                       load, random_shift, to_float_images)
from .idx import IDX_DTYPES, load_idx, read_idx  # noqa: F401
from .surfaces import CLASS_NAMES as SURFACE_CLASS_NAMES  # noqa: F401
from .surfaces import surface_defects  # noqa: F401
from .colour_shapes import CLASS_NAMES as COLOUR_SHAPES_CLASS_NAMES  # noqa: F401
from .colour_shapes import colour_shapes  # noqa: F401
from .decoy import decoy_mnist  # noqa: F401
