"""The damage sweep's table: its columns, a CSV writer, and each metric's mean and spread
over the seeds (what sweep.py produces and plots.py draws)."""
import numpy as np

SWEEP_COLUMNS = ("site", "fraction", "seed", "accuracy", "har_iou", "cam_correlation")


def write_csv(rows, path):
    """Write damage_sweep's rows to ``path`` as CSV, one line per point, the columns of
    SWEEP_COLUMNS (fractions as 0.05, not 5 %); returns the path."""
    lines = [",".join(SWEEP_COLUMNS)]
    for row in rows:
        lines.append(",".join(str(row[column]) for column in SWEEP_COLUMNS))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def over_seeds(rows, metric):
    """{site: (fractions (F,), mean (F,), lowest (F,), highest (F,))} of one metric
    ("accuracy", "har_iou" or "cam_correlation") over the seeds of each point, sites in
    the order they first appear, fractions ascending."""
    if metric not in SWEEP_COLUMNS[3:]:
        raise ValueError(f"metric must be one of {SWEEP_COLUMNS[3:]}, got {metric!r}")
    summary = {}
    for site in dict.fromkeys(row["site"] for row in rows):
        fractions = sorted({row["fraction"] for row in rows if row["site"] == site})
        values = [[row[metric] for row in rows if row["site"] == site and row["fraction"] == f]
                  for f in fractions]
        summary[site] = (np.array(fractions), np.array([np.mean(v) for v in values]),
                         np.array([min(v) for v in values]), np.array([max(v) for v in values]))
    return summary
