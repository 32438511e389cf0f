"""The weight-damage study of Vasu & Savakis (seed 001), one module a step: damage.py
(damage masks, the highest activation region of a CAM), sweep.py (the damage sweep),
summary.py (its table), recovery.py (masked retraining, batch-norm re-estimation) and
plots.py (their figures; import it where you draw: it loads matplotlib)."""
from .damage import (HAR_THRESHOLD, apply_masks, damage_count, damage_masks,  # noqa: F401
                     highest_activation_region, highest_activation_regions, label_regions,
                     region_iou)
from .recovery import retrain, update_batch_statistics  # noqa: F401
from .summary import SWEEP_COLUMNS, over_seeds, write_csv  # noqa: F401
from .sweep import cut_before, damage_sweep, map_correlations  # noqa: F401
