"""Benchmark: `vrest fit` end to end against plain `pm.sample()` on the same data, in one run.

Run from the project root:  python analyses/benchmarks/bench_fit.py [--repeat 3] [--write]

Task A: one cell, 12 K_o levels (1-100 mM, K+ replacing Na+), GHK + pump, noise 2 mV,
4 chains x 1000 draws after 1000 tuning. `vrest fit` is timed as a separate process
(process start to files written) with empty compile caches (PyTensor's and vrest's), again
with the caches from that run, and on another simulated data set of the same structure
(the cache is keyed by model structure, not data); plain PyMC samples the textbook
parametrisation (log ratios, pump) with `pm.sample()` defaults in this process. Task B:
40 cells x 12 levels, hierarchical. The three vrest runs are repeated --repeat times, each round with new caches
(this machine's timings vary by a third from run to run): the best and every time are
reported. Reported: wall time, divergences, max R-hat, min bulk ESS and bulk ESS per
second, and the floor under any fit's end-to-end time: the seconds a fresh process takes
only to import the libraries a fit needs. --write puts task A's bulk ESS per second (empty
and warm cache) against plain PyMC's into RESULTS.md and the full table into history/ (see
results.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from results import Row, publish

import vrest


def simulate(n_cells: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    k_o = np.geomspace(1, 100, 12)
    frames = []
    for c in range(n_cells):
        p_na, p_cl = np.exp(np.log([0.04, 0.45]) + (0.3 * rng.normal(size=2) if n_cells > 1 else 0))
        pump = 3.0 + (rng.normal() if n_cells > 1 else 0.0)
        v = vrest.predict("ghk", k_o=k_o, na_o=150 - k_o, p_na=p_na, p_cl=p_cl, pump_mv=pump)
        frames.append(pd.DataFrame({"K_o_mM": k_o, "V_m_mV": v + rng.normal(0, 2.0, 12), "cell": f"c{c:02d}"}))
    table = pd.concat(frames, ignore_index=True)
    return table if n_cells > 1 else table.drop(columns="cell")


def run_vrest(csv: Path, out: Path, cache: Path) -> tuple[float, dict]:
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache}", "VREST_CACHE_DIR": str(cache / "vrest")}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vrest.cli", "fit", str(csv), "--model", "ghk", "--out", str(out), "--force",
                    "--seed", "0", "--k-replaces-na"], env=env, check=True, capture_output=True)  # fmt: skip
    wall = time.perf_counter() - t0
    summary = pd.read_csv(out / "summary.csv")
    info = json.loads((out / "fit.json").read_text())
    return wall, {"divergences": info["diagnostics"]["divergences"], "max_r_hat": summary["r_hat"].max(),
                  "min_ess_bulk": summary["ess_bulk"].min(), "sample_s": info["wall_time_s"]["sample_s"]}  # fmt: skip


def import_floor() -> float:
    """Seconds a fresh process needs only to import the libraries every fit loads (nutpie as vrest imports it)."""
    code = "from vrest.inference.nutpie_import import import_nutpie; import_nutpie(); import arviz_stats, scipy.optimize, h5netcdf"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t0


def run_plain_pymc(table: pd.DataFrame) -> tuple[float, dict]:
    """The textbook model: log-normal ratios, half-normal pump, pm.sample() defaults."""
    import arviz_stats as azs
    import pymc as pm
    import pytensor.tensor as pt

    k_o = table["K_o_mM"].to_numpy()
    cells, idx = np.unique(table["cell"], return_inverse=True) if "cell" in table else (["c"], np.zeros(len(k_o), int))
    t0 = time.perf_counter()
    with pm.Model(coords={"cell": cells}):
        mu_na, mu_cl = pm.Normal("mu_log_p_na", np.log(0.05), 1.0), pm.Normal("mu_log_p_cl", np.log(0.3), 1.5)
        mu_pump = pm.Normal("mu_pump_mv", 0.0, 5.0)
        if len(cells) > 1:
            sd = pm.HalfNormal("sd", 0.5, shape=3)
            z = pm.Normal("z", 0, 1, shape=(len(cells), 3))
            log_na, log_cl = mu_na + sd[0] * z[:, 0], mu_cl + sd[1] * z[:, 1]
            pump = mu_pump + 5 * sd[2] * z[:, 2]
            log_na, log_cl, pump = log_na[idx], log_cl[idx], pump[idx]
        else:
            log_na, log_cl, pump = mu_na, mu_cl, mu_pump
        p_na, p_cl = pt.exp(log_na), pt.exp(log_cl)
        vt = 1e3 * 8.314462618 * 310.15 / 96485.33212
        mu = vt * pt.log((k_o + p_na * (150 - k_o) + p_cl * 10) / (140 + p_na * 12 + p_cl * 110)) - pump
        sigma = pm.HalfNormal("sigma", 5.0)
        pm.Normal("v", mu, sigma, observed=table["V_m_mV"].to_numpy())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = pm.sample(random_seed=0, progressbar=False)
    wall = time.perf_counter() - t0
    names = ["mu_log_p_na", "mu_log_p_cl", "mu_pump_mv", "sigma"]
    return wall, {"divergences": int(idata.sample_stats["diverging"].sum()),
                  "max_r_hat": float(max(azs.rhat(idata, var_names=names)[n] for n in names)),
                  "min_ess_bulk": float(min(azs.ess(idata, var_names=names)[n] for n in names)), "sample_s": np.nan}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update RESULTS.md and history/ (see results.py)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the three vrest runs, each with new caches")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat: expected a positive integer, got {args.repeat}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label, n_cells in (("A: 1 cell x 12 levels", 1), ("B: 40 cells x 12 levels, hierarchical", 40)):
            table = simulate(n_cells, seed=1)
            csv, other = tmp / f"cells{n_cells}.csv", tmp / f"other{n_cells}.csv"
            table.to_csv(csv, index=False)
            simulate(n_cells, seed=2).to_csv(other, index=False)
            runs = {"empty cache": [], "warm cache": [], "warm cache, other data": []}
            for r in range(args.repeat):
                cache = tmp / f"cache{n_cells}_{r}"
                for (run, walls), data in zip(runs.items(), (csv, csv, other), strict=True):
                    walls.append(run_vrest(data, tmp / f"out{n_cells}", cache))
            for run, walls in runs.items():
                wall, d = min(walls, key=lambda w: w[0])
                rows.append((label, f"vrest fit ({run}; best of {len(walls)}: {', '.join(f'{w:.1f}' for w, _ in walls)})",
                             wall, d))  # fmt: skip
            wall, d = run_plain_pymc(table)
            rows.append((label, "plain pm.sample() (same process)", wall, d))
    lines = [f"`python analyses/benchmarks/bench_fit.py --repeat {args.repeat}`", "",
             "| task | run | wall s | divergences | max R-hat | min bulk ESS | bulk ESS / s |", "|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for task, run, wall, d in rows:
        lines.append(f"| {task} | {run} | {wall:.1f} | {d['divergences']} | {d['max_r_hat']:.3f} | "
                     f"{d['min_ess_bulk']:.0f} | {d['min_ess_bulk'] / wall:.0f} |")  # fmt: skip
    floor = min(import_floor() for _ in range(3))
    lines.append(f"| - | floor: a fresh process importing nutpie (as vrest does), arviz_stats, scipy.optimize, h5netcdf (best of 3) | "
                 f"{floor:.1f} | | | | |")  # fmt: skip
    plain_wall, plain = rows[3][2:]
    plain_rate = plain["min_ess_bulk"] / plain_wall
    summary = []
    for case, (_, _, wall, d) in (("empty caches", rows[0]), ("warm cache", rows[1])):
        compared = (f"task A (1 cell x 12 K_o levels, GHK + pump, 4 x 1000 draws): min bulk ESS per second of wall time, "
                    f"`vrest fit` in a fresh process with {case} (best of {args.repeat}) against plain `pm.sample()`")  # fmt: skip
        rate = d["min_ess_bulk"] / wall
        summary.append(Row(f"bench_fit.py, {case}", compared, f"{rate:.0f} ESS/s ({wall:.1f} s)",
                         f"{plain_rate:.1f} ESS/s ({plain_wall:.1f} s)", rate / plain_rate))  # fmt: skip
    publish("bench_fit.py", lines, summary, args.write)


if __name__ == "__main__":
    main()
