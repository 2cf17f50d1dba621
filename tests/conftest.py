"""Shared test helpers: random physiological inputs for every model."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import vrest

# physiological ranges (low, high) for random points; log-uniform for positive scales
RANGES = {
    "k_o": (1.0, 20.0),
    "k_i": (100.0, 160.0),
    "na_o": (100.0, 160.0),
    "na_i": (5.0, 30.0),
    "cl_o": (80.0, 150.0),
    "cl_i": (3.0, 40.0),
    "ca_o": (0.5, 5.0),
    "ca_i": (5e-5, 5e-4),
    "temp_k": (280.0, 312.0),
    "p_na": (0.005, 0.2),
    "p_cl": (0.01, 2.0),
    "p_ca": (1e-4, 0.1),
    "pump_mv": (0.0, 10.0),
    "pump_ratio": (1.2, 2.0),
    "g_k": (0.5, 5.0),
    "g_na": (0.01, 0.5),
    "g_cl": (0.01, 0.5),
    "g_tot": (0.5, 10.0),
    "i_pump": (0.0, 5.0),
    "perm_k": (0.1, 10.0),
    "v_half": (0.0, 20.0),
    "k_slope": (5.0, 20.0),
    "k_ref": (3.0, 8.0),
    "kir_n": (0.2, 0.8),
}


def random_inputs(model: str, n: int, seed: int, **fixed) -> dict[str, np.ndarray]:
    """n random physiological points for every input of ``model`` (seeded)."""
    rng = np.random.default_rng(seed)
    m = vrest.get_model(model)
    out = {}
    for name in m.inputs:
        lo, hi = RANGES[name]
        out[name] = np.exp(rng.uniform(np.log(lo), np.log(hi), n)) if lo > 0 else rng.uniform(lo, hi, n)
    out.update(fixed)
    return out


@pytest.fixture
def neuron() -> dict[str, float]:
    """The textbook neuron of the acceptance values (310 K)."""
    return dict(k_o=5.0, k_i=140.0, na_o=145.0, na_i=12.0, cl_o=110.0, cl_i=10.0, temp_k=310.0)


@pytest.fixture(scope="session", autouse=True)
def compiled_model_cache(tmp_path_factory) -> Path:
    """Compiled models of the whole test session (and its subprocesses) go to a fresh folder, not ~/.cache."""
    folder = tmp_path_factory.mktemp("vrest-cache")
    previous = os.environ.get("VREST_CACHE_DIR")
    os.environ["VREST_CACHE_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("VREST_CACHE_DIR")
    else:
        os.environ["VREST_CACHE_DIR"] = previous


def run_command(argv: list[str]) -> None:
    """Run one ``vrest`` command through the whole parser, letting its exceptions through (``main`` would turn
    them into exit codes)."""
    from vrest.cli.main import build_parser, commands

    args = build_parser().parse_args(argv)
    commands()[args.command][1](args)



VREST_INTERRUPTIBLE = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                       "from vrest.cli import main; sys.exit(main())")  # fmt: skip
"""``python -c`` code that runs the vrest command line as a terminal does, for tests that interrupt it with SIGINT:
Python leaves SIGINT ignored where the test run itself was started with it ignored (a background job of a shell
without job control, as `cmd &` or nohup start it), so the child restores the KeyboardInterrupt handler first."""
