"""The edges: one home each for commands, the study file and output folders; no cycles; bad input refused
in one line before any work; --force replaces only vrest's own results; one writer per output folder."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from conftest import VREST_INTERRUPTIBLE

import vrest
from vrest.cli import main

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "vrest"
GELBAND = ROOT / "data" / "gelband1972_human_atrium_fig6.csv"
FAST = ["--chains", "2", "--draws", "100", "--tune", "100"]
GELBAND_ARGS = ["--preset", "cardiac_myocyte", "--k-replaces-na", "--error-column", "err_mV", "--error-kind", "sem"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path) -> set[str]:
    """Modules of vrest imported at module level (function-level imports are deliberate lazy imports)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks import nothing at run time
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("vrest")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if not base.startswith("vrest"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if (SRC.parent / Path(*sub.split("."))).with_suffix(".py").is_file()
                        or (SRC.parent / Path(*sub.split("."))).is_dir() else base)  # fmt: skip
    return out


def test_no_module_outside_cli_imports_argparse():
    offenders = [p for p in SRC.rglob("*.py") if "import argparse" in p.read_text() and "cli" not in p.parts]
    assert offenders == []


def test_the_import_graph_has_no_cycle():
    graph = {_module_name(p): _top_level_imports(p) for p in SRC.rglob("*.py")}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph or nxt == node:
                continue
            if state.get(nxt) == 1:
                raise AssertionError(f"import cycle: {' -> '.join([*path, node, nxt])}")
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_models_import_nothing_from_the_edges_or_inference():
    code = ("import pkgutil, importlib, sys, vrest.models as m\n"
            "[importlib.import_module(f'vrest.models.{i.name}') for i in pkgutil.iter_modules(m.__path__)]\n"
            "bad = [k for k in sys.modules if k.split('.')[:2] in (['vrest','inference'], ['vrest','cli'],"
            " ['vrest','study'], ['vrest','folders'])]\nprint(bad)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- fit folders read back


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """One small fit with priors, fixed values and conditions set, written and read back."""
    from vrest.data import load_recordings
    from vrest.folders import write_fit
    from vrest.inference.fit import FitSettings, fit

    root = tmp_path_factory.mktemp("edges")
    data = root / "cond.csv"
    table = pd.read_csv(GELBAND)[["K_o_mM", "V_m_mV"]]
    table["condition"] = ["low"] * 6 + ["high"] * 6
    table.to_csv(data, index=False)
    settings = FitSettings(model="ghk", seed=3, preset="cardiac_myocyte", chains=2, draws=100, tune=100,
                           fixed={"temp_k": 305.15, "k_replaces_na": True},
                           conditions={"high": {"cl_o": 120.0, "k_o_reference": 10.0}},
                           priors={"p_na": {"median": 0.03, "log_sd": 0.8}}, progress=False)  # fmt: skip
    recordings = load_recordings(data)
    result = fit(recordings, settings)
    out = write_fit(result, recordings, root / "fit")
    return result, out


def test_read_fit_round_trips_priors_settings_and_conditions(fitted):
    result, out = fitted
    back = vrest.read_fit(out)
    assert back.priors == result.priors  # Prior objects, exactly (no prose parsing)
    assert replace(back.settings, progress=False) == result.settings  # every setting, fixed value and condition
    assert back.settings.conditions == {"high": {"cl_o": 120.0, "k_o_reference": 10.0}}
    assert back.settings.fixed == {"temp_k": 305.15, "k_replaces_na": True}
    assert back.na_plus_k == pytest.approx(result.design.na_plus_k)
    assert back.na_plus_k["high"] == pytest.approx(10.0 + 140.0)  # Na_o 140 (preset) at the stated reference K_o
    pd.testing.assert_frame_equal(back.summary, result.summary, check_exact=False, rtol=1e-12)


def test_derived_quantities_at_every_recorded_level_and_the_preset(fitted):
    result, _ = fitted
    d = result.derived
    low = d[(d["condition"] == "low") & (d["quantity"] == "E_K_mV")]
    assert sorted(low["K_o_mM"]) == [1.0, 2.0, 3.0, 4.0, 5.0, 5.4, 6.0]  # recorded levels + the preset's 5.4 mM
    assert set(low["K_o_origin"]) == {"recorded", "preset"}


def test_old_fit_folders_get_a_message_saying_how_to_redo_them(fitted, tmp_path):
    _, out = fitted
    old = tmp_path / "old"
    old.mkdir()
    for f in out.iterdir():
        (old / f.name).write_bytes(f.read_bytes())
    info = json.loads((old / "fit.json").read_text())
    del info["format"]
    (old / "fit.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match=r"vrest 0\.1.*redo it with `vrest fit`"):
        vrest.read_fit(old)


def test_a_truncated_posterior_names_the_damaged_folder(fitted, tmp_path, capsys):
    _, out = fitted
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in out.iterdir():
        (bad / f.name).write_bytes(f.read_bytes()[: 200] if f.name == "posterior.nc" else f.read_bytes())
    assert main(["compare", str(out), str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(bad) in err and "posterior.nc is damaged" in err


# --------------------------------------------------------------------------- bad study files and flags


def _study(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(f'data = "{GELBAND}"\nmodel = "ghk"\n' + text)
    return path


BAD_STUDIES = [
    ("draws = 1.5\n", "draws: expected a whole number"),
    ("chains = [4]\n", "chains: expected a whole number"),
    ('chains = "four"\n', "chains: expected a whole number"),
    ('no_pump = "no"\n', "no_pump: expected true or false"),
    ("tune = -5\n", "tune: expected a whole number from 10"),
    ("seed = 18446744073709551616\n", "seed: expected a whole number"),
    ("conditions = 3\n", "conditions: expected a table"),
    ("fixed = 1\n", "fixed: expected a table"),
    ("priors = 1\n", "priors: expected a table"),
    ("preset = 1\n", "preset: expected a text"),
    ('preset = "cardiac"\n', "preset: expected one of"),
    ('g_tot_ns = "abc"\n', "g_tot_ns: expected a finite number"),
    ("g_tot_ns = -1\n", "g_tot_ns: expected a positive number"),
    ("drawz = 10\n", "unknown key 'drawz'; did you mean 'draws'?"),
    ("[fixd]\nk_i = 140\n", "unknown key 'fixd'; did you mean 'fixed'?"),
    ("[fixed]\nk_ii = 140\n", "unknown key 'k_ii'; did you mean 'k_i'?"),
    ("[fixed]\nk_replaces_na = \"yes\"\n", "k_replaces_na: expected true or false"),
    ("[fixed]\ntemp_c = -300\n", "temp_c: expected a temperature above -273.15 C"),
    ('out = "../../somewhere"\n', "climbs out of the study's folder"),
    ("[sensitivity]\nscenario = ['hypokalaemia']\n", "unknown key 'scenario'; did you mean 'scenarios'?"),
    ("[data_options]\nerror_kind = \"SD\"\n", "error_kind: expected one of sem, sd"),
    ("[priors.k_slope]\nmedian = 16.0\n", "priors: k_slope: 'k_slope' is not fitted by any of the study's models (ghk)"),
]


@pytest.mark.parametrize(("text", "message"), BAD_STUDIES)
@pytest.mark.parametrize("command", ["run", "fit"])
def test_bad_study_files_are_one_line_exit_2_and_write_nothing(tmp_path, capsys, command, text, message):
    study = _study(tmp_path, text)
    out = tmp_path / "out"
    argv = ["run", str(study), "--out", str(out)] if command == "run" else ["fit", "--study", str(study), "--out", str(out)]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err and "study.toml" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


BAD_FLAGS = [
    (["--draws", "-1"], "--draws: expected a whole number from 10"),
    (["--draws", "0"], "--draws: expected a whole number from 10"),
    (["--tune", "-1"], "--tune: expected a whole number from 10"),
    (["--tune", "0"], "--tune: expected a whole number from 10"),
    (["--chains", "-1"], "--chains: expected a whole number from 1"),
    (["--chains", "0"], "--chains: expected a whole number from 1"),
    (["--seed", str(2**64)], "--seed: expected a whole number from 0"),
    (["--seed", "-1"], "--seed: expected a whole number from 0"),
    (["--g-tot-ns", "-1"], "--g-tot-ns: expected a positive total conductance"),
    (["--g-tot-ns", "nan"], "--g-tot-ns: expected a positive total conductance"),
    (["--temp-c", "-300"], "--temp-c: expected a temperature above -273.15 C"),
    (["--columns", "K_o_mM"], "--columns: expected NAME=HEADER"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_FLAGS)
def test_bad_fit_flags_are_one_line_exit_2_before_any_work(tmp_path, capsys, flags, message):
    assert main(["fit", str(GELBAND), "--model", "ghk", "--out", str(tmp_path / "o"), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err
    assert not (tmp_path / "o").exists()


def test_sensitivity_n_beyond_memory_is_refused(tmp_path, capsys):
    argv = ["sensitivity", "--scenario", "hypokalaemia", "--seed", "0", "--n", str(2**40), "--out", str(tmp_path / "s")]
    assert main(argv) == 2
    assert "--n: expected 8 to 4194304" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_model_is_required_and_says_so(tmp_path, capsys):
    assert main(["fit", str(GELBAND), "--out", str(tmp_path / "o")]) == 2
    assert "--model: required" in capsys.readouterr().err


def test_a_study_prior_goes_to_the_fits_of_the_models_that_fit_that_parameter(tmp_path):
    from vrest.study import fit_settings, load_study

    study = load_study(_study(tmp_path, 'models = ["ghk", "rectifying-kir"]\n[priors.k_slope]\nmedian = 16.0\n'
                                       "log_sd = 0.35\n[priors.sigma_mv]\nsd = 5.0\n"))
    assert fit_settings(study, "ghk").priors == {"sigma_mv": {"sd": 5.0}}
    assert fit_settings(study, "rectifying-kir").priors == {"k_slope": {"median": 16.0, "log_sd": 0.35},
                                                           "sigma_mv": {"sd": 5.0}}
    assert fit_settings(study, "chord").priors == {"sigma_mv": {"sd": 5.0}}  # a model the study does not name


def test_study_paths_are_relative_to_the_study_file(tmp_path, monkeypatch):
    from vrest.study import load_study

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "s.toml").write_text('data = "rec.csv"\nout = "runs/x"\n')
    monkeypatch.chdir(ROOT)
    study = load_study(tmp_path / "sub" / "s.toml")
    assert study.data == tmp_path / "sub" / "rec.csv" and study.out == tmp_path / "sub" / "runs" / "x"


# --------------------------------------------------------------------------- --force and one writer per output


@pytest.fixture()
def user_folder(tmp_path) -> Path:
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "chapter1.docx").write_text("years of work")
    return folder


def _fit_argv(out: Path | str, *extra: str) -> list[str]:
    return ["fit", str(GELBAND), "--model", "ghk", *GELBAND_ARGS, "--out", str(out), *FAST, *extra]


@pytest.mark.parametrize("command", ["fit", "sensitivity", "run"])
def test_force_never_replaces_a_folder_vrest_did_not_write(tmp_path, user_folder, capsys, command):
    study = _study(tmp_path, "chains = 2\ndraws = 100\ntune = 100\n")
    argv = {"fit": _fit_argv(user_folder),
            "sensitivity": ["sensitivity", "--scenario", "hypokalaemia", "--seed", "0", "--n", "64",
                            "--out", str(user_folder)],
            "run": ["run", str(study), "--out", str(user_folder)]}[command]  # fmt: skip
    assert main([*argv, "--force"]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a vrest" in err and "even with --force" in err and err.count("\n") == 0
    assert (user_folder / "chapter1.docx").read_text() == "years of work"
    assert sorted(p.name for p in user_folder.parent.iterdir() if p.name.startswith(".")) == []


def test_force_onto_a_file_the_input_or_the_working_directory_is_refused(tmp_path, capsys, monkeypatch):
    data = tmp_path / "mydata.csv"
    data.write_bytes(GELBAND.read_bytes())
    plain = tmp_path / "notes.txt"
    plain.write_text("keep")
    for out, message in ((plain, "is a file"), (data, "is or contains the input"), (tmp_path, "is or contains the input")):
        argv = ["fit", str(data), "--model", "ghk", "--out", str(out), "--force", *FAST]
        assert main(argv) == 2
        assert message in capsys.readouterr().err
    monkeypatch.chdir(tmp_path / "..")
    for out in (".", ".."):
        assert main(["fit", str(data), "--model", "ghk", "--out", out, "--force", *FAST]) == 2
        assert "working directory" in capsys.readouterr().err
    assert plain.read_text() == "keep" and data.read_bytes() == GELBAND.read_bytes()


def test_force_replaces_an_earlier_vrest_fit_and_without_it_nothing_changes(tmp_path, capsys):
    out = tmp_path / "fit"
    assert main(_fit_argv(out)) == 0
    stamp = (out / "fit.json").stat().st_mtime_ns
    assert main(_fit_argv(out)) == 2
    assert "exists; use --force" in capsys.readouterr().err
    assert (out / "fit.json").stat().st_mtime_ns == stamp
    assert main(_fit_argv(out, "--seed", "1", "--force")) == 0
    assert json.loads((out / "fit.json").read_text())["seed"] == 1
    assert (out / "fit.log").read_text().startswith("# ghk: pooled model, seed 1")
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())  # the umask, not owner-only


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_report_force_never_replaces_a_users_html(tmp_path, capsys):
    page = tmp_path / "index.html"
    page.write_text("<html>my lab page</html>")
    assert main(["report", str(tmp_path), "--out", str(page), "--force"]) == 2
    assert "is not part of a vrest report" in capsys.readouterr().err
    assert page.read_text() == "<html>my lab page</html>"


def test_a_live_lock_refuses_a_second_writer_at_once_and_a_dead_one_is_taken_over(tmp_path, capsys):
    out = tmp_path / "fit"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".fit.lock").write_text(str(sleeper.pid))
        t0 = time.perf_counter()
        assert main(_fit_argv(out)) == 2
        assert time.perf_counter() - t0 < 5
        assert f"another vrest command (pid {sleeper.pid}) is writing" in capsys.readouterr().err
    finally:
        sleeper.kill()
        sleeper.wait()
    (tmp_path / ".fit.lock").write_text(str(sleeper.pid))  # its process is gone: a stale lock
    stale = tmp_path / f".fit.tmp-{sleeper.pid}-abc"
    stale.mkdir()
    assert main(_fit_argv(out)) == 0
    assert not (tmp_path / ".fit.lock").exists() and not stale.exists() and (out / "fit.json").is_file()


def _vrest(*argv: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", VREST_INTERRUPTIBLE, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)  # fmt: skip


def _race(out: Path) -> None:
    procs = [_vrest(*_fit_argv(out), "--seed", str(s)) for s in (0, 1)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    codes = sorted(c for c, _ in results)
    assert codes == [0, 2], results
    loser = next(err for c, err in results if c == 2)
    assert "another vrest command" in loser or "exists; use --force" in loser
    assert "sampling" not in loser  # refused before any sampling
    assert (out / "fit.json").is_file() and vrest.read_fit(out).info["seed"] in (0, 1)


@pytest.mark.parametrize("trial", range(2))
def test_two_simultaneous_fits_on_one_out_never_both_succeed(tmp_path, trial):
    _race(tmp_path / "fit")


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(10))
def test_two_simultaneous_fits_ten_trials(tmp_path, trial):
    _race(tmp_path / "fit")


def _interrupt_when_sampling(proc: subprocess.Popen, marker: str = "sampling") -> tuple[int, list[str]]:
    """SIGINT once ``proc`` says it is sampling; (exit code, stderr lines after the signal)."""
    for line in proc.stderr:
        if line.startswith(marker):
            break
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=120)
    return code, proc.stderr.read().strip().splitlines()


LONG = ["--draws", "1000000", "--tune", "1000", "--chains", "2"]  # ghk samples about 100 000 draws a second here


def test_sigint_during_sampling_exits_130_with_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "fit"
    code, rest = _interrupt_when_sampling(_vrest("fit", str(GELBAND), "--model", "ghk", "--out", str(out), *LONG))
    assert code == 130, rest
    assert rest == ["vrest: interrupted; nothing partial was written"]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_ctrl_c_is_an_interruption_even_where_nutpie_fails_to_hand_back_its_draws(monkeypatch):
    """nutpie answers Ctrl-C by taking the draws so far; where they were already taken it raises RuntimeError ("no
    results to take") while handling the KeyboardInterrupt. That is still Ctrl-C (exit 130), not an error (exit 2)."""
    from vrest.inference.nutpie_import import import_nutpie

    def interrupted(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("Sampler has no results to take") from None

    monkeypatch.setattr(import_nutpie(), "sample", interrupted)
    with pytest.raises(KeyboardInterrupt):
        vrest.fit(pd.read_csv(GELBAND)[["K_o_mM", "V_m_mV"]], "ghk", chains=2, draws=100, tune=100, progress=False)


def test_ctrl_c_after_one_chain_finished_is_an_interruption_not_a_fit_of_padded_draws(monkeypatch):
    """nutpie answers Ctrl-C with the draws so far; where one chain had finished and another not, the trace has every
    draw and the short chain is padded with NaN. vrest took that for a finished fit and failed on the NaN ("p_na:
    expected finite values", exit 1 or 2, about half of the runs of the two SIGINT tests below): it is Ctrl-C."""
    import numpy as np
    import xarray as xr

    from vrest.inference.nutpie_import import import_nutpie

    def one_chain_short(*args, draws, chains, **kwargs):
        logp = np.full((chains, draws), -40.0)
        logp[1, draws // 2:] = np.nan
        dims, short = ("chain", "draw"), np.isnan(logp)
        coordinates = {name: (dims, np.where(short, np.nan, value))  # ghk's sampling coordinates
                       for name, value in (("S", -2.7), ("rho", 0.0), ("c", 0.0), ("sigma_mv_log__", 1.0))}
        return xr.DataTree.from_dict({"posterior": xr.Dataset(coordinates),
                                      "sample_stats": xr.Dataset({"logp": (dims, logp),
                                                                  "diverging": (dims, np.zeros_like(logp, bool))})})

    monkeypatch.setattr(import_nutpie(), "sample", one_chain_short)
    with pytest.raises(KeyboardInterrupt):
        vrest.fit(pd.read_csv(GELBAND)[["K_o_mM", "V_m_mV"]], "ghk", chains=2, draws=100, tune=100, progress=False)


def test_sigint_during_a_run_exits_130_and_says_what_finished(tmp_path):
    study = _study(tmp_path, "models = [\"ghk\"]\ndraws = 1000000\ntune = 1000\nchains = 2\n")
    out = tmp_path / "run"
    code, rest = _interrupt_when_sampling(_vrest("run", str(study), "--out", str(out)))
    assert code == 130, rest
    assert rest[-1] == "vrest: interrupted; finished: none"
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    assert not (out / "fits" / "ghk").exists() and not [p for p in out.rglob(".*")]


def test_sigint_during_a_serial_batch_stops_it_and_keeps_nothing_partial(tmp_path):
    data = tmp_path / "cells.csv"
    table = pd.read_csv(GELBAND)[["K_o_mM", "V_m_mV"]]
    pd.concat([table.assign(recording="a"), table.assign(recording="b")]).to_csv(data, index=False)
    out = tmp_path / "batch"
    proc = _vrest("fit-batch", str(data), "--by", "recording", "--model", "ghk", "--scheduler", "none",
                  "--out", str(out), *LONG)  # fmt: skip
    code, rest = _interrupt_when_sampling(proc, "fit-batch:")
    assert code == 130, rest
    assert rest[-1].startswith("vrest: interrupted; 0 recording(s) fitted and kept")
    assert not list(out.glob("recordings/*")) and not [p for p in out.rglob(".*tmp-*")]
