"""Issue 18's synthetic acceptance of the rectifier fit, over ten data seeds, with and without an ``order`` column.

Run from the project root:  python analyses/sbc/synthetic_kir.py [--seeds 0-9] [--write]

Each data set is the hysteresis loop of ``tests/test_branches.py`` (three cells taken from 20 mM K_o down to 1.5 mM
and back up, each row on the branch the cell follows, 1.5 mV noise; rectifier parameters ``TRUTH`` there, whose
bistable window lies inside the recorded range, so rows sit on both branches). It is fitted by ``vrest.fit`` at the
model's default settings (4 chains x 3000 draws after 1000 tuning for rectifying-kir), with the seed of the data as
the sampler's seed, once with the ``order`` column (hysteresis likelihood) and once without (latent branch).

Acceptance (issue 18): 0 divergences in at least 9 of 10 seeds and never more than 0.5 % of draws, max R-hat <= 1.01,
min bulk ESS >= 400, every true value inside its 95 % interval; here also every row on the branch it was generated on
(posterior probability > 0.95). Prints one line per fit and a Markdown table; ``--write`` appends it to RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))

from test_branches import MODEL, TRUTH, _hysteresis_loop_recordings

import vrest


def one(seed: int, ordered: bool) -> dict:
    """Fit the data set of ``seed`` (with or without its order column) and check it against the acceptance."""
    table, lower = _hysteresis_loop_recordings(seed=seed)
    start = time.perf_counter()
    res = vrest.fit(table if ordered else table.drop(columns="order"), MODEL, seed=seed, hierarchical="no",
                    progress=False)  # fmt: skip
    wall = time.perf_counter() - start
    s = res.summary.set_index("parameter")
    covered = sum(bool(s.at[n, "q2.5"] < v < s.at[n, "q97.5"]) for n, v in TRUTH.items())
    p = res.branches.sort_values("row")["p_hyperpolarized"].to_numpy()
    d = res.diagnostics
    n_draws = int(res.posterior["posterior"].sizes["chain"] * res.posterior["posterior"].sizes["draw"])
    return {"variant": "order column" if ordered else "no order (latent)", "seed": seed, "draws": n_draws,
            "divergences": int(d["divergences"]), "max_r_hat": float(d["max_r_hat"]),
            "min_ess_bulk": float(d["min_ess_bulk"]), "covered": f"{covered}/{len(TRUTH)}",
            "rows_on_branch": float(np.mean(np.where(lower, p > 0.95, p < 0.05))), "wall_s": wall}  # fmt: skip


def verdict(rows: list[dict]) -> str:
    """Whether one variant's fits meet the acceptance, in words."""
    zero = sum(r["divergences"] == 0 for r in rows)
    ok = (zero >= 0.9 * len(rows) and all(r["divergences"] <= 0.005 * r["draws"] for r in rows)
          and all(r["max_r_hat"] <= 1.01 and r["min_ess_bulk"] >= 400 for r in rows)
          and all(r["covered"].split("/")[0] == r["covered"].split("/")[1] for r in rows))  # fmt: skip
    worst_r = max(r["max_r_hat"] for r in rows)
    worst_ess = min(r["min_ess_bulk"] for r in rows)
    return (f"{rows[0]['variant']}: {'meets' if ok else 'does NOT meet'} the acceptance: 0 divergences in {zero} of "
            f"{len(rows)}, max R-hat {worst_r:.4f}, min bulk ESS {worst_ess:.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0-9", help="first-last data seeds (default 0-9)")
    ap.add_argument("--write", action="store_true", help="append the table to RESULTS.md")
    args = ap.parse_args()
    first, last = (int(x) for x in args.seeds.split("-"))
    rows = []
    for ordered in (True, False):
        for seed in range(first, last + 1):
            rows.append(one(seed, ordered))
            r = rows[-1]
            print(f"{r['variant']} seed {seed}: {r['divergences']} divergences, R-hat {r['max_r_hat']:.4f}, ESS "
                  f"{r['min_ess_bulk']:.0f}, truth {r['covered']}, rows on branch {r['rows_on_branch']:.2f}, "
                  f"{r['wall_s']:.1f} s", flush=True)  # fmt: skip
    lines = ["| variant | seed | draws | divergences | max R-hat | min bulk ESS | truth in 95 % | rows on branch | wall s |",
             "|---|---:|---:|---:|---:|---:|---|---:|---:|"]  # fmt: skip
    lines += [f"| {r['variant']} | {r['seed']} | {r['draws']} | {r['divergences']} | {r['max_r_hat']:.4f} | "
              f"{r['min_ess_bulk']:.0f} | {r['covered']} | {r['rows_on_branch']:.2f} | {r['wall_s']:.1f} |"
              for r in rows]  # fmt: skip
    words = [verdict([r for r in rows if r["variant"] == v]) for v in dict.fromkeys(r["variant"] for r in rows)]
    text = "\n".join(lines + [""] + [f"- {w}" for w in words])
    print(text)
    if args.write:
        heading = (f"\n### {datetime.date.today()}: rectifying-kir synthetic acceptance (issue 18), seeds {args.seeds}, "
                   f"vrest {vrest.__version__}\n\n`python analyses/sbc/synthetic_kir.py --seeds {args.seeds} --write`\n\n")
        with open(HERE / "RESULTS.md", "a") as f:
            f.write(heading + text + "\n")


if __name__ == "__main__":
    main()
