"""Validation of `vrest design` on synthetic data: does the chosen next measurement shrink the posterior as predicted?

For each seed: (a) a K_o-only recording (GHK + pump, K+ replacing Na+, K_o 2-40 mM, 3 rows per
level, noise 1 mV) is fitted with `vrest.fit` and written with `vrest.write_fit`; (b) the design
ranks {three extra K_o levels in the same saline, Na-free at 5 mM K, low-Cl at 5 mM K} from the fit
folder; (c) the chosen measurement and the best K_o-only one are simulated from the true parameters
and each is refitted together with the recording; (d) the realised posterior sd of each target is
set against the predicted one. Also times the ranking of 20 candidates. Slow (minutes): not run by CI.

    /work/venv/bin/python analyses/design/design_study.py [--seeds 1 2 3]

Writes results.csv, timing.json and design_study.png beside this file.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import vrest
from vrest.design import Candidate, fit_belief, rank

HERE = Path(__file__).resolve().parent
TRUTH = {"p_na": 0.05, "p_cl": 0.3, "pump_mv": 4.0}
K_LEVELS = (2.0, 5.0, 10.0, 20.0, 40.0)
NA_PLUS_K = 152.0  # Na_o 150 mM at K_o 2 mM; K+ replaces Na+
NOISE_MV = 1.0
PER_LEVEL = 3
FIT = {"chains": 2, "draws": 500, "tune": 500}


def candidates() -> list[Candidate]:
    """The mixed candidate set: three extra K_o levels (same saline), Na-free and low-Cl at 5 mM K (3 rows each)."""
    return [Candidate("k_o_3", (3.0,), n=3), Candidate("k_o_7", (7.0,), n=3), Candidate("k_o_14", (14.0,), n=3),
            Candidate("na_free_5", (5.0,), {"na_o": 1.0}, n=3), Candidate("low_cl_5", (5.0,), {"cl_o": 11.0}, n=3)]  # fmt: skip


def recording(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    k_o = np.repeat(K_LEVELS, PER_LEVEL)
    v = vrest.predict("ghk", k_o=k_o, na_o=NA_PLUS_K - k_o, **TRUTH)
    return pd.DataFrame({"K_o_mM": k_o, "V_m_mV": v + rng.normal(0.0, NOISE_MV, k_o.size)})


def fit(recordings, seed: int, **fixed):
    """``vrest.fit`` of the GHK + pump model with this study's sampler settings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return vrest.fit(recordings, "ghk", seed=seed, fixed=fixed, **FIT)


def sampled_sd(result, name: str) -> float:
    """Posterior sd on the sampled scale (ln for ratios, mV for the pump)."""
    draws = result.posterior.posterior[name].values.reshape(-1)
    return float(np.log(draws).std() if name != "pump_mv" else draws.std())


def one_seed(seed: int, work: Path) -> list[dict]:
    table = recording(seed)
    csv = work / f"ko_{seed}.csv"
    table.to_csv(csv, index=False)
    recordings = vrest.load_recordings(csv)
    first = fit(recordings, seed, k_replaces_na=True)
    vrest.write_fit(first, recordings, work / f"fit_{seed}")
    belief, base, _ = fit_belief(str(work / f"fit_{seed}"), 1000)
    ranking = rank(belief, candidates(), base, seed=seed, exact=5)
    by_name = {c.name: c for c in candidates()}
    chosen = ranking.rows[0]
    best_k = next(r for r in ranking.rows if r["candidate"].startswith("k_o_"))
    rng = np.random.default_rng([seed, 1])
    old = table.assign(Na_o_mM=NA_PLUS_K - table["K_o_mM"], Cl_o_mM=base.values["cl_o"], condition="recorded")
    out = []
    for role, row in (("chosen", chosen), ("best K_o-only", best_k)):
        rows, _ = by_name[row["candidate"]].rows(base, "ghk", tuple(belief.names))
        v = vrest.predict("ghk", **rows, **TRUTH) + rng.normal(0.0, NOISE_MV, rows["k_o"].size)
        new = pd.DataFrame({"K_o_mM": rows["k_o"], "Na_o_mM": rows["na_o"], "Cl_o_mM": rows["cl_o"], "V_m_mV": v,
                            "condition": "new"})  # fmt: skip
        refit = fit(vrest.load_recordings(pd.concat([old, new], ignore_index=True)), seed)
        for t in ranking.targets:
            out.append({"seed": seed, "role": role, "candidate": row["candidate"], "target": t,
                        "eig_nats": row["eig_nats"], "eig_mc_se": row["eig_mc_se"], "estimator": row["estimator"],
                        "eig_laplace_nats": row["eig_laplace_nats"], "sd_now": sampled_sd(first, t),
                        "sd_predicted": row[f"sd_after_{t}"],
                        "sd_predicted_laplace": row[f"sd_after_laplace_{t}"], "sd_realised": sampled_sd(refit, t)})  # fmt: skip
        print(f"seed {seed}: {role} {row['candidate']}: EIG {row['eig_nats']:.2f} +/- {row['eig_mc_se']:.2f} nats; "
              + ", ".join(f"{r['target']} sd {r['sd_now']:.3g} -> predicted {r['sd_predicted']:.3g}, realised "
                          f"{r['sd_realised']:.3g}" for r in out if r["role"] == role), flush=True)  # fmt: skip
    return out


def timing(work: Path, seed: int) -> dict:
    """Wall time of ranking 20 candidates from a fit folder (Laplace for all, nested MC for the best 3, greedy 3)."""
    belief, base, _ = fit_belief(str(work / f"fit_{seed}"), 1000)
    many = [Candidate(f"c{i}", (1.0 + i, 5.0, 30.0 + i), {"cl_o": 20.0 + 5 * i}, n=3) for i in range(20)]
    t0 = time.perf_counter()
    ranking = rank(belief, many, base, seed=0, exact=3, choose=3)
    return {"candidates": 20, "draws": int(belief.theta.shape[0]), "wall_s": time.perf_counter() - t0,
            **{k: round(v, 3) for k, v in ranking.timings.items()}}  # fmt: skip


def figure(results: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4.2))
    markers = {"p_na": "o", "p_cl": "s", "pump_mv": "^"}
    colours = {"chosen": "tab:blue", "best K_o-only": "tab:orange"}
    for (role, t), g in results.groupby(["role", "target"]):
        ax.scatter(g["sd_predicted"], g["sd_realised"], marker=markers[t], color=colours[role], label=f"{role}: {t}")
    lo, hi = (
        results[["sd_predicted", "sd_realised"]].min().min() / 1.5,
        results[["sd_predicted", "sd_realised"]].max().max() * 1.5,
    )
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="predicted posterior sd after (sampled scale)",
           ylabel="realised posterior sd after refit", title="Predicted vs realised (each seed)")  # fmt: skip
    ax.legend(fontsize="x-small")
    shrink = results.assign(predicted=1 - results["sd_predicted"] / results["sd_now"],
                            realised=1 - results["sd_realised"] / results["sd_now"])  # fmt: skip
    mean = shrink.groupby(["role", "target"])[["predicted", "realised"]].mean().reset_index()
    x = np.arange(len(mean))
    bx.bar(x - 0.2, 100 * mean["predicted"], 0.4, label="predicted")
    bx.bar(x + 0.2, 100 * mean["realised"], 0.4, label="realised")
    bx.set_xticks(x, [f"{r}\n{t}" for r, t in zip(mean["role"], mean["target"], strict=True)], fontsize="x-small")
    bx.set(ylabel="shrinkage of the posterior sd (%), mean over seeds", title="Shrinkage per target")
    bx.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results = pd.DataFrame([r for s in args.seeds for r in one_seed(s, work)])
        speed = timing(work, args.seeds[0])
    print(f"ranking 20 candidates: {speed}")
    results.to_csv(HERE / "results.csv", index=False, float_format="%.5g")
    (HERE / "timing.json").write_text(json.dumps(speed, indent=1) + "\n")
    figure(results, HERE / "design_study.png")
    ratio = results["sd_realised"] / results["sd_predicted"]
    cols = ["sd_now", "sd_predicted", "sd_predicted_laplace", "sd_realised"]
    print(results.groupby(["role", "target"])[cols].mean().to_string())
    print(f"realised / predicted sd: median {ratio.median():.2f}, range {ratio.min():.2f}-{ratio.max():.2f}")
    lap = results["sd_realised"] / results["sd_predicted_laplace"]
    print(f"realised / Laplace-predicted sd: median {lap.median():.2f}, range {lap.min():.2f}-{lap.max():.2f}")


if __name__ == "__main__":
    main()
