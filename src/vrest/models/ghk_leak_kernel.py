"""Compiled (Numba) Newton iteration for the steady state of ``rectifying-ghk``, point by point.

With u = V/V_T, the net current over perm_k is f(u) = a_in B(-u) - a_out B(u) + c (c = i_pump/perm_k;
:func:`.rectifying._leak_f`), monotone and convex or concave everywhere, so Newton from the pump-free zero
ln(a_out/a_in) converges from anywhere (see :func:`.rectifying.rectifying_ghk_symbolic_state`). This kernel returns
its iterate u*; the PyTensor graph then takes one exact Newton step from u* with f' held, whose gradient is the
implicit function theorem's. Compiled on first call and cached in vrest's cache folder (:mod:`vrest.cache`) under
a key that covers vrest's source and the numerical stack.
"""

from __future__ import annotations

import functools
import math

from .. import cache as disk_cache

KIND = "rectifying-ghk Newton kernel"
CACHE_KEY = disk_cache.structure_key((KIND,))
"""Where the kernel's machine code is cached: ``models/<CACHE_KEY>/`` of vrest's cache folder."""

NEWTON_STEPS = 20
"""At most this many Newton steps per point (from the pump-free zero the step is below 1e-9 after 15, over
a_out/a_in from 1e-6 to 1e6 and |i_pump/perm_k| up to 1e3 x the sums)."""

STEP_TOL = 1e-12
"""A point's iteration stops once its Newton step in u is below this."""

NEAR_ZERO = 1e-6
"""B(u) = u/(e^u - 1) is evaluated at u kept this far from 0 (no series): an error of this order in the iterate,
which the graph's exact Newton step removes (quadratic convergence)."""


@functools.partial(disk_cache.njit, key=CACHE_KEY, error_model="numpy")
def newton_points(a_in, a_out, c, u):
    """Store in ``u`` (flat array) the Newton iterate u* = V/V_T of each point of the flat arrays ``a_in``, ``a_out``
    (mM, permeability-weighted sums) and ``c`` (mM, i_pump/perm_k)."""
    for i in range(u.size):
        x = math.log(a_out[i]) - math.log(a_in[i])
        for _ in range(NEWTON_STEPS):
            s = x if abs(x) >= NEAR_ZERO else NEAR_ZERO
            e = math.exp(s)
            b = s / (e - 1.0)
            db = (e - 1.0 - s * e) / (e - 1.0) ** 2
            delta = (a_in[i] * b * e - a_out[i] * b + c[i]) / (a_in[i] * (1.0 + db) - a_out[i] * db)
            x -= delta
            if abs(delta) < STEP_TOL:
                break
        u[i] = x
