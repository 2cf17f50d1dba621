"""Fitted parameters and their priors, per model.

Every fitted parameter is sampled on an unconstrained scale with a Gaussian prior
there: ratios and conductances on the log scale (log-normal priors), pump terms on
the linear scale. The defaults below are weakly informative and can be overridden
from a study file (``[priors.p_na] median = 0.04, log_sd = 1.0`` or
``[priors.pump_mv] mean = 0, sd = 5``).

Default priors (median and 95 % range on the natural scale):

* ``p_na`` = P_Na/P_K: log-normal, median 0.05, log-sd 1.0 (0.007 to 0.36)
* ``p_cl`` = P_Cl/P_K: log-normal, median 0.3, log-sd 1.5 (0.016 to 5.7)
* ``g_na``, ``g_cl`` (relative to g_K = 1): log-normal, medians 0.05 and 0.1, log-sd 1.5
* ``pump_mv``: normal, mean 0, sd 5 mV. The sign is not imposed: an electrogenic
  Na+/K+ pump hyperpolarises (pump_mv > 0), so a clearly negative estimate flags a
  misspecified model or wrong assumed concentrations.
* ``i_pump`` (pA, rectifying models, with the model's conductance scale fixed): normal, mean 0, sd 10
* ``sigma_mv`` (residual scatter): half-normal, sd 5 mV (sampled on the log scale)
* uncertain fixed concentrations (``--uncertain k_i``): log-normal around the assumed
  value with log-sd 0.2 (about +/- 40 % at 95 %)

Which parameters a model fits is its registry record's ``fitted``
(:mod:`vrest.models`); a registered model's new parameters bring their default priors
in the record's ``priors``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

import numpy as np

from ..models import MODELS, get_model
from ..parameters import PARAMS, PUMP_TERMS


@dataclass(frozen=True)
class Prior:
    """Gaussian prior of one parameter on its unconstrained scale."""

    name: str
    log_scale: bool  # True: the parameter is exp(theta); False: it is theta
    mean: float  # of theta
    sd: float  # of theta

    @property
    def unit(self) -> str:
        return PARAMS[self.name].unit

    def describe(self) -> str:
        """A one-line statement of the prior on the natural scale."""
        if self.log_scale:
            lo, hi = np.exp(self.mean - 1.96 * self.sd), np.exp(self.mean + 1.96 * self.sd)
            return f"{self.name} ~ LogNormal(median {np.exp(self.mean):.4g}, log-sd {self.sd:g}); 95% {lo:.3g}-{hi:.3g} {self.unit}"
        return f"{self.name} ~ Normal({self.mean:g}, {self.sd:g}) {self.unit}"

    def to_natural(self, theta):
        """Natural-scale value of the unconstrained ``theta`` (NumPy or PyTensor)."""
        if self.log_scale:
            from ..backend import namespace

            return namespace(theta).exp(theta)
        return theta


def _lognormal(name: str, median: float, log_sd: float) -> Prior:
    return Prior(name, True, float(np.log(median)), log_sd)


DEFAULT_PRIORS: dict[str, Prior] = {
    p.name: p
    for p in (
        _lognormal("p_na", 0.05, 1.0),
        _lognormal("p_cl", 0.3, 1.5),
        _lognormal("g_na", 0.05, 1.5),
        _lognormal("g_cl", 0.1, 1.5),
        Prior("pump_mv", False, 0.0, 5.0),
        Prior("i_pump", False, 0.0, 10.0),
    )
}

SIGMA_PRIOR_SD_MV = 5.0
"""Half-normal sd (mV) of the residual scatter sigma_mv."""

NUISANCE_LOG_SD = 0.2
"""Log-sd of the prior of a fixed concentration declared uncertain."""


class _Fitted(Mapping):
    """Model name -> the parameters it fits by default (its ``fitted``), for every fittable model
    in :data:`vrest.models.MODELS`, read from the registry on every access."""

    def __getitem__(self, model: str) -> tuple[str, ...]:
        if model not in MODELS or not MODELS[model].fitted:
            raise KeyError(model)
        return MODELS[model].fitted

    def __iter__(self) -> Iterator[str]:
        return (name for name, m in MODELS.items() if m.fitted)

    def __len__(self) -> int:
        return sum(1 for _ in self)


FITTED: Mapping[str, tuple[str, ...]] = _Fitted()
"""Parameters each fittable model fits by default (the pump term is dropped by ``--no-pump``)."""


def prior_names(model: str) -> tuple[str, ...]:
    """The parameters a fit of ``model`` takes priors for: those it fits, and sigma_mv (which every fit has)."""
    return (*get_model(model).fitted, "sigma_mv")


def default_prior(model: str, name: str) -> Prior:
    """The default prior of the fitted parameter ``name`` of ``model``: the model's own
    (its record's ``priors``), else :data:`DEFAULT_PRIORS`; ValueError if there is none."""
    own = get_model(model).priors.get(name)
    if own is not None:
        log_scale, mean, sd = own
        return Prior(name, bool(log_scale), float(mean), float(sd))
    if name not in DEFAULT_PRIORS:
        raise ValueError(f"{name}: no default prior; give one in the priors of model {model!r}")
    return DEFAULT_PRIORS[name]


def fitted_priors(model: str, *, no_pump: bool = False, overrides: dict | None = None) -> list[Prior]:
    """The priors of the parameters ``model`` fits, with study-file overrides applied."""
    if model not in FITTED:
        raise ValueError(f"model: expected one of {', '.join(FITTED)}, got {model!r}")
    priors = []
    for name in FITTED[model]:
        if no_pump and name in PUMP_TERMS:
            continue
        prior = default_prior(model, name)
        spec = (overrides or {}).get(name)
        if spec:
            prior = override(prior, spec)
        priors.append(prior)
    unknown = set(overrides or {}) - set(prior_names(model))
    if unknown:
        raise ValueError(f"priors: {min(unknown)!r} is not fitted by model {model!r} (fitted: {', '.join(FITTED[model])})")
    return priors


def override(prior: Prior, spec: dict) -> Prior:
    """Apply ``{"median": m, "log_sd": s}`` (log-scale) or ``{"mean": m, "sd": s}`` (linear)."""
    allowed = {"median", "log_sd"} if prior.log_scale else {"mean", "sd"}
    bad = set(spec) - allowed
    if bad:
        raise ValueError(f"priors.{prior.name}: unknown key {min(bad)!r}; expected {', '.join(sorted(allowed))}")
    values = {k: float(v) for k, v in spec.items()}
    if prior.log_scale:
        if values.get("median", 1.0) <= 0 or values.get("log_sd", 1.0) <= 0:
            raise ValueError(f"priors.{prior.name}: median and log_sd must be positive")
        return replace(prior, mean=float(np.log(values.get("median", np.exp(prior.mean)))), sd=values.get("log_sd", prior.sd))
    if values.get("sd", 1.0) <= 0:
        raise ValueError(f"priors.{prior.name}: sd must be positive")
    return replace(prior, mean=values.get("mean", prior.mean), sd=values.get("sd", prior.sd))


def nuisance_prior(name: str, assumed: float) -> Prior:
    """Log-normal prior around an assumed fixed concentration declared uncertain."""
    return Prior(name, True, float(np.log(assumed)), NUISANCE_LOG_SD)
