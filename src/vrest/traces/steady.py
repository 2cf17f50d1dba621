"""The steady-state membrane potential of one window of a trace: spikes out, flatness tested, V_m with its uncertainty.

The rules (constants below, each with its reason):

1. **Spikes, action potentials, artefacts** are found against a running baseline: the
   median of 0.1-s block medians over :data:`BASELINE_S` (10 s; an event a few seconds
   long cannot move it). A sample is part of an event when it deviates from the baseline
   by more than ``max(K_DEV x robust sd, MIN_DEV_MV)`` (6 x 1.4826 MAD, at least 1 mV), or
   when the slope over 1 ms exceeds ``max(K_SLOPE x robust sd, MIN_SLOPE_MV_PER_MS)``
   (8 x the slope's robust sd, at least 1 mV/ms). Each event is widened by a refractory
   margin (:data:`MARGIN_BEFORE_S` before, :data:`MARGIN_AFTER_S` after, for the
   upstroke's foot and the afterpotential); events less than :data:`MERGE_GAP_S` (2 s)
   apart merge, gap included (a spike and its slow afterdepolarisation count once). Events
   are counted (``spikes_removed``) and their samples dropped. With fewer than half of
   the window's samples left the epoch is flagged ``spiking``.
2. **Flatness**: the drift (mV/min) is the Theil-Sen slope of ~1-s block means of the
   clean samples; above ``max_drift`` the epoch is flagged ``unsettled``.
3. **V_m** is the level of that line at the window's centre, its intercept estimated as
   the mean of the clean, detrended samples. **sem_mV** combines (in quadrature) the
   standard error of that mean and the drift's contribution:

   - noise: the residuals' standard error by block averaging: block sizes double while
     at least :data:`MIN_BLOCKS` blocks remain; at the largest size the block means'
     lag-1 correlation rho (its small-sample bias (1 + 3 rho)/blocks added back) gives
     f = (1 + rho)/(1 - rho) and SE^2 = f s^2 / (blocks - 2f) (s^2 the block means'
     variance; 2f for the fitted level and drift); the larger of this and every plain
     level's SE is taken. Autocorrelated noise thus counts with its effective sample
     size (on AR(1) noise with time constants up to 1/18 of the window the 95 %
     interval covers 93-96 % of the time); at least the ADC step / sqrt(12);
   - drift: |slope| x window / sqrt(12), the spread of a linear drift over the window
     (how far the potential moved while it was meant to be steady).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SETTLE_S = 60.0
"""Default time skipped after each solution change, s. Bath exchange in a recording chamber
(1-2 ml at 2-5 ml/min) has a time constant of 10-20 s; three time constants plus the tubing's
dead volume take 30-60 s, after which less than 5 % of the step remains. Pass a longer
``settle_s`` for slow perfusion; unsettled epochs are flagged by the drift test anyway."""

SETTLE_MAX_FRACTION = 0.5
"""The settle time is capped at this fraction of an epoch, so at least half of a short epoch is
measured (flagged ``settle_capped``)."""

MAX_DRIFT_MV_PER_MIN = 0.5
"""Default flatness limit, mV/min: over a 3-5 min window this moves V_m by 1.5-2.5 mV end to end,
the size of a recording's between-epoch noise; more means the potential is still changing."""

MIN_WINDOW_S = 10.0
"""A window shorter than this (s) is flagged ``short``: too little to see a drift or average noise."""

BASELINE_BLOCK_S = 0.1
BASELINE_S = 10.0
K_DEV = 6.0
MIN_DEV_MV = 1.0
SLOPE_STEP_S = 1e-3
K_SLOPE = 8.0
MIN_SLOPE_MV_PER_MS = 1.0
MARGIN_BEFORE_S = 0.05
MARGIN_AFTER_S = 0.5
MERGE_GAP_S = 2.0
MIN_CLEAN_FRACTION = 0.5
DRIFT_BLOCK_S = 1.0
MIN_DRIFT_BLOCKS, MAX_DRIFT_BLOCKS = 20, 1000
MIN_BLOCKS = 32
MAX_RHO = 0.95

EXCLUDING_FLAGS = ("unsettled", "spiking", "short")
"""Flags that exclude an epoch from fits (``unsettled`` only unless the user includes unsettled epochs)."""

SPIKE_RULE = (f"event where |V - running median ({BASELINE_S:g} s)| > max({K_DEV:g} robust sd, {MIN_DEV_MV:g} mV) or "
              f"|dV/dt over {SLOPE_STEP_S * 1e3:g} ms| > max({K_SLOPE:g} robust sd, {MIN_SLOPE_MV_PER_MS:g} mV/ms); "
              f"widened by {MARGIN_BEFORE_S:g} s before and {MARGIN_AFTER_S:g} s after; events less than {MERGE_GAP_S:g} s apart "
              "merge")
UNCERTAINTY_RULE = ("sem_mV = sqrt(se_noise^2 + se_drift^2): se_noise of the mean of the detrended clean samples by "
                    f"block averaging (>= {MIN_BLOCKS} blocks, lag-1 corrected, at least ADC step/sqrt(12)); "
                    "se_drift = |drift| x window / sqrt(12)")


@dataclass(frozen=True)
class Steady:
    """One window's result: V_m and sem (mV), drift (mV/min), events removed (start, stop in s), flags."""

    v_mv: float
    sem_mv: float
    drift_mv_per_min: float
    noise_sd_mv: float
    n_eff: float
    n_samples: int
    spikes: tuple[tuple[float, float], ...]
    flags: tuple[str, ...]


def _robust_sd(x: np.ndarray) -> float:
    """1.4826 x MAD; the mean absolute deviation (x 1.2533) when the MAD is 0 (coarsely digitised data)."""
    if x.size == 0:
        return 0.0
    centre = np.median(x)
    dev = np.abs(x - centre)
    mad = float(np.median(dev))
    return 1.4826 * mad if mad > 0 else 1.2533 * float(dev.mean())


def _baseline(v: np.ndarray, rate_hz: float) -> np.ndarray:
    """Running median (BASELINE_S) of BASELINE_BLOCK_S block medians, one value per sample."""
    from scipy.ndimage import median_filter

    n = v.size
    block = max(1, round(BASELINE_BLOCK_S * rate_hz))
    blocks = -(-n // block)
    padded = np.concatenate([v, np.full(blocks * block - n, v[-1])])
    medians = np.median(padded.reshape(blocks, block), axis=1)
    size = max(1, round(BASELINE_S / BASELINE_BLOCK_S)) | 1
    running = median_filter(medians, size=size, mode="nearest")
    return np.repeat(running, block)[:n]


def find_events(v: np.ndarray, rate_hz: float) -> np.ndarray:
    """Sample ranges of spikes and artefacts, as an (events, 2) array of [start, stop) indices (see module docstring)."""
    n = v.size
    dev = v - _baseline(v, rate_hz)
    flagged = np.abs(dev) > max(K_DEV * _robust_sd(dev), MIN_DEV_MV)
    step = max(1, round(SLOPE_STEP_S * rate_hz))
    if n > step:
        slope = (v[step:] - v[:-step]) * (rate_hz / step / 1e3)  # mV/ms
        steep = np.abs(slope) > max(K_SLOPE * _robust_sd(slope), MIN_SLOPE_MV_PER_MS)
        flagged[:-step] |= steep
        flagged[step:] |= steep
    idx = np.flatnonzero(flagged)
    if idx.size == 0:
        return np.empty((0, 2), dtype=np.int64)
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.maximum(idx[np.r_[0, breaks + 1]] - round(MARGIN_BEFORE_S * rate_hz), 0)
    stops = np.minimum(idx[np.r_[breaks, idx.size - 1]] + 1 + round(MARGIN_AFTER_S * rate_hz), n)
    reach = np.maximum.accumulate(stops)
    new = np.r_[True, starts[1:] > reach[:-1] + round(MERGE_GAP_S * rate_hz)]
    groups = np.cumsum(new) - 1
    merged_stops = np.zeros(int(groups[-1]) + 1, dtype=np.int64)
    np.maximum.at(merged_stops, groups, stops)
    return np.column_stack([starts[new], merged_stops])


def _block_se(e: np.ndarray) -> float:
    """Standard error of the mean of the series ``e`` by block averaging (see module docstring)."""
    means = e
    best = float(e.std(ddof=1) / math.sqrt(e.size))
    corrected = 0.0
    while means.size // 2 >= MIN_BLOCKS:
        half = means.size // 2 * 2
        means = 0.5 * (means[:half:2] + means[1:half:2])
        blocks = means.size
        centred = means - means.mean()
        ss = float(np.sum(centred * centred))
        best = max(best, math.sqrt(ss / (blocks - 1) / blocks))
        rho = float(np.dot(centred[1:], centred[:-1])) / ss if ss > 0 else 0.0
        rho = min(max(rho + (1 + 3 * rho) / blocks, 0.0), MAX_RHO)  # the lag-1 estimator's bias, added back
        factor = (1 + rho) / (1 - rho)
        corrected = math.sqrt(factor * ss / blocks / max(blocks - 2 * factor, 1.0))
    return max(best, corrected)


def steady_state(v: np.ndarray, rate_hz: float, window: tuple[float, float], *, max_drift: float,
                 resolution_mv: float = 0.0) -> Steady:  # fmt: skip
    """The steady state of the window samples ``v`` (mV; sample 0 at ``window[0]`` s, ``rate_hz``)."""
    n = v.size
    start, stop = window
    if n < 3:
        level = float(np.median(v)) if n else float("nan")
        return Steady(level, float("nan"), float("nan"), float("nan"), 0.0, n, (), ("short",))
    events = find_events(v, rate_hz)
    bad = np.zeros(n + 1, dtype=np.int64)
    np.add.at(bad, events[:, 0], 1)
    np.add.at(bad, events[:, 1], -1)
    clean = np.cumsum(bad[:-1]) == 0
    spikes = tuple((start + a / rate_hz, start + b / rate_hz) for a, b in events)
    flags: list[str] = []
    if clean.sum() < MIN_CLEAN_FRACTION * n:
        flags.append("spiking")
    if clean.sum() < 3:
        level = float(np.median(v))
        spread = _robust_sd(v)
        return Steady(level, spread, float("nan"), spread, 1.0, n, spikes, (*flags, "short"))
    t = start + np.arange(n) / rate_hz
    centre = 0.5 * (start + stop)
    slope = _drift(v, t, clean, rate_hz, stop - start)
    x, tx = v[clean], t[clean]
    detrended = x - slope * (tx - centre)
    level = float(detrended.mean())
    residual = detrended - level
    se_noise = max(_block_se(residual) if residual.size > 1 else 0.0, resolution_mv / math.sqrt(12))
    se_drift = abs(slope) * (stop - start) / math.sqrt(12)
    sd = float(residual.std())
    drift = slope * 60.0
    if abs(drift) > max_drift:
        flags.append("unsettled")
    if stop - start < MIN_WINDOW_S:
        flags.append("short")
    n_eff = sd**2 / se_noise**2 if se_noise > 0 else float(x.size)
    return Steady(level, math.hypot(se_noise, se_drift), drift, sd, n_eff, int(x.size), spikes, tuple(flags))


def _drift(v: np.ndarray, t: np.ndarray, clean: np.ndarray, rate_hz: float, length_s: float) -> float:
    """Theil-Sen slope (mV/s) of block means of the clean samples (blocks of ~DRIFT_BLOCK_S)."""
    from scipy.stats import theilslopes

    n = v.size
    blocks = int(min(MAX_DRIFT_BLOCKS, max(MIN_DRIFT_BLOCKS, round(length_s / DRIFT_BLOCK_S))))
    size = max(1, -(-n // blocks))
    ids = np.arange(n) // size
    weight = clean.astype(np.float64)
    counts = np.bincount(ids, weights=weight)
    keep = counts >= 0.5 * min(size, n)
    if keep.sum() < 2:
        return 0.0
    means = np.bincount(ids, weights=v * weight)[keep] / counts[keep]
    times = np.bincount(ids, weights=t * weight)[keep] / counts[keep]
    return float(theilslopes(means, times)[0])
