"""Validation of `vrest design` on synthetic data: does the chosen next measurement shrink the posterior as predicted?

For each seed: (a) a K_o-only recording (GHK + pump, K+ replacing Na+, K_o 2-40 mM, 3 rows per
level, noise 1 mV) is fitted with `vrest.fit` and written with `vrest.write_fit`; (b) the design
ranks {three extra K_o levels in the same saline, Na-free at 5 mM K, low-Cl at 5 mM K} from the fit
folder (nested Monte Carlo for all five); (c) the chosen measurement and the best K_o-only one are
simulated and each is refitted together with the recording, two ways:

* posterior draws (what the prediction means): the new rows are simulated from ``--draws``
  parameter sets drawn from the current posterior (with their noise sd), as the prediction, an
  expected posterior variance over the current posterior, assumes. The draws are picked with
  probability half uniform, half proportional to the design's local Laplace variance after (the
  heavy tail that dominates the expected variance is then sampled) and weighted back; the realised
  expected posterior variance is the weighted regression estimate of the mean over all draws, with
  the local Laplace variance as control variate (its mean over all draws is known); its Monte
  Carlo error is a bootstrap over the refits (refit noise included).
* fixed truth: ``--reps`` simulations from the true parameters (p_na 0.05, p_cl 0.3, pump 4 mV).
  One truth is one point of the current posterior: the realised sd is set against the predicted
  10-90% range over the draws and against the local Laplace sd at the truth.

Also times the ranking of 20 candidates. Slow (minutes): not run by CI.

    /work/venv/bin/python analyses/design/design_study.py [--seeds 1 2 3 4 5 6 7 8] [--draws 32] [--reps 2]

Writes results.csv (one row per seed, measurement and target), refits.csv (one row per refit and
target), pooled.csv (one row per measurement and target, over seeds), timing.json and
design_study.png beside this file.
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
from vrest.design import Belief, Candidate, evaluate, fisher, fit_belief, gaussian_gain, nested_gain, rank

HERE = Path(__file__).resolve().parent
TRUTH = {"p_na": 0.05, "p_cl": 0.3, "pump_mv": 4.0}
K_LEVELS = (2.0, 5.0, 10.0, 20.0, 40.0)
NA_PLUS_K = 152.0  # Na_o 150 mM at K_o 2 mM (given to the fit); K+ replaces Na+
NOISE_MV = 1.0
PER_LEVEL = 3
FIT = {"chains": 2, "draws": 500, "tune": 500}
ROLES = ("chosen", "best K_o-only")


def candidates() -> list[Candidate]:
    """The mixed candidate set: three extra K_o levels (same saline), Na-free and low-Cl at 5 mM K (3 rows each)."""
    return [Candidate("k_o_3", (3.0,), n=3), Candidate("k_o_7", (7.0,), n=3), Candidate("k_o_14", (14.0,), n=3),
            Candidate("na_free_5", (5.0,), {"na_o": 1.0}, n=3), Candidate("low_cl_5", (5.0,), {"cl_o": 11.0}, n=3)]  # fmt: skip


def recording(seed: int) -> pd.DataFrame:
    """The K_o-only recording of ``seed`` (mV)."""
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


def local_var(belief: Belief, candidate: Candidate, base, idx: np.ndarray) -> np.ndarray:
    """The design's local Laplace posterior variance after ``candidate`` at each draw of ``belief`` (draws, targets)."""
    info = fisher(evaluate(belief, candidate, base).jac, belief.sigma_mv**2)
    return np.diagonal(gaussian_gain(belief.local_cov(), info, idx)[1], axis1=1, axis2=2)[:, idx]


def sampling_probabilities(var: np.ndarray) -> np.ndarray:
    """Probability of simulating at each draw, from the local Laplace variances after (draws, targets): half
    uniform, half proportional to their sum over targets (each relative to its mean over the draws)."""
    share = (var / var.mean(0)).sum(1)
    return 0.5 / share.size + 0.5 * share / share.sum()


def expected_variance(real: np.ndarray, pred: np.ndarray, weight: np.ndarray, pred_mean: float) -> float:
    """Mean over all draws of the realised variance, from refits at draws picked with probability q (``weight`` =
    1 / (draws q)): the weighted least-squares line of ``real`` on ``pred`` (the local Laplace variance at the
    same draws) at ``pred_mean``, the mean of ``pred`` over all draws."""
    w = weight / weight.sum()
    real_mean, pred_picked = float(w @ real), float(w @ pred)
    beta = float((w * (pred - pred_picked) * (real - real_mean)).sum() / (w * (pred - pred_picked) ** 2).sum())
    return real_mean + beta * (pred_mean - pred_picked)


def bootstrap_se(real: np.ndarray, pred: np.ndarray, weight: np.ndarray, pred_mean: float, rng,
                 n_boot: int = 2000) -> float:  # fmt: skip
    """Bootstrap standard error (resampling refits) of :func:`expected_variance`."""
    picks = rng.integers(0, real.size, size=(n_boot, real.size))
    boots = [expected_variance(real[i], pred[i], weight[i], pred_mean) for i in picks if np.ptp(pred[i]) > 0]
    return float(np.std(boots, ddof=1))


def new_rows(candidate: Candidate, base, belief: Belief, params: dict, sigma: float, rng) -> pd.DataFrame:
    """``candidate``'s rows simulated at ``params`` (natural scale) with noise sd ``sigma`` (mV)."""
    rows, _ = candidate.rows(base, "ghk", tuple(belief.names))
    v = vrest.predict("ghk", **rows, **params) + rng.normal(0.0, sigma, rows["k_o"].size)
    return pd.DataFrame({"K_o_mM": rows["k_o"], "Na_o_mM": rows["na_o"], "Cl_o_mM": rows["cl_o"], "V_m_mV": v,
                         "condition": "new"})  # fmt: skip


def one_seed(seed: int, work: Path, n_draws: int, reps: int) -> tuple[list[dict], list[dict]]:
    """(summary rows, refit rows) of one seed."""
    table = recording(seed)
    csv = work / f"ko_{seed}.csv"
    table.to_csv(csv, index=False)
    recordings = vrest.load_recordings(csv)
    first = fit(recordings, seed, k_replaces_na=True, na_o=NA_PLUS_K - min(K_LEVELS))
    vrest.write_fit(first, recordings, work / f"fit_{seed}")
    belief, base, _ = fit_belief(str(work / f"fit_{seed}"), 1000)
    ranking = rank(belief, candidates(), base, seed=seed, exact=5)
    idx = np.array([belief.names.index(t) for t in ranking.targets])
    by_name = {c.name: c for c in candidates()}
    picked = {
        "chosen": ranking.rows[0],
        "best K_o-only": next(r for r in ranking.rows if r["candidate"].startswith("k_o_")),
    }
    old = table.assign(Na_o_mM=NA_PLUS_K - table["K_o_mM"], Cl_o_mM=base.values["cl_o"], condition="recorded")
    truth = Belief(belief.model, belief.priors, np.array([[np.log(TRUTH["p_na"]), np.log(TRUTH["p_cl"]),
                   TRUTH["pump_mv"]]]), np.array([np.median(belief.sigma_mv)]), belief.recorded, belief.recorded_sem)  # fmt: skip
    summary, refits = [], []
    for role, row in picked.items():
        cand = by_name[row["candidate"]]
        var = local_var(belief, cand, base, idx)
        at_truth = np.sqrt(local_var(truth, cand, base, idx)[0])
        nested = nested_gain(belief.theta, evaluate(belief, cand, base).pred, belief.sigma_mv, idx, 500,
                             np.random.default_rng([seed, 2]))  # fmt: skip
        rng = np.random.default_rng([seed, 1, ROLES.index(role)])
        prob = sampling_probabilities(var)
        drawn = rng.choice(prob.size, size=n_draws, p=prob)
        natural = belief.natural()
        for check, sets in (("truth", [(TRUTH, NOISE_MV, -1)] * reps),
                            ("posterior draws", [({k: float(v[i, 0]) for k, v in natural.items()},
                                                  float(belief.sigma_mv[i]), int(i)) for i in drawn])):  # fmt: skip
            for params, sigma, i in sets:
                new = new_rows(cand, base, belief, params, sigma, rng)
                refit = fit(vrest.load_recordings(pd.concat([old, new], ignore_index=True)), seed)
                for j, t in enumerate(ranking.targets):
                    refits.append({"seed": seed, "role": role, "candidate": row["candidate"], "check": check,
                                   "draw": i, "weight": 1.0 / (prob.size * prob[i]) if i >= 0 else np.nan,
                                   "target": t, "sd_realised": sampled_sd(refit, t),
                                   "sd_laplace_local": float(np.sqrt(var[i, j])) if i >= 0 else at_truth[j]})  # fmt: skip
        done = pd.DataFrame(refits).query("seed == @seed and role == @role")
        for j, t in enumerate(ranking.targets):
            at_draws = done[(done["check"] == "posterior draws") & (done["target"] == t)]
            real, pred = at_draws["sd_realised"].to_numpy() ** 2, at_draws["sd_laplace_local"].to_numpy() ** 2
            weight = at_draws["weight"].to_numpy()
            mean_var = expected_variance(real, pred, weight, float(var[:, j].mean()))
            se_var = bootstrap_se(real, pred, weight, float(var[:, j].mean()), np.random.default_rng([seed, 3, j]))
            realised = np.sqrt(max(mean_var, 0.0))
            at_truth_sd = done[(done["check"] == "truth") & (done["target"] == t)]["sd_realised"]
            summary.append({
                "seed": seed, "role": role, "candidate": row["candidate"], "target": t, "eig_nats": row["eig_nats"],
                "eig_mc_se": row["eig_mc_se"], "estimator": row["estimator"], "sd_estimator": row["sd_estimator"],
                "weights_ess": row["weights_ess"], "sd_now": row[f"sd_now_{t}"], "sd_predicted": row[f"sd_after_{t}"],
                "sd_predicted_se": row[f"sd_after_se_{t}"], "sd_predicted_laplace": row[f"sd_after_laplace_{t}"],
                "sd_predicted_nested": nested.sd_after[j], "sd_predicted_p10": row[f"sd_after_p10_{t}"],
                "sd_predicted_p90": row[f"sd_after_p90_{t}"], "sd_realised_draws": realised,
                "sd_realised_draws_se": se_var / (2.0 * realised), "refits_draws": len(at_draws),
                "sd_realised_truth": at_truth_sd.mean(), "refits_truth": len(at_truth_sd),
                "sd_laplace_at_truth": at_truth[j]})  # fmt: skip
        for r in summary[-len(ranking.targets) :]:
            print(f"seed {seed}: {role} {r['candidate']} {r['target']}: sd {r['sd_now']:.3g} -> predicted "
                  f"{r['sd_predicted']:.3g} +/- {r['sd_predicted_se']:.2g}; realised at posterior draws "
                  f"{r['sd_realised_draws']:.3g} +/- {r['sd_realised_draws_se']:.2g}, at the truth "
                  f"{r['sd_realised_truth']:.3g} (local Laplace there {r['sd_laplace_at_truth']:.3g}; predicted 10-90% "
                  f"{r['sd_predicted_p10']:.3g}-{r['sd_predicted_p90']:.3g})", flush=True)  # fmt: skip
    return summary, refits


def pooled(results: pd.DataFrame) -> pd.DataFrame:
    """Per measurement role and target: the mean over seeds of realised / predicted sd (posterior-draw check) with its
    standard error (each seed's from the realised and predicted Monte Carlo errors), and whether it is within 2 se
    of 1; and the mean over seeds of the fixed-truth sds, how many lie in the predicted 10-90% range, and the mean
    ratio (with its standard error over seeds) of the realised sd at the truth to the local Laplace sd there."""
    r = results.assign(ratio=results["sd_realised_draws"] / results["sd_predicted"])
    r["ratio_se"] = r["ratio"] * np.hypot(r["sd_realised_draws_se"] / r["sd_realised_draws"],
                                          r["sd_predicted_se"] / r["sd_predicted"])  # fmt: skip
    r["truth_inside"] = r["sd_realised_truth"].between(r["sd_predicted_p10"], r["sd_predicted_p90"])
    r["truth_vs_local"] = r["sd_realised_truth"] / r["sd_laplace_at_truth"]
    g = r.groupby(["role", "target"], sort=False)
    out = g[["sd_now", "sd_predicted", "sd_predicted_laplace", "sd_predicted_nested", "sd_realised_draws",
             "sd_predicted_p10", "sd_predicted_p90", "sd_laplace_at_truth", "sd_realised_truth"]].mean()  # fmt: skip
    out["ratio"] = g["ratio"].mean()
    out["ratio_se"] = g["ratio_se"].apply(lambda s: float(np.sqrt((s**2).sum()) / s.size))
    out["agrees"] = (out["ratio"] - 1).abs() <= 2 * out["ratio_se"]
    out["truth_inside"] = g["truth_inside"].sum().astype(str) + "/" + g["truth_inside"].size().astype(str)
    out["truth_vs_local"] = g["truth_vs_local"].mean()
    out["truth_vs_local_se"] = g["truth_vs_local"].std(ddof=1) / np.sqrt(g.size())
    return out.reset_index()


def timing(work: Path, seed: int) -> dict:
    """Wall time of ranking 20 candidates from a fit folder (Laplace for all, nested MC for the best 3, greedy 3)."""
    belief, base, _ = fit_belief(str(work / f"fit_{seed}"), 1000)
    many = [Candidate(f"c{i}", (1.0 + i, 5.0, 30.0 + i), {"cl_o": 20.0 + 5 * i}, n=3) for i in range(20)]
    t0 = time.perf_counter()
    ranking = rank(belief, many, base, seed=0, exact=3, choose=3)
    return {"candidates": 20, "draws": int(belief.theta.shape[0]), "wall_s": time.perf_counter() - t0,
            **{k: round(v, 3) for k, v in ranking.timings.items()}}  # fmt: skip


def figure(results: pd.DataFrame, path: Path) -> None:
    """Left: fixed truth, realised vs predicted sd with the predicted 10-90% range; right: posterior-draw check,
    realised / predicted sd per seed with its Monte Carlo error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.4))
    markers = {"p_na": "o", "p_cl": "s", "pump_mv": "^"}
    colours = {"chosen": "tab:blue", "best K_o-only": "tab:orange"}
    for (role, t), g in results.groupby(["role", "target"]):
        ax.hlines(g["sd_realised_truth"], g["sd_predicted_p10"], g["sd_predicted_p90"], color=colours[role], lw=0.6)
        ax.scatter(g["sd_predicted"], g["sd_realised_truth"], marker=markers[t], color=colours[role], s=22,
                   label=f"{role}: {t}")  # fmt: skip
    lo = min(results["sd_predicted_p10"].min(), results["sd_realised_truth"].min()) / 1.5
    hi = max(results["sd_predicted_p90"].max(), results["sd_realised_truth"].max()) * 1.5
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="predicted sd after (bars: 10-90% over the current posterior)",
           ylabel="realised sd after refit (truth)", title="Fixed truth: one point of the current posterior")  # fmt: skip
    ax.legend(fontsize="x-small")
    r = results.assign(ratio=results["sd_realised_draws"] / results["sd_predicted"])
    r["err"] = r["ratio"] * np.hypot(r["sd_realised_draws_se"] / r["sd_realised_draws"],
                                     r["sd_predicted_se"] / r["sd_predicted"])  # fmt: skip
    means = pooled(results).set_index(["role", "target"])
    labels = []
    for k, ((role, t), g) in enumerate(r.groupby(["role", "target"], sort=False)):
        x = k + np.linspace(-0.3, 0.2, len(g))
        bx.errorbar(x, g["ratio"], yerr=2 * g["err"], fmt=markers[t], color=colours[role], ms=4, lw=0.7)
        m = means.loc[(role, t)]
        bx.errorbar(k + 0.33, m["ratio"], yerr=2 * m["ratio_se"], fmt="D", color="k", ms=5, lw=1.2,
                    label="mean over seeds" if k == 0 else None)  # fmt: skip
        labels.append(f"{role}\n{t}")
    bx.axhline(1.0, color="k", ls="--", lw=0.8)
    bx.set_xticks(range(len(labels)), labels, fontsize="x-small")
    bx.set(ylabel="realised / predicted sd (bars: 2 Monte Carlo se)",
           title="New rows simulated from posterior draws (each seed)")  # fmt: skip
    bx.legend(fontsize="x-small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 7, 8])
    parser.add_argument("--draws", type=int, default=32, help="posterior draws simulated per measurement and seed")
    parser.add_argument("--reps", type=int, default=2, help="simulations from the truth per measurement and seed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        parts = [one_seed(s, work, args.draws, args.reps) for s in args.seeds]
        speed = timing(work, args.seeds[0])
    print(f"ranking 20 candidates: {speed}")
    results = pd.DataFrame([r for p in parts for r in p[0]])
    refits = pd.DataFrame([r for p in parts for r in p[1]])
    results.to_csv(HERE / "results.csv", index=False, float_format="%.5g")
    refits.to_csv(HERE / "refits.csv", index=False, float_format="%.5g")
    (HERE / "timing.json").write_text(json.dumps(speed, indent=1) + "\n")
    figure(results, HERE / "design_study.png")
    summary = pooled(results)
    summary.to_csv(HERE / "pooled.csv", index=False, float_format="%.5g")
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(summary.round(4).to_string())


if __name__ == "__main__":
    main()
