"""Scale: planning a fit-batch of 1e3-1e5 recordings, and the memory a fit of 1e4-1e5 rows would need.

Run from the project root:  python analyses/benchmarks/bench_scale.py [--write]

Planning is what `vrest fit-batch` does before the first fit: split one CSV into
recordings (`vrest.data.split_recordings`), name each recording's folder
(`vrest.folders.folder_name`: a slug and a hash of the id, O(1) each) and make the
seeded jobs. Beside it, in the same run, the folder naming of vrest 0.1 (sorted ids,
de-duplicated by comparing each new name with every earlier one: quadratic), written
out here as the plain alternative. The memory figure is vrest's own estimate
(rows x chains x draws x 3 float64 arrays for the per-row posterior groups), the one
`vrest fit` checks before sampling: it refuses, naming the `--draws` that would fit,
where the estimate exceeds half the available memory.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import Row, publish

import vrest
from vrest.batch.tasks import fit_job
from vrest.data import split_recordings
from vrest.folders import folder_name
from vrest.inference.fit import BYTES_PER_DRAW_AND_ROW
from vrest.machine import available_memory_bytes


def old_folder_names(recordings: list[str]) -> dict[str, str]:
    """vrest 0.1's naming: quadratic in the number of recordings (kept here only to be measured against)."""
    names: dict[str, str] = {}
    for rec in sorted(recordings):
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", rec).strip("._") or "recording"
        name, k = base, 1
        while name.lower() in {n.lower() for n in names.values()}:
            k += 1
            name = f"{base}-{k}"
        names[rec] = name
    return names


def plan(n: int, folder: Path) -> tuple[float, float]:
    """(seconds to plan n recordings with vrest, seconds for vrest 0.1's naming of the same ids)."""
    ids = [f"cell {i}" for i in range(n)]
    k_o = np.array([2.0, 5.0, 20.0])
    table = pd.DataFrame({"recording": np.repeat(ids, k_o.size), "K_o_mM": np.tile(k_o, n), "V_m_mV": -70.0})
    path = folder / f"batch_{n}.csv"
    table.to_csv(path, index=False)
    settings = vrest.FitSettings(model="ghk", seed=0)
    t0 = time.perf_counter()
    recordings = split_recordings(path, "recording")
    jobs = {name: fit_job(name, r, settings, 0, 1) for name, r in recordings.items()}
    names = {name: folder_name(name) for name in jobs}
    vrest_s = time.perf_counter() - t0
    assert len(set(names.values())) == n
    t0 = time.perf_counter()
    old_folder_names(ids) if n <= 10_000 else None
    old_s = time.perf_counter() - t0 if n <= 10_000 else float("nan")
    return vrest_s, old_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update RESULTS.md and history/ (see results.py)")
    args = parser.parse_args()
    lines, rows = ["# bench_scale: fit-batch planning and fit memory", ""], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1_000, 10_000, 100_000):
            vrest_s, old_s = plan(n, Path(tmp))
            extrapolated = np.isnan(old_s)
            if extrapolated:  # quadratic: from the 1e4 run
                old_s = rows[-1].ratio * float(rows[-1].vrest.split()[0]) * (n / 10_000) ** 2
            lines.append(f"{n:>7} recordings: vrest plans in {vrest_s:.2f} s; vrest 0.1's naming alone "
                         f"{old_s:.2f} s{' (extrapolated, quadratic)' if extrapolated else ''}")  # fmt: skip
            rows.append(Row(f"bench_scale.py, {n:,} recordings", f"fit-batch planning of {n:,} recordings (split, "
                            "seeded jobs, folder names): vrest against vrest 0.1's quadratic folder naming alone"
                            + (" (extrapolated from 10,000)" if extrapolated else ""),
                            f"{vrest_s:.2f} s", f"{old_s:.1f} s", old_s / vrest_s))  # fmt: skip
    have = available_memory_bytes() or 0
    for n_rows in (10_000, 100_000):
        need = n_rows * 4 * 1000 * BYTES_PER_DRAW_AND_ROW
        lines.append(f"{n_rows:>7} rows, 4 chains x 1000 draws: {need / 1e9:.1f} GB for the per-row posterior groups; "
                     f"available {have / 1e9:.1f} GB: {'refused' if need > have / 2 else 'accepted'} before sampling")  # fmt: skip
    publish("bench_scale.py", lines, rows, args.write)


if __name__ == "__main__":
    main()
