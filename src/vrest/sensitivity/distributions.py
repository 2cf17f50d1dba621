"""Input distributions of a scenario: inverse CDFs, moments and DGSM Poincare constants.

Each distribution maps uniform numbers u in (0, 1) to input values (its inverse
CDF), knows its mean and variance (for the linearised indices) and the constant of
the derivative-based upper bound on the total Sobol index (DGSM, Lamboni et al. 2013
Math. Comput. Simul. 87:45; Sobol & Kucherenko 2009 Math. Comput. Simul. 79:3009):

    ST_i <= C_i E[(s_i(x_i) dV/dx_i)^2] / Var(V)

with C_i the Poincare constant of the input's law and s_i = 1, except for the
lognormal, whose law has no Poincare constant: there the bound is taken in ln x
(s_i = x, C_i = sigma_log^2), as the total index does not change under x -> ln x.

- uniform(low, high): C = (high - low)^2 / pi^2 (optimal).
- normal(mean, sd): C = sd^2 (optimal).
- truncnorm(mean, sd, low, high): C = min(sd^2, (high - low)^2 / pi^2): the density
  is log-concave with curvature 1/sd^2 (Bakry-Emery) on an interval of length
  high - low (Payne-Weinberger); both are upper bounds.
- lognormal(median, sigma_log): ln x is normal(ln median, sigma_log); C = sigma_log^2 in ln x.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from scipy import special


class _Law:
    """Shared behaviour: the DGSM scale s(x) = 1 and a JSON-ready description."""

    name = ""

    def dgsm_scale(self, x: np.ndarray) -> np.ndarray | float:
        """s(x) in the DGSM bound (1: the bound is taken in x itself)."""
        return 1.0

    def describe(self) -> dict:
        """{"dist": name, parameters...}."""
        return {"dist": self.name, **{f.name: getattr(self, f.name) for f in fields(self)}}


@dataclass(frozen=True)
class Uniform(_Law):
    """Uniform on [low, high]."""

    low: float
    high: float
    name = "uniform"

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Inverse CDF, written as SALib scales its samples: u (high - low) + low."""
        return u * (self.high - self.low) + self.low

    @property
    def expectation(self) -> float:
        return 0.5 * (self.low + self.high)

    @property
    def var(self) -> float:
        return (self.high - self.low) ** 2 / 12.0

    @property
    def poincare(self) -> float:
        return (self.high - self.low) ** 2 / math.pi**2

    def shifted(self, offset: float) -> Uniform:
        return Uniform(self.low + offset, self.high + offset)


@dataclass(frozen=True)
class Normal(_Law):
    """Normal with mean and standard deviation sd."""

    mean: float
    sd: float
    name = "normal"

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.mean + self.sd * special.ndtri(u)

    @property
    def expectation(self) -> float:
        return self.mean

    @property
    def var(self) -> float:
        return self.sd**2

    @property
    def poincare(self) -> float:
        return self.sd**2

    def shifted(self, offset: float) -> Normal:
        return Normal(self.mean + offset, self.sd)


@dataclass(frozen=True)
class TruncNormal(_Law):
    """Normal(mean, sd) truncated to [low, high]."""

    mean: float
    sd: float
    low: float
    high: float
    name = "truncnorm"

    def _frozen(self):
        from scipy import stats  # slow to import; only truncated normals need it

        a, b = (self.low - self.mean) / self.sd, (self.high - self.mean) / self.sd
        return stats.truncnorm(a, b, loc=self.mean, scale=self.sd)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self._frozen().ppf(u)

    @property
    def expectation(self) -> float:
        return float(self._frozen().mean())

    @property
    def var(self) -> float:
        return float(self._frozen().var())

    @property
    def poincare(self) -> float:
        return min(self.sd**2, (self.high - self.low) ** 2 / math.pi**2)

    def shifted(self, offset: float) -> TruncNormal:
        return TruncNormal(self.mean + offset, self.sd, self.low + offset, self.high + offset)


@dataclass(frozen=True)
class LogNormal(_Law):
    """x = median exp(sigma_log z), z standard normal."""

    median: float
    sigma_log: float
    name = "lognormal"

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.median * np.exp(self.sigma_log * special.ndtri(u))

    @property
    def expectation(self) -> float:
        return self.median * math.exp(0.5 * self.sigma_log**2)

    @property
    def var(self) -> float:
        return math.expm1(self.sigma_log**2) * self.median**2 * math.exp(self.sigma_log**2)

    @property
    def poincare(self) -> float:
        return self.sigma_log**2

    def dgsm_scale(self, x: np.ndarray) -> np.ndarray:
        """s(x) = x: the bound is taken in ln x."""
        return x

    def shifted(self, offset: float) -> LogNormal:
        raise ValueError("a shifted lognormal is not a lognormal")


Distribution = Uniform | Normal | TruncNormal | LogNormal

DISTRIBUTIONS: dict[str, type] = {cls.name: cls for cls in (Uniform, Normal, TruncNormal, LogNormal)}


def parse_distribution(key: str, table: dict) -> Distribution:
    """A distribution from a scenario table such as {dist = "uniform", low = 2.0, high = 3.5}.

    ``key`` (e.g. ``inputs.k_o``) prefixes every error message. Keys ``source`` and
    ``group`` are the caller's; any other unknown key is an error.
    """
    name = table.get("dist")
    if name not in DISTRIBUTIONS:
        raise ValueError(f"{key}.dist: expected one of {', '.join(DISTRIBUTIONS)}, got {name!r}")
    cls = DISTRIBUTIONS[name]
    wanted = [f.name for f in fields(cls)]
    extra = sorted(set(table) - set(wanted) - {"dist", "source", "group"})
    if extra:
        raise ValueError(f"{key}.{extra[0]}: not a parameter of {name} (expected {', '.join(wanted)})")
    params = {}
    for p in wanted:
        if p not in table:
            raise ValueError(f"{key}.{p}: missing ({name} needs {', '.join(wanted)})")
        value = table[p]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{key}.{p}: expected a finite number, got {value!r}")
        params[p] = float(value)
    for p in ("sd", "sigma_log", "median"):
        if p in params and params[p] <= 0:
            raise ValueError(f"{key}.{p}: expected a positive number, got {params[p]:g}")
    if "low" in params and not params["low"] < params["high"]:
        what = "an empty range" if params["low"] == params["high"] else "an inverted range"
        raise ValueError(
            f"{key}: low = {params['low']:g} and high = {params['high']:g} make {what} "
            "(need low < high; put a constant under [fixed])"
        )
    return cls(**params)
