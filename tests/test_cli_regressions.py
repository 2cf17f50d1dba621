"""Regressions from a new user's first week (issue 16): each case as it was found, through the command line."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vrest
from vrest.cli import main

ROOT = Path(__file__).resolve().parents[1]
GELBAND = ROOT / "data" / "gelband1972_human_atrium_fig6.csv"
FAST = ["--chains", "2", "--draws", "100", "--tune", "100"]


def _three_cells(path: Path) -> Path:
    """3 cells x 5 K_o levels of GHK + pump data, each cell its own p_na."""
    rng = np.random.default_rng(4)
    k_o = np.array([2.0, 4.0, 8.0, 16.0, 32.0])
    frames = [pd.DataFrame({"cell": f"c{i}", "K_o_mM": k_o, "V_m_mV": vrest.predict(
        "ghk", k_o=k_o, na_o=145.0 - k_o, p_na=p, p_cl=0.3, pump_mv=3.0) + rng.normal(0, 0.5, k_o.size)})
        for i, p in enumerate((0.02, 0.04, 0.07))]  # fmt: skip
    pd.concat(frames).to_csv(path, index=False)
    return path


def test_a_hierarchical_fit_prints_and_writes_each_cells_parameters(tmp_path, capsys):
    data = _three_cells(tmp_path / "cells.csv")
    out = tmp_path / "fit"
    assert main(["fit", str(data), "--model", "ghk", "--k-replaces-na", "--out", str(out), *FAST]) == 0
    printed = capsys.readouterr().out
    assert "hierarchical model" in printed and "per cell (posterior mean [90% interval]):" in printed
    cells = pd.read_csv(out / "cells.csv")
    p_na = cells[(cells["parameter"] == "p_na") & cells["cell"].isin(["c0", "c1", "c2"])].set_index("cell")
    assert p_na.loc["c0", "mean"] < p_na.loc["c2", "mean"]  # the cells' own values, ordered as simulated
    assert (cells["cell"].str.startswith("between-cell sd")).sum() == 3
    assert (out / "fit.log").read_text().count("per cell") == 1


def test_a_one_row_recording_is_refused_in_one_line(tmp_path, capsys):
    data = tmp_path / "one.csv"
    data.write_text("K_o_mM,V_m_mV\n5,-70\n")
    assert main(["fit", str(data), "--model", "ghk", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "one.csv" in err and not (tmp_path / "o").exists()


def test_headers_a_lab_writes_are_mapped_with_columns(tmp_path, capsys):
    data = tmp_path / "lab.csv"
    table = pd.read_csv(GELBAND)[["K_o_mM", "V_m_mV"]].rename(columns={"K_o_mM": "bath potassium", "V_m_mV": "Vrest mV"})
    data.write_text("# recorded 2026-11-02, rig 2\n" + table.to_csv(index=False))
    argv = ["fit", str(data), "--model", "ghk", "--out", str(tmp_path / "o"), *FAST]
    assert main([*argv, "--columns", 'K_o_mM="bath potassium"', "V_m_mV=Vrest mV"]) == 0
    out = capsys.readouterr().out
    assert "K_o_mM <- 'bath potassium'" in out and "comment" in out


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_parent_is_one_line(tmp_path, capsys):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert main(["fit", str(GELBAND), "--model", "ghk", "--out", str(parent / "o"), *FAST]) == 2
        assert str(parent) in capsys.readouterr().err
    finally:
        parent.chmod(stat.S_IRWXU)


def test_an_output_parent_that_is_a_file_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["fit", str(GELBAND), "--model", "ghk", "--out", str(blocker / "o"), *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(blocker) in err


def test_a_fifo_as_input_is_refused_without_hanging(tmp_path, capsys):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    assert main(["fit", str(fifo), "--model", "ghk", "--out", str(tmp_path / "o")]) == 2
    assert "pipe.csv" in capsys.readouterr().err


def test_report_out_naming_a_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "x.html").mkdir()
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "x.html")]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_help_names_temperature_in_celsius_and_model_as_required(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = capsys.readouterr().out
    assert "--temp-c X" in text and "temperature, degrees C" in text and "absolute temperature" not in text
    assert "(required here or in --study)" in text


def test_comparing_a_hierarchical_with_a_pooled_fit_is_refused(tmp_path, capsys):
    data = _three_cells(tmp_path / "cells.csv")
    for choice in ("yes", "no"):
        argv = ["fit", str(data), "--model", "ghk", "--k-replaces-na", "--hierarchical", choice,
                "--out", str(tmp_path / choice), *FAST]  # fmt: skip
        assert main(argv) == 0
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "yes"), str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err.strip()
    assert "hierarchical and pooled fits mixed" in err and err.count("\n") == 0


def test_k_replacing_na_is_one_assumption_line_stating_its_reference(tmp_path, capsys):
    argv = ["fit", str(GELBAND), "--model", "ghk", "--preset", "cardiac_myocyte", "--k-replaces-na",
            "--k-o-reference", "5", "--out", str(tmp_path / "o"), *FAST]  # fmt: skip
    assert main(argv) == 0
    na = [line for line in capsys.readouterr().out.splitlines() if line.startswith("assumption: na_o")]
    assert na == ["assumption: na_o = 145 - K_o mM (K+ raised by replacing Na+ (k_replaces_na): Na_o = 140 mM (preset "
                  "cardiac_myocyte) at K_o = 5 mM (k_o_reference); condition 'all')"]
