"""Sobol' index estimators with bootstrap replicates, vectorised over analyses.

The formulas are SALib's (``SALib.analyze.sobol``), applied to outputs standardised
by their mean and standard deviation over every run of an analysis:

    V    = Var over A and B together (population variance)
    S1_f = mean(B (AB_f - A)) / V                  Saltelli et al. 2010, CPC 181:259
    ST_f = mean((A - AB_f)^2) / (2 V)              Jansen 1999, CPC 117:35
    S2_fg = mean(BA_f AB_g - A B) / V - S1_f - S1_g   Saltelli 2002, CPC 145:280

Outputs have shape (L, N, blocks) for L analyses at once (e.g. one per K_o level).
The bootstrap resamples base rows: with the count matrix W (R, N) of row i in
resample b, every bootstrap mean is one matrix product W @ terms, for all analyses,
inputs and resamples together. Drawing W from ``rng.integers(N, size=(N, R))``
reproduces SALib's resamples for the same generator. Rows whose runs failed
(``valid`` False) carry zero weight in every mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import special


def bootstrap_counts(n_rows: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(R, N) float counts of each base row in each resample, drawn as SALib draws its indices."""
    r = rng.integers(n_rows, size=(n_rows, n_resamples))
    flat = (r + n_rows * np.arange(n_resamples)).T.ravel()
    return np.bincount(flat, minlength=n_resamples * n_rows).reshape(n_resamples, n_rows).astype(float)


def normal_quantile(conf_level: float) -> float:
    """z with P(|Z| < z) = conf_level for a standard normal Z (1.96 for 0.95)."""
    return float(special.ndtri(0.5 + conf_level / 2.0))


def masked_means(terms: np.ndarray, valid: np.ndarray, counts: np.ndarray | None):
    """(means (L, K), bootstrap means (L, R, K) or None) of terms (L, N, K) over the valid rows.

    Terms at invalid rows must be zero. Analyses without a valid row give NaN.
    """
    weight = valid.astype(float)
    n = weight.sum(axis=1)
    n_safe = np.where(n > 0, n, np.nan)[:, None]
    means = terms.sum(axis=1) / n_safe
    if counts is None:
        return means, None
    n_b = counts @ weight.T  # (R, L)
    n_b = np.where(n_b > 0, n_b, np.nan).T[:, :, None]
    return means, np.matmul(counts, terms) / n_b


@dataclass(frozen=True)
class SobolEstimate:
    """Indices of L analyses with their bootstrap replicates (R resamples).

    ``s1``, ``st``: (L, F); ``s2``: (L, P) for the factor pairs ``pairs`` or None;
    ``var`` (L,): output variance (output units squared) over A and B; ``*_boot``
    the same quantities per resample, with R on axis 1 (None without a bootstrap).
    """

    s1: np.ndarray
    st: np.ndarray
    s2: np.ndarray | None
    var: np.ndarray
    s1_boot: np.ndarray | None
    st_boot: np.ndarray | None
    s2_boot: np.ndarray | None
    var_boot: np.ndarray | None
    pairs: tuple[tuple[int, int], ...]


def _ratios(m: np.ndarray, v: np.ndarray, n_factors: int, pairs: tuple) -> tuple:
    """(S1, ST, S2 or None) from the means m[..., column] of the term columns and the variance v."""
    f = n_factors
    v = np.where(v > 0, v, np.nan)[..., None]  # a constant output has no indices
    s1 = m[..., 4 : 4 + f] / v
    st = 0.5 * m[..., 4 + f : 4 + 2 * f] / v
    if not pairs:
        return s1, st, None
    j, k = np.array(pairs).T
    return s1, st, m[..., 4 + 2 * f :] / v - s1[..., j] - s1[..., k]


def sobol_estimates(
    y: np.ndarray, valid: np.ndarray, n_factors: int, second_order: bool, counts: np.ndarray | None
) -> SobolEstimate:
    """S1, ST (and S2) of L analyses from outputs ``y`` (L, N, blocks) in SALib's block order.

    ``valid`` (L, N) marks base rows whose every run succeeded; ``counts`` (R, N) from
    :func:`bootstrap_counts`, or None for point estimates only.
    """
    f = n_factors
    keep = valid[..., None]
    n_rows = valid.sum(axis=1)
    n_runs = np.where(n_rows > 0, n_rows * y.shape[2], np.nan)
    mu = np.where(keep, y, 0.0).sum(axis=(1, 2)) / n_runs
    dev = np.where(keep, y - mu[:, None, None], 0.0)
    sd = np.sqrt((dev**2).sum(axis=(1, 2)) / n_runs)
    z = dev / np.where(sd > 0, sd, np.nan)[:, None, None]
    z = np.where(keep, z, 0.0)
    a, b, ab = z[:, :, :1], z[:, :, -1:], z[:, :, 1 : 1 + f]
    columns = [a, b, a**2, b**2, b * (ab - a), (a - ab) ** 2]
    pairs = tuple(combinations(range(f), 2)) if second_order else ()
    if pairs:
        j, k = np.array(pairs).T
        columns.append(z[:, :, 1 + f + j] * ab[:, :, k] - a * b)
    means, boot = masked_means(np.concatenate(columns, axis=2), valid, counts)
    # point variance in two passes over A and B, as np.var in SALib
    centre = 0.5 * (means[:, :1] + means[:, 1:2])
    var = (((a[..., 0] - centre) ** 2 + (b[..., 0] - centre) ** 2) * valid).sum(axis=1) / (
        2.0 * np.where(n_rows > 0, n_rows, np.nan)
    )
    s1, st, s2 = _ratios(means, var, f, pairs)
    scale = sd**2  # standard units -> output units squared
    if boot is None:
        return SobolEstimate(s1, st, s2, var * scale, None, None, None, None, pairs)
    var_b = 0.5 * (boot[..., 2] + boot[..., 3]) - (0.5 * (boot[..., 0] + boot[..., 1])) ** 2
    s1_b, st_b, s2_b = _ratios(boot, var_b, f, pairs)
    return SobolEstimate(s1, st, s2, var * scale, s1_b, st_b, s2_b, var_b * scale[:, None], pairs)
