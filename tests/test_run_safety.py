"""Regressions of real-use cases: no lost work across models, batches that resume right whatever the list,
sensitivity studies consistent with the fit they draw from, reports that refuse mixed data."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import VREST_INTERRUPTIBLE

import vrest
from vrest.cli import main
from vrest.folders import folder_name

ROOT = Path(__file__).resolve().parents[1]
GELBAND = ROOT / "data" / "gelband1972_human_atrium_fig6.csv"
FAST = ["--chains", "2", "--draws", "100", "--tune", "100"]
GELBAND_ARGS = ["--preset", "cardiac_myocyte", "--k-replaces-na", "--error-column", "err_mV", "--error-kind", "sem"]


@pytest.fixture(scope="module")
def gelband_ghk(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fits") / "ghk"
    assert main(["fit", str(GELBAND), "--model", "ghk", *GELBAND_ARGS, "--out", str(out), *FAST]) == 0
    return out


def test_sensitivity_with_a_posterior_holds_the_fits_assumptions(gelband_ghk, tmp_path):
    """Issue: the same posterior gave V_rest 12 mV apart in the report (cardiac Cl 15/150) and in the
    sensitivity (the scenario's mammalian-neuron Cl_i 4-30 mM)."""
    out = tmp_path / "sens"
    argv = ["sensitivity", "--scenario", "normokalaemia", "--seed", "0", "--n", "64", "--k-o-grid", "4.5",
            "--posterior", str(gelband_ghk), "--out", str(out), "--no-figures", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    info = json.loads((out / "sensitivity.json").read_text())
    inherited = info["posterior"]["inherited"]["normokalaemia"]
    assert inherited["cl_i"] == 15.0 and inherited["k_i"] == 145.0 and inherited["na_i"] == 10.0
    scenario = next(s for s in info["scenarios"] if s["name"] == "normokalaemia")
    assert "cl_i" not in {x["name"] for x in scenario["inputs"]}  # held, not varied over 4-30 mM
    band = pd.read_csv(out / "uncertainty.csv").query("K_o_mM == 4.5").iloc[0]
    grid = vrest.read_fit(gelband_ghk).predictive
    fit_median = np.interp(np.log(4.5), np.log(grid["K_o_mM"]), grid["V_mV_q50"])
    assert abs(band["V_q50_mV"] - fit_median) < 3.0  # plasma Na+/Cl- still vary in the scenario


def test_a_report_refuses_a_sensitivity_study_of_another_data_sets_fit(gelband_ghk, tmp_path, capsys):
    other_data = tmp_path / "other.csv"
    table = pd.read_csv(GELBAND)
    table["V_m_mV"] += 1.0
    table.to_csv(other_data, index=False)
    other = tmp_path / "other"
    assert main(["fit", str(other_data), "--model", "ghk", *GELBAND_ARGS, "--out", str(other), *FAST]) == 0
    sens = tmp_path / "sens"
    assert main(["sensitivity", "--scenario", "hypokalaemia", "--seed", "0", "--n", "64", "--k-o-grid", "off",
                 "--posterior", str(other), "--out", str(sens), "--no-figures", "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["report", str(gelband_ghk), str(sens), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "another data set" in err and str(sens) in err and not (tmp_path / "r.html").exists()


def _run_with_sensitivity(tmp_path: Path, models: list[str]) -> Path:
    """`vrest run` of a short Gelband study of ``models`` with a [sensitivity] table without a model; its folder."""
    study = tmp_path / "s.toml"
    study.write_text(f'data = "{GELBAND}"\nmodels = {json.dumps(models)}\npreset = "cardiac_myocyte"\nchains = 2\n'
                     'draws = 100\ntune = 100\n[data_options]\nerror_column = "err_mV"\nerror_kind = "sem"\n[fixed]\n'
                     'k_replaces_na = true\n[sensitivity]\nscenarios = ["hypokalaemia"]\nn = 64\nk_o_grid = []\n')  # fmt: skip
    out = tmp_path / "run"
    assert main(["run", str(study), "--out", str(out)]) == 0
    return out


def test_sensitivity_json_in_a_run_names_no_temporary_folder(tmp_path):
    out = _run_with_sensitivity(tmp_path, ["ghk"])
    text = (out / "sensitivity" / "sensitivity.json").read_text() + (out / "report.md").read_text()
    assert ".tmp-" not in text
    assert json.loads((out / "sensitivity" / "sensitivity.json").read_text())["posterior"]["fit_dir"] == "../fits/ghk"
    assert json.loads((out / "run.json").read_text())["status"] == "complete"
    assert vrest.folders.is_result(out, "run")


def test_a_run_without_a_sensitivity_model_studies_the_favoured_fit(tmp_path, monkeypatch):
    """[sensitivity] without `model`: the posterior of the fit the comparison favours (compare.favoured; Gelband:
    rectifying-kir, whose curve follows the data, rather than the PSIS-LOO winner ghk), not the first model."""
    import vrest.inference.compare

    monkeypatch.setattr(vrest.inference.compare, "favoured", lambda table: "chord (chord)")
    out = _run_with_sensitivity(tmp_path, ["ghk", "chord"])
    assert json.loads((out / "sensitivity" / "sensitivity.json").read_text())["posterior"]["fit_dir"] == "../fits/chord"


def test_model_all_keeps_the_models_that_finished_when_another_fails(tmp_path, capsys):
    """--uncertain ca_o is an assumption of ghk only (its Ca2+ term): every other model refuses it."""
    out = tmp_path / "all"
    argv = ["fit", str(GELBAND), "--model", "all", *GELBAND_ARGS, "--uncertain", "ca_o", "--out", str(out), *FAST]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "4 model(s) failed" in err and "finished: ghk" in err
    assert vrest.read_fit(out / "ghk").info["uncertain"] == ["ca_o"]
    info = json.loads((out / "models.json").read_text())
    assert info["status"] == "some models failed" and set(info["failed"]) == {"mullins-noda", "chord",
                                                                                "rectifying-ghk", "rectifying-kir"}  # fmt: skip


def test_sigint_after_the_first_model_keeps_it_and_exits_130(tmp_path):
    out = tmp_path / "all"
    proc = subprocess.Popen([sys.executable, "-c", VREST_INTERRUPTIBLE, "fit", str(GELBAND), "--model", "all",
                             *GELBAND_ARGS, "--out", str(out), "--chains", "2", "--draws", "100", "--tune", "100"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while not (out / "ghk" / "fit.json").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=120)
    err = proc.stderr.read().strip().splitlines()
    assert code == 130, err
    assert err[-1].startswith("vrest: interrupted; finished: ghk")
    assert vrest.read_fit(out / "ghk").info["model"] == "ghk"  # complete and valid
    assert json.loads((out / "models.json").read_text())["status"] == "interrupted"
    assert not [p for p in out.rglob(".*")]


def _recordings(path: Path, names: list[str]) -> Path:
    rng = np.random.default_rng(5)
    k_o = np.array([2.0, 4.0, 8.0, 16.0, 32.0])
    frames = []
    for name in names:
        v = vrest.predict("ghk", k_o=k_o, na_o=145 - k_o, p_na=0.05 * np.exp(rng.normal(0, 0.3)), p_cl=0.3)
        frames.append(pd.DataFrame({"recording": name, "K_o_mM": k_o, "V_m_mV": np.round(v + rng.normal(0, 1, 5), 3)}))
    pd.concat(frames).to_csv(path, index=False)
    return path


def _batch(data: Path, out: Path) -> int:
    return main(["fit-batch", str(data), "--by", "recording", "--model", "ghk", "--k-replaces-na", *FAST,
                 "--scheduler", "none", "--out", str(out)])  # fmt: skip


def test_batch_resume_after_removing_adding_and_reordering_equals_a_fresh_batch(tmp_path, capsys):
    resumed = tmp_path / "resumed"
    assert _batch(_recordings(tmp_path / "a.csv", ["a/2", "a-2", "c", "d"]), resumed) == 0
    # the same recordings' data (seeded by position above), reordered, one removed, one added
    table = pd.read_csv(tmp_path / "a.csv")
    table = table[table["recording"] != "c"]
    extra = pd.read_csv(_recordings(tmp_path / "e.csv", ["e"]))
    blocks = [table[table["recording"] == name] for name in ("d", "a-2", "a/2")]  # recordings reordered
    new = pd.concat([blocks[0], extra, *blocks[1:]])
    new.to_csv(tmp_path / "b.csv", index=False)
    assert _batch(tmp_path / "b.csv", resumed) == 0
    assert "3 already fitted (kept), 1 to fit" in capsys.readouterr().err
    fresh = tmp_path / "fresh"
    assert _batch(tmp_path / "b.csv", fresh) == 0
    assert (resumed / "batch_summary.csv").read_bytes() == (fresh / "batch_summary.csv").read_bytes()
    mapping = pd.read_csv(resumed / "recordings.csv")
    assert sorted(mapping["recording"]) == ["a-2", "a/2", "d", "e"]
    assert mapping.set_index("recording")["folder"]["a/2"] == f"recordings/{folder_name('a/2')}"
    assert folder_name("a/2") != folder_name("a-2")


def test_batch_out_naming_a_file_is_one_line(tmp_path, capsys):
    data = _recordings(tmp_path / "a.csv", ["x"])
    target = tmp_path / "f.txt"
    target.write_text("mine")
    assert _batch(data, target) == 2
    assert "is a file" in capsys.readouterr().err and target.read_text() == "mine"


def test_hierarchical_yes_without_a_cell_column_is_refused(tmp_path, capsys):
    assert main(["fit", str(GELBAND), "--model", "ghk", "--hierarchical", "yes", "--out", str(tmp_path / "o")]) == 2
    assert "hierarchical: 'yes' needs a cell column" in capsys.readouterr().err


def test_a_comparison_table_is_written_whole_at_full_precision_and_force_replaces_only_vrests_own(tmp_path):
    """compare.csv (vrest run, fit --model all) and `vrest compare --out` share one writer: full precision (a rounded
    table made ranks look inconsistent), and --force replaces an earlier comparison table, never a user's file."""
    from vrest._atomic import OutputExistsError
    from vrest.folders import write_compare

    table = pd.DataFrame({"fit": ["a", "b"], "rank": [0, 1], "elpd_diff": [0.0, -0.123456789012345],
                          "converged": [True, True]})  # fmt: skip
    out = write_compare(table, tmp_path / "c.csv", force=False)
    assert pd.read_csv(out)["elpd_diff"].iloc[1] == -0.123456789012345
    with pytest.raises(OutputExistsError, match="exists; use --force"):
        write_compare(table, out, force=False)
    write_compare(table.assign(rank=[1, 0]), out, force=True)
    assert list(pd.read_csv(out)["rank"]) == [1, 0]
    mine = tmp_path / "mine.csv"
    mine.write_text("my,data\n1,2\n")
    with pytest.raises(OutputExistsError, match="not a comparison table written by vrest"):
        write_compare(table, mine, force=True)
    assert mine.read_text() == "my,data\n1,2\n"
