"""The public compile path (VREST_PUBLIC_COMPILE, or a private name missing) and VREST_NO_CACHE."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from vrest.data import load_recordings
from vrest.inference import compiled, nutpie_import
from vrest.inference.design import build_design
from vrest.inference.fit import FitSettings, fit
from vrest.inference.identifiability import laplace_fit
from vrest.inference.model_data import model_data
from vrest.inference.priors import fitted_priors

GELBAND = Path(__file__).resolve().parents[1] / "data" / "gelband1972_human_atrium_fig6.csv"
SETTINGS = FitSettings(model="ghk", seed=0, chains=2, draws=300, tune=300, progress=False)
COMPARED = ("p_na", "p_cl", "pump_mv")


def _fit(monkeypatch: pytest.MonkeyPatch, cache: Path, **env: str):
    """A small GHK fit of the Gelband recordings in this process, compiled afresh, with ``env`` set."""
    monkeypatch.setenv("VREST_CACHE_DIR", str(cache))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(compiled, "_MEMORY", {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(load_recordings(GELBAND), SETTINGS)


@pytest.fixture(scope="module")
def private_fit(tmp_path_factory):
    """The fit through the private path with VREST_NO_CACHE=1, and its (empty) cache folder."""
    cache = tmp_path_factory.mktemp("no-cache")
    with pytest.MonkeyPatch.context() as monkeypatch:
        return _fit(monkeypatch, cache, VREST_NO_CACHE="1"), cache


def test_with_vrest_no_cache_nothing_is_written_to_the_cache_folder(private_fit):
    result, cache = private_fit
    assert result.sampler["compiled_model"] == "compiled"  # the private path, compiled in this process
    assert list(cache.rglob("*")) == []


def test_the_public_path_samples_the_same_posterior_as_the_private_path(private_fit, tmp_path, monkeypatch):
    monkeypatch.setattr(nutpie_import, "_FAILED", [])
    public = _fit(monkeypatch, tmp_path, VREST_PUBLIC_COMPILE="1")
    assert public.sampler["compiled_model"] == "public compile"
    assert list(tmp_path.rglob("*")) == []  # no cache on the public path
    a, b = (r.summary.set_index("parameter") for r in (private_fit[0], public))
    for name in COMPARED:
        means = a.loc[name, "mean"], b.loc[name, "mean"]
        mcse = np.hypot(*(s.loc[name, "sd"] / np.sqrt(s.loc[name, "ess_bulk"]) for s in (a, b)))
        assert abs(means[0] - means[1]) < 4 * mcse, (name, means, mcse)
    assert not np.array_equal(a["mean"], b["mean"])  # really another compiled model


def test_a_missing_private_name_falls_back_to_the_public_path_with_one_warning(tmp_path, monkeypatch):
    import nutpie.compile_pymc

    monkeypatch.setenv("VREST_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("VREST_PUBLIC_COMPILE", raising=False)
    monkeypatch.setattr(compiled, "_MEMORY", {})
    monkeypatch.setattr(nutpie_import, "_FAILED", [])
    monkeypatch.delattr(nutpie.compile_pymc, "_make_functions")  # as in a nutpie without it
    monkeypatch.setattr(compiled, "_public_model", lambda spec: ("public", spec))  # no need to compile it here
    priors = fitted_priors("ghk")
    design = build_design(load_recordings(GELBAND), "ghk", [p.name for p in priors],
                          preset="mammalian_neuron", settings={}, conditions={})  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = model_data(design, priors, laplace_fit(design, priors))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = compiled.compiled_model(spec)
        second = compiled.compiled_model(spec)
    said = [w for w in caught if issubclass(w.category, nutpie_import.PublicCompileWarning)]
    assert len(said) == 1 and "_make_functions" in str(said[0].message)
    assert first[0] == second[0] == ("public", spec)
    assert first[2] == second[2] == "public compile"
