"""The Bernoulli function B(x) = x / (e^x - 1), the kernel of the GHK current.

B has a removable singularity at x = 0 (B(0) = 1). Near zero a Taylor series is
used, and the exact branch is evaluated at a substituted safe argument, so that
values *and* automatic derivatives stay finite and accurate across x = 0
(the "double where" construction).
"""

from __future__ import annotations

from ..backend import namespace

SERIES_BELOW = 1e-2
"""|x| below which the Taylor series is used (truncation error < 1e-21)."""

_EXP_MAX = 700.0
"""Arguments above this are clipped before expm1 (B(700) ~ 7e-302, i.e. zero)."""


def bernoulli_and_prime(x):
    """(B(x), B'(x)) with B(0) = 1, B'(0) = -1/2; elementwise, NumPy or PyTensor.

    B'(x) = B(x) (1 - B(x) - x) / x away from zero.
    """
    xp = namespace(x)
    small = xp.abs(x) < SERIES_BELOW
    s = xp.minimum(xp.where(small, 1.0, x), _EXP_MAX)
    b = s / xp.expm1(s)
    x2 = x * x
    x4 = x2 * x2
    b_series = 1.0 - 0.5 * x + x2 / 12.0 - x4 / 720.0 + x4 * x2 / 30240.0
    db_series = -0.5 + x / 6.0 - x * x2 / 180.0 + x * x4 / 5040.0
    return xp.where(small, b_series, b), xp.where(small, db_series, b * (1.0 - b - s) / s)


def bernoulli(x):
    """B(x) = x / (e^x - 1), with B(0) = 1."""
    return bernoulli_and_prime(x)[0]


def bernoulli_prime(x):
    """dB/dx, with B'(0) = -1/2."""
    return bernoulli_and_prime(x)[1]
