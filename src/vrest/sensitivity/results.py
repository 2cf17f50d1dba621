"""Result containers: one Sobol' analysis block, and the whole sensitivity result."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .estimators import SobolEstimate


@dataclass(frozen=True)
class Block:
    """The indices of one scenario: over the whole scenario (``k_o`` None, L = 1) or per K_o level (L levels).

    ``ci_half`` maps S1, ST (and S2) to CI half-widths shaped like the estimates
    (z times the bootstrap SD, or SALib's ``*_conf``); ``half`` holds the point
    estimates from the first N/2 base rows. ``v_ab`` (L, 2N) is V (mV) at the A and
    B points, NaN where a run failed. Run counts are per level.
    """

    scenario: str
    factors: tuple[str, ...]
    k_o: np.ndarray | None
    n: int
    estimate: SobolEstimate
    half: SobolEstimate
    ci_half: dict[str, np.ndarray]
    s1_linear: np.ndarray
    s1_linear_boot: np.ndarray
    dgsm_bound: np.ndarray
    dgsm_bound_boot: np.ndarray
    v_ab: np.ndarray
    runs: int
    failed: np.ndarray
    multistable: np.ndarray
    rows_used: np.ndarray
    failures: Counter
    z: float


@dataclass(frozen=True)
class SensitivityResult:
    """Everything a sensitivity run produces, as written to its output directory.

    ``indices``: the tidy table of indices.csv (columns scenario, K_o_mM, input,
    index, value, ci_low, ci_high, flag). ``summary``: one row per scenario and K_o
    level (V quantiles in mV, sums of indices, run counts, convergence).
    ``v_samples``: V (mV) at the A and B points of each scenario. ``findings``:
    plain-language statements (convergence, linearity, bounds, failures).
    ``info``: settings, seed, versions, run counts and wall times (sensitivity.json).
    ``uncertainty``: with a posterior, per scenario and K_o level the credible band
    of V (5/50/95 % quantiles, mV) and the shares of its variance (uncertainty.csv).
    """

    indices: pd.DataFrame
    summary: pd.DataFrame
    v_samples: dict[str, np.ndarray]
    findings: list[str]
    info: dict
    uncertainty: pd.DataFrame | None = None
