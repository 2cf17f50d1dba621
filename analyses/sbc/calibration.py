"""What every SBC script here shares (Talts et al. 2018): running the simulations as seeded jobs of vrest's batch
engine, and turning the ranks into a uniformity test, figures and a section of RESULTS.md.

A script defines ``simulate_and_fit(seed) -> {"divergences": int, "draws": int, <parameter>: rank, ...}`` (each
rank: how many of L_DRAWS thinned posterior draws lie below the true value, :func:`rank`) and calls :func:`main`.
If the posterior is calibrated, the ranks are uniform on 0..L_DRAWS: tested by chi-square (10 bins) and shown as
rank histograms and ECDF differences with 99 % bands.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from vrest.parallel import Failure, run_jobs
from vrest.seeding import child_seed

HERE = Path(__file__).resolve().parent
L_DRAWS = 99


def rank(draws: np.ndarray, truth: float) -> int:
    """Rank of ``truth`` among L_DRAWS evenly thinned ``draws`` (all chains)."""
    draws = np.ravel(draws)
    return int(np.sum(draws[:: draws.size // L_DRAWS][:L_DRAWS] < truth))


def main(simulate_and_fit: Callable[[int], dict], names: list[str], *, description: str, title: str, stem: str,
         n_sims: int, flags: dict[str, str] | None = None) -> None:  # fmt: skip
    """Command line of an SBC script: run ``--n-sims`` simulations, write ``<stem>.csv`` (ranks), ``<stem>.png``
    and a section titled ``title`` in RESULTS.md under ``--out`` (default: this folder). ``flags``: the script's
    own on/off options (name: help), which it reads itself."""
    parser = argparse.ArgumentParser(description=description)
    for flag, text in (flags or {}).items():
        parser.add_argument(flag, action="store_true", help=text)
    parser.add_argument("--n-sims", type=int, default=n_sims)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scheduler", help="none, local (default) or tcp://HOST:PORT")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--out", type=Path, default=HERE, help="folder of the ranks, figure and RESULTS.md")
    args = parser.parse_args()
    t0 = time.perf_counter()
    results: dict[int, dict] = {}

    def keep(name: str, outcome) -> None:
        if isinstance(outcome, Failure):
            sys.exit(f"simulation {name} failed: {outcome.reason}")
        results[int(name)] = outcome

    jobs = {str(i): child_seed(args.seed, f"sbc-{i}") for i in range(args.n_sims)}
    run_jobs(simulate_and_fit, jobs, keep, scheduler=args.scheduler, workers=args.workers, what="sbc")
    ranks = pd.DataFrame([results[i] for i in range(args.n_sims)])
    ranks.to_csv(args.out / f"{stem}.csv", index=False)
    heading = f"### {dt.date.today().isoformat()}: {title}, {args.n_sims} simulations, seed {args.seed}, L = {L_DRAWS}"
    lines = [heading, "", *uniformity(ranks, names, args.out / f"{stem}.png")]
    lines += ["", f"divergent transitions: {int(ranks['divergences'].sum())} in {int(ranks['draws'].sum())} draws "
              f"(at most {int(ranks['divergences'].max())} in one fit); wall time {time.perf_counter() - t0:.0f} s", ""]  # fmt: skip
    text = "\n".join(lines)
    print(text)
    with open(args.out / "RESULTS.md", "a") as f:
        f.write(text + "\n")


def uniformity(ranks: pd.DataFrame, names: list[str], figure: Path) -> list[str]:
    """Chi-square test (10 bins) of each parameter's ranks as table rows (markdown), with rank histograms and ECDF
    differences (99 % bands) saved to ``figure``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(names), figsize=(4 * len(names), 6), squeeze=False)
    lines = ["| parameter | chi-square p (10 bins) | verdict |", "|---|---:|---|"]
    n = len(ranks)
    for ax_h, ax_e, name in zip(axes[0], axes[1], names, strict=True):
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
    fig.savefig(figure, dpi=110)
    plt.close(fig)
    return lines
