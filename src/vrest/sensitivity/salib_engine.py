"""The reference route through SALib itself: ``SALib.sample.sobol`` and ``SALib.analyze.sobol``.

Used with ``engine="salib"`` (slow: one ``analyze`` per analysis, with SALib's
per-index bootstrap loops). Samples are drawn on the unit cube and mapped through
the input distributions as in the default engine; rows with a failed run are left
out before ``analyze``, which cannot take NaN.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .scenarios import VariedInput, factor_structure


def salib_problem(inputs: tuple[VariedInput, ...]) -> dict:
    """The SALib problem on the unit cube, with groups where inputs share a factor."""
    problem = {"num_vars": len(inputs), "names": [x.name for x in inputs], "bounds": [[0.0, 1.0]] * len(inputs)}
    if len(factor_structure(inputs)) < len(inputs):
        problem["groups"] = [x.factor for x in inputs]
    return problem


def salib_unit_points(problem: dict, n: int, second_order: bool, rng: np.random.Generator) -> np.ndarray:
    """(N, blocks, K) unit-cube points of ``SALib.sample.sobol.sample``."""
    from SALib.sample import sobol as sobol_sample

    x = sobol_sample.sample(problem, n, calc_second_order=second_order, seed=rng)
    return x.reshape(n, -1, problem["num_vars"])


def salib_indices(
    problem: dict,
    y: np.ndarray,
    valid: np.ndarray,
    pairs: tuple[tuple[int, int], ...],
    resamples: int,
    conf_level: float,
    rng: Callable[[], np.random.Generator],
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """({S1, ST[, S2]} (L, F or P), their CI half-widths) from ``SALib.analyze.sobol`` per level.

    ``rng()`` gives a fresh bootstrap generator (passed as SALib's ``seed``, which
    SALib would ignore for the integer 0).
    """
    from SALib.analyze import sobol as sobol_analyze

    values: dict[str, list] = {"S1": [], "ST": [], "S2": []}
    conf: dict[str, list] = {"S1": [], "ST": [], "S2": []}
    for y_l, ok in zip(y, valid, strict=True):
        res = sobol_analyze.analyze(
            problem,
            y_l[ok].ravel(),
            calc_second_order=bool(pairs),
            num_resamples=resamples,
            conf_level=conf_level,
            seed=rng(),
        )
        for kind in ("S1", "ST"):
            values[kind].append(res[kind])
            conf[kind].append(res[f"{kind}_conf"])
        if pairs:
            j, k = np.array(pairs).T
            values["S2"].append(res["S2"][j, k])
            conf["S2"].append(res["S2_conf"][j, k])
    keep = ("S1", "ST", "S2") if pairs else ("S1", "ST")
    return {k: np.array(values[k]) for k in keep}, {k: np.array(conf[k]) for k in keep}
