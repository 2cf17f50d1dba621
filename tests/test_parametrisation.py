"""The named parameters computed in NumPy from the draws equal the PyMC model's deterministics at the same points."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytensor
import pytest
import xarray as xr

import vrest
from vrest.data import load_recordings
from vrest.inference.design import build_design
from vrest.inference.identifiability import laplace_fit
from vrest.inference.model_data import model_data
from vrest.inference.parametrisation import named_posterior
from vrest.inference.priors import fitted_priors
from vrest.inference.pymc_model import build_model


def spec_of(table: pd.DataFrame, hierarchical: bool, likelihood: str):
    priors = fitted_priors("ghk")
    design = build_design(load_recordings(table), "ghk", [p.name for p in priors], preset="mammalian_neuron",
                          settings={"k_replaces_na": True}, conditions={})  # fmt: skip
    return model_data(design, priors, laplace_fit(design, priors), hierarchical=hierarchical, likelihood=likelihood)


def recordings(k_o: np.ndarray, cells: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frames = []
    for c in range(cells):
        v = vrest.predict("ghk", k_o=k_o, na_o=150 - k_o, p_na=0.04 * (1 + 0.2 * c), p_cl=0.4, pump_mv=3.0 - c)
        frames.append(pd.DataFrame({"K_o_mM": k_o, "V_m_mV": v + rng.normal(0, 1.0, k_o.size), "cell": f"c{c}"}))
    return pd.concat(frames, ignore_index=True)


CASES = {
    "offset-share, one cell": (recordings(np.geomspace(1, 100, 10), 1).drop(columns="cell"), False, "normal"),
    "rotation (one K_o level), one cell": (recordings(np.full(6, 5.0), 1).drop(columns="cell"), False, "normal"),
    "offset-share, three cells": (recordings(np.geomspace(1, 100, 8), 3), True, "normal"),
    "rotation, three cells, Student-t": (recordings(np.full(6, 5.0), 3), True, "student-t"),
}


@pytest.mark.parametrize("case", CASES)
def test_numpy_names_the_draws_as_the_pymc_deterministics_do(case):
    table, hierarchical, likelihood = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = spec_of(table, hierarchical, likelihood)
    assert (spec.share is None) == case.startswith("rotation")
    model = build_model(spec)
    rng = np.random.default_rng(0)
    points = []
    for _ in range(6):  # value-space points around the start (log-transformed scales as the sampler sees them)
        point = model.initial_point()
        points.append({k: v + rng.normal(0.0, 0.3, np.shape(v)) for k, v in point.items()})
    with pytensor.config.change_flags(cxx=""):
        graphs = model.replace_rvs_by_values([model[d.name] for d in model.deterministics])
        deterministics = pytensor.function(model.value_vars, graphs, mode="FAST_COMPILE", on_unused_input="ignore")
        expected = [deterministics(*(p[v.name] for v in model.value_vars)) for p in points]
    shape = (2, len(points) // 2)  # two chains
    draws = xr.Dataset({k: (("chain", "draw", *[f"{k}_{i}" for i in range(np.ndim(v))]),
                            np.stack([p[k] for p in points]).reshape(*shape, *np.shape(v)))
                        for k, v in points[0].items()},
                       coords={"chain": [0, 1], "draw": np.arange(shape[1])})  # fmt: skip
    named = named_posterior(draws, spec)
    for j, d in enumerate(model.deterministics):
        ours = named[d.name].values
        theirs = np.stack([e[j] for e in expected]).reshape(ours.shape)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12, err_msg=d.name)
    assert [k for k in named.data_vars if k not in {d.name for d in model.deterministics}] == [
        rv.name for rv in model.free_RVs if not rv.name.startswith("eta_")
    ]
