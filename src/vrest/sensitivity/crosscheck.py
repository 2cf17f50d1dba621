"""The analytic-derivative cross-check of Sobol' indices: linearised indices and DGSM bounds.

With the analytic dV/dx_i of the forward model (:func:`vrest.gradient`):

- linearised first-order index of factor f (inputs i in f, independent):
  S1_lin,f = sum_i (dV/dx_i at the centre)^2 Var(x_i) / Var(V),
  the centre being the inputs' expectations. It equals S1 for a model linear over
  the input ranges; a difference beyond the CIs says V is not linear there. For a
  Nernst potential alone, dV/dK_o = RT/(F K_o) and S1_lin = (RT/(F K_o))^2 Var(K_o)/Var(V).
- DGSM upper bound on the total index (Lamboni et al. 2013, Math. Comput. Simul. 87:45):
  ST_f <= sum_i C_i E[(s_i dV/dx_i)^2] / Var(V), with the Poincare constant C_i and
  scale s_i of each input's law (see :mod:`.distributions`); the expectation is the
  mean over the A points of the design. An ST above its bound beyond the CIs means
  the estimate (or the gradient) is wrong.

Both share the bootstrap resamples of the Sobol' estimates, so their CIs, and those
of the differences S1 - S1_lin and ST - bound, are consistent.
"""

from __future__ import annotations

import numpy as np

from .estimators import masked_means


def _by_factor(per_input: np.ndarray, members: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """Sum the last axis (inputs) over the members of each factor."""
    return np.stack([per_input[..., list(cols)].sum(axis=-1) for cols in members], axis=-1)


def linearised_indices(
    centre_gradient: np.ndarray,
    input_var: np.ndarray,
    members: tuple[tuple[int, ...], ...],
    var: np.ndarray,
    var_boot: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(S1_lin (L, F), its bootstrap replicates (L, R, F) or None).

    ``centre_gradient`` (L, I): dV/dx_i at the centre (mV per unit); ``input_var`` (I,)
    the input variances; ``var`` (L,) and ``var_boot`` (L, R) the output variance.
    """
    contribution = _by_factor(centre_gradient**2 * input_var, members)  # (L, F), mV^2
    lin = contribution / var[:, None]
    boot = None if var_boot is None else contribution[:, None, :] / var_boot[..., None]
    return lin, boot


def dgsm_bounds(
    scaled_gradient: np.ndarray,
    valid: np.ndarray,
    poincare: np.ndarray,
    members: tuple[tuple[int, ...], ...],
    var: np.ndarray,
    var_boot: np.ndarray | None,
    counts: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(DGSM bound on ST (L, F), its bootstrap replicates (L, R, F) or None).

    ``scaled_gradient`` (L, N, I): s_i(x) dV/dx_i at the A point of each base row
    (any value where ``valid`` (L, N) is False); ``poincare`` (I,) the constants C_i.
    """
    squares = np.where(valid[..., None], scaled_gradient, 0.0) ** 2
    nu, nu_boot = masked_means(squares, valid, counts)
    bound = _by_factor(nu * poincare, members) / var[:, None]
    if nu_boot is None or var_boot is None:
        return bound, None
    return bound, _by_factor(nu_boot * poincare, members) / var_boot[..., None]
