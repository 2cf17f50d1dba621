"""Posterior-propagated uncertainty: membrane parameters drawn jointly from a ``vrest fit`` posterior.

The parameters a fit estimated (every posterior variable with dims (chain, draw) that
is an input of the sensitivity model; never ``sigma_mv``) form ONE Sobol' factor,
``posterior``: its uniform column u picks draw floor(u n) of the n (chain, draw)
flattened draws, so every point gets a whole draw and the parameters' correlations
are kept. Concentrations and the other inputs come from the scenario; a scenario
value of a fitted parameter (varied or fixed) is replaced by the posterior.

The variance of V_rest then splits into parameter uncertainty alone (S1 of the
group), physiological variation alone (1 - ST of the group: the closed index of all
other inputs) and their interaction (ST - S1). A draw index has no derivative, so the
group's linearised index and DGSM bound are undefined; at the scenario centre the
parameters take their posterior means.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from ..models import get_model
from .results import Block, SensitivityResult
from .scenarios import Scenario, VariedInput
from .tables import boot_sd

GROUP = "posterior"
"""Name of the Sobol' factor that carries the posterior draws."""

BAND = (0.05, 0.5, 0.95)
"""Quantiles of the credible band of V_rest."""


@dataclass(frozen=True)
class DrawIndex:
    """Law of the posterior column: u in [0, 1) picks draw floor(u n) of n equally likely draws.

    A draw index has no derivative: its moments and Poincare constant are NaN, so
    the linearised index and the DGSM bound of the group are undefined.
    """

    n_draws: int
    name = "posterior draws"
    expectation = math.nan
    var = math.nan
    poincare = math.nan

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Draw index (as float) of each uniform number."""
        return np.minimum(np.floor(np.asarray(u) * self.n_draws), self.n_draws - 1)

    def dgsm_scale(self, x: np.ndarray) -> float:
        """1 (unused: the gradient of a draw index is NaN)."""
        return 1.0

    def describe(self) -> dict:
        """{"dist": "posterior draws", "n_draws": n}."""
        return {"dist": self.name, "n_draws": self.n_draws}


@dataclass(frozen=True)
class PosteriorFit:
    """The flattened posterior draws of the fitted parameters of one fit folder."""

    folder: Path
    model: str
    draws: Mapping[str, np.ndarray]
    data_sha256: str | None
    preset: str | None
    assumed: Mapping[str, float] = MappingProxyType({})  # inputs the fit held at one value for every row

    @property
    def n_draws(self) -> int:
        """Number of (chain, draw) pairs."""
        return len(next(iter(self.draws.values())))

    def values_at(self, index: np.ndarray) -> dict[str, np.ndarray]:
        """Parameter values at draw indices (any shape); NaN indices give the posterior means (the centre)."""
        index = np.asarray(index, dtype=float)
        centre = np.isnan(index)
        picked = np.where(centre, 0, index).astype(int)
        return {k: np.where(centre, v.mean(), v[picked]) for k, v in self.draws.items()}

    def expand(self, x: dict) -> dict:
        """Model inputs from design inputs: the ``posterior`` draw index replaced by the parameters."""
        if GROUP not in x:
            return x
        return {**{k: v for k, v in x.items() if k != GROUP}, **self.values_at(x[GROUP])}

    def describe(self) -> dict:
        """JSON-ready record: folder, data hash, draws used, parameters."""
        return {
            "fit_dir": str(self.folder),
            "data_sha256": self.data_sha256,
            "n_draws": self.n_draws,
            "parameters": list(self.draws),
            "fit_model": self.model,
            "fit_preset": self.preset,
            "fit_assumed": dict(self.assumed),
        }


def load_fit(folder: str | Path, model: str) -> PosteriorFit:
    """The posterior of a ``vrest fit`` folder for ``model``; ValueError naming the folder otherwise."""
    from ..folders import read_fit

    folder = Path(folder)
    where = f"posterior: {folder}"
    try:
        fit = read_fit(folder)
    except ValueError as err:
        raise ValueError(f"posterior: {err}") from None
    m = get_model(model)
    if fit.info["model"] != m.name:
        raise ValueError(f"{where}: a fit of model {fit.info['model']!r}, not {m.name!r}")
    post = fit.tree["posterior"]
    draws = {k: np.asarray(post[k].transpose("chain", "draw").values, dtype=float).reshape(-1)
             for k in m.inputs if k in post and set(post[k].dims) == {"chain", "draw"}}  # fmt: skip
    if not draws:
        raise ValueError(f"{where}: the posterior holds no input of the model")
    bad = next((k for k, v in draws.items() if v.size == 0 or not np.all(np.isfinite(v))), None)
    if bad is not None:
        raise ValueError(f"{where}: the posterior draws of {bad} are empty or not finite")
    assumed = {a["input"]: float(a["value"]) for a in fit.info.get("assumptions", [])
               if a.get("applies_to") == "all rows" and isinstance(a["value"], int | float) and a["input"] in m.inputs}  # fmt: skip
    return PosteriorFit(folder, m.name, MappingProxyType(draws), fit.sha256, fit.info.get("preset"),
                        MappingProxyType(assumed))  # fmt: skip


PATIENT = ("k_o", "na_o", "cl_o", "ca_o")
"""Inputs a scenario keeps its own with a posterior: the extracellular (plasma) concentrations it is about."""


def with_posterior(scenario: Scenario, fit: PosteriorFit) -> tuple[Scenario, list[str], dict[str, float]]:
    """(the scenario with the posterior group in place of the fitted parameters, the names it replaced, the
    inputs it now holds at the fit's assumed values).

    The posterior is conditional on what the fit assumed (intracellular concentrations, temperature, model
    constants): those are held at the fit's values, so V_rest here agrees with the fit's own predictions.
    The extracellular concentrations (:data:`PATIENT`) stay the scenario's.
    """
    replaced = [x.name for x in scenario.inputs if x.name in fit.draws]
    replaced += [k for k in scenario.fixed if k in fit.draws]
    inherited = {k: v for k, v in fit.assumed.items() if k not in PATIENT and k not in fit.draws}
    group = VariedInput(GROUP, DrawIndex(fit.n_draws), source=f"posterior of {fit.folder}")
    inputs = (*(x for x in scenario.inputs if x.name not in fit.draws and x.name not in inherited), group)
    fixed = {k: v for k, v in scenario.fixed.items() if k not in fit.draws} | inherited
    return replace(scenario, inputs=inputs, fixed=MappingProxyType(fixed)), replaced, inherited


def _share(value: float, ci: float) -> dict:
    return {"value": float(value), "ci_low": float(value - ci), "ci_high": float(value + ci)}


def uncertainty_rows(block: Block, n_draws: int) -> list[dict]:
    """Per level: the credible band of V and the split of its variance (posterior, physiology, interaction)."""
    f = block.factors.index(GROUP)
    est, z = block.estimate, block.z
    inter_ci = z * boot_sd(est.st_boot[..., f] - est.s1_boot[..., f])
    levels = [np.nan] if block.k_o is None else list(block.k_o)
    rows = []
    for l, level in enumerate(levels):
        v = block.v_ab[l][np.isfinite(block.v_ab[l])]
        q = np.quantile(v, BAND) if v.size else np.full(3, np.nan)
        s1, st = est.s1[l, f], est.st[l, f]
        parts = {
            "parameter": _share(s1, block.ci_half["S1"][l, f]),
            "physiological": _share(1.0 - st, block.ci_half["ST"][l, f]),
            "interaction": _share(st - s1, inter_ci[l]),
        }
        row = {"scenario": block.scenario, "K_o_mM": level, "n_draws": n_draws,
               "V_q05_mV": q[0], "V_q50_mV": q[1], "V_q95_mV": q[2], "posterior_ST": float(st)}  # fmt: skip
        for name, share in parts.items():
            row.update({f"{name}_share{'' if k == 'value' else '_' + k}": x for k, x in share.items()})
        rows.append(row)
    return rows


def _pct(row: pd.Series, name: str) -> str:
    return (
        f"{100 * row[f'{name}_share']:.0f}% (CI {100 * row[f'{name}_share_ci_low']:.0f} to "
        f"{100 * row[f'{name}_share_ci_high']:.0f}%)"
    )


def _whole_note(row: pd.Series) -> str:
    return (
        f"{row.scenario}: V_rest {row.V_q50_mV:.1f} mV, 90% credible band {row.V_q05_mV:.1f} to {row.V_q95_mV:.1f} mV "
        f"over {row.n_draws} posterior draws x the scenario's inputs; {_pct(row, 'parameter')} of the variance of "
        f"V_rest is posterior uncertainty of the membrane parameters, {_pct(row, 'physiological')} physiological "
        f"variation, {_pct(row, 'interaction')} their interaction."
    )


def _level_note(rows: pd.DataFrame) -> str:
    lo, hi = rows.iloc[0], rows.iloc[-1]
    peak = rows.loc[rows["parameter_share"].idxmax()]
    return (
        f"{lo.scenario} per K_o: posterior uncertainty of the membrane parameters is "
        f"{100 * rows['parameter_share'].min():.0f} to {100 * rows['parameter_share'].max():.0f}% of the variance of "
        f"V_rest (most at K_o {peak.K_o_mM:g} mM); 90% band {lo.V_q05_mV:.1f} to {lo.V_q95_mV:.1f} mV at "
        f"{lo.K_o_mM:g} mM, {hi.V_q05_mV:.1f} to {hi.V_q95_mV:.1f} mV at {hi.K_o_mM:g} mM."
    )


def posterior_notes(table: pd.DataFrame, fit: PosteriorFit, replaced: Mapping[str, list[str]],
                    inherited: Mapping[str, Mapping[str, float]]) -> list[str]:  # fmt: skip
    """Findings: what the posterior replaced, what the fit's assumptions fixed, the credible bands and the split
    of the variance."""
    notes = [
        f"{name}: held at the fit's assumed values (the posterior is conditional on them): "
        + ", ".join(f"{k} = {v:g}" for k, v in values.items())
        for name, values in inherited.items()
        if values
    ] + [
        f"{name}: the posterior of {fit.folder} replaces the scenario's {', '.join(names)} "
        "(the posterior wins over scenario values of fitted parameters)."
        for name, names in replaced.items()
        if names
    ]
    notes.append(
        f"{GROUP}: a draw index has no derivative, so the group's linearised index and DGSM bound are undefined; "
        "the derivative cross-check covers the other inputs, at the posterior means of the fitted parameters."
    )
    for _, rows in table.groupby("scenario", sort=False):
        whole = rows[rows["K_o_mM"].isna()]
        notes += [_whole_note(r) for _, r in whole.iterrows()]
        if rows["K_o_mM"].notna().any():
            notes.append(_level_note(rows[rows["K_o_mM"].notna()]))
    return notes


def with_uncertainty(
    result: SensitivityResult, blocks: list[Block], fit: PosteriorFit, replaced: Mapping[str, list[str]],
    inherited: Mapping[str, Mapping[str, float]],
) -> SensitivityResult:
    """``result`` with the credible-band table, the posterior findings and the fit recorded in its info."""
    table = pd.DataFrame([r for b in blocks for r in uncertainty_rows(b, fit.n_draws)])
    notes = [*result.findings, *posterior_notes(table, fit, replaced, inherited)]
    info = {**result.info, "findings": notes,
            "posterior": {**fit.describe(), "replaced": dict(replaced), "inherited": {k: dict(v) for k, v in inherited.items()}}}
    return replace(result, findings=notes, info=info, uncertainty=table)
