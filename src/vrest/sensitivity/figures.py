"""Figures of a sensitivity result (PNG and SVG), drawn from its tables only.

- ``indices_bars``: S1 and ST with their CIs per scenario, the linearised S1 and the DGSM bound.
- ``heatmap_k_o``: S1 and ST of every input at every K_o level (all scenarios side by side).
- ``vrest_distribution``: the distribution of V_rest over each scenario.
- ``vrest_vs_k_o``: median V_rest and its 95% band against K_o.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .results import SensitivityResult

FORMATS = ("png", "svg")


def _save(fig: Figure, directory: Path, stem: str) -> list[str]:
    names = []
    for fmt in FORMATS:
        meta = {"Date": None} if fmt == "svg" else {"Software": None}
        fig.savefig(directory / f"{stem}.{fmt}", dpi=150, bbox_inches="tight", metadata=meta)
        names.append(f"{stem}.{fmt}")
    return names


def _whole(indices: pd.DataFrame) -> pd.DataFrame:
    return indices[indices["K_o_mM"].isna()]


def bars_figure(indices: pd.DataFrame) -> Figure:
    """S1 and ST (bars with CI whiskers), S1_linear (diamonds), DGSM bound (triangles; off-scale above 1)."""
    whole = _whole(indices)
    scenarios = list(dict.fromkeys(whole["scenario"]))
    fig = Figure(figsize=(7.5, 2.2 + 0.32 * whole["input"].nunique() * len(scenarios)), layout="constrained")
    axes = fig.subplots(len(scenarios), 1, squeeze=False, sharex=True)[:, 0]
    for ax, name in zip(axes, scenarios, strict=True):
        rows = whole[whole["scenario"] == name]
        factors = list(dict.fromkeys(rows[rows["index"] == "S1"]["input"]))
        y = np.arange(len(factors))
        for offset, kind, color in ((-0.2, "S1", "tab:blue"), (0.2, "ST", "tab:orange")):
            r = rows[rows["index"] == kind].set_index("input").loc[factors]
            err = np.vstack([r["value"] - r["ci_low"], r["ci_high"] - r["value"]])
            ax.barh(y + offset, r["value"], height=0.38, xerr=err, color=color, label=kind, capsize=2)
        lin = rows[rows["index"] == "S1_linear"].set_index("input").loc[factors]
        ax.plot(lin["value"], y - 0.2, "kD", ms=4, label="S1 linearised")
        bound = rows[rows["index"] == "ST_dgsm_bound"].set_index("input").loc[factors]["value"].clip(upper=1.05)
        ax.plot(bound, y + 0.2, "k>", ms=4, mfc="none", label="ST DGSM bound")
        ax.set_yticks(y, factors)
        ax.invert_yaxis()
        ax.set_title(name, loc="left", fontsize=10)
        ax.axvline(0, color="0.5", lw=0.5)
    axes[-1].set_xlim(-0.05, 1.08)
    axes[-1].set_xlabel("Sobol' index (bars: 95% CI)")
    axes[0].legend(loc="lower right", fontsize=7, ncols=2)
    return fig


def heatmap_figure(indices: pd.DataFrame) -> Figure:
    """S1 and ST per input (rows) and K_o level (columns); dots mark CIs that span 0."""
    rows = indices[indices["K_o_mM"].notna()]
    columns = rows[["scenario", "K_o_mM"]].drop_duplicates().sort_values(["K_o_mM", "scenario"])
    factors = list(dict.fromkeys(rows[rows["index"] == "S1"]["input"]))
    fig = Figure(figsize=(1.8 + 0.42 * len(columns), 1.2 + 0.5 * len(factors) * 2), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    for ax, kind in zip(axes, ("S1", "ST"), strict=True):
        r = rows[rows["index"] == kind]
        grid = np.full((len(factors), len(columns)), np.nan)
        spans = np.zeros(grid.shape, bool)
        for j, (scenario, k) in enumerate(columns.itertuples(index=False)):
            cell = r[(r["scenario"] == scenario) & (r["K_o_mM"] == k)].set_index("input")
            for i, name in enumerate(factors):
                if name in cell.index:
                    grid[i, j] = cell.at[name, "value"]
                    spans[i, j] = "ci_spans_zero" in cell.at[name, "flag"].split(";")
        image = ax.imshow(np.clip(grid, 0, 1), vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ii, jj = np.nonzero(spans)
        ax.plot(jj, ii, "w.", ms=3)
        ax.set_yticks(range(len(factors)), factors)
        ax.set_title(f"{kind} at each K_o (white dot: CI spans 0)", loc="left", fontsize=10)
        fig.colorbar(image, ax=ax, shrink=0.8)
        edges = np.nonzero(columns["scenario"].to_numpy()[1:] != columns["scenario"].to_numpy()[:-1])[0]
        for e in edges:
            ax.axvline(e + 0.5, color="w", lw=1.5)
    axes[-1].set_xticks(range(len(columns)), [f"{k:g}" for k in columns["K_o_mM"]], rotation=90)
    axes[-1].set_xlabel("[K+]_o (mM)")
    return fig


def distribution_figure(v_samples: dict[str, np.ndarray]) -> Figure:
    """Histograms of V_rest (mV) over each scenario (failed runs left out)."""
    fig = Figure(figsize=(6.5, 3.2), layout="constrained")
    ax = fig.subplots()
    finite = {k: v[np.isfinite(v)] for k, v in v_samples.items()}
    lo = min((v.min() for v in finite.values() if v.size), default=-100.0)
    hi = max((v.max() for v in finite.values() if v.size), default=0.0)
    bins = np.linspace(lo, hi, 80) if hi > lo else 20
    for name, v in finite.items():
        ax.hist(v, bins=bins, histtype="step", density=True, lw=1.5, label=f"{name} (median {np.median(v):.1f} mV)")
    ax.set_xlabel("V_rest (mV)")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return fig


def v_band_figure(summary: pd.DataFrame) -> Figure:
    """Median V_rest and its 2.5-97.5% band against K_o per scenario; below, the share of runs with two stable states"""
    rows = summary[summary["K_o_mM"].notna()]
    multi = rows["multistable_runs"].sum() > 0
    fig = Figure(figsize=(6.5, 4.6 if multi else 3.4), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1]) if multi else [fig.subplots()]
    for name, r in rows.groupby("scenario", sort=False):
        line = axes[0].plot(r["K_o_mM"], r["V_median_mV"], "-o", ms=3, label=name)[0]
        axes[0].fill_between(r["K_o_mM"], r["V_q025_mV"], r["V_q975_mV"], color=line.get_color(), alpha=0.25)
        if multi:
            axes[1].plot(r["K_o_mM"], 100 * r["multistable_runs"] / r["runs"], "-o", ms=3, color=line.get_color())
    axes[0].set_ylabel("V_rest (mV): median, 95% band")
    axes[0].legend(fontsize=8)
    if multi:
        axes[1].set_ylabel("two stable\nstates (% runs)")
    axes[-1].set_xlabel("[K+]_o (mM)")
    return fig


def write_figures(result: SensitivityResult, directory: Path) -> list[str]:
    """Draw every figure the result supports into ``directory``; returns the file names."""
    names = _save(bars_figure(result.indices), directory, "indices_bars")
    names += _save(distribution_figure(result.v_samples), directory, "vrest_distribution")
    if result.indices["K_o_mM"].notna().any():
        names += _save(heatmap_figure(result.indices), directory, "heatmap_k_o")
        names += _save(v_band_figure(result.summary), directory, "vrest_vs_k_o")
    return names
