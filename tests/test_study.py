"""`vrest run`: a whole study in one command, written atomically."""

from __future__ import annotations

from pathlib import Path

from vrest.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _study(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "study.toml"
    path.write_text(
        f'data = "{ROOT / "data" / "gelband1972_human_atrium_fig6.csv"}"\n'
        'models = ["ghk"]\npreset = "cardiac_myocyte"\nseed = 0\nchains = 2\ndraws = 200\ntune = 200\n'
        '[data_options]\nerror_column = "err_mV"\nerror_kind = "sem"\n'
        "[fixed]\nk_replaces_na = true\n" + extra
    )
    return path


def test_run_writes_fits_sensitivity_and_report(tmp_path, capsys):
    study = _study(tmp_path, '[sensitivity]\nscenarios = ["hypokalaemia"]\nn = 64\nk_o_grid = []\n')
    out = tmp_path / "run"
    assert main(["run", str(study), "--out", str(out)]) == 0
    assert (out / "fits" / "ghk" / "summary.csv").is_file()
    assert (out / "sensitivity" / "indices.csv").is_file()
    html = (out / "report.html").read_text()
    assert "Sobol" in html and "ghk" in html
    assert f"report: {(out / 'report.html').resolve()}" in capsys.readouterr().out
    # an existing folder is never replaced without --force, and is left untouched
    before = (out / "report.html").stat().st_mtime_ns
    assert main(["run", str(study), "--out", str(out)]) == 2
    assert (out / "report.html").stat().st_mtime_ns == before


def test_run_refuses_a_study_without_data_or_with_unknown_keys(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('model = "ghk"\n')
    assert main(["run", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "data" in capsys.readouterr().err
    typo = _study(tmp_path, "[sensitivity]\nscenario = ['hypokalaemia']\n")
    assert main(["run", str(typo), "--out", str(tmp_path / "o")]) == 2
    assert "scenario" in capsys.readouterr().err and not (tmp_path / "o").exists()
