"""The model registry: capabilities on the record, models added by registration alone."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import vrest
from vrest.constants import thermal_voltage_mv
from vrest.models import (
    KINDS,
    MODELS,
    MULTISTABLE,
    ForwardModel,
    fixable_inputs,
    get_model,
    register_model,
)
from vrest.models.nernst import nernst_gradient, nernst_mv
from vrest.parameters import PARAMS, Kind, register_parameter

NAME = "k-offset"


def offset_voltage(k_o, k_i, temp_k, offset_mv):
    """V = E_K - offset_mv (mV): written once, NumPy or PyTensor (nernst_mv picks the namespace)."""
    return nernst_mv(k_o, k_i, 1, temp_k) - offset_mv


def offset_gradient(k_o, k_i, temp_k, offset_mv) -> dict:
    """dV/dx of :func:`offset_voltage` (mV per unit of x)."""
    d = nernst_gradient(k_o, k_i, 1, temp_k)
    return {"k_o": d["c_out"], "k_i": d["c_in"], "temp_k": d["temp_k"], "offset_mv": -1.0 + 0.0 * d["c_out"]}


OFFSET_MODEL = ForwardModel(
    NAME,
    "K+ Nernst potential minus a fitted offset (a registry test)",
    "V = E_K - offset_mv",
    ("k_o", "k_i", "temp_k", "offset_mv"),
    {"offset_mv": 0.0},
    voltage=offset_voltage,
    gradient=offset_gradient,
    fitted=("offset_mv",),
    priors={"offset_mv": (False, 0.0, 20.0)},
)


@contextmanager
def registered_offset_model() -> Iterator[ForwardModel]:
    """The test model and its new parameter registered, and the registry as it was afterwards."""
    models, params = dict(MODELS), dict(PARAMS)
    try:
        register_parameter("offset_mv", "mV", Kind.REAL, "offset of V below E_K")
        register_model(OFFSET_MODEL)
        yield OFFSET_MODEL
    finally:
        MODELS.clear()
        MODELS.update(models)
        PARAMS.clear()
        PARAMS.update(params)


@pytest.fixture
def offset_model() -> Iterator[ForwardModel]:
    with registered_offset_model() as m:
        yield m


def test_a_registered_closed_form_model_predicts_and_differentiates_through_the_api(offset_model):
    k_o = np.geomspace(1.0, 100.0, 7)
    v = vrest.predict(NAME, k_o=k_o, k_i=140.0, temp_k=310.0, offset_mv=3.0)
    np.testing.assert_allclose(v, thermal_voltage_mv(310.0) * np.log(k_o / 140.0) - 3.0, rtol=1e-14)
    grad = vrest.gradient(NAME, k_o=k_o, k_i=140.0, temp_k=310.0, offset_mv=3.0)
    assert set(grad) == set(offset_model.inputs)
    np.testing.assert_allclose(grad["k_o"], thermal_voltage_mv(310.0) / k_o, rtol=1e-14)  # RT/(F K_o)
    np.testing.assert_array_equal(grad["offset_mv"], -1.0)
    h = 1e-4  # central differences: the gradient is the derivative of predict
    for name, x0 in (("k_i", 140.0), ("temp_k", 310.0)):
        at = {"k_o": k_o, "k_i": 140.0, "temp_k": 310.0, "offset_mv": 3.0}
        up = vrest.predict(NAME, **{**at, name: x0 * (1 + h)})
        down = vrest.predict(NAME, **{**at, name: x0 * (1 - h)})
        np.testing.assert_allclose(grad[name], (up - down) / (2 * h * x0), rtol=1e-7)
    assert offset_model.kind == "closed form" and not vrest.bistability.can_be_bistable(NAME)


def test_a_registered_model_is_the_same_formula_in_pytensor(offset_model):
    from vrest.symbolic import symbolic_voltage

    k_o, offset = pt.dvector("k_o"), pt.dscalar("offset_mv")
    v = symbolic_voltage(NAME, k_o=k_o, offset_mv=offset)
    f = pytensor.function([k_o, offset], [v, *pytensor.grad(v.sum(), [k_o, offset])])
    x = np.array([2.0, 5.4, 40.0])
    value, d_k_o, d_offset = f(x, 1.5)
    np.testing.assert_allclose(value, vrest.predict(NAME, k_o=x, offset_mv=1.5), rtol=1e-14)
    np.testing.assert_allclose(d_k_o, vrest.gradient(NAME, k_o=x, offset_mv=1.5)["k_o"], rtol=1e-12)
    assert d_offset == pytest.approx(-3.0)


def test_a_registered_model_is_fittable_with_its_own_priors_and_the_rotation_coordinates(offset_model):
    from vrest.inference.priors import FITTED, Prior, fitted_priors

    assert FITTED[NAME] == ("offset_mv",) and NAME in list(FITTED)
    assert fitted_priors(NAME) == [Prior("offset_mv", False, 0.0, 20.0)]
    assert fitted_priors(NAME, no_pump=True) == [Prior("offset_mv", False, 0.0, 20.0)]  # not a pump term
    assert "offset_mv" not in fixable_inputs()  # fitted, so not a fixed input


def test_registration_leaves_nothing_behind():
    before_models, before_params = dict(MODELS), dict(PARAMS)
    with registered_offset_model():
        assert get_model("K_Offset") is OFFSET_MODEL
    assert MODELS == before_models and PARAMS == before_params
    with pytest.raises(ValueError, match="model: expected one of"):
        get_model(NAME)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "ghk"}, "'ghk' is already registered"),
        ({"name": "K Offset"}, "lower-case name"),
        ({"inputs": ("k_o", "k_i", "temp_k", "offset_volts")}, "offset_volts: not a parameter"),
        ({"fitted": ("p_na",)}, "p_na: in fitted of model 'k-offset-2' but not one of its inputs"),
        ({"priors": {"k_o": (True, 0.0, 1.0)}}, "k_o: has a prior in model 'k-offset-2' but is not fitted"),
        ({"priors": {"offset_mv": (False, 0.0, 0.0)}}, "offset_mv: prior of model 'k-offset-2' must be"),
        ({"gradient": None}, "both voltage and gradient"),
        ({"voltage": None, "gradient": None}, "needs current, partials and newton_setup or bounds"),
        ({"zero_only": ("offset_mv",)}, "offset_mv: zero_only in model"),
        ({"optional": ("offset_mv",)}, "offset_mv: optional in model"),
    ],
)
def test_registration_refuses_inconsistent_records(offset_model, change, message):
    with pytest.raises(ValueError, match=message):
        register_model(replace(offset_model, **({"name": "k-offset-2"} | change)))


def test_new_parameters_must_be_new_lower_case_identifiers():
    with pytest.raises(ValueError, match="k_o: already a parameter"):
        register_parameter("k_o", "mM", Kind.CONCENTRATION, "again")
    with pytest.raises(ValueError, match="lower-case identifier"):
        register_parameter("Offset mV", "mV", Kind.REAL, "spaces")
    assert "Offset mV" not in PARAMS


def test_each_built_in_model_has_its_kind_and_the_fitted_parameters_of_before():
    """The hand-kept tables these fields replace, as they were."""
    from vrest.inference.priors import FITTED

    assert {n: m.kind for n, m in MODELS.items()} == {
        "ghk": "closed form", "ghk-ca": "closed form", "mullins-noda": "closed form", "chord": "closed form",
        "rectifying-ghk": "monotone fixed point", "rectifying-kir": MULTISTABLE,
    }  # fmt: skip
    assert set(KINDS) == {m.kind for m in MODELS.values()}
    assert dict(FITTED) == {
        "ghk": ("p_na", "p_cl", "pump_mv"),
        "ghk-ca": ("p_na", "p_cl", "p_ca", "pump_mv"),
        "mullins-noda": ("p_na", "p_cl"),
        "chord": ("g_na", "g_cl", "pump_mv"),
        "rectifying-ghk": ("p_na", "p_cl", "i_pump"),
        "rectifying-kir": ("g_na", "g_cl", "i_pump", "v_half", "k_slope", "kir_n"),  # its shape fitted (issue 18)
    }
    assert [n for n in MODELS if MODELS[n].branches is not None] == ["rectifying-kir"]
    assert [n for n, m in MODELS.items() if m.offset_share] == ["ghk", "mullins-noda", "chord", "rectifying-kir",
                                                                "ghk-ca"]  # fmt: skip
    assert [n for n, m in MODELS.items() if m.leak is not None] == ["rectifying-kir"]  # its pump a leak current


def test_a_fit_takes_the_models_sampler_settings_unless_it_sets_its_own():
    """The rectifier's record asks for 3000 draws per chain (its posterior ridge mixes slowly); the others keep
    1000; draws given to the fit win."""
    from vrest.inference.fit import FitSettings

    assert [n for n, m in MODELS.items() if m.draws != 1000] == ["rectifying-kir"]
    assert FitSettings(model="rectifying-kir", seed=0).draws == 3000
    assert FitSettings(model="ghk", seed=0).draws == 1000
    assert FitSettings(model="rectifying-kir", seed=0, draws=300).draws == 300


def test_the_fixable_inputs_are_those_the_fit_command_took_by_hand_in_parameter_order():
    """Less the rectifier's shape (v_half, k_slope, kir_n), fitted since issue 18."""
    hand_kept = ("k_i", "na_o", "na_i", "cl_o", "cl_i", "ca_o", "ca_i", "temp_k", "pump_ratio", "perm_k", "g_k",
                 "k_ref")  # fmt: skip
    fixable = fixable_inputs()
    assert set(fixable) - set(hand_kept) == {"p_ca"}
    assert set(hand_kept) <= set(fixable)
    assert list(fixable) == [n for n in PARAMS if n in fixable]


def test_ghk_with_calcium_is_a_closed_form_in_numpy_and_pytensor():
    """GHK with Ca2+ permeant needs no solver: its zero is the root of a quadratic in exp(V/V_T)."""
    assert get_model("ghk").kind == get_model("ghk-ca").kind == "closed form"
    assert not get_model("ghk").needs_solver({"p_ca": pt.dscalar("p_ca")})
    assert get_model("rectifying-ghk").needs_solver({}) and not get_model("chord").needs_solver({})


def test_models_import_nothing_from_the_edges():
    """vrest.models (every module) loads without vrest.inference, vrest.cli, vrest.study or vrest.folders."""
    code = (
        "import pkgutil, importlib, sys, vrest.models as m\n"
        "for info in pkgutil.iter_modules(m.__path__):\n"
        "    importlib.import_module('vrest.models.' + info.name)\n"
        "edges = ('vrest.inference', 'vrest.cli', 'vrest.study', 'vrest.folders')\n"
        "print(sorted(k for k in sys.modules if k.startswith(edges)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_registered_model_s_formulas_are_part_of_its_compiled_model_s_cache_key():
    """An edited formula outside vrest (whose own source is in every key) gets a new key."""
    assert all(m.source_digest() == "" for m in MODELS.values())
    assert len(OFFSET_MODEL.source_digest()) == 16  # this file

    def without_file(body: str):
        namespace = {"nernst_mv": nernst_mv}
        exec(f"def v(k_o, k_i, temp_k, offset_mv):\n    return {body}", namespace)  # noqa: S102 - a test formula
        return replace(OFFSET_MODEL, voltage=namespace["v"], gradient=lambda **_: {})

    a, b = without_file("nernst_mv(k_o, k_i, 1, temp_k) - offset_mv"), without_file("nernst_mv(k_o, k_i, 1, temp_k) + offset_mv")
    assert a.source_digest() != b.source_digest()


def test_every_fittable_model_states_its_assumption_and_its_shape_parameters_are_fitted():
    """The report says what separates a fit that follows the data from one that misses them from these fields."""
    for model in vrest.models.MODELS.values():
        if model.fitted:
            assert model.assumes, model.name
            assert set(model.shape) <= set(model.fitted), model.name
