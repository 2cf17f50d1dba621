"""A fit folder as the design's starting belief: its posterior draws, the recorded rows and the base bath."""

from __future__ import annotations

import numpy as np


def fit_belief(folder: str, max_draws: int):
    """(Belief, base Bath, notes) of a fit folder: its posterior draws with the recorded rows (rebuilt from the
    data file when it is found with its sha256), and the bath of its largest condition."""
    from types import SimpleNamespace

    from ..folders import read_fit
    from ..inference.design import build_design
    from ..report.load import condition_inputs, observations
    from .candidates import Bath
    from .plan import Belief

    run = read_fit(folder)
    if run.info.get("hierarchical"):
        raise ValueError(f"{folder}: a hierarchical fit; vrest design scores pooled fits (population and per-cell "
                         "parameters are not one belief): refit with --hierarchical no")  # fmt: skip
    post = run.tree["posterior"]
    priors = [p for p in run.priors if p.name in post]
    natural = {p.name: post[p.name].values.reshape(-1) for p in priors}
    sigma = post["sigma_mv"].values
    model, notes = run.info["model"], []
    if run.info.get("likelihood") == "student-t":
        notes.append("the fit's Student-t residuals are scored as normal with sd sigma_mv (optimistic in the tails)")
    obs = observations(run)
    if obs.origin == "file":
        s = run.settings
        design = build_design(SimpleNamespace(table=obs.table), model, [p.name for p in priors], preset=s.preset,
                              settings=s.fixed, conditions=s.conditions, solutions=s.solutions)  # fmt: skip
        labels, counts = np.unique(design.condition, return_counts=True)
        label = str(labels[np.argmax(counts)])
        rows = design.condition == label
        levels, per_level = np.unique(design.inputs["k_o"][rows], return_counts=True)
        first = int(np.nonzero(rows)[0][0])
        values = {k: float(v[first]) for k, v in design.inputs.items() if k not in ("k_o", "na_o") or
                  label not in design.na_plus_k}  # fmt: skip
        base = Bath(label, values, design.na_plus_k.get(label), tuple(levels), int(np.median(per_level)))
        belief = Belief.from_draws(model, priors, natural, sigma, max_draws, design.inputs, design.sem)
        return belief, base, notes
    baths = condition_inputs(run, obs)
    if baths is None:
        raise ValueError(f"{folder}: the fit's data file {run.info['data']['source']} was not found with its sha256; "
                         "its concentration columns are needed for the bath of new measurements")  # fmt: skip
    recorded = run.derived[run.derived["K_o_origin"] == "recorded"]
    label = next(iter(baths))
    levels = tuple(sorted(set(recorded.loc[recorded["condition"].astype(str) == label, "K_o_mM"].astype(float))))
    per_level = max(
        1, round(run.info["data"]["rows"] / max(1, len(set(zip(recorded["condition"], recorded["K_o_mM"])))))
    )
    base = Bath(label, dict(baths[label].values), baths[label].na_plus_k_mm, levels, per_level)
    notes.append(f"the data file {run.info['data']['source']} was not found with its sha256: the current covariance "
                 f"is that of the posterior draws, the base bath is condition {label!r} as assumed in fit.json")  # fmt: skip
    return Belief.from_draws(model, priors, natural, sigma, max_draws), base, notes
