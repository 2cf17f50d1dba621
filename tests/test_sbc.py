"""Simulation-based calibration (slow): the scripts of analyses/sbc/ on a small number of simulations each, in a
temporary folder. The recorded runs (hundreds of simulations) are in analyses/sbc/RESULTS.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

SBC = Path(__file__).resolve().parents[1] / "analyses" / "sbc"


@pytest.mark.slow
@pytest.mark.parametrize(("script", "flags", "stem"), [("sbc_ghk.py", [], "sbc_ghk"), ("sbc_kir.py", [], "sbc_kir"),
                                                       ("sbc_kir.py", ["--ordered"], "sbc_kir_ordered")])  # fmt: skip
def test_the_ranks_of_the_truth_among_posterior_draws_are_uniform(tmp_path, script, flags, stem):
    """40 simulations from the prior: each parameter's ranks pass a chi-square test of uniformity (5 bins) at
    p > 0.001 (with 7 parameters, a false alarm about 1 run in 140), divergences at most 0.5 % of the draws."""
    cmd = [sys.executable, str(SBC / script), *flags, "--n-sims", "40", "--seed", "1", "--out", str(tmp_path)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    ranks = pd.read_csv(tmp_path / f"{stem}.csv")
    assert len(ranks) == 40
    for name in ranks.columns.drop(["divergences", "draws", "bistable", "tries", "max_rhat", "min_ess"], errors="ignore"):
        counts = np.histogram(ranks[name], bins=5, range=(0, 100))[0]
        assert stats.chisquare(counts).pvalue > 0.001, name
    assert ranks["divergences"].sum() <= 0.005 * ranks["draws"].sum()
