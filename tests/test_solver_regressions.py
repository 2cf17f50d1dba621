"""Regressions of the steady-state solvers (issue 16): mixed pump signs in one chunk, and a
solver failure inside the compiled log-density of a hierarchical fit."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest

import vrest
from vrest.models.rectifying import rectifying_ghk_current
from vrest.models.solver import SolverError
from vrest.symbolic import symbolic_voltage


def test_rectifying_ghk_solves_a_chunk_that_mixes_inward_and_outward_pumps():
    """Bracketed Newton on the unfinished points alone once half are done: those left may all
    have an outward pump (the other residual of the setup), which once raised TypeError."""
    rng = np.random.default_rng(9)  # a draw whose unfinished points all have i_pump >= 0
    k_o = rng.choice([4.2, 80.0], 3000)
    i_pump = rng.normal(0.0, 10.0, 3000)
    v = vrest.predict("rectifying-ghk", k_o=k_o, i_pump=i_pump)
    _, values = vrest.resolve_inputs("rectifying-ghk", {"k_o": k_o, "i_pump": i_pump})
    current, slope = rectifying_ghk_current(v, **values)
    assert np.all(slope > 0)
    assert np.max(np.abs(current / slope)) < 1e-9  # a zero of the net current, to 1e-9 mV
    alone = np.array([vrest.predict("rectifying-ghk", k_o=k, i_pump=i) for k, i in zip(k_o, i_pump, strict=True)])
    np.testing.assert_allclose(v, alone, rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def solver_op_model():
    """rectifying-ghk without its symbolic state: a registered model whose PyTensor form is the SteadyStateOp."""
    import dataclasses

    from vrest.models import MODELS, get_model, register_model

    name = "rectifying-ghk-op"
    register_model(dataclasses.replace(get_model("rectifying-ghk"), name=name, symbolic_state=None, fitted=()))
    yield name
    MODELS.pop(name)  # other tests list every registered model


@pytest.mark.filterwarnings("ignore:Numba will use object mode")
@pytest.mark.parametrize("which", ["op", "kernel"])
def test_a_failed_solve_is_nan_in_compiled_code_where_python_raises_or_gives_nan(which, solver_op_model):
    """No exception from object mode inside compiled code: a failed solve is NaN there (the SteadyStateOp of a
    registered model, and rectifying-ghk's own compiled Newton)."""
    p_na = pt.dvector("p_na")
    model = solver_op_model if which == "op" else "rectifying-ghk"
    v = symbolic_voltage(model, k_o=np.array([2.0, 5.0, 40.0]), p_na=p_na, i_pump=-1.0)
    outputs = [v, pytensor.grad(v.sum(), p_na)]
    numba = pytensor.function([p_na], outputs, mode="NUMBA")
    python = pytensor.function([p_na], outputs, mode="FAST_COMPILE")
    good = np.full(3, 0.04)
    for a, b in zip(numba(good), python(good), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    bad = np.array([np.inf, 0.04, 0.04])  # no zero can be bracketed
    values, grads = numba(bad)
    if which == "op":  # the Op solves all rows at once: all NaN in compiled code, SolverError in Python
        assert np.isnan(values).all() and np.isnan(grads).all()
        with pytest.raises(SolverError), np.errstate(invalid="ignore"):
            python(bad)
    else:  # the Newton kernel iterates row by row: NaN where there is no zero, the other rows as before
        assert np.isnan(values[0]) and np.isnan(grads[0])
        np.testing.assert_allclose(values[1:], numba(good)[0][1:], rtol=1e-12)


FIT_SCRIPT = """
import json, sys
import numpy as np
from vrest.data import load_recordings
from vrest.inference.fit import FitSettings, fit

settings = FitSettings(model="rectifying-ghk", seed=0, chains=1, draws=50, tune=50, hierarchical="yes", progress=False)
result = fit(load_recordings(sys.argv[1]), settings)
post = result.idata.posterior
out = {name: [list(post[name].shape), bool(np.isfinite(post[name].values).all()), float(post[name].values.min())]
       for name in ("p_na", "p_cl", "i_pump", "p_na_cell", "p_cl_cell", "i_pump_cell")}
out["hierarchical"] = result.hierarchical
out["predictive_finite"] = bool(np.isfinite(result.predictive["V_mV_q50"]).all())
print(json.dumps(out))
"""


def test_hierarchical_rectifying_ghk_fit_finishes_without_index_errors(tmp_path):
    """3 cells x 5 K_o levels, partially pooled: once ~2 million numba IndexErrors on stderr and a
    hang, because a SolverError in object mode leaked out of the compiled log-density's callback
    (run in a subprocess, so that a hang fails the test)."""
    rng = np.random.default_rng(1)
    rows = []
    for cell in range(3):
        params = {"p_na": 0.04 * np.exp(rng.normal(0, 0.2)), "p_cl": 0.45 * np.exp(rng.normal(0, 0.2)),
                  "i_pump": 2.0 + rng.normal(0, 1)}  # fmt: skip
        k_o = np.array([2.0, 4.0, 8.0, 16.0, 40.0])
        v = vrest.predict("rectifying-ghk", k_o=k_o, **params) + rng.normal(0, 1, k_o.size)
        rows += [{"cell": f"c{cell}", "K_o_mM": k, "V_m_mV": x} for k, x in zip(k_o, v, strict=True)]
    pd.DataFrame(rows).to_csv(tmp_path / "rec.csv", index=False)
    run = subprocess.run([sys.executable, "-c", FIT_SCRIPT, str(tmp_path / "rec.csv")],
                         check=False, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "IndexError" not in run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["hierarchical"] and out["predictive_finite"]
    for name in ("p_na", "p_cl", "i_pump"):
        assert out[name][:2] == [[1, 50], True]
        assert out[f"{name}_cell"][:2] == [[1, 50, 3], True]
    assert out["p_na_cell"][2] > 0 and out["p_cl_cell"][2] > 0  # ratios stay positive
