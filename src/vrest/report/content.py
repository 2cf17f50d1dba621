"""Assemble the report's blocks and figures from loaded fit and sensitivity folders."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..bistability import K_O_SCAN_MM, can_be_bistable
from ..inference import compare
from . import figures as F
from .assess import Headline, adequacy_text, headline, methods, more_draws, residual_levels, shared_misses, verdict
from .blocks import Block, Bullets, Fig, Heading, Para, Table, Verdict
from .kalaemia import KALAEMIA_MM, Bistability, Inputs, bistability, kalaemia_table, v_rest
from .load import (
    CITATIONS,
    DesignRun,
    ExtractionRun,
    FitRun,
    Observations,
    SensitivityRun,
    condition_inputs,
    draws,
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


def assemble(fits: list[FitRun], sens: list[SensitivityRun],
             others: list[DesignRun | ExtractionRun] = ()) -> tuple[list[Block], dict[str, Figure]]:  # fmt: skip
    """Every block of the report, and its figures by name (``others``: design folders and trace extractions)."""
    designs = [r for r in others if isinstance(r, DesignRun)]
    extractions = [r for r in others if isinstance(r, ExtractionRun)]
    blocks: list[Block] = []
    figs: dict[str, Figure] = {}
    if fits:
        obs = observations(fits[0])
        comparison = _compare(fits)
        levels = {fit.label: residual_levels(fit, obs) for fit in fits}
        misses = shared_misses(levels)
        kalaemia = {fit.label: _kalaemia_analysis(fit, obs) for fit in fits}
        blocks += _headline(fits, comparison, levels, misses)
        blocks += _curve(fits, obs, kalaemia, misses, figs)  # the first screen: the verdict and the fit against the data
        blocks += _recordings(extractions, figs)
        blocks += _data(fits, obs) + _assumptions(fits)
        blocks += _parameters(fits, figs) + _diagnostics(fits, figs)
        if comparison is not None:
            blocks += _comparison(comparison)
        blocks += _derived(fits) + _kalaemia(kalaemia) + _structure(fits)
    if sens:
        blocks += _sensitivity(sens, fits, obs if fits else None, figs)
    if designs:
        blocks += _next_experiment(designs)
    blocks += [Heading("Methods"), Para("A paragraph to adapt for a paper's methods section:"),
               *[Para(p) for p in methods(fits, sens)]]  # fmt: skip
    return blocks, figs


def _compare(fits: list[FitRun]) -> pd.DataFrame | None:
    """The PSIS-LOO comparison (best first) when there are several fits."""
    return compare.compare_fits([f.folder for f in fits]) if len(fits) > 1 else None


def _headline(fits: list[FitRun], comparison: pd.DataFrame | None, levels: dict[str, pd.DataFrame | None],
              misses: list[str]) -> list[Block]:  # fmt: skip
    """The opening: the favoured model, its key parameters with 90 % intervals, a verdict and the next step."""
    best = next(f for f in fits if f.label == comparison.iloc[0]["fit"]) if comparison is not None else fits[0]
    rivals = _ranked_and_adequate(fits, comparison) if best.info.get("adequacy", {}).get("flagged") else []
    favoured = best if comparison is None else next(f for f in fits if f.label == compare.favoured(comparison))
    if favoured is not best:
        behind, dse = _behind(favoured.label, comparison)
        why = (f"Favoured model: {favoured.label}, the best-ranked fit whose curve follows the data. {best.label} "
               f"ranks first by PSIS-LOO, {behind:.1f} +- {dse:.1f} elpd ahead (less than twice its standard error: "
               "not separable), but misses the data systematically.")  # fmt: skip
    elif comparison is not None:
        lead, dse = _behind(comparison.iloc[1]["fit"], comparison)
        clear = "a clear lead" if compare.separated(lead, dse) else "less than twice its standard error: not a clear lead"
        why = (f"Best model: {best.label}, first of {len(fits)} by PSIS-LOO (ahead of {comparison.iloc[1]['fit']} by "
               f"{lead:.1f} +- {dse:.1f} elpd, {clear}).")  # fmt: skip
    else:
        why = f"One model fitted: {best.label}."
    units = {p.name: p.unit for p in priors(favoured)} | {"sigma_mv": "mV"}
    key = favoured.summary[["parameter", "q50", "q5", "q95"]].rename(columns={"q50": "median"})
    key.insert(1, "unit", [units.get(n, "") for n in key["parameter"]])
    if favoured.info.get("hierarchical"):
        why += " Hierarchical fit: the population values are below, each cell's under Parameters."
    h = headline(favoured, levels.get(favoured.label))
    blocks: list[Block] = [Heading("Summary"), Para(why),
                           Table(key, f"Key parameters of the {'favoured' if favoured is not best else 'best'} "
                                      "model: posterior median and central 90 % credible interval (q5-q95)."),
                           Verdict(h.colour, _verdict_text(h))]  # fmt: skip
    notes = favoured.info["diagnostics"].get("problems", []) if h.colour == "green" else []
    if notes:  # a green fit's own warnings are of what to read with care: an uninformed parameter, two states, ...
        blocks.append(Para(f"Read with it (from the fit of {favoured.label}): " + "; ".join(notes) + "."))
    if misses:
        blocks.append(Verdict("amber", adequacy_text([f.label for f in fits], misses)))
    pending = _unranked_but_adequate(fits, comparison)
    blocks += [_pending_text(fit) for fit in pending]
    if rivals and favoured is best:
        blocks.append(Verdict("amber", _rivals_text(best, rivals, comparison)))
    if favoured is not best:
        blocks.append(Verdict("amber", _loo_against_adequacy(favoured, best)))
        first = headline(best, levels.get(best.label))
        blocks.append(Verdict(first.colour, _verdict_text(first, f"{best.label}, first by PSIS-LOO: ")))
        return blocks + [Para(f"Next step: {h.next_step} To separate it from {best.label}, which PSIS-LOO does not, "
                              "add the measurement the design advice ranks first and compare again.")]  # fmt: skip
    return blocks + [Para(f"Next step: {_next_step(best, h.next_step, rivals, pending)}")]


def _verdict_text(h: Headline, whose: str = "") -> str:
    """A headline as its verdict's sentence: its colour, ``whose`` it is (for a fit other than the favoured one), then
    its reasons."""
    return f"{h.colour.capitalize()}: {whose}" + ("; ".join(h.reasons) if h.reasons else "sampling converged and the curve "
                                           "follows the data; no implausible value") + "."  # fmt: skip


def _behind(label: str, comparison: pd.DataFrame) -> tuple[float, float]:
    """How far the fit ``label`` is behind the first of the PSIS-LOO comparison (elpd), and that difference's
    standard error."""
    row = comparison.set_index("fit").loc[label]
    return -float(row["elpd_diff"]), float(row["dse"])


def _next_step(best: FitRun, default: str, rivals: list[FitRun], pending: list[FitRun]) -> str:
    """Where the best model by PSIS-LOO misses the data: point to a ranked fit that follows them (``rivals``), else to
    an unranked one to rerun (``pending``), rather than ask for a model that was already fitted; else ``default``."""
    if rivals:
        return (f"Read the parameters of {rivals[0].label} for what the data say (its curve follows them); to "
                f"separate it from {best.label}, add the measurement the design advice ranks first and compare again.")
    if pending and best.info.get("adequacy", {}).get("flagged"):
        return (f"Rerun {pending[0].label} with more draws ({more_draws(pending[0])}): its curve follows the data; "
                "then compare it by PSIS-LOO.")
    return default


def _ranked_and_adequate(fits: list[FitRun], comparison: pd.DataFrame | None) -> list[FitRun]:
    """The fits ranked by PSIS-LOO (converged) whose curve follows the data (no adequacy finding), best first."""
    if comparison is None:
        return []
    by_label = {f.label: f for f in fits}
    converged = comparison["converged"].astype(bool) if "converged" in comparison else True
    ranked = [by_label[name] for name in comparison.loc[converged, "fit"] if name in by_label]
    return [f for f in ranked if f.info.get("adequacy", {}).get("flagged") is False]


def _rivals_text(best: FitRun, rivals: list[FitRun], comparison: pd.DataFrame) -> str:
    """Where the best model by PSIS-LOO misses the data and others follow them: which, and how far behind."""
    parts = []
    for fit in rivals:
        behind, dse = _behind(fit.label, comparison)
        within = "more than" if compare.separated(behind, dse) else "within"
        parts.append(f"{fit.label} ({behind:.1f} +- {dse:.1f} elpd behind, {within} twice the standard error)")
    return (f"{best.label} ranks first by PSIS-LOO but misses the data systematically; the fit(s) whose curve follows "
            f"the data: {', '.join(parts)}. {_loo_against_adequacy(rivals[0], best)}")


def _loo_against_adequacy(follows: FitRun, misses: FitRun) -> str:
    """What separates a fit that follows the data from a better-ranked one that misses them, and why PSIS-LOO can
    rank the latter first."""
    return (f"{_what_separates(follows, misses)}PSIS-LOO measures predictive accuracy point by point, not whether the "
            "residuals follow a pattern: with few points a simpler curve can rank first while missing the data "
            "systematically.")


def _what_separates(follows: FitRun, misses: FitRun) -> str:
    """A sentence (with a trailing space) on the assumption that separates a fit that follows the data from one that
    misses them, from their registry records, with the posterior of the parameters that carry it; "" where a record
    states no assumption."""
    from ..models import get_model

    a, b = get_model(follows.info["model"]), get_model(misses.info["model"])
    if not (a.assumes and b.assumes):
        return ""
    from ..inference.diagnostics import about_the_prior
    from ..parameters import PARAMS

    units = {n: "" if PARAMS[n].unit in ("", "1") else f" {PARAMS[n].unit}" for n in a.shape}
    rows = follows.summary.set_index("parameter")
    values = [f"{n} {rows.at[n, 'q50']:.3g} ({rows.at[n, 'q5']:.3g} to {rows.at[n, 'q95']:.3g}{units[n]}"
              + ("; about its prior" if about_the_prior(rows.at[n, "contraction"], rows.at[n, "prior_z"]) else "") + ")"
              for n in a.shape if n in rows.index]  # fmt: skip
    fitted = f" (fitted, median and 90 % interval: {', '.join(values)})" if values else ""
    return (f"What separates them: {follows.info['model']} assumes {a.assumes}{fitted}; {misses.info['model']} assumes "
            f"{b.assumes}. ")


def _unranked_but_adequate(fits: list[FitRun], comparison: pd.DataFrame | None) -> list[FitRun]:
    """The fits left out of the ranking because their sampling did not converge whose curve nevertheless follows the
    data (no adequacy finding): said on the first screen, since one may be the model the data favour."""
    if comparison is None or "converged" not in comparison:
        return []
    unranked = set(comparison.loc[~comparison["converged"].astype(bool), "fit"])
    return [f for f in fits if f.label in unranked and not f.info.get("adequacy", {}).get("flagged", True)]


def _pending_text(fit: FitRun) -> Verdict:
    """An unranked fit that follows the data: its diagnostics and what to rerun."""
    d = fit.info["diagnostics"]
    return Verdict("amber", f"Not ranked: {fit.label} follows the data (no systematic misfit found), but its sampling "
                            f"has not converged (max R-hat {d['max_r_hat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f}, "
                            f"{d['divergences']} divergent transition(s)); rerun it with more draws ({more_draws(fit)}) "
                            "before comparing it.")  # fmt: skip


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


def _extrapolated(obs: Observations) -> str:
    """A caption's warning that the curves outside the recorded K_o range are extrapolations ("" without the file)."""
    if obs.origin != "file":
        return ""
    lo, hi = obs.table["K_o_mM"].min(), obs.table["K_o_mM"].max()
    return (f" Outside the recorded K_o ({lo:.3g}-{hi:.3g} mM) each curve is its model's extrapolation, which these "
            "data do not test (a depolarised state at low K_o, for instance, is what the model predicts, not what these "
            "cells were seen to do).")


def _curve(fits: list[FitRun], obs: Observations, kalaemia: dict[str, KalaemiaResult | None], misses: list[str],
           figs: dict[str, Figure]) -> list[Block]:  # fmt: skip
    ranges = {(label, cond): b.median_range() for label, result in kalaemia.items() if result
              for cond, (_, b) in result.items() if b is not None}  # fmt: skip
    shaded = {key: r for key, r in ranges.items() if r is not None}
    figs["vm_vs_k_o"] = F.vm_figure(fits, obs, shaded)
    blocks: list[Block] = [
        Heading("V_m against log10 K_o"),
        Fig("vm_vs_k_o", "Data (error bars where the file gives them), posterior predictive median of the model V_m "
                         "with 50 % and 90 % credible bands per fitted model and condition, and the Nernst "
                         "potential of K+ at the assumed K_i (its posterior median where K_i was fitted) and "
                         "temperature. Hatched: the bistable K_o range "
                         "(posterior medians of its bounds) of a model whose posterior is bistable with "
                         "probability >= 0.5; there the curve follows the hyperpolarised state (the fit itself lets each "
                         "row sit on either stable state: see the branch figure)." + _extrapolated(obs)),
    ]  # fmt: skip
    for fit in fits:
        curves = _cell_curves(fit, obs)
        if curves:
            name = f"cells_{slug(fit.label)}"
            figs[name] = F.cells_figure(fit, obs, curves)
            blocks.append(Fig(name, f"{fit.label}, hierarchical: each cell's data (markers) and the median of its own "
                                    "posterior curve (same colour), at its condition's assumed inputs."))  # fmt: skip
    for fit in fits:
        if fit.branches is not None and len(fit.branches):
            name = f"branches_{slug(fit.label)}"
            figs[name] = F.branches_figure(fit)
            blocks.append(Fig(name, f"{fit.label}: which of its two stable branches each recorded row sits on (posterior "
                                    "probability, colour; per row in branches.csv, by chain too). Ringed: rows where "
                                    "the posterior has two stable states."))  # fmt: skip
    if obs.origin == "file":
        figs["residuals"] = F.residuals_figure(fits, obs)
        blocks.append(Fig("residuals", "Residuals: observed V_m minus the posterior predictive median, with the "
                                       "90 % predictive interval of a new measurement."))  # fmt: skip
    if misses:
        blocks.append(Verdict("amber", adequacy_text([f.label for f in fits], misses)))
    return blocks


def cell_parameters(fit: FitRun) -> list[str]:
    """The fitted inputs with per-cell draws (``<name>_cell``) in a hierarchical fit's posterior."""
    return [n for n in [*F.membrane_parameters(fit), *fit.info.get("uncertain", [])]
            if f"{n}_cell" in fit.tree["posterior"]]  # fmt: skip


def _cell_curves(fit: FitRun, obs: Observations) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per cell of a hierarchical fit: (K_o grid in mM, median V_m of the cell's own parameter draws in mV) at its
    condition's inputs (its first row's condition). Empty for pooled fits or when the data file was not found."""
    names = cell_parameters(fit)
    inputs = condition_inputs(fit, obs) if names and "cell" in obs.table else None
    if not inputs:
        return {}
    population = membrane_draws(fit, MAX_DRAWS)
    per_cell = {n: draws(fit, f"{n}_cell", MAX_DRAWS) for n in names}
    labels = [str(c) for c in fit.tree["posterior"][f"{names[0]}_cell"]["cell"].values]
    out = {}
    for i, cell in enumerate(labels):
        rows = obs.table[obs.table["cell"].astype(str) == cell]
        if rows.empty:
            continue
        given: Inputs = inputs[str(rows["condition"].iloc[0])]
        k = np.geomspace(rows["K_o_mM"].min() / 1.5, rows["K_o_mM"].max() * 1.5, 40)
        params = population | {n: v[..., i].ravel() for n, v in per_cell.items()}
        out[cell] = (k, np.median(v_rest(fit.info["model"], params, given, k, fit.info["preset"]), axis=0))
    return out


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
        blocks += _cells(fit)
    return blocks


def _cells(fit: FitRun) -> list[Block]:
    """A hierarchical fit's per-cell posteriors (mean and 90 % interval) and between-cell sds."""
    names = cell_parameters(fit)
    if not names:
        return []
    post = fit.tree["posterior"]
    table = pd.DataFrame({"cell": [str(c) for c in post[f"{names[0]}_cell"]["cell"].values]})
    for n in names:
        v = np.asarray(post[f"{n}_cell"].transpose(..., "cell").values).reshape(-1, len(table))
        q5, q95 = np.quantile(v, [0.05, 0.95], axis=0)
        table[f"{n} mean [90 % CI]"] = [f"{m:.4g} [{a:.4g}, {b:.4g}]" for m, a, b in zip(v.mean(axis=0), q5, q95,
                                                                                        strict=True)]  # fmt: skip
    log = {p.name: p.log_scale for p in priors(fit)}
    units = {p.name: p.unit for p in priors(fit)}
    sds = [{"parameter": n, "scale": "natural log" if log.get(n) else units.get(n, ""),
            "mean": float(d.mean()), "q5": float(np.quantile(d, 0.05)), "q95": float(np.quantile(d, 0.95))}
           for n in names if f"{n}_between_cell_sd" in post
           for d in [np.asarray(post[f"{n}_between_cell_sd"].values).ravel()]]  # fmt: skip
    blocks: list[Block] = [Heading(f"{fit.label}: each cell", 4),
                           Table(table, f"Each of the {len(table)} cells' own parameters: posterior mean and central "
                                        "90 % credible interval (q5-q95).")]  # fmt: skip
    if sds:
        blocks.append(Table(pd.DataFrame(sds), "Between-cell sd: the spread of the cells' values (sd across the "
                                               "fitted cells, on the sampling scale: natural log for ratios, mV for "
                                               "the pump), posterior mean and 90 % interval."))  # fmt: skip
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


def _recordings(extractions: list[ExtractionRun], figs: dict[str, Figure]) -> list[Block]:
    """Raw traces: where each epoch's resting potential came from (window, drift, spikes, flags) and the traces."""
    import matplotlib.image

    blocks: list[Block] = []
    for run in extractions:
        s = run.info
        blocks += [Heading("Raw recordings"),
                   Para(f"{len(run.table)} epoch(s) from {len(s.get('files', []))} trace(s) by `vrest extract`: settle "
                        f"{s.get('settle_s')} s after each change, windows flagged unsettled beyond a drift of "
                        f"{s.get('max_drift')} mV/min and left out of the fit (excluded), spikes and artefacts removed "
                        "(counted)."),
                   Table(run.table[[c for c in ("file", "cell", "epoch", "condition", "K_o_mM", "V_m_mV", "sem_mV",
                                                "window_start_s", "window_stop_s", "drift_mV_per_min",
                                                "spikes_removed", "flags", "excluded") if c in run.table]],
                         "One row per solution epoch: the resting potential of its steady window.")]  # fmt: skip
        for path in run.figures:
            fig = Figure(figsize=(11, 3.2))
            ax = fig.add_axes((0, 0, 1, 1))
            ax.imshow(matplotlib.image.imread(path))
            ax.set_axis_off()
            name = f"trace_{slug(path.stem)}"
            figs[name] = fig
            blocks.append(Fig(name, f"{path.stem}: the trace, its epochs (shaded), the windows used and the values."))
    return blocks


def _next_experiment(designs: list[DesignRun]) -> list[Block]:
    """The design's recommendation in one sentence and its ranking (expected information gain, sd now -> after)."""
    blocks: list[Block] = [Heading("Next experiment")]
    for run in designs:
        targets = run.info.get("targets", [])
        blocks.append(Verdict("green", f"{run.info.get('recommendation', '')} (`vrest design`, {run.folder.name})"))
        cols = ["rank", "candidate", "eig_nats", "eig_mc_se", "estimator",
                *(c for t in targets for c in (f"sd_now_{t}", f"sd_after_{t}", f"sd_after_p10_{t}", f"sd_after_p90_{t}")),
                "sd_estimator"]  # fmt: skip
        table = run.table[[c for c in cols if c in run.table]]
        blocks.append(Table(table, "Expected information gain about " + ", ".join(targets) + " (nats, with its Monte "
                            "Carlo error) and the expected posterior sd of each target now and after the measurement, "
                            "averaged over the current posterior, with the 10-90 % range of the sd after over its draws "
                            "(sampled scale: ln of ratios, mV or pA for the pump; sd_estimator says which estimator "
                            "gave it)."))  # fmt: skip
    return blocks


def _comparison(table: pd.DataFrame) -> list[Block]:
    best = table.iloc[0]["fit"]
    return [Heading("Model comparison (PSIS-LOO)"),
            Para(f"Expected log predictive density by Pareto-smoothed leave-one-out cross-validation, best first "
                 f"({best}). A difference smaller than about twice its standard error (dse) does not separate the "
                 "models. Observations with Pareto k above 0.7 were refitted exactly at fit time (leave-one-out by "
                 "refitting); the column counts any left (a fit with too many, or hierarchical fits)."),
            Table(table)]  # fmt: skip


def _derived(fits: list[FitRun]) -> list[Block]:
    """One row per fit, condition and K_o level, one column per quantity (median [q5, q95]). Reads both derived.csv
    layouts: one K_o per condition (older fits) and one row per condition x K_o level x quantity."""
    frames = []
    for f in fits:
        d = f.derived.assign(fit=f.label, condition=f.derived["condition"].astype(str))
        if "K_o_mM" not in d:
            d["K_o_mM"] = ""
        d["value"] = [f"{m:.4g} [{a:.4g}, {b:.4g}]" for m, a, b in zip(d["q50"], d["q5"], d["q95"], strict=True)]
        frames.append(d)
    long = pd.concat(frames, ignore_index=True)
    keys = ["fit", "condition", "K_o_mM"]
    table = long.drop_duplicates([*keys, "quantity"]).set_index([*keys, "quantity"])["value"].unstack("quantity")
    table = table[list(dict.fromkeys(long["quantity"]))].reset_index()
    table = table.set_index(keys).loc[list(dict.fromkeys(zip(*(long[k] for k in keys))))].reset_index()
    table.columns.name = None
    levels = long.groupby(["fit", "condition"], sort=False)["K_o_mM"].nunique()
    where = ("at each recorded K_o level" if levels.max() > 1 else
             "at its first K_o (this fit folder holds one K_o per condition; a newer vrest fit gives every level)")  # fmt: skip
    return [Heading("Derived quantities"),
            Table(table, f"Per fit and condition {where}: V_rest, Nernst potentials E_i, driving forces V - E_i "
                         "(and pump current and ATP rate when a total conductance was given); posterior median "
                         "[central 90 % interval].")]  # fmt: skip


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


def _sensitivity(runs: list[SensitivityRun], fits: list[FitRun], obs: Observations | None,
                 figs: dict[str, Figure]) -> list[Block]:  # fmt: skip
    blocks: list[Block] = [Heading("Sensitivity")]
    for run in runs:
        key = slug(run.folder.name)
        st = run.info.get("settings", {})
        figs[f"sobol_{key}"] = F.sobol_figure(run)
        blocks += [Heading(f"{run.folder.name}: model {st.get('model')}, N = {st.get('n')}, seed {st.get('seed')}", 3),
                   *_scenario_inputs(run, fits, obs),
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
        blocks += [Bullets(tuple(run.info.get("findings", [])))]  # they say where runs had two stable states
    return blocks


def _posterior_fit(run: SensitivityRun, fits: list[FitRun]) -> FitRun | None:
    """The reported fit whose posterior ``run`` drew its parameters from (same folder, else same data and model)."""
    post = run.info.get("posterior") or {}
    where = Path(str(post.get("fit_dir", "")))
    for base in (Path(), run.folder, run.folder.parent):
        match = [f for f in fits if (base / where).resolve() == f.folder.resolve()]
        if match:
            return match[0]
    same = [f for f in fits if f.sha256 == post.get("data_sha256") and f.info["model"] == post.get("fit_model")]
    return same[0] if len(same) == 1 else None


def _law(spec: dict) -> tuple[str, tuple[float, float] | None]:
    """A scenario input's law in words, and its support (low, high) where bounded."""
    numbers = {k: v for k, v in spec.items() if k not in ("name", "dist", "group", "source") and not isinstance(v, str)}
    text = f"{spec.get('dist', '?')} " + ", ".join(f"{k} {v:g}" if isinstance(v, int | float) else f"{k} {v}"
                                                   for k, v in numbers.items())  # fmt: skip
    bounded = isinstance(spec.get("low"), int | float) and isinstance(spec.get("high"), int | float)
    return text.strip(), (float(spec["low"]), float(spec["high"])) if bounded else None


def _fit_values(fit: FitRun | None, post: dict, name: str) -> dict[str, float]:
    """The fit's numeric assumptions for input ``name``, by where they apply (all rows, or a condition)."""
    if fit is None:
        value = (post.get("fit_assumed") or {}).get(name)
        return {"all rows": float(value)} if isinstance(value, int | float) else {}
    return {a["applies_to"]: float(a["value"]) for a in fit.info.get("assumptions", [])
            if a["input"] == name and isinstance(a["value"], int | float)}  # fmt: skip


def _na_replaced_by_k(na_plus_k: dict[str, float], k_o: tuple[float, float] | None) -> tuple[dict[str, float], str]:
    """The Na_o (mM) a fit whose K+ replaced Na+ (Na_o + K_o constant per condition) assumed over a scenario's K_o
    range ``k_o`` (mM): its values at both ends, and the rule in words."""
    if k_o is None:
        return {}, "; ".join(f"{total:g} - K_o ({_where(c)})" for c, total in na_plus_k.items())
    values = {f"{c} at K_o {k:g}": total - k for c, total in na_plus_k.items() for k in k_o}
    text = "; ".join(f"{total:g} - K_o ({_where(c)}): {total - k_o[1]:.4g}-{total - k_o[0]:.4g} at the scenario's "
                     "K_o" for c, total in na_plus_k.items())  # fmt: skip
    return values, text


def _where(condition: str) -> str:
    return "all rows" if condition == "all" else f"condition {condition!r}"


def _scenario_inputs(run: SensitivityRun, fits: list[FitRun], obs: Observations | None) -> list[Block]:
    """For a sensitivity run drawn from a fit's posterior: each scenario's inputs (law and range, fixed values,
    preset), the fit's assumptions beside them, and where the two differ."""
    post = run.info.get("posterior")
    if not post:
        return []
    from ..models import get_model
    from ..presets import get_preset

    fit = _posterior_fit(run, fits)
    fit_preset = fit.info.get("preset") if fit is not None else post.get("fit_preset")
    drawn = set(post.get("parameters", []))
    rows, differ = [], {}
    for sc in run.info.get("scenarios", []):
        laws = {i["name"]: i for i in sc.get("inputs", []) if i.get("name") != "posterior"}
        preset = get_preset(sc["preset"]).values() if sc.get("preset") else {}
        for name in get_model(sc.get("model") or post.get("fit_model")).inputs:
            if name in drawn:
                used, support = "posterior draws of the fit", None
            elif name in laws:
                used, support = _law(laws[name])
            elif name in sc.get("fixed", {}):
                value = float(sc["fixed"][name])
                used, support = f"fixed {value:g}", (value, value)
            elif name in preset:
                used, support = f"preset {sc['preset']}: {preset[name]:g}", (preset[name], preset[name])
            else:
                used, support = "model default", None
            values = _fit_values(fit, post, name)
            text = "; ".join(f"{v:g} ({k})" for k, v in values.items())
            if name == "na_o" and fit is not None and fit.na_plus_k and "k_o" in laws:
                values, text = _na_replaced_by_k(fit.na_plus_k, _law(laws["k_o"])[1])
            if name in drawn:
                text = "fitted (posterior)"
            elif name == "k_o" and obs is not None and obs.origin == "file":
                lo, hi = obs.table["K_o_mM"].min(), obs.table["K_o_mM"].max()
                text = f"recorded {lo:.3g}-{hi:.3g} mM"
                if support is not None and not lo <= support[0] <= support[1] <= hi:
                    values = {"extrapolated": support[0]}  # the scenario reaches K_o the fit never saw
            off = [v for k, v in values.items() if support is not None and (name != "k_o" or k == "extrapolated")
                   and (k == "extrapolated"
                        or not support[0] - 1e-9 * abs(support[0]) <= v <= support[1] + 1e-9 * abs(support[1]))]
            rows.append({"scenario": sc.get("name"), "input": name, "scenario value": used, "fit assumed": text,
                         "differs": "yes" if off else ""})  # fmt: skip
            if off:
                differ.setdefault(f"{name} {used} where the fit {'saw' if name == 'k_o' else 'assumed'} {text}",
                                  []).append(sc.get("name"))  # fmt: skip
        if sc.get("preset") and fit_preset and sc["preset"] != fit_preset:
            differ.setdefault(f"preset {sc['preset']} where the fit used preset {fit_preset}", []).append(sc.get("name"))
    source = f"the fit {fit.label}" if fit is not None else f"the fit in {post.get('fit_dir')} (not in this report)"
    blocks: list[Block] = [
        Para(f"Membrane parameters ({', '.join(sorted(drawn))}) were drawn jointly from the posterior of {source} "
             f"(preset {fit_preset}); every other input came from the scenario, as listed."),
        Table(pd.DataFrame(rows), "Each scenario's inputs: the law and range (or fixed or preset value) the Sobol' "
                                  "study used, the fit's assumption beside it, and whether the fit's value lies "
                                  "outside the scenario's range."),
    ]  # fmt: skip
    if differ:
        said = "; ".join(f"{what} ({', '.join(map(str, where))})" for what, where in differ.items())
        blocks.append(Verdict("amber", "The scenarios differ from the fit's assumptions: " + said + ". "
                                       "The indices describe the fitted membrane in the scenario's solutions, not in "
                                       "the recorded ones."))  # fmt: skip
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
