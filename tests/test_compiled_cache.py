"""The compiled-model cache: keyed by model structure, not data; a loaded model draws what a fresh compile draws."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import vrest
from vrest import cache as disk_cache
from vrest.cli import main
from vrest.data import load_recordings
from vrest.inference import compiled
from vrest.inference.compiled import compiled_model
from vrest.inference.design import build_design
from vrest.inference.identifiability import laplace_fit
from vrest.inference.model_data import ModelData, model_data
from vrest.inference.priors import fitted_priors

FAST = ["--chains", "2", "--draws", "300", "--tune", "300", "--seed", "3", "--k-replaces-na"]


def recording(path: Path, k_o: np.ndarray, temp_c: float, seed: int) -> Path:
    v = vrest.predict("ghk", k_o=k_o, na_o=150 - k_o, temp_k=temp_c + 273.15, p_na=0.04, p_cl=0.4, pump_mv=3.0)
    noise = np.random.default_rng(seed).normal(0, 1.5, k_o.size)
    pd.DataFrame({"K_o_mM": k_o, "V_m_mV": v + noise, "temperature_C": temp_c}).to_csv(path, index=False)
    return path


def fit(data: Path, out: Path, cache: Path) -> tuple[str, dict]:
    """`vrest fit` in a fresh process with its own cache folder: where the compiled model came from, and the draws."""
    env = {**os.environ, "VREST_CACHE_DIR": str(cache)}
    subprocess.run([sys.executable, "-m", "vrest.cli", "fit", str(data), "--model", "ghk", "--out", str(out), *FAST],
                   env=env, check=True, capture_output=True)  # fmt: skip
    source = json.loads((out / "fit.json").read_text())["sampler"]["compiled_model"]
    with xr.open_datatree(out / "posterior.nc", engine="h5netcdf") as tree:
        draws = {k: tree["posterior"][k].values.copy() for k in ("p_na", "p_cl", "pump_mv", "sigma_mv")}
    return source, draws


@pytest.fixture(scope="module")
def fits(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cache")
    first = recording(tmp / "first.csv", np.geomspace(1, 100, 12), 37.0, seed=1)
    other = recording(tmp / "other.csv", np.geomspace(2, 60, 7), 37.0, seed=2)  # other K_o levels, rows and V_m
    warmer = recording(tmp / "warmer.csv", np.geomspace(1, 100, 12), 22.0, seed=1)  # another fixed temperature
    return {
        "first": fit(first, tmp / "a", tmp / "shared"),
        "other, from the cache": fit(other, tmp / "b", tmp / "shared"),
        "other, compiled afresh": fit(other, tmp / "c", tmp / "fresh"),
        "another temperature": fit(warmer, tmp / "d", tmp / "shared"),
    }


def test_a_second_process_loads_the_model_of_the_same_structure_from_disk(fits):
    assert fits["first"][0] == "compiled"
    assert fits["other, from the cache"][0] == "disk cache"  # other data, same structure
    assert fits["other, compiled afresh"][0] == "compiled"
    assert fits["another temperature"][0] == "compiled"  # the fixed values are folded into the compiled code


def test_the_cached_model_draws_exactly_what_a_fresh_compile_draws(fits):
    cached, fresh = fits["other, from the cache"][1], fits["other, compiled afresh"][1]
    for name in cached:
        np.testing.assert_array_equal(cached[name], fresh[name], err_msg=name)
    # and the data were really swapped: the first recording's posterior is another one
    assert not np.allclose(fits["first"][1]["pump_mv"], cached["pump_mv"])


def test_the_key_follows_the_structure_only():
    ghk = ("ghk", "priors", False, "normal", (0, 1, 2), 0, (), (("in_k_o", 1), ("in_temp_k", 0)))
    assert disk_cache.structure_key(ghk) == disk_cache.structure_key(tuple(ghk))
    assert disk_cache.structure_key(ghk) != disk_cache.structure_key(("chord", *ghk[1:]))
    assert disk_cache.structure_key(ghk) != disk_cache.structure_key((*ghk[:-1], (("in_k_o", 1), ("in_temp_k", 1))))


def test_an_unwritable_cache_folder_means_no_disk_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("VREST_CACHE_DIR", str(blocker))
    assert disk_cache.cache_root() is None
    assert disk_cache.read_meta("0" * 32) is None


def _spec(model: str) -> ModelData:
    """The model data of a fit of ``model`` to eight synthetic recordings."""
    k_o = np.geomspace(1, 40, 8)
    table = pd.DataFrame({"K_o_mM": k_o, "V_m_mV": np.linspace(-95, -40, k_o.size)})
    priors = fitted_priors(model)
    design = build_design(load_recordings(table), model, [p.name for p in priors],
                          preset="mammalian_neuron", settings={"k_replaces_na": True}, conditions={})  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model_data(design, priors, laplace_fit(design, priors))


def _compile_fixed_point_fit(model: str) -> tuple[str, bool]:
    """(where the compiled model came from, whether it is stored on disk) for a fit of ``model``
    to eight synthetic recordings."""
    spec = _spec(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, source = compiled_model(spec)
    return source, (disk_cache.cache_root() / disk_cache.structure_key(spec.key) / "model.json").exists()


def test_a_model_with_the_python_steady_state_solver_is_never_cached_on_disk():
    """Its machine code holds this process's object addresses: reloading it elsewhere would crash. (A registered
    model without a symbolic state: vrest's own fixed points all have one now.)"""
    import dataclasses

    from vrest.models import MODELS, get_model, register_model

    register_model(dataclasses.replace(get_model("rectifying-ghk"), name="rectifying-ghk-python", symbolic_state=None))
    try:
        source, stored = _compile_fixed_point_fit("rectifying-ghk-python")
    finally:
        MODELS.pop("rectifying-ghk-python")  # other tests list every registered model
    assert source in ("compiled", "memory") and not stored


@pytest.mark.parametrize("model", ["rectifying-kir", "rectifying-ghk"])
def test_the_fixed_point_models_solve_their_state_in_compiled_code_and_are_cached_on_disk(model):
    """Their steady states have compiled forms (the kir kernel; the rectifying-ghk Newton kernel), so no Python runs
    in the log-density and the compiled model can be stored."""
    source, stored = _compile_fixed_point_fit(model)
    assert source == "compiled" and stored


def test_vrest_cache_reports_and_clears_the_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VREST_CACHE_DIR", str(tmp_path))
    entry = tmp_path / "models" / ("0" * 32)
    entry.mkdir(parents=True)
    (entry / "model.json").write_text("{}" + " " * 998)
    assert main(["cache"]) == 0
    assert "(1 model(s), 0.0 MB" in capsys.readouterr().out
    assert main(["cache", "--clear"]) == 0
    assert "deleted 1 compiled model(s)" in capsys.readouterr().out
    assert disk_cache.usage() == (0, 0)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("VREST_CACHE_DIR", str(blocker))
    assert main(["cache"]) == 2
    assert "cannot be written" in capsys.readouterr().err


def test_storing_a_model_deletes_the_least_recently_used_beyond_the_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("VREST_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(disk_cache, "MAX_MODELS", 3)
    models = tmp_path / "models"
    for age, key in enumerate(["a" * 32, "b" * 32, "c" * 32]):  # a oldest
        disk_cache.write_meta(key, {})
        os.utime(models / key / "model.json", (1e9 + age, 1e9 + age))
    (models / ("w" * 32)).mkdir()  # being compiled by another process: no model.json yet
    assert disk_cache.read_meta("a" * 32) == {}  # loading marks it used
    disk_cache.write_meta("d" * 32, {})
    assert sorted(p.name[0] for p in models.iterdir()) == ["a", "c", "d", "w"]


def test_a_function_numba_cannot_cache_is_compiled_uncached_with_a_warning(tmp_path, monkeypatch):
    """E.g. machine code holding a ctypes pointer (as with NUMBA_OPT=0): Numba warns and the fit goes on uncached."""
    import ctypes
    import ctypes.util

    import numba

    monkeypatch.setenv("VREST_CACHE_DIR", str(tmp_path))
    cos = ctypes.CDLL(ctypes.util.find_library("m")).cos
    cos.argtypes, cos.restype = [ctypes.c_double], ctypes.c_double
    namespace = {"cos": cos}
    exec("def through_ctypes(x):\n    return cos(x)\n", namespace)  # noqa: S102 - a fixed test source
    disk_cache.register(namespace["through_ctypes"], "0" * 32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", numba.NumbaWarning)
        compiled = numba.cfunc(numba.types.double(numba.types.double), cache=True)(namespace["through_ctypes"])
    assert any("cannot cache" in str(w.message).lower() for w in caught)
    assert compiled.ctypes(np.pi) == -1.0
    assert not any((tmp_path / "models").rglob("*.nbi"))


def test_a_seeded_fit_draws_the_same_bits_whether_pytensor_s_cache_is_empty_or_full(tmp_path):
    """The first fit on a machine compiles PyTensor's operations afresh; after `vrest cache --clear` they come
    from PyTensor's cache. Without fast-math both give the same machine arithmetic (with it they differed by ~1e-13)."""
    data = recording(tmp_path / "r.csv", np.geomspace(1, 100, 12), 37.0, seed=4)
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={tmp_path / 'pytensor'}",
           "VREST_CACHE_DIR": str(tmp_path / "vrest")}  # fmt: skip
    draws = []
    for run in ("empty", "full"):
        shutil.rmtree(tmp_path / "vrest", ignore_errors=True)  # the model itself is compiled both times
        out = tmp_path / run
        args = ["fit", str(data), "--model", "ghk", "--out", str(out), *FAST]
        subprocess.run([sys.executable, "-m", "vrest.cli", *args], env=env, check=True, capture_output=True)
        assert json.loads((out / "fit.json").read_text())["sampler"]["compiled_model"] == "compiled"
        with xr.open_datatree(out / "posterior.nc", engine="h5netcdf") as tree:
            draws.append({k: tree["posterior"][k].values.copy() for k in ("S", "rho", "c", "sigma_mv")})
    for name in draws[0]:
        assert np.array_equal(draws[0][name], draws[1][name]), name


@pytest.fixture(scope="module")
def cached_entry(tmp_path_factory) -> tuple[ModelData, Path]:
    """(model data, a cache folder holding its compiled model alone): a GHK model, compiled here."""
    spec, folder = _spec("ghk"), tmp_path_factory.mktemp("pristine")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("VREST_CACHE_DIR", str(folder))
        monkeypatch.setattr(compiled, "_MEMORY", {})
        assert compiled_model(spec)[2] == "compiled"
    return spec, folder


@pytest.mark.parametrize("damage", ["every file truncated", "Numba's files truncated",
                                    "Numba's files truncated, model.json gone"])  # fmt: skip
def test_a_damaged_cache_entry_is_dropped_with_one_warning_and_compiled_afresh(cached_entry, damage, tmp_path,
                                                                                monkeypatch):  # fmt: skip
    """Before, a truncated index or data file failed every later fit of that structure with an UnpicklingError."""
    spec, pristine = cached_entry
    shutil.copytree(pristine, tmp_path, dirs_exist_ok=True)
    monkeypatch.setenv("VREST_CACHE_DIR", str(tmp_path))
    entry = tmp_path / "models" / disk_cache.structure_key(spec.key)
    numba_files = [p for p in entry.iterdir() if p.suffix in (".nbi", ".nbc")]
    assert {p.suffix for p in numba_files} == {".nbi", ".nbc"}
    for path in numba_files + ([entry / "model.json"] if damage == "every file truncated" else []):
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    if damage.endswith("gone"):
        (entry / "model.json").unlink()
    sources = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):  # as two fits in two processes: nothing kept in memory
            monkeypatch.setattr(compiled, "_MEMORY", {})
            sources.append(compiled_model(spec)[2])
    said = [w for w in caught if issubclass(w.category, disk_cache.CacheEntryWarning)]
    assert len(said) == 1 and disk_cache.structure_key(spec.key) in str(said[0].message)
    assert sources == ["compiled", "disk cache"]  # compiled afresh once, then loaded from the repaired entry
    assert json.loads((entry / "model.json").read_text())["model"] == "ghk"


def test_a_scalar_broadcast_to_the_rows_is_filled_from_a_one_element_vector_with_the_same_values():
    """The compiled mode's rewrite (``compiled._fill_from_vector``) takes 0-d values out of every fill (their Numba
    code compiles an error formatter: seconds of every cold fit) and leaves the numbers as they were."""
    import pytensor
    import pytensor.tensor as pt
    from pytensor.tensor.basic import Alloc

    x, rows = pt.dscalar("x"), pt.dvector("rows")
    fill = pt.broadcast_arrays(pt.exp(x), rows)[0]
    with pytensor.config.change_flags(cxx=""):
        f = pytensor.function([x, rows], [fill, pytensor.grad(fill.sum(), x)], mode=compiled._numba_mode())
    values = np.array([1.0, -2.0, 3.5])
    out, grad = f(0.3, values)
    assert np.array_equal(out, np.full(3, np.exp(0.3))) and grad == pytest.approx(3 * np.exp(0.3), rel=1e-15)
    allocs = [n for n in f.maker.fgraph.apply_nodes if isinstance(n.op, Alloc)]
    assert allocs and all(n.inputs[0].type.ndim >= 1 for n in allocs)
