"""Hypo- and hyperkalaemia: V_rest against [K+]_o with uncertainty bands, bistability and per-K_o Sobol indices.

Run from the project root:  python analyses/kalaemia/kalaemia.py [--n 4096] [--seed 0]

For the GHK and the inward-rectifier (rectifying-kir) models it
1. varies every other input over the bundled normokalaemia ranges (the kalaemia presets
   differ only in K_o) at 37 K_o levels from 1 to 10 mM: V_rest median and 95% band at
   each level, and the per-K_o Sobol indices (S1, ST with CIs, cross-checked);
   for rectifying-kir both stable branches and the share of runs with two stable states;
2. shades the bistable K_o range of rectifying-kir (vrest.bistable_range, saddle-node
   bounds) at the scenario centre and at the model defaults, with every steady state at
   the centre (vrest.steady_states);
3. runs the three bundled scenarios (hypo-, normo-, hyperkalaemia) whole.

Writes figures to analyses/kalaemia/figures/, the result directories of vrest sensitivity
(indices.csv, summary.csv, sensitivity.json, its own figures) to analyses/kalaemia/results/,
and prints the numbers that README.md quotes.
"""

from __future__ import annotations

import argparse
import shutil
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import vrest
from vrest.sensitivity import bars_figure, bundled_scenario, scenario_from_table, sobol_analysis, write_outputs

HERE = Path(__file__).resolve().parent
MODELS = ("ghk", "rectifying-kir")
GRID = np.round(np.arange(1.0, 10.0 + 1e-9, 0.25), 2)
THRESHOLDS = (3.5, 5.5)  # hypokalaemia below, hyperkalaemia from (mM)
SPAN = {"extends": "normokalaemia", "name": "kalaemia-span",
        "title": "K_o 1-10 mM, other inputs as the bundled kalaemia scenarios",
        "source": "K_o range of the study; other inputs: bundled normokalaemia.toml",
        "inputs": {"k_o": {"dist": "uniform", "low": 1.0, "high": 10.0, "source": "study range"}}}  # fmt: skip


def centre(model: str) -> dict[str, float]:
    """The scenario centre (expectations of the varied inputs), K_o excluded."""
    return {x.name: x.dist.expectation for x in bundled_scenario("normokalaemia", model).inputs if x.name != "k_o"}


def per_k_o(model: str, n: int, seed: int, branch: str):
    scenario = scenario_from_table(SPAN, model, where="kalaemia study", default_name="kalaemia-span")
    return sobol_analysis(None, scenario, seed=seed, n=n, k_o_grid=GRID, branch=branch)


def levels(res):
    return res.summary[res.summary["K_o_mM"].notna()]


def band_figure(runs: dict, path: Path) -> dict:
    """V_rest vs K_o: median and 95% band per model and branch; bistable ranges shaded; two-state share below."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.2), sharex=True, height_ratios=[3, 1], layout="constrained")
    notes = {}
    for col, model in enumerate(MODELS):
        ax, below = axes[0, col], axes[1, col]
        for x, text in ((2.2, "hypo"), (4.5, "normo"), (7.7, "hyper")):
            ax.text(x, 20, f"{text}kalaemia", ha="center", va="top", fontsize=8, color="0.3")
        for branch, color in (("hyperpolarized", "tab:blue"), ("depolarized", "tab:red")):
            if (model, branch) not in runs:
                continue
            r = levels(runs[model, branch])
            label = "median, 95% band" if model == "ghk" else f"{branch} branch: median, 95% band"
            ax.plot(r["K_o_mM"], r["V_median_mV"], color=color, lw=1.8, label=label)
            ax.fill_between(r["K_o_mM"], r["V_q025_mV"], r["V_q975_mV"], color=color, alpha=0.2)
            if model == "rectifying-kir":
                below.plot(r["K_o_mM"], 100 * r["multistable_runs"] / r["runs"], color=color, lw=1)
        c = centre(model)
        k = np.geomspace(1.0, 10.0, 400)
        if model == "rectifying-kir":
            ss = vrest.steady_states(model, k_o=k, **c)
            for j in range(ss.v_mv.shape[-1]):
                v = ss.v_mv[:, j]
                ax.plot(k, np.where(ss.stable[:, j], v, np.nan), "k-", lw=0.8)
                ax.plot(k, np.where(~ss.stable[:, j] & np.isfinite(v), v, np.nan), "k--", lw=0.8)
            ranges = vrest.bistable_range(model, 1.0, 10.0, **c)
            defaults = vrest.bistable_range(model, 1.0, 10.0)
            for lo, hi in ranges:
                ax.axvspan(lo, hi, color="0.5", alpha=0.25, label=f"bistable at the centre: {lo:.2f}-{hi:.2f} mM")
            for lo, hi in defaults:
                ax.axvline(lo, color="0.3", ls=":", lw=1)
                ax.axvline(hi, color="0.3", ls=":", lw=1, label=f"bistable at model defaults: {lo:.2f}-{hi:.2f} mM")
            notes[model] = {"bistable_centre": ranges, "bistable_defaults": defaults}
        else:
            ax.plot(k, vrest.predict(model, k_o=k, **c), "k-", lw=0.8, label="scenario centre")
            below.text(
                0.5, 0.5, "exactly one steady state everywhere", transform=below.transAxes, ha="center", va="center"
            )
            below.set_yticks([])
        ax.plot(k, vrest.nernst(k, c["k_i"], 1, c["temp_k"]), color="0.4", lw=0.8, ls="-.", label="E_K at the centre")
        ax.set_title(model, loc="left")
        ax.set_ylabel("V_rest (mV)")
        ax.set_ylim(-125, 25)
        ax.legend(fontsize=7, loc="lower right")
        below.set_ylabel("two stable\nstates (% runs)")
        below.set_xlabel("[K+]_o (mM)")
        below.set_xlim(1, 10)
        for t in THRESHOLDS:
            ax.axvline(t, color="k", lw=0.5)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return notes


def heatmap(runs: dict, path: Path) -> None:
    """ST of every input (rows) at every K_o (columns), GHK and rectifying-kir (hyperpolarised branch)."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), layout="constrained")
    for ax, model in zip(axes, MODELS, strict=True):
        idx = runs[model, "hyperpolarized"].indices
        st = idx[(idx["index"] == "ST") & idx["K_o_mM"].notna()].pivot(index="input", columns="K_o_mM", values="value")
        order = list(dict.fromkeys(idx[idx["index"] == "ST"]["input"]))
        st = st.loc[[o for o in order if o in st.index]]
        image = ax.imshow(st.clip(0, 1).to_numpy(), aspect="auto", vmin=0, vmax=1, cmap="viridis",
                          extent=(GRID[0] - 0.125, GRID[-1] + 0.125, len(st) - 0.5, -0.5))  # fmt: skip
        ax.set_yticks(range(len(st)), st.index)
        for t in THRESHOLDS:
            ax.axvline(t, color="w", lw=1)
        ax.set_xlabel("[K+]_o (mM)")
        ax.set_title(f"{model}: total Sobol index ST at each K_o", loc="left", fontsize=10)
    fig.colorbar(image, ax=axes, shrink=0.8, label="ST")
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096, help="base samples per analysis (default 4096)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", vrest.MultipleSteadyStatesWarning)
    figures, results = HERE / "figures", HERE / "results"
    figures.mkdir(exist_ok=True)
    shutil.rmtree(results, ignore_errors=True)
    t0 = time.perf_counter()

    runs = {}
    for model in MODELS:
        for branch in ("hyperpolarized", "depolarized") if model == "rectifying-kir" else ("hyperpolarized",):
            runs[model, branch] = per_k_o(model, args.n, args.seed, branch)
            write_outputs(runs[model, branch], results / f"span-{model}-{branch}", figures=False)
    notes = band_figure(runs, figures / "vrest_vs_k_o.png")
    heatmap(runs, figures / "heatmap_st.png")

    presets = ["hypokalaemia", "normokalaemia", "hyperkalaemia"]
    for model in MODELS:
        res = sobol_analysis(model, presets, seed=args.seed, n=args.n, k_o_grid=())
        write_outputs(res, results / f"presets-{model}", figures=False)
        fig = bars_figure(res.indices)
        fig.savefig(figures / f"indices_{model}.png", dpi=150, bbox_inches="tight")
        runs[model, "presets"] = res

    # the numbers quoted in README.md
    for model in MODELS:
        r = levels(runs[model, "hyperpolarized"])
        print(f"\n## {model}")
        for k in (1.0, 2.0, 3.5, 5.0, 5.5, 8.0, 10.0):
            row = r[r["K_o_mM"] == k].iloc[0]
            band = f"95% band {row.V_q025_mV:6.1f} to {row.V_q975_mV:6.1f}"
            share = 100 * row.multistable_runs / row.runs
            print(f"K_o {k:4.1f}: median {row.V_median_mV:6.1f} mV, {band}, two stable states in {share:4.1f}% of runs")
        print(*(f"- {f}" for f in runs[model, "hyperpolarized"].findings), sep="\n")
        print(*(f"- {f}" for f in runs[model, "presets"].findings), sep="\n")
        if model in notes:
            print(notes[model])
    print(f"\nwall time {time.perf_counter() - t0:.1f} s; figures in {figures}, tables in {results}")


if __name__ == "__main__":
    main()
