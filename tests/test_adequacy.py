"""Model adequacy in words: a fit that misses the data says so; a fit of its own model's data does not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vrest
from vrest.cli import main
from vrest.inference.adequacy import level_residuals, runs_p

ROOT = Path(__file__).resolve().parents[1]
GELBAND = ROOT / "data" / "gelband1972_human_atrium_fig6.csv"
FAST = ["--chains", "2", "--draws", "300", "--tune", "300"]


def test_runs_p_is_the_exact_wald_wolfowitz_tail():
    assert runs_p(np.array([1, 1, -1, -1, -1, -1, -1, -1, 1, 1, 1, 1])) == pytest.approx(12 / 924)  # 3 runs: 12 ways
    assert runs_p(np.array([1, -1, 1, -1])) == 1.0 and runs_p(np.array([1, 1, 1])) == 1.0


def test_a_curve_through_the_data_misses_no_level_and_a_bent_one_does():
    rng = np.random.default_rng(0)
    k_o = np.repeat(np.geomspace(1, 50, 10), 4)
    truth = 25.0 * np.log(k_o / 140.0)
    draws = truth + rng.normal(0, 1.0, (2000, k_o.size))
    fine = level_residuals(np.full(k_o.size, "all"), k_o, truth + rng.normal(0, 1.0, k_o.size), draws)
    assert not fine["missed"].any()
    bent = truth + 4.0 * np.sin(np.log(k_o))  # a systematic S-shaped departure
    missed = level_residuals(np.full(k_o.size, "all"), k_o, bent, draws)
    assert missed["missed"].sum() >= 5


def _fit(data: Path, out: Path, *extra: str) -> dict:
    assert main(["fit", str(data), "--model", "ghk", "--out", str(out), *FAST, *extra]) == 0
    return json.loads((out / "fit.json").read_text())["adequacy"]


def test_ghk_fit_of_rectifier_shaped_data_is_flagged_and_of_its_own_data_is_not(tmp_path):
    gelband = _fit(GELBAND, tmp_path / "gelband", "--preset", "cardiac_myocyte", "--k-replaces-na",
                   "--error-column", "err_mV", "--error-kind", "sem")  # fmt: skip
    assert gelband["flagged"] and any("misses the data systematically" in f for f in gelband["findings"])
    rng = np.random.default_rng(1)
    k_o = np.repeat([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0], 3)
    v = vrest.predict("ghk", k_o=k_o, na_o=145.0 - k_o, p_na=0.03, p_cl=0.2, pump_mv=3.0) + rng.normal(0, 1.0, k_o.size)
    own = tmp_path / "own.csv"
    pd.DataFrame({"K_o_mM": k_o, "V_m_mV": v}).to_csv(own, index=False)
    assert _fit(own, tmp_path / "own", "--k-replaces-na", "--k-o-reference", "0") == {"flagged": False, "findings": []}
