"""Ranking candidate measurements from a fit: vrest design's Laplace-Fisher ranking against nested Monte Carlo of all.

Run from the project root:  python analyses/benchmarks/bench_design.py [--write]

A K_o-only GHK + pump recording (12 rows, K+ replacing Na+) is fitted once; then 20
candidates (the default ones of `vrest design`: more K_o levels, Na-free, low-Cl and
pump-block variants; and single extra K_o levels from 0.5 to 100 mM) are ranked two ways in the same run, from the same 1000 posterior
draws: vrest's way (the Laplace-Fisher score at every draw for all, nested Monte Carlo
for the best 3) and the plain alternative (nested Monte Carlo, 500 outer draws, for
every candidate). Wall seconds, best of 3.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import Row, best_time, publish

import vrest
from vrest.design import Candidate, default_candidates, fit_belief, rank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update RESULTS.md and history/ (see results.py)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    k_o = np.repeat([2.0, 4.0, 8.0, 16.0, 32.0, 64.0], 2)
    v = vrest.predict("ghk", k_o=k_o, na_o=145.0 - k_o, p_na=0.04, p_cl=0.3, pump_mv=3.0) + rng.normal(0, 1, k_o.size)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "ko.csv"
        pd.DataFrame({"K_o_mM": k_o, "V_m_mV": v}).to_csv(data, index=False)
        res = vrest.fit(data, "ghk", fixed={"k_replaces_na": True, "na_o": 145.0 - k_o.min()}, seed=0)
        vrest.write_fit(res, vrest.load_recordings(data), Path(tmp) / "fit")
        belief, base, _ = fit_belief(str(Path(tmp) / "fit"), 1000)
    candidates = default_candidates(base, tuple(belief.names))
    candidates += [Candidate(f"k_o_{k:g}", (k,), n=2) for k in np.geomspace(0.5, 100.0, 20 - len(candidates))]
    n = len(candidates)
    ours = best_time(lambda: rank(belief, candidates, base, seed=0, exact=3, n_outer=500), 3)
    plain = best_time(lambda: rank(belief, candidates, base, seed=0, exact=n, n_outer=500), 3)
    top = rank(belief, candidates, base, seed=0, exact=3, n_outer=500).rows[0]["candidate"]
    lines = ["# bench_design: ranking the next experiment", "",
             f"{n} default candidates of a K_o-only GHK + pump fit, 1000 posterior draws; best: {top}",
             f"vrest design (Laplace-Fisher for all, nested Monte Carlo for the best 3): {ours:.2f} s",
             f"nested Monte Carlo for every candidate: {plain:.2f} s"]  # fmt: skip
    row = Row("bench_design.py", f"ranking {n} candidate measurements from a fit (1000 draws): vrest design "
              "(Laplace-Fisher score for all, nested Monte Carlo for the best 3) against nested Monte Carlo for "
              "every candidate (s, best of 3)", f"{ours:.2f} s", f"{plain:.2f} s", plain / ours)  # fmt: skip
    publish("bench_design.py", lines, [row], args.write)


if __name__ == "__main__":
    main()
