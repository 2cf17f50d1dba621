"""Analytic derivatives against central finite differences and PyTensor autodiff."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from conftest import random_inputs

import vrest
from vrest.symbolic import symbolic_voltage

N_POINTS = 1200
MODELS = list(vrest.MODELS)


def _monostable(model: str, x: dict) -> dict:
    """Keep points with a single stable state well away from a fold (finite differences stay on it)."""
    if model != "rectifying-kir":
        return x
    ss = vrest.steady_states(model, **x, v_min=-400, v_max=200)
    well_posed = ss.slope[:, 0] > 0.05 * (x["g_k"] + x["g_na"] + x["g_cl"])  # dI/dV not near 0: no fold
    keep = (ss.n_stable == 1) & (ss.count == 1) & well_posed
    return {k: v[keep] for k, v in x.items()}


def _inputs(model: str, seed: int) -> dict:
    fixed = {"p_ca": np.zeros(N_POINTS)} if model == "ghk" else {}
    return _monostable(model, random_inputs(model, N_POINTS, seed, **fixed))


@pytest.mark.parametrize("model", MODELS)
def test_analytic_gradient_matches_central_difference(model):
    x = _inputs(model, seed=1)
    n = len(next(iter(x.values())))
    assert n >= 1000, f"only {n} usable points"
    grad = vrest.gradient(model, **x)
    assert set(grad) == set(x)
    for name, analytic in grad.items():
        if model == "ghk" and name in ("p_ca", "ca_o", "ca_i"):
            continue  # p_ca = 0 here (no central difference below 0): checked with Ca permeant below
        assert_matches_central_difference(model, x, name, analytic)


def assert_matches_central_difference(model: str, x: dict, name: str, analytic: np.ndarray) -> None:
    """|analytic - FD| <= 1e-6 |analytic| + the FD's own rounding error.

    The central difference is Richardson-extrapolated (steps h and h/2, error
    O(h^4)). V itself is exact only to ~1e3 eps |V| (a solved root is limited by
    its conditioning), so the difference carries that error divided by h.
    """
    h = 1e-4 * np.maximum(np.abs(x[name]), 1e-2)

    def central(step):
        up = vrest.predict(model, **{**x, name: x[name] + step})
        return (up - vrest.predict(model, **{**x, name: x[name] - step})) / (2 * step), up

    coarse, up = central(h)
    fine, _ = central(h / 2)
    fd = (4 * fine - coarse) / 3
    rounding = 3e3 * np.finfo(float).eps * np.maximum(np.abs(up), 1.0) / h
    excess = np.abs(analytic - fd) / (1e-6 * np.abs(analytic) + rounding)
    assert np.max(excess) <= 1.0, f"{model} d/d{name}: error {np.max(excess):.2f}x the tolerance"


def test_ghk_with_calcium_gradient_matches_central_difference():
    x = random_inputs("ghk", N_POINTS, seed=2)
    grad = vrest.gradient("ghk", **x)
    for name, analytic in grad.items():
        assert_matches_central_difference("ghk", x, name, analytic)


def test_nernst_derivative_is_rt_over_zf_c():
    for z in (-2, -1, 1, 2):
        d = vrest.nernst_gradient_mv(4.0, 140.0, z, 300.0)
        assert d["c_out"] == pytest.approx(1e3 * 8.314462618 * 300.0 / (z * 96485.33212 * 4.0), rel=1e-14)


@pytest.mark.filterwarnings("ignore:Numba will use object mode")
@pytest.mark.parametrize("model", MODELS)
def test_analytic_gradient_matches_pytensor_autodiff(model):
    x = {k: v[:200] for k, v in _inputs(model, seed=3).items()}
    if model == "ghk":
        x["p_ca"] = np.full(200, 0.01)  # through the closed form with Ca2+ as well
    names = list(x)
    symbols = [pt.dvector(n) for n in names]
    v = symbolic_voltage(model, **dict(zip(names, symbols)))
    grads = pytensor.grad(v.sum(), symbols)
    f = pytensor.function(symbols, [v, *grads])
    out = f(*[x[n] for n in names])
    np.testing.assert_allclose(out[0], vrest.predict(model, **x), rtol=0, atol=1e-9)
    analytic = vrest.gradient(model, **x)
    for name, auto in zip(names, out[1:]):
        np.testing.assert_allclose(auto, analytic[name], rtol=1e-9, atol=1e-12, err_msg=f"{model} d/d{name}")


def test_the_inward_rectifier_state_in_numba_compiled_code_equals_the_python_one():
    """KirStateOp's Numba form (the kernel called from compiled code) gives the same V and gradient."""
    x = {k: v[:200] for k, v in _inputs("rectifying-kir", seed=5).items()}
    names = list(x)
    symbols = [pt.dvector(n) for n in names]
    v = symbolic_voltage("rectifying-kir", **dict(zip(names, symbols)))
    outputs = [v, *pytensor.grad(v.sum(), symbols)]
    python = pytensor.function(symbols, outputs)(*[x[n] for n in names])
    numba = pytensor.function(symbols, outputs, mode="NUMBA")(*[x[n] for n in names])
    for a, b in zip(python, numba, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
