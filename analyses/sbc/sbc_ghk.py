"""Simulation-based calibration of vrest's GHK + pump fit (Talts et al. 2018).

Run from the project root:  python analyses/sbc/sbc_ghk.py [--n-sims 200] [--seed 0] [--scheduler local|none|tcp://...]

Design: one cell, 12 K_o levels 1-100 mM with K+ replacing Na+ (the usual protocol,
in which the GHK + pump model has rank 2: the hardest case). For each simulation,
(p_na, p_cl, pump_mv, sigma_mv) are drawn from vrest's priors, V_m is simulated and
fitted with ``vrest.fit`` at its default settings (4 x 1000 draws; the compiled model is
reused from memory within a worker, the data swapped), and the rank of each true value
among L = 99 thinned posterior draws is recorded. Simulations run as jobs of vrest's batch
engine (Dask; each simulation seeded from the run seed and its index, so the ranks do not
depend on the number of workers). If the posterior is calibrated the ranks
are uniform on 0..99: tested by chi-square (10 bins) and shown as rank histograms
and ECDF differences with 99 % bands. Writes ranks.csv, sbc.png and RESULTS.md here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import vrest
from vrest.parallel import Failure, run_jobs
from vrest.seeding import child_seed

HERE = Path(__file__).resolve().parent
L_DRAWS = 99
NAMES = ["p_na", "p_cl", "pump_mv", "sigma_mv"]


K_O = np.geomspace(1, 100, 12)


def simulate_and_fit(seed: int) -> dict:
    """Draw a truth from vrest's priors, simulate V_m, fit with ``vrest.fit``; the rank of each true value among
    L thinned posterior draws."""
    rng = np.random.default_rng(seed)
    priors = {p.name: p for p in vrest.fitted_priors("ghk")}
    truth = {name: p.to_natural(rng.normal(p.mean, p.sd)) for name, p in priors.items()}
    truth["sigma_mv"] = abs(rng.normal(0.0, vrest.SIGMA_PRIOR_SD_MV))
    na_o = 150.0 - K_O  # K+ replacing Na+
    v = vrest.predict("ghk", k_o=K_O, na_o=na_o, **{k: truth[k] for k in priors})
    table = pd.DataFrame({"K_o_mM": K_O, "Na_o_mM": na_o, "V_m_mV": v + rng.normal(0.0, truth["sigma_mv"], v.size)})
    res = vrest.fit(vrest.load_recordings(table), "ghk", seed=int(rng.integers(2**31)), cores=1)
    row = {"divergences": res.diagnostics["divergences"]}
    for name in NAMES:
        draws = res.posterior.posterior[name].values.reshape(-1)
        row[name] = int(np.sum(draws[:: draws.size // L_DRAWS][:L_DRAWS] < truth[name]))
    return row


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sims", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scheduler", help="none, local (default) or tcp://HOST:PORT")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--out", type=Path, default=HERE, help="folder of ranks.csv, sbc.png, RESULTS.md (default here)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    results: dict[int, dict] = {}

    def keep(name: str, outcome) -> None:
        if isinstance(outcome, Failure):
            sys.exit(f"simulation {name} failed: {outcome.reason}")
        results[int(name)] = outcome

    jobs = {str(i): child_seed(args.seed, f"sbc-{i}") for i in range(args.n_sims)}
    run_jobs(simulate_and_fit, jobs, keep, scheduler=args.scheduler, workers=args.workers, what="sbc")
    ranks = [results[i] for i in range(args.n_sims)]
    divergences = [r["divergences"] for r in ranks]
    ranks = pd.DataFrame(ranks)
    ranks.to_csv(args.out / "ranks.csv", index=False)

    fig, axes = plt.subplots(2, len(NAMES), figsize=(4 * len(NAMES), 6))
    lines = [f"### {dt.date.today().isoformat()}: {args.n_sims} simulations, seed {args.seed}, L = {L_DRAWS}", "",
             "| parameter | chi-square p (10 bins) | verdict |", "|---|---:|---|"]  # fmt: skip
    n = len(ranks)
    for ax_h, ax_e, name in zip(axes[0], axes[1], NAMES):
        counts = np.histogram(ranks[name], bins=10, range=(0, L_DRAWS + 1))[0]
        p = stats.chisquare(counts).pvalue
        lines.append(f"| {name} | {p:.3f} | {'uniform' if p > 0.01 else 'NOT uniform'} |")
        ax_h.bar(range(10), counts, color="0.6")
        lo, hi = stats.binom.ppf([0.005, 0.995], n, 0.1)
        ax_h.axhspan(lo, hi, color="tab:blue", alpha=0.2, label="99 % band")
        ax_h.set_title(f"{name} (chi2 p = {p:.2f})")
        ax_h.set_xlabel("rank bin")
        u = np.sort((ranks[name] + 0.5) / (L_DRAWS + 1))
        grid = np.linspace(0, 1, 101)
        ecdf = np.searchsorted(u, grid, side="right") / n
        band = stats.binom.ppf(0.995, n, grid) / n - grid
        ax_e.plot(grid, ecdf - grid, color="k")
        ax_e.fill_between(grid, -band, band, color="tab:blue", alpha=0.2)
        ax_e.set_xlabel("fractional rank")
        ax_e.set_ylabel("ECDF - uniform")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(args.out / "sbc.png", dpi=110)
    lines += ["", f"divergent transitions: {sum(divergences)} in {n * 4000} draws; wall time {time.perf_counter() - t0:.0f} s", ""]
    text = "\n".join(lines)
    print(text)
    with open(args.out / "RESULTS.md", "a") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
