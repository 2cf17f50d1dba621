"""`vrest run` from raw traces to the report, and ending with the next-experiment advice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from traces_synthetic import make_trace, write_abf1

import vrest
from vrest.cli import main

K_LEVELS = (2.0, 5.0, 10.0, 20.0, 40.0)
FAST = "chains = 2\ndraws = 200\ntune = 200\nseed = 0\n"


def _traces(folder: Path) -> None:
    """Two cells, each a tagged gap-free ABF with GHK plateaus at five K_o levels (K+ replacing Na+)."""
    folder.mkdir()
    for cell, p_na in (("c1", 0.03), ("c2", 0.05)):
        k = np.array(K_LEVELS)
        plateaus = list(vrest.predict("ghk", k_o=k, na_o=145.0 - k, p_na=p_na, p_cl=0.3, pump_mv=2.0))
        s = make_trace(plateaus, 150.0, 200.0, seed=len(cell) + int(p_na * 100))
        write_abf1(folder / f"{cell}.abf", s.v, 200.0, [(t, f"K {x:g}") for t, x in zip(s.starts, K_LEVELS, strict=True)])


def test_a_study_naming_traces_gives_the_fit_of_the_extracted_table(tmp_path):
    _traces(tmp_path / "rec")
    study = tmp_path / "s.toml"
    study.write_text(f'traces = ["rec/*.abf"]\nmodel = "ghk"\n{FAST}[fixed]\nk_replaces_na = true\n'
                     "[extract]\nsettle_s = 30\n")  # fmt: skip
    out = tmp_path / "run"
    assert main(["run", str(study), "--out", str(out)]) == 0
    table = pd.read_csv(out / "traces.csv")
    assert len(table) == 10 and set(table["cell"]) == {"c1", "c2"}
    assert json.loads((out / "traces.json").read_text())["generator"] == "vrest extract"
    # extracting first and fitting the table gives the same posterior
    assert main(["extract", *map(str, sorted((tmp_path / "rec").glob("*.abf"))), "--settle-s", "30",
                 "--out", str(tmp_path / "t.csv")]) == 0  # fmt: skip
    assert main(["fit", str(tmp_path / "t.csv"), "--model", "ghk", "--k-replaces-na", "--chains", "2", "--draws",
                 "200", "--tune", "200", "--out", str(tmp_path / "direct")]) == 0  # fmt: skip
    a = pd.read_csv(out / "fits" / "ghk" / "summary.csv")
    b = pd.read_csv(tmp_path / "direct" / "summary.csv")
    pd.testing.assert_frame_equal(a, b)
    assert vrest.read_fit(out / "fits" / "ghk").info["extraction"]["settle_s"] == 30
    html = (out / "report.html").read_text()
    assert "Raw recordings" in html and "trace_001_c1.png" in (out / "report.md").read_text()
    assert (out / "report_figures" / "trace_001_c1.png").is_file() and vrest.folders.is_result(out, "run")


def test_a_study_with_a_design_table_ends_with_the_next_experiment(tmp_path):
    rng = np.random.default_rng(0)
    k = np.repeat([2.0, 5.0, 10.0, 20.0, 40.0], 2)
    v = vrest.predict("ghk", k_o=k, na_o=145.0 - k, p_na=0.04, p_cl=0.3, pump_mv=2.0) + rng.normal(0, 1, k.size)
    pd.DataFrame({"K_o_mM": k, "V_m_mV": v}).to_csv(tmp_path / "r.csv", index=False)
    study = tmp_path / "s.toml"
    study.write_text(f'data = "r.csv"\nmodel = "ghk"\n{FAST}[fixed]\nk_replaces_na = true\n'
                     "[design]\nexact = 1\nouter = 100\ndraws = 300\n")  # fmt: skip
    out = tmp_path / "run"
    assert main(["run", str(study), "--out", str(out)]) == 0
    design = pd.read_csv(out / "design" / "design.csv")
    assert {"candidate", "rank", "eig_nats", "eig_mc_se"} <= set(design.columns)
    info = json.loads((out / "design" / "design.json").read_text())
    assert info["recommendation"] and info["fit"] == "../fits/ghk"
    html = (out / "report.html").read_text()
    assert "Next experiment" in html and vrest.folders.is_result(out, "run")


@pytest.mark.parametrize(("text", "message"), [
    ('traces = ["nothing/*.abf"]\n', "matches no file"),
    ('data = "r.csv"\ntraces = ["x.abf"]\n', "one of the two"),
    ("[design]\nchoose = 0\n", "design: choose: expected a whole number >= 1"),
])  # fmt: skip
def test_bad_trace_and_design_keys_are_one_line(tmp_path, capsys, text, message):
    (tmp_path / "x.abf").write_bytes(b"")
    (tmp_path / "r.csv").write_text("K_o_mM,V_m_mV\n5,-70\n10,-60\n")
    study = tmp_path / "s.toml"
    study.write_text(('data = "r.csv"\n' if "traces" not in text and "data" not in text else "") + text)
    assert main(["run", str(study), "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err
