"""Assemble the report's blocks and figures from loaded fit and sensitivity folders."""

from __future__ import annotations

import re

import pandas as pd
from matplotlib.figure import Figure

from ..bistability import K_O_SCAN_MM, can_be_bistable
from . import figures as F
from .assess import methods, verdict
from .blocks import Block, Bullets, Fig, Heading, Para, Table, Verdict
from .kalaemia import KALAEMIA_MM, Bistability, bistability, kalaemia_table
from .load import (
    CITATIONS,
    FitRun,
    Observations,
    SensitivityRun,
    condition_inputs,
    membrane_draws,
    observations,
    priors,
)

MAX_DRAWS = 200
"""Posterior draws (at most, evenly thinned) behind the kalaemia predictions and bistable ranges."""

KalaemiaResult = dict[str, tuple[pd.DataFrame, Bistability | None]]
"""Per condition of a fit: the kalaemia table and, for a model that can be bistable, its bistable ranges."""


PARAMETER_COLUMNS = ["parameter", "mean", "sd", "q2.5", "q5", "q50", "q95", "q97.5", "r_hat", "ess_bulk", "ess_tail",
                     "contraction"]  # fmt: skip


def slug(text: str) -> str:
    """A file-name-safe version of ``text``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def assemble(fits: list[FitRun], sens: list[SensitivityRun]) -> tuple[list[Block], dict[str, Figure]]:
    """Every block of the report, and its figures by name."""
    blocks: list[Block] = []
    figs: dict[str, Figure] = {}
    if fits:
        obs = observations(fits[0])
        kalaemia = {fit.label: _kalaemia_analysis(fit, obs) for fit in fits}
        blocks += _data(fits, obs) + _assumptions(fits) + _curve(fits, obs, kalaemia, figs)
        blocks += _parameters(fits, figs) + _diagnostics(fits, figs)
        if len(fits) > 1:
            blocks += _comparison(fits)
        blocks += _derived(fits) + _kalaemia(kalaemia) + _structure(fits)
    if sens:
        blocks += _sensitivity(sens, figs)
    blocks += [Heading("Methods"), Para("A paragraph to adapt for a paper's methods section:"),
               *[Para(p) for p in methods(fits, sens)]]  # fmt: skip
    return blocks, figs


def _data(fits: list[FitRun], obs: Observations) -> list[Block]:
    data = fits[0].info["data"]
    mapping = ", ".join(f"{canon} <- '{col}'" for canon, col in data.get("column_mapping", {}).items())
    citation = CITATIONS.get(data["sha256"], "not one of vrest's bundled data sets: cite its original source.")
    items = [f"file: {data['source']}", f"sha256: {data['sha256']}", f"rows fitted: {data['rows']}",
             f"column mapping: {mapping}", f"citation: {citation}"]  # fmt: skip
    if data.get("extra_columns"):
        items.append("extra columns kept but not used: " + ", ".join(data["extra_columns"]))
    if obs.origin != "file":
        items.append("the data file was not found with this sha256; the values below are the observed_data of "
                     "posterior.nc (no K_o per row, so the data are not drawn against K_o)")  # fmt: skip
    table = obs.table.reset_index()
    return [Heading("Data and provenance"), Bullets(tuple(items)), Table(table, f"The {len(table)} fitted rows.")]


def _assumptions(fits: list[FitRun]) -> list[Block]:
    rows = [{**a, "value": str(a["value"]), "model": f.info["model"]} for f in fits for a in f.info.get("assumptions", [])]
    blocks: list[Block] = [Heading("Assumptions and priors"),
                           Para("Every value the data file does not give is an assumption, listed with where it "
                                "came from. Own them: change them in the study file if they are wrong.")]  # fmt: skip
    if rows:
        frame = pd.DataFrame(rows)
        keys = ["input", "value", "unit", "source", "applies_to"]
        frame = frame.groupby(keys, sort=False)["model"].agg(", ".join).reset_index()
        blocks.append(Table(frame, "Assumed fixed inputs (preset, study file, flags or model defaults)."))
    for fit in fits:
        extra = [f"likelihood: {fit.info.get('likelihood')}", f"preset: {fit.info.get('preset')}"]
        if fit.info.get("uncertain"):
            extra.append("fitted as uncertain nuisance parameters: " + ", ".join(fit.info["uncertain"]))
        extra += [f"note: {n}" for n in fit.info.get("notes", [])]
        blocks += [Para(f"Priors of {fit.label}:"), Bullets(tuple(fit.info.get("priors", [])) + tuple(extra))]
    return blocks


def _curve(fits: list[FitRun], obs: Observations, kalaemia: dict[str, KalaemiaResult | None],
           figs: dict[str, Figure]) -> list[Block]:  # fmt: skip
    ranges = {(label, cond): b.median_range() for label, result in kalaemia.items() if result
              for cond, (_, b) in result.items() if b is not None}  # fmt: skip
    shaded = {key: r for key, r in ranges.items() if r is not None}
    figs["vm_vs_k_o"] = F.vm_figure(fits, obs, shaded)
    blocks: list[Block] = [
        Heading("V_m against log10 K_o"),
        Fig("vm_vs_k_o", "Data (error bars where the file gives them), posterior predictive median of the model V_m "
                         "with 50 % and 90 % credible bands per fitted model and condition, and the Nernst "
                         "potential of K+ at the assumed K_i and temperature. Hatched: the bistable K_o range "
                         "(posterior medians of its bounds) of a model whose posterior is bistable with "
                         "probability >= 0.5; there the curve follows the hyperpolarised state."),
    ]  # fmt: skip
    if obs.origin == "file":
        figs["residuals"] = F.residuals_figure(fits, obs)
        blocks.append(Fig("residuals", "Residuals: observed V_m minus the posterior predictive median, with the "
                                       "90 % predictive interval of a new measurement."))  # fmt: skip
    return blocks


def _parameters(fits: list[FitRun], figs: dict[str, Figure]) -> list[Block]:
    blocks: list[Block] = [Heading("Parameters")]
    for fit in fits:
        key = slug(fit.label)
        cols = [c for c in PARAMETER_COLUMNS if c in fit.summary]
        ps = priors(fit)
        figs[f"prior_posterior_{key}"] = F.prior_posterior_figure(fit, ps)
        blocks += [Heading(fit.label, 3),
                   Table(fit.summary[cols], "Posterior mean, sd, central 90 % and 95 % intervals (q5-q95, "
                                            "q2.5-q97.5), R-hat, ESS, and contraction (1 - posterior/prior variance)."),
                   Fig(f"prior_posterior_{key}", f"{fit.label}: prior (line) and posterior (histogram) on the "
                                                 "sampling scale (natural log for ratios).")]  # fmt: skip
        if len(F.membrane_parameters(fit)) > 1:
            figs[f"pairs_{key}"] = F.pair_figure(fit, ps)
            blocks.append(Fig(f"pairs_{key}", f"{fit.label}: pair plot of the membrane parameters; a ridge or a "
                                              "strong correlation marks a combination the data do not separate."))  # fmt: skip
    return blocks


def _diagnostics(fits: list[FitRun], figs: dict[str, Figure]) -> list[Block]:
    blocks: list[Block] = [Heading("Diagnostics")]
    for fit in fits:
        key = slug(fit.label)
        colour, text = verdict(fit)
        figs[f"ranks_{key}"] = F.rank_figure(fit, priors(fit))
        d = fit.info["diagnostics"]
        table = pd.DataFrame([{"fit": fit.label, "divergences": d["divergences"], "max R-hat": d["max_r_hat"],
                               "min bulk ESS": d["min_ess_bulk"],
                               "min tail ESS": fit.summary["ess_tail"].min() if "ess_tail" in fit.summary else None}])  # fmt: skip
        blocks += [Heading(fit.label, 3), Verdict(colour, text), Table(table),
                   Fig(f"ranks_{key}", f"{fit.label}: rank plots; with well-mixed chains every line is flat near 1.")]  # fmt: skip
    return blocks


def _comparison(fits: list[FitRun]) -> list[Block]:
    from ..inference.compare import compare_fits

    table = compare_fits([f.folder for f in fits])
    best = table.iloc[0]["fit"]
    return [Heading("Model comparison (PSIS-LOO)"),
            Para(f"Expected log predictive density by Pareto-smoothed leave-one-out cross-validation, best first "
                 f"({best}). A difference smaller than about twice its standard error (dse) does not separate the "
                 "models; Pareto k above 0.7 marks observations whose LOO estimate is unreliable."),
            Table(table)]  # fmt: skip


def _derived(fits: list[FitRun]) -> list[Block]:
    frames = [f.derived.assign(fit=f.label) for f in fits]
    table = pd.concat(frames, ignore_index=True)
    table = table[["fit", *[c for c in table.columns if c != "fit"]]]
    return [Heading("Derived quantities"),
            Table(table, "Per condition at its first K_o: V_rest, Nernst potentials E_i, driving forces V - E_i "
                         "(and pump current and ATP rate when a total conductance was given); mean, median and "
                         "90 % interval.")]  # fmt: skip


def _kalaemia_analysis(fit: FitRun, obs: Observations) -> KalaemiaResult | None:
    """Kalaemia predictions and bistable ranges of every condition of ``fit``; None when its inputs are unknown."""
    inputs = condition_inputs(fit, obs)
    if inputs is None:
        return None
    model, preset, params = fit.info["model"], fit.info["preset"], membrane_draws(fit, MAX_DRAWS)
    return {cond: (kalaemia_table(model, params, given, preset),
                   bistability(model, params, given, preset) if can_be_bistable(model) else None)
            for cond, given in inputs.items()}  # fmt: skip


def _kalaemia(kalaemia: dict[str, KalaemiaResult | None]) -> list[Block]:
    levels = ", ".join(f"{name} {k:g} mM" for name, k in KALAEMIA_MM.items())
    blocks: list[Block] = [
        Heading("V_rest in hypo-, normo- and hyperkalaemia"),
        Para(f"Each fitted model's V_rest at {levels} (levels inside the ranges of vrest's kalaemia sensitivity "
             f"scenarios), from up to {MAX_DRAWS} evenly thinned posterior draws, with every other input as the fit "
             "assumed it for that condition; where two stable states exist the hyperpolarised one is used, as in "
             "the fit."),
    ]  # fmt: skip
    tables = [t.assign(fit=label, condition=cond) for label, result in kalaemia.items() if result
              for cond, (t, _) in result.items()]  # fmt: skip
    if tables:
        table = pd.concat(tables, ignore_index=True)
        table = table[["fit", "condition", *[c for c in table if c not in ("fit", "condition")]]]
        bistable = ("; P_bistable_at_K_o: posterior probability that the K_o lies in the model's bistable range"
                    if "P_bistable_at_K_o" in table else "")  # fmt: skip
        blocks.append(Table(table, f"V_rest median and central 90 % credible interval (q5-q95){bistable}."))
    missing = [label for label, result in kalaemia.items() if result is None]
    if missing:
        blocks.append(Para("Not computed for " + ", ".join(missing) + ": inputs came from columns of the data "
                           "file, which was not found."))  # fmt: skip
    rows = [_bistable_row(label, cond, b) for label, result in kalaemia.items() if result
            for cond, (_, b) in result.items() if b is not None]  # fmt: skip
    if rows:
        lo, hi = K_O_SCAN_MM
        blocks += [Heading("Bistable K_o range", 3),
                   Table(pd.DataFrame(rows), f"P_bistable: posterior probability that two stable states coexist "
                                             f"somewhere in K_o {lo:g}-{hi:g} mM; lower and upper K_o bound of the "
                                             "bistable range (median and central 90 % interval over the bistable "
                                             "draws; a bound at a scan end means the range reaches it).")]  # fmt: skip
    return blocks


def _bistable_row(label: str, cond: str, b: Bistability) -> dict:
    row = {"fit": label, "condition": cond, "draws": b.bounds.shape[0], "P_bistable": b.probability}
    q = b.quantiles()
    for j, bound in enumerate(("lower", "upper")):
        for i, name in enumerate(("q5", "median", "q95")):
            row[f"{bound}_K_o_{name}_mM"] = None if q is None else q[i, j]
    return row


def _structure(fits: list[FitRun]) -> list[Block]:
    blocks: list[Block] = [Heading("Identifiability and design advice")]
    for fit in fits:
        items = tuple(fit.info.get("structure", [])) + tuple(f"advice: {a}" for a in fit.info.get("advice", []))
        blocks += [Para(f"{fit.label}:"), Bullets(items or ("no structural analysis recorded",))]
    return blocks


def _sensitivity(runs: list[SensitivityRun], figs: dict[str, Figure]) -> list[Block]:
    blocks: list[Block] = [Heading("Sensitivity")]
    for run in runs:
        key = slug(run.folder.name)
        st = run.info.get("settings", {})
        figs[f"sobol_{key}"] = F.sobol_figure(run)
        blocks += [Heading(f"{run.folder.name}: model {st.get('model')}, N = {st.get('n')}, seed {st.get('seed')}", 3),
                   Fig(f"sobol_{key}", "First-order (S1) and total (ST) Sobol' indices of V_rest over each "
                                       "scenario, with their confidence intervals.")]  # fmt: skip
        if F.has_per_k_o(run):
            figs[f"heatmap_{key}"] = F.heatmap_figure(run)
            blocks.append(Fig(f"heatmap_{key}", "Total-order index of each input at each K_o level."))
        blocks += [Table(_crosscheck(run.indices), "Cross-check over each whole scenario: the Sobol' S1 against the "
                                                   "derivative-based linearised S1, and ST against its DGSM upper "
                                                   "bound; flags mark disagreements and wide intervals.")]  # fmt: skip
        if run.summary is not None:
            blocks.append(Table(_predictions(run), "V_rest over each scenario's input ranges (median and the "
                                                   "central 95 % of model runs)."))  # fmt: skip
        multistable = [r for r in run.info.get("runs", []) if r.get("multistable_runs")]
        blocks += [Bullets(tuple(f"{r['scenario']}: {r['multistable_runs']} run(s) had two stable states "
                                 "(inside the model's bistable range); the hyperpolarised state was used"
                                 for r in multistable) + tuple(run.info.get("findings", [])))]  # fmt: skip
    return blocks


def _crosscheck(indices: pd.DataFrame) -> pd.DataFrame:
    whole = indices[indices["K_o_mM"].isna()]
    wide = whole.pivot_table(index=["scenario", "input"], columns="index", values="value", aggfunc="first", sort=False)
    ci = whole.set_index(["scenario", "input", "index"])
    out = pd.DataFrame(index=wide.index)
    for kind in ("S1", "ST"):
        if kind in wide:
            out[f"{kind} [CI]"] = [f"{wide.at[i, kind]:.3f} [{ci.at[(*i, kind), 'ci_low']:.3f}, "
                                   f"{ci.at[(*i, kind), 'ci_high']:.3f}]" for i in wide.index]  # fmt: skip
    for kind, name in (("S1_linear", "S1 linearised"), ("ST_dgsm_bound", "ST DGSM bound")):
        if kind in wide:
            out[name] = wide[kind]
    out["flags"] = whole.groupby(["scenario", "input"], sort=False)["flag"].agg(
        lambda f: ", ".join(sorted({x for v in f for x in v.split(";") if x})))
    return out.reset_index()


def _predictions(run: SensitivityRun) -> pd.DataFrame:
    s = run.summary
    whole = s[s["K_o_mM"].isna()] if "K_o_mM" in s else s
    cols = [c for c in ("scenario", "V_median_mV", "V_q025_mV", "V_q975_mV", "V_mean_mV", "V_sd_mV", "multistable_runs")
            if c in whole]  # fmt: skip
    return whole[cols].reset_index(drop=True)
