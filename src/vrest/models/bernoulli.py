"""The Bernoulli function B(x) = x / (e^x - 1), the kernel of the GHK current.

B has a removable singularity at x = 0 (B(0) = 1). Near zero a Taylor series is
used; on tensors the exact branch is evaluated at a substituted safe argument, so
that values *and* automatic derivatives stay finite and accurate across x = 0
(the "double where" construction). On NumPy arrays the series is applied only to
the few entries that need it.
"""

from __future__ import annotations

import numpy as np

from ..backend import namespace

SERIES_BELOW = 1e-2
"""|x| below which the Taylor series is used (truncation error < 1e-21)."""

_EXP_MAX = 700.0
"""Arguments above this are clipped before exp (B(700) ~ 7e-302, i.e. zero; B(-x) = x there)."""


def _taylor(x):
    """(B(x), B(-x), B'(x)) by their Taylor series at 0."""
    x2 = x * x
    x4 = x2 * x2
    even = 1.0 + x2 / 12.0 - x4 / 720.0 + x4 * x2 / 30240.0
    return even - 0.5 * x, even + 0.5 * x, -0.5 + x / 6.0 - x * x2 / 180.0 + x * x4 / 5040.0


def bernoulli_terms(x):
    """(B(x), B(-x), B'(x)), elementwise on NumPy arrays or PyTensor tensors.

    Uses B(-x) = B(x) e^x and B'(x) = B(x) (1 - B(-x)) / x away from zero.
    """
    xp = namespace(x)
    small = xp.abs(x) < SERIES_BELOW
    s = xp.minimum(xp.where(small, 1.0, x), _EXP_MAX)
    b = s / xp.expm1(s)
    b_neg = b * xp.exp(s) + (x - s)  # B(-x) = B(x) + x: exact also where x was clipped
    db = b * (1.0 - b_neg) / s
    if xp is np:
        if np.any(small):
            b, b_neg, db = (np.array(a, dtype=float, copy=True) for a in (b, b_neg, db))
            for out, series in zip((b, b_neg, db), _taylor(np.asarray(x)[small]), strict=True):
                out[small] = series
        return b, b_neg, db
    return tuple(xp.where(small, series, exact) for series, exact in zip(_taylor(x), (b, b_neg, db), strict=True))


def bernoulli(x):
    """B(x) = x / (e^x - 1), with B(0) = 1."""
    return bernoulli_terms(x)[0]


def _taylor_inverse(x):
    """(1/B(x), d(1/B)/dx) by their Taylor series at 0 (1/B(x) = (e^x - 1)/x)."""
    x2 = x * x
    return 1.0 + x / 2.0 + x2 / 6.0 + x * x2 / 24.0 + x2 * x2 / 120.0, 0.5 + x / 3.0 + x2 / 8.0 + x * x2 / 30.0


def inverse_bernoulli_terms(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(e^x, 1/B(x) = (e^x - 1)/x, d(1/B)/dx = (e^x - 1/B(x))/x) on NumPy arrays (for solvers)."""
    small = np.abs(x) < SERIES_BELOW
    s = np.where(small, 1.0, x)
    e = np.exp(x)
    inv_b = np.expm1(s) / s
    d_inv_b = (e - inv_b) / s
    if np.any(small):
        inv_b[small], d_inv_b[small] = _taylor_inverse(x[small])
    return e, inv_b, d_inv_b
