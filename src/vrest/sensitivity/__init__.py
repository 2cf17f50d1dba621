"""Sobol' sensitivity analysis of the resting potential over scenarios (``vrest sensitivity``).

Quick use::

    from vrest.sensitivity import sobol_analysis, write_outputs
    res = sobol_analysis("ghk", ["hypokalaemia", "hyperkalaemia"], n=4096, seed=0)
    res.indices          # tidy DataFrame: scenario, K_o_mM, input, index, value, ci_low, ci_high, flag
    res.summary          # per scenario and K_o level: V quantiles, S1 sum, convergence, run counts
    res.findings         # plain-language statements
    write_outputs(res, "out/kalaemia")   # indices.csv, summary.csv, sensitivity.json, figures (vrest.folders)

The heavy modules (pandas, SciPy, matplotlib) load on first use, so importing
this package (and the CLI) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "sobol_analysis": "analysis",
    "sobol_function": "analysis",
    "SensitivityResult": "results",
    "Scenario": "scenarios",
    "VariedInput": "scenarios",
    "bundled_names": "scenarios",
    "bundled_scenario": "scenarios",
    "scenario_file": "scenarios",
    "scenario_from_table": "scenarios",
    "Uniform": "distributions",
    "Normal": "distributions",
    "TruncNormal": "distributions",
    "LogNormal": "distributions",
    "bars_figure": "figures",
}

if TYPE_CHECKING:
    from ..folders import write_sensitivity as write_outputs
    from .analysis import sobol_analysis, sobol_function
    from .distributions import LogNormal, Normal, TruncNormal, Uniform
    from .results import SensitivityResult
    from .scenarios import Scenario, VariedInput, bundled_names, bundled_scenario, scenario_file, scenario_from_table

__all__ = [
    "LogNormal",
    "Normal",
    "Scenario",
    "SensitivityResult",
    "TruncNormal",
    "Uniform",
    "VariedInput",
    "bars_figure",
    "bundled_names",
    "bundled_scenario",
    "scenario_file",
    "scenario_from_table",
    "sobol_analysis",
    "sobol_function",
    "write_outputs",
]


_lazy = lazy_exports(__name__, _EXPORTS)


def __getattr__(name: str) -> object:
    if name == "write_outputs":  # the writer lives with every other output folder
        from ..folders import write_sensitivity

        return write_sensitivity
    return _lazy(name)
