"""Saltelli's cross-sampled design on a scrambled Sobol' sequence, row for row as SALib.

For N base points of a Sobol' sequence in 2K dimensions (A = its first K columns,
B = the last K) and factors (groups of columns), each base row gives the blocks

    A, AB_1 .. AB_F, [BA_1 .. BA_F,] B

where AB_f is A with factor f's columns taken from B and BA_f is B with them taken
from A (only for second-order indices): N (F + 2) or N (2F + 2) model runs. This is
the matrix of ``SALib.sample.sobol.sample`` (with groups) on the unit cube, built
without a Python loop per row. The first N/2 base rows of a design of N are a design
of N/2 (the Sobol' sequence is extensible), which the convergence check uses.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

MIN_N = 8
"""Smallest number of base rows (the convergence check compares N/2 with N)."""


MAX_N = 2**22
"""Most base samples: N (2F + 2) model runs of 8-byte results for F ~ 10 factors stay within a few GB."""


def checked_n(n: object) -> int:
    """``n`` as a power of two >= MIN_N: other integers are rounded up with a warning."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise ValueError(f"n: expected an integer number of base samples, got {n!r}")
    if not MIN_N <= n <= MAX_N:
        raise ValueError(f"n: expected {MIN_N} to {MAX_N} (2**22) base samples, got {n}")
    rounded = 1 << (int(n) - 1).bit_length()
    if rounded != n:
        warnings.warn(
            f"n: {n} is not a power of two (Sobol' sequences balance only at powers of two); using {rounded}",
            UserWarning,
            stacklevel=2,
        )
    return rounded


@dataclass(frozen=True)
class SaltelliDesign:
    """A Saltelli design: base points and the factor (column group) structure.

    ``base`` is (N, 2K) in [0, 1); ``factors`` lists the column indices of each
    factor in order of first appearance (SALib's group order).
    """

    base: np.ndarray
    factors: tuple[tuple[int, ...], ...]
    second_order: bool

    @property
    def n(self) -> int:
        """Base rows N."""
        return self.base.shape[0]

    @property
    def n_columns(self) -> int:
        """Uniform dimensions K of one point."""
        return self.base.shape[1] // 2

    @property
    def n_blocks(self) -> int:
        """Model runs per base row: F + 2, or 2F + 2 with second order."""
        return (2 if self.second_order else 1) * len(self.factors) + 2

    def unit_points(self) -> np.ndarray:
        """(N, blocks, K) points in [0, 1): SALib's sample matrix reshaped by base row."""
        k, f = self.n_columns, len(self.factors)
        a, b = self.base[:, :k], self.base[:, k:]
        points = np.empty((self.n, self.n_blocks, k))
        points[:, 0] = a
        points[:, -1] = b
        for i, cols in enumerate(self.factors):
            points[:, 1 + i] = a
            points[:, 1 + i, cols] = b[:, cols]
            if self.second_order:
                points[:, 1 + f + i] = b
                points[:, 1 + f + i, cols] = a[:, cols]
        return points


def saltelli_design(
    n_columns: int, factors: tuple[tuple[int, ...], ...], n: int, rng: np.random.Generator, second_order: bool
) -> SaltelliDesign:
    """The design for ``n`` base rows (a power of two); ``rng`` scrambles the Sobol' sequence.

    ``SALib.sample.sobol.sample(problem, n, seed=rng)`` with the same generator state
    gives the same points (scaled by the problem bounds).
    """
    from scipy.stats import qmc

    base = qmc.Sobol(d=2 * n_columns, scramble=True, rng=rng).random(n)
    return SaltelliDesign(base, factors, second_order)
