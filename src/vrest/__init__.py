"""vrest: resting membrane potential models, derivatives and steady states.

Quick use::

    import vrest
    vrest.predict("ghk", k_o=[2.5, 5.4, 8.0])          # mV, mammalian-neuron preset
    vrest.gradient("rectifying-kir", k_o=5.4)["k_o"]     # dV/dK_o, mV/mM
    vrest.steady_states("rectifying-kir", k_o=3.5)       # every zero of I(V), with stability
    vrest.branches("rectifying-kir", k_o=3.5)            # both stable branches, continued past their folds

    res = vrest.fit("data/gelband1972_human_atrium_fig6.csv", "ghk", preset="cardiac_myocyte", seed=0)
    res.summary, res.posterior, res.diagnostics          # table, ArviZ DataTree, R-hat/ESS/divergences
    vrest.read_fit("runs/x/fits/ghk")                    # a fit folder read back (priors, settings, tables)

Fitting, folders, sensitivity and the report load on first use, so ``import vrest`` stays light.
"""

from .api import (
    MultipleSteadyStatesWarning,
    branches,
    gradient,
    nernst,
    nernst_gradient_mv,
    predict,
    resolve_inputs,
    steady_states,
)
from .bistability import bistable_range
from .models import MODELS, ForwardModel, get_model
from .models.solver import SolverError, SteadyStates
from .parameters import PARAMS, OutOfRangeWarning
from .presets import DEFAULT_PRESET, PRESETS, get_preset

__version__ = "0.2.0"

_LAZY = {
    "FitSettings": "vrest.inference.fit",
    "FitResult": "vrest.inference.fit",
    "load_recordings": "vrest.data",
    "check_fittable": "vrest.data",
    "load_study": "vrest.study",
    "fit_settings": "vrest.study",
    "fitted_priors": "vrest.inference.priors",
    "Prior": "vrest.inference.priors",
    "SIGMA_PRIOR_SD_MV": "vrest.inference.priors",
    "read_fit": "vrest.folders",
    "write_fit": "vrest.folders",
    "sobol_analysis": "vrest.sensitivity.analysis",
    "build_report": "vrest.report.build",
}
"""Public names whose modules load on first use (PyMC, pandas, matplotlib are heavy)."""


def fit(recordings, model: str = "ghk", *, progress: bool = False, **settings):
    """Fit ``model`` to ``recordings`` (a :class:`vrest.data.Recordings`, a CSV path or a DataFrame).

    ``settings``: any :class:`~vrest.inference.fit.FitSettings` field (seed, preset, chains, draws,
    tune, likelihood, no_pump, fixed, conditions, uncertain, priors, hierarchical, g_tot_ns);
    seed defaults to 0. Returns a :class:`~vrest.inference.fit.FitResult`: ``.posterior`` (an
    ArviZ DataTree), ``.summary`` (a table with R-hat and ESS), ``.diagnostics`` and ``.problems``.
    """
    from .data import Recordings, load_recordings
    from .inference.fit import FitSettings
    from .inference.fit import fit as run_fit

    data = recordings if isinstance(recordings, Recordings) else load_recordings(recordings)
    return run_fit(data, FitSettings(model=model, **({"seed": 0} | settings), progress=progress))


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vrest' has no attribute {name!r}")

__all__ = [
    "DEFAULT_PRESET",
    "MODELS",
    "PARAMS",
    "PRESETS",
    "SIGMA_PRIOR_SD_MV",
    "FitResult",
    "FitSettings",
    "ForwardModel",
    "MultipleSteadyStatesWarning",
    "OutOfRangeWarning",
    "Prior",
    "SolverError",
    "SteadyStates",
    "bistable_range",
    "branches",
    "build_report",
    "check_fittable",
    "fit",
    "fit_settings",
    "fitted_priors",
    "get_model",
    "get_preset",
    "gradient",
    "load_recordings",
    "load_study",
    "nernst",
    "nernst_gradient_mv",
    "predict",
    "read_fit",
    "resolve_inputs",
    "sobol_analysis",
    "steady_states",
    "write_fit",
]
