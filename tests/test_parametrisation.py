"""The named parameters computed in NumPy from the draws equal the PyMC model's deterministics at the same points."""

from __future__ import annotations

import itertools
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytensor
import pytest
import xarray as xr

import vrest
from vrest.data import load_recordings
from vrest.inference.design import build_design
from vrest.inference.identifiability import laplace_fit
from vrest.inference.model_data import HELD, model_data, offset_share
from vrest.inference.parametrisation import named_posterior
from vrest.inference.priors import fitted_priors
from vrest.inference.pymc_model import build_model


def spec_of(table: pd.DataFrame, hierarchical: bool, likelihood: str, model: str = "ghk"):
    priors = fitted_priors(model)
    design = build_design(load_recordings(table), model, [p.name for p in priors], preset="mammalian_neuron",
                          settings={"k_replaces_na": True}, conditions={})  # fmt: skip
    return model_data(design, priors, laplace_fit(design, priors), hierarchical=hierarchical, likelihood=likelihood)


KIR = {"g_na": 0.02, "g_cl": 0.05, "i_pump": 1.0, "v_half": 10.0, "k_slope": 10.0, "kir_n": 0.5}


def recordings(k_o: np.ndarray, cells: int, model: str = "ghk") -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frames = []
    for c in range(cells):
        if model == "ghk":
            params = {"p_na": 0.04 * (1 + 0.2 * c), "p_cl": 0.4, "pump_mv": 3.0 - c}
        else:
            params = KIR | {"g_na": KIR["g_na"] * (1 + 0.2 * c), "i_pump": KIR["i_pump"] - 0.3 * c}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", vrest.MultipleSteadyStatesWarning)  # the hyperpolarised state is meant
            v = vrest.predict(model, k_o=k_o, na_o=150 - k_o, **params)
        frames.append(pd.DataFrame({"K_o_mM": k_o, "V_m_mV": v + rng.normal(0, 1.0, k_o.size), "cell": f"c{c}"}))
    return pd.concat(frames, ignore_index=True)


CASES = {  # K_o levels, cells, model, hierarchical, likelihood (tables built in the test: a rectifier's kernel
    # must not compile at collection, before the test session's cache folder is set)
    "offset-share, one cell": (np.geomspace(1, 100, 10), 1, "ghk", False, "normal"),
    "rotation (one K_o level), one cell": (np.full(6, 5.0), 1, "ghk", False, "normal"),
    "offset-share, three cells": (np.geomspace(1, 100, 8), 3, "ghk", True, "normal"),
    "rotation, three cells, Student-t": (np.full(6, 5.0), 3, "ghk", True, "student-t"),
    "offset-share with leak and block (rectifying-kir), one cell": (np.geomspace(1, 60, 10), 1, "rectifying-kir",
                                                                    False, "normal"),
    "offset-share with leak and block (rectifying-kir), three cells": (np.geomspace(1, 60, 8), 3, "rectifying-kir",
                                                                       True, "normal"),
}  # fmt: skip


def _spec(case: str):
    k_o, cells, model, hierarchical, likelihood = CASES[case]
    table = recordings(k_o, cells, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spec_of(table if cells > 1 else table.drop(columns="cell"), hierarchical, likelihood, model)


@pytest.mark.parametrize("case", CASES)
def test_numpy_names_the_draws_as_the_pymc_deterministics_do(case):
    spec = _spec(case)
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


@pytest.mark.parametrize("case", [c for c in CASES if "one cell" in c and not c.startswith("rotation")])
def test_the_offset_share_prior_is_the_prior_of_theta_times_the_maps_jacobian(case):
    """The "prior" potential of offset-share coordinates equals the Gaussian prior of theta at the mapped point plus
    log |det d theta / d coordinates| by central differences (rectifying-kir: the pump current through the leak
    and the block's log-odds make it non-zero), at random points."""
    spec = _spec(case)
    if HELD[1] in spec.values:  # the leak's pump coordinate, at its chosen exponent and at both ends of [0, 1]
        for alpha in (0.0, 1.0):
            _assert_prior_is_the_prior_of_theta_times_the_jacobian(replace(spec, values=spec.values | {HELD[1]: alpha}))
    _assert_prior_is_the_prior_of_theta_times_the_jacobian(spec)


def _assert_prior_is_the_prior_of_theta_times_the_jacobian(spec):
    from vrest.inference.parametrisation import model_inputs, thetas

    data = model_inputs(spec)
    names = list(spec.start)
    model = build_model(spec)
    with pytensor.config.change_flags(cxx=""):
        prior = pytensor.function(model.value_vars, model.replace_rvs_by_values([model["prior"]])[0],
                                  mode="FAST_COMPILE", on_unused_input="ignore")  # fmt: skip

    def theta(x):
        return np.array(thetas(spec, dict(zip(names, x, strict=True)), data)[0], dtype=float)

    start = np.array([float(spec.start[k]) for k in names])
    rng = np.random.default_rng(3)
    for _ in range(5):
        x = start + rng.normal(0.0, 0.2, start.size)
        h = 1e-6
        jac = np.column_stack([(theta(x + h * e) - theta(x - h * e)) / (2 * h) for e in np.eye(x.size)])
        t = theta(x)
        gaussian = sum(-0.5 * ((ti - p.mean) / p.sd) ** 2 - np.log(p.sd * np.sqrt(2 * np.pi))
                       for ti, p in zip(t, spec.priors, strict=True))  # fmt: skip
        point = {v.name: x[names.index(v.name)] for v in model.value_vars if v.name in names}
        point |= {v.name: 0.0 for v in model.value_vars if v.name not in names}
        got = float(prior(*(point[v.name] for v in model.value_vars)))
        assert got == pytest.approx(gaussian + np.log(abs(np.linalg.det(jac))), abs=1e-6)


@pytest.mark.parametrize("case", [c for c in CASES if "one cell" in c])
def test_each_chain_starts_at_a_draw_of_the_laplace_approximation(case):
    """Start points mapped back to theta scatter around the Laplace mode with the Laplace covariance (each standard
    normal clipped at 2 sds: variance factor 0.92), to within the sampling error of 400 starts and the linearisation
    of the coordinates; sigma's coordinate keeps its uniform(-1, 1) jitter."""
    from vrest.inference.compiled import _start_function
    from vrest.inference.parametrisation import model_inputs, thetas

    k_o, _cells, model, _h, _l = CASES[case]
    table = recordings(k_o, 1, model).drop(columns="cell")
    priors = fitted_priors(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design = build_design(load_recordings(table), model, [p.name for p in priors], preset="mammalian_neuron",
                              settings={"k_replaces_na": True}, conditions={})  # fmt: skip
        lap = laplace_fit(design, priors)
    spec = model_data(design, priors, lap)
    names = list(spec.start)
    sizes = [np.size(spec.start[k]) for k in names]
    edges = np.cumsum([0, *sizes, 1])
    meta = {"names": [*names, "sigma_mv_log__"], "slices": [list(pair) for pair in itertools.pairwise(edges)],
            "start": np.full(edges[-1], 0.5)}  # fmt: skip
    initial_point = _start_function(meta, spec.start, spec.start_scale)
    points = np.array([initial_point(seed) for seed in range(400)])
    assert np.all(np.abs(points[:, -1] - 0.5) <= 1.0) and np.std(points[:, -1]) > 0.4
    data = model_inputs(spec)
    theta = np.array([np.ravel(thetas(spec, {k: p[lo:hi] if hi - lo > 1 else p[lo]
                                             for k, (lo, hi) in zip(names, meta["slices"])}, data)[0])
                      for p in points], dtype=float)  # fmt: skip
    sd = np.sqrt(0.9205 * np.diag(lap.cov))
    assert np.all(np.abs(theta.mean(axis=0) - lap.theta) < 0.3 * sd)
    np.testing.assert_allclose(theta.std(axis=0), sd, rtol=0.2)


def test_the_leak_s_pump_coordinate_follows_what_the_data_pin():
    """rectifying-kir's pump coordinate c = V_r - (V_r - c_leak) (g_lin / g_0)^alpha: the leak's reversal c_leak
    itself (alpha near 0) where rows on the depolarised branch sit near it (synthetic hysteresis loop), the leak's
    current at V_r (alpha near 1) where the leak is small and no row is depolarised (Gelband et al. 1972, whose
    posterior of c_leak ran from +58 to -65 mV along a hyperbola in log g_lin), and V_r the reference row's V."""
    from test_branches import MODEL, _hysteresis_loop_recordings

    def held(table, preset, settings):
        priors = fitted_priors(MODEL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            design = build_design(load_recordings(table), MODEL, [p.name for p in priors], preset=preset,
                                  settings=settings, conditions={})  # fmt: skip
            return offset_share(design, priors, laplace_fit(design, priors)).held

    loop, _lower = _hysteresis_loop_recordings(seed=0)
    v_r, alpha, g_0 = held(loop.drop(columns="order"), "mammalian_neuron", {})
    assert alpha < 0.1 and g_0 == pytest.approx(0.07, rel=0.3) and -95 < v_r < -75
    gelband = Path(__file__).resolve().parents[1] / "data" / "gelband1972_human_atrium_fig6.csv"
    v_r, alpha, _ = held(gelband, "atrial_myocyte", {"k_replaces_na": True, "k_o_reference": 2.68})
    assert alpha > 0.5 and -80 < v_r < -60


def test_the_rotation_in_a_graph_is_the_matrix_product_for_one_point_and_for_stacked_draws():
    """In a PyTensor graph phi @ directions is a sum of products (cheaper to compile); the same numbers."""
    import pytensor.tensor as pt

    from vrest.inference.parametrisation import _rotate

    rng = np.random.default_rng(0)
    directions = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    for phi in (rng.standard_normal(4), rng.standard_normal((3, 5, 4))):
        symbol = pt.tensor("phi", shape=(None,) * phi.ndim)
        graph = _rotate(symbol, pt.constant(directions))
        np.testing.assert_allclose(graph.eval({symbol: phi}), phi @ directions, rtol=0, atol=1e-14)
        np.testing.assert_array_equal(_rotate(phi, directions), phi @ directions)
