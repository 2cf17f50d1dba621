"""What a design folder shows: the ranking as a table (design.csv) and the expected shrinkage as a figure.

:func:`vrest.folders.write_design` writes them, with design.json, into the design folder.
"""

from __future__ import annotations

import io

from .plan import Ranking


def design_csv(ranking: Ranking) -> str:
    """design.csv: one row per candidate, best first."""
    import pandas as pd

    return pd.DataFrame(ranking.rows).to_csv(index=False, float_format="%.6g", lineterminator="\n")


def shrinkage_png(ranking: Ranking) -> bytes:
    """Expected shrinkage of each target's posterior sd (1 - sd after / sd now, %) per candidate, as PNG; whiskers:
    the shrinkage at the 10th to 90th percentile over the posterior draws of the local sd after."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows, targets = ranking.rows, ranking.targets
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(rows) * max(1, len(targets)) / 2 + 1.6))
    height = 0.8 / len(targets)
    y = np.arange(len(rows))[::-1]
    for j, name in enumerate(targets):
        now = np.array([r[f"sd_now_{name}"] for r in rows])
        shrink = 100 * (1 - np.array([r[f"sd_after_{name}"] for r in rows]) / now)
        lo, hi = (100 * (1 - np.array([r[f"sd_after_p{q}_{name}"] for r in rows]) / now) for q in (90, 10))
        whiskers = np.maximum(np.stack([shrink - lo, hi - shrink]), 0.0)
        ax.barh(y + 0.4 - (j + 0.5) * height, shrink, height, xerr=whiskers, capsize=2, label=name)
    ax.set_yticks(y, [f"{r['candidate']}  ({r['eig_nats']:.2f} nats)" for r in rows])
    ax.set_xlabel("expected shrinkage of the posterior sd (%, sampled scale; whiskers: 10-90% over the draws)")
    ax.set_xlim(min(0.0, ax.get_xlim()[0]), 100)
    ax.legend(loc="lower right", fontsize="small")
    ax.set_title("Next experiment: expected shrinkage per target (best first)", fontsize="medium")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()
