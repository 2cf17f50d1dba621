"""The design folder: design.csv, design.json (marker), design.png. To move into :mod:`vrest.folders`.

Written atomically (a temporary sibling, then a rename); an existing folder is replaced only
with ``force`` and only when it is a design result holding nothing vrest did not write.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from .._atomic import OutputExistsError, jsonable, versions, write_atomically
from .plan import Ranking

DESIGN_FILES = ("design.json", "design.csv", "design.png")
"""Everything a design folder holds; ``design.json`` is its marker."""


def design_csv(ranking: Ranking) -> str:
    """design.csv: one row per candidate, best first."""
    import pandas as pd

    return pd.DataFrame(ranking.rows).to_csv(index=False, float_format="%.6g", lineterminator="\n")


def shrinkage_png(ranking: Ranking) -> bytes:
    """Expected shrinkage of each target's posterior sd (1 - sd after / sd now, %) per candidate, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows, targets = ranking.rows, ranking.targets
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(rows) * max(1, len(targets)) / 2 + 1.6))
    height = 0.8 / len(targets)
    y = np.arange(len(rows))[::-1]
    for j, name in enumerate(targets):
        shrink = [100 * (1 - r[f"sd_after_{name}"] / r[f"sd_now_{name}"]) for r in rows]
        ax.barh(y + 0.4 - (j + 0.5) * height, shrink, height, label=name)
    ax.set_yticks(y, [f"{r['candidate']}  ({r['eig_nats']:.2f} nats)" for r in rows])
    ax.set_xlabel("expected shrinkage of the posterior sd (%, sampled scale)")
    ax.set_xlim(0, 100)
    ax.legend(loc="lower right", fontsize="small")
    ax.set_title("Next experiment: expected shrinkage per target (best first)", fontsize="medium")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


def is_design(folder: Path) -> bool:
    """True when ``folder`` is a design result: its marker, and nothing vrest did not write."""
    return (folder / "design.json").is_file() and all(p.is_file() and p.name in DESIGN_FILES for p in folder.iterdir())


def check_target(out: str | os.PathLike, force: bool, protect: Iterable[str | os.PathLike] = ()) -> Path:
    """``out`` as a Path if a design may be written there; OutputExistsError/ValueError (one line) otherwise:
    an existing folder without ``force``, a folder that is not a design result (even with ``force``), a file,
    a folder that is or contains the working directory or an input (``protect``), or one inside an input."""
    out = Path(out)
    target = out.resolve()
    for path in (Path.cwd(), *map(Path, protect)):
        resolved = path.resolve()
        if target == resolved or target in resolved.parents:
            raise ValueError(f"--out: {out} is or contains {path}; choose a new folder")
        if path in protect and resolved in target.parents:
            raise ValueError(f"--out: {out} is inside the input {path}; choose a folder outside it")
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise OutputExistsError(f"--out: {out} is a file, not a vrest design folder; refusing to replace it")
        if not force:
            raise OutputExistsError(f"--out: {out} exists; use --force to replace it")
        if any(out.iterdir()) and not is_design(out):
            raise OutputExistsError(f"--out: {out} is not a vrest design result (it holds files vrest did not "
                                    "write); refusing to replace it, even with --force")  # fmt: skip
    return out


def write_design(ranking: Ranking, out: str | os.PathLike, *, force: bool = False, extra: Mapping | None = None,
                 protect: Iterable[str | os.PathLike] = ()) -> Path:  # fmt: skip
    """The design folder ``out``, atomically (refused as :func:`check_target` says); returns its path."""
    out = check_target(out, force, protect)
    info = {"recommendation": ranking.recommendation, "targets": ranking.targets, "settings": ranking.settings,
            "chosen": ranking.chosen, "candidates": ranking.rows, "wall_time_s": ranking.timings,
            **(extra or {}), "versions": versions()}  # fmt: skip

    def fill(tmp: Path) -> None:
        (tmp / "design.csv").write_text(design_csv(ranking))
        (tmp / "design.png").write_bytes(shrinkage_png(ranking))
        (tmp / "design.json").write_text(json.dumps(jsonable(info), indent=1, allow_nan=False) + "\n")

    return write_atomically(out, fill, force=True)
