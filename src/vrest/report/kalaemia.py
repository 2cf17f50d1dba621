"""V_rest of a fitted model in hypo-, normo- and hyperkalaemia, and its bistable K_o range, over posterior draws.

Numerics only (no plotting, no file I/O). Parameter draws are 1-D arrays, one value
per draw; the other inputs are one fit condition's fixed values (:class:`Inputs`). An input
that is drawn (a membrane parameter, or a nuisance input such as K_i fitted with
``--uncertain``) takes its posterior draws, never the value the fit assumed around it.
The bistable range is :func:`vrest.bistability.bistable_ranges` (two or more
stable states, bounds bisected in K_o), vectorised over draws.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..api import MultipleSteadyStatesWarning, predict
from ..bistability import bistable_ranges, can_be_bistable, is_multistable

KALAEMIA_MM = {"hypokalaemia": 2.5, "normokalaemia": 4.5, "hyperkalaemia": 7.0}
"""Representative plasma K+ (mM) inside the bundled sensitivity scenarios' ranges (2.0-3.5, 3.5-5.0, 5.5-8.0 mM)."""

NA_O_FLOOR_MM = 1e-3
"""Na_o floor (mM) when K+ replaces Na+ at high K_o (as the fit's predictive grid)."""


@dataclass(frozen=True)
class Inputs:
    """One fit condition's fixed inputs: scalar values (mM, K, ...) other than K_o.

    ``na_plus_k_mm``: Na_o + K_o (mM) when K+ was raised by replacing Na+, else None.
    """

    values: dict[str, float] = field(default_factory=dict)
    na_plus_k_mm: float | None = None

    def at(self, k_o: np.ndarray) -> dict[str, np.ndarray]:
        """Every fixed input at ``k_o`` (mM, any shape)."""
        k_o = np.asarray(k_o, dtype=float)
        out = {**self.values, "k_o": k_o}
        if self.na_plus_k_mm is not None:
            out["na_o"] = np.clip(self.na_plus_k_mm - k_o, NA_O_FLOOR_MM, None)
        return out

    def without(self, drawn: Iterable[str]) -> Inputs:
        """These inputs less the ``drawn`` ones (given per posterior draw instead)."""
        drawn = set(drawn)
        values = {k: v for k, v in self.values.items() if k not in drawn}
        return Inputs(values, None if "na_o" in drawn else self.na_plus_k_mm)


@dataclass(frozen=True)
class Bistability:
    """Per-draw bistable K_o range: ``bounds[:, 0]`` lowest and ``bounds[:, 1]`` highest K_o (mM) with
    two stable states (the hull if the range is split; an end of the scan where the range reaches it);
    NaN for draws with one stable state throughout."""

    bounds: np.ndarray

    @property
    def probability(self) -> float:
        """Fraction of draws bistable somewhere in the scanned K_o range."""
        return float(np.mean(np.isfinite(self.bounds[:, 0])))

    def quantiles(self, q: tuple[float, ...] = (0.05, 0.5, 0.95)) -> np.ndarray | None:
        """Quantiles (rows) of the lower and upper bound (columns) over the bistable draws; None if none."""
        found = self.bounds[np.isfinite(self.bounds[:, 0])]
        return np.quantile(found, q, axis=0) if found.size else None

    def median_range(self) -> tuple[float, float] | None:
        """Posterior-median (lower, upper) bound (mM), when at least half of the draws are bistable."""
        q = self.quantiles((0.5,))
        return (float(q[0, 0]), float(q[0, 1])) if q is not None and self.probability >= 0.5 else None


def bistability(model: str, params: dict[str, np.ndarray], inputs: Inputs, preset: str) -> Bistability:
    """The bistable K_o range of every draw (:func:`vrest.bistability.bistable_ranges`, default scan), as its hull."""
    ranges = bistable_ranges(model, params, at_k_o=inputs.without(params).at, preset=preset)
    hulls = [(r[0][0], r[-1][1]) if r else (np.nan, np.nan) for r in ranges]
    return Bistability(np.array(hulls, dtype=float).reshape(-1, 2))


def v_rest(model: str, params: dict[str, np.ndarray], inputs: Inputs, k_o: np.ndarray, preset: str) -> np.ndarray:
    """V_rest (mV), shape (draws, K_o levels); the hyperpolarised state where two are stable (as the fit)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleSteadyStatesWarning)
        fixed = inputs.without(params).at(k_o)
        return predict(model, preset=preset, **fixed, **{k: v[:, None] for k, v in params.items()})


def kalaemia_table(
    model: str, params: dict[str, np.ndarray], inputs: Inputs, preset: str, levels: dict[str, float] = KALAEMIA_MM
) -> pd.DataFrame:
    """Per state: K_o (mM), V_rest median and 90 % interval (mV), and for a model that can be bistable
    the probability that K_o lies in the bistable range."""
    k_o = np.array(list(levels.values()), dtype=float)
    v = v_rest(model, params, inputs, k_o, preset)
    q5, q50, q95 = np.quantile(v, [0.05, 0.5, 0.95], axis=0)
    table = pd.DataFrame({"state": list(levels), "K_o_mM": k_o, "V_rest_median_mV": q50, "V_rest_q5_mV": q5,
                          "V_rest_q95_mV": q95})  # fmt: skip
    if can_be_bistable(model):
        multi = is_multistable(model, {**inputs.without(params).at(k_o), **{k: v[:, None] for k, v in params.items()}},
                               preset)  # fmt: skip
        table["P_bistable_at_K_o"] = multi.mean(axis=0)
    return table
