"""Scenarios as data, bad input refused naming the file/key/flag, and the `vrest sensitivity` command's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vrest
from vrest.cli import main
from vrest.sensitivity import bundled_names, bundled_scenario, scenario_file, sobol_analysis
from vrest.sensitivity.sampling import checked_n


def run_cli(argv: list[str]) -> int:
    """`vrest ...` through vrest.cli.main."""
    return main(argv)


GOOD = """
model = "ghk"
source = "test"
[inputs.k_o]
dist = "uniform"
low = 2.0
high = 3.5
[inputs.p_na]
dist = "truncnorm"
mean = 0.04
sd = 0.01
low = 0.01
high = 0.08
[inputs.temp_c]
dist = "normal"
mean = 37.0
sd = 0.5
[fixed]
k_i = 140.0
"""


def write(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- bundled scenarios -----------------------------------------------------------------------------


def test_bundled_kalaemia_presets_have_the_clinical_k_o_ranges_and_sources():
    assert bundled_names() == ["hyperkalaemia", "hypokalaemia", "normokalaemia"]
    ranges = {"hypokalaemia": (2.0, 3.5), "normokalaemia": (3.5, 5.0), "hyperkalaemia": (5.5, 8.0)}
    for name, (lo, hi) in ranges.items():
        for model in vrest.MODELS:
            s = bundled_scenario(name, model)
            k_o = next(x for x in s.inputs if x.name == "k_o")
            assert (k_o.dist.low, k_o.dist.high) == (lo, hi)
            assert s.source and all(x.source for x in s.inputs), (name, model)
            assert len(s.inputs) >= 9
            assert all(lo <= k <= hi for k in s.k_o_grid)
    temp = next(x for x in bundled_scenario("normokalaemia").inputs if x.name == "temp_k")
    assert (temp.dist.low, temp.dist.high) == pytest.approx((309.15, 311.15))


@pytest.mark.parametrize(
    ("us", "uk"),
    [("hypokalemia", "hypokalaemia"), ("Hyperkalemia", "hyperkalaemia"), ("normokalemia", "normokalaemia")],
)
def test_us_spellings_are_aliases(us, uk):
    assert bundled_scenario(us).name == uk


def test_scenario_file_with_every_kind_of_input(tmp_path):
    s = scenario_file(write(tmp_path, GOOD))
    assert s.name == "scenario" and s.model == "ghk"
    assert [x.name for x in s.inputs] == ["k_o", "p_na", "temp_k"]
    assert s.inputs[2].dist.mean == pytest.approx(310.15)
    assert dict(s.fixed) == {"k_i": 140.0}
    assert scenario_file(write(tmp_path, GOOD), "mullins-noda").model == "mullins-noda"  # the flag wins


def test_extends_and_groups(tmp_path):
    text = """
extends = "hypokalaemia"
k_o_grid = [2.0, 3.0]
[inputs.na_i]
dist = "uniform"
low = 5.0
high = 15.0
group = "intracellular"
[inputs.cl_i]
dist = "uniform"
low = 4.0
high = 30.0
group = "intracellular"
"""
    s = scenario_file(write(tmp_path, text), "ghk")
    k_o = next(x for x in s.inputs if x.name == "k_o")
    assert (k_o.dist.low, k_o.dist.high) == (2.0, 3.5)
    assert s.k_o_grid == (2.0, 3.0)
    res = sobol_analysis(None, s, seed=0, n=32, k_o_grid=())
    assert "intracellular" in set(res.indices["input"]) and "cl_i" not in set(res.indices["input"])


# --- bad input: one line naming the file and key ----------------------------------------------------


BAD = [
    ('[inputs.k_oo]\ndist = "uniform"\nlow = 1\nhigh = 2', "inputs.k_oo: unknown input"),
    (
        '[inputs.k_o]\ndist = "uniform"\nlow = 3.5\nhigh = 2.0',
        "inputs.k_o: low = 3.5 and high = 2 make an inverted range",
    ),
    (
        '[inputs.k_o]\ndist = "uniform"\nlow = 3.5\nhigh = 3.5',
        "inputs.k_o: low = 3.5 and high = 3.5 make an empty range",
    ),
    (
        '[inputs.k_o]\ndist = "beta"\nlow = 1\nhigh = 2',
        "inputs.k_o.dist: expected one of uniform, normal, truncnorm, lognormal",
    ),
    ('[inputs.k_o]\ndist = "uniform"\nlow = 1', "inputs.k_o.high: missing"),
    ('[inputs.k_o]\ndist = "uniform"\nlow = 1\nhihg = 2', "inputs.k_o.hihg: not a parameter of uniform"),
    ('[inputs.k_o]\ndist = "uniform"\nlow = -1\nhigh = 2', "inputs.k_o: uniform reaches -1"),
    ('[inputs.p_na]\ndist = "normal"\nmean = 0.04\nsd = 0.02', "inputs.p_na: normal reaches"),
    ('[inputs.k_o]\ndist = "normal"\nmean = 4\nsd = 0', "inputs.k_o.sd: expected a positive number"),
    ('[inputs.temp_c]\ndist = "lognormal"\nmedian = 37\nsigma_log = 0.01', "inputs.temp_c: a lognormal in degrees C"),
    ('[inputs.g_na]\ndist = "uniform"\nlow = 0.01\nhigh = 0.02', "inputs.g_na: not an input of model 'ghk'"),
    ('[inputs.k_o]\ndist = "uniform"\nlow = 1\nhigh = 2\n[fixed]\nk_o = 3', "fixed.k_o: also varied"),
    ("[fixed]\nk_i = 140", "inputs: no input varies"),
    ('bogus = 1\n[inputs.k_o]\ndist = "uniform"\nlow = 1\nhigh = 2', "bogus: unknown key"),
    ('k_o_grid = [2, -1]\n[inputs.k_i]\ndist = "uniform"\nlow = 130\nhigh = 150', "k_o_grid: expected positive"),
    (
        '[inputs.k_o]\ndist = "uniform"\nlow = 1\nhigh = 2\n'
        '[models.nosuch.inputs.g_na]\ndist = "uniform"\nlow = 0.01\nhigh = 0.02',
        "models.nosuch: not a model",
    ),
    ('[inputs.k_o\ndist = "uniform"', "not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_scenario_files_are_refused_naming_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as err:
        scenario_file(path, "ghk")
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_n_is_rounded_up_to_a_power_of_two_with_a_warning():
    with pytest.warns(UserWarning, match=r"^n: 1000 is not a power of two.*using 1024"):
        assert checked_n(1000) == 1024
    assert checked_n(4096) == 4096
    for bad in (4, 0, 2.5, "64", True):
        with pytest.raises(ValueError, match="^n:"):
            checked_n(bad)


@pytest.mark.parametrize(
    ("kwargs", "start"),
    [
        ({"model": "nosuch"}, "model:"),
        ({"scenarios": "nosuch"}, "scenario:"),
        ({"seed": -1}, "seed:"),
        ({"seed": 1.5}, "seed:"),
        ({"engine": "fast"}, "engine:"),
        ({"branch": "middle"}, "branch:"),
        ({"k_o_grid": [0.0]}, "k_o_grid:"),
        ({"conf_level": 1.5}, "conf_level:"),
    ],
)
def test_api_errors_name_the_argument(kwargs, start):
    args = {"model": "ghk", "scenarios": "hypokalaemia", "seed": 0, "n": 16, **kwargs}
    with pytest.raises(ValueError, match=f"^{start}"):
        sobol_analysis(args.pop("model"), args.pop("scenarios"), **args)


# --- the command ------------------------------------------------------------------------------------


def test_cli_writes_every_output_atomically(tmp_path, capsys):
    out = tmp_path / "run"
    code = run_cli(["sensitivity", "--model", "ghk", "--scenario", "hypokalemia", "hyperkalaemia", "--n", "64",
                    "--seed", "0", "--out", str(out), "--second-order", "--k-o-grid", "2:8:4", "5.4"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    names = {p.name for p in out.iterdir()}
    for stem in ("indices_bars", "heatmap_k_o", "vrest_distribution", "vrest_vs_k_o"):
        assert {f"{stem}.png", f"{stem}.svg"} <= names
    assert {"indices.csv", "summary.csv", "sensitivity.json"} <= names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary directory left
    table = pd.read_csv(out / "indices.csv", keep_default_na=False)
    assert list(table.columns) == ["scenario", "K_o_mM", "input", "index", "value", "ci_low", "ci_high", "flag"]
    assert set(table["index"]) == {"S1", "ST", "S2", "S1_linear", "ST_dgsm_bound"}
    assert set(table["scenario"]) == {"hypokalaemia", "hyperkalaemia"}
    whole = table[table["K_o_mM"] == ""]
    assert len(whole) and whole["input"][whole["index"] == "S2"].str.contains(":").all()
    per_k_o = pd.to_numeric(table[table["K_o_mM"] != ""]["K_o_mM"])
    assert sorted(set(per_k_o)) == [2.0, 4.0, 5.4, 6.0, 8.0]
    info = json.loads((out / "sensitivity.json").read_text())
    assert info["settings"]["seed"] == 0 and info["settings"]["n"] == 64 and info["settings"]["model"] == "ghk"
    assert {"vrest", "numpy", "scipy", "SALib", "pandas", "python"} <= set(info["versions"])
    assert info["runs"][0]["runs_per_level"] == 64 * 22 and info["runs"][0]["failed_runs"] == 0
    assert info["wall_time_s"]["total"] > 0
    assert info["scenarios"][0]["inputs"][0]["source"]
    assert "S1 [95% CI]" in captured.out and "findings:" in captured.out
    assert "vrest: hypokalaemia:" in captured.err  # progress


def test_cli_replaces_only_its_own_results_and_only_when_forced(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    argv = [
        "sensitivity",
        "--scenario",
        "normokalaemia",
        "--n",
        "16",
        "--seed",
        "3",
        "--out",
        str(out),
        "--no-figures",
        "--quiet",
    ]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vrest: error: --out:") and "--force" in err and "\n" not in err
    assert (out / "keep.txt").read_text() == "mine"
    assert run_cli([*argv, "--force"]) == 2  # a folder with the user's files: never replaced
    assert "even with --force" in capsys.readouterr().err and (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    out.rmdir()
    assert run_cli(argv) == 0
    stamp = (out / "sensitivity.json").stat().st_mtime_ns
    assert run_cli(argv) == 2 and (out / "sensitivity.json").stat().st_mtime_ns == stamp
    assert run_cli([*argv, "--force"]) == 0  # an earlier vrest result: replaced
    assert (out / "sensitivity.json").stat().st_mtime_ns != stamp


@pytest.mark.parametrize(
    ("argv", "start"),
    [
        (["--model", "nosuch", "--scenario", "hypokalaemia"], "vrest: error: --model:"),
        (["--model", "ghk", "--scenario", "nosuch"], "vrest: error: --scenario:"),
        (["--model", "ghk"], "vrest: error: --scenario:"),
        (["--model", "ghk", "--scenario", "hypokalaemia", "--n", "4"], "vrest: error: --n:"),
        (["--model", "ghk", "--scenario", "hypokalaemia", "--k-o-grid", "2:x:3"], "vrest: error: --k-o-grid:"),
        (["--model", "ghk", "--scenario", "hypokalaemia", "--engine", "fast"], "vrest: error: --engine:"),
        (["--model", "ghk", "--scenario", "hypokalaemia", "--n", "many"], "vrest sensitivity: argument --n"),
        (["--model", "ghk", "--scenario", "hypokalaemia", "--scheduler", "pigeon"], "vrest: error: --scheduler:"),
        (["--model", "ghk", "--scenario", "hypokalaemia", "--workers", "0"], "vrest: error: --workers:"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, start):
    out = tmp_path / "run"
    assert run_cli(["sensitivity", *argv, "--seed", "0", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(start), err
    assert len(err.splitlines()) == 1
    assert not out.exists() and not list(tmp_path.iterdir())


def test_cli_bad_scenario_file_names_the_file_and_key(tmp_path, capsys):
    path = write(tmp_path, '[inputs.k_o]\ndist = "uniform"\nlow = 3.5\nhigh = 2.0')
    out = tmp_path / "run"
    code = run_cli(
        ["sensitivity", "--model", "ghk", "--scenario-file", str(path), "--seed", "0", "--out", str(out), "--quiet"]
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"vrest: error: {path}: inputs.k_o:") and len(err.splitlines()) == 1
    assert not out.exists()


def test_cli_warns_and_rounds_n(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["sensitivity", "--model", "chord", "--scenario", "normokalaemia", "--n", "20", "--seed", "0",
            "--out", str(out), "--k-o-grid", "off", "--no-figures", "--quiet"]  # fmt: skip
    assert run_cli(argv) == 0
    assert "vrest: warning: --n: 20 is not a power of two" in capsys.readouterr().err
    assert json.loads((out / "sensitivity.json").read_text())["settings"]["n"] == 32
    assert not pd.read_csv(out / "indices.csv")["K_o_mM"].notna().any()


def test_cli_numbers_equal_the_api_numbers(tmp_path):
    out = tmp_path / "run"
    argv = ["sensitivity", "--scenario", "hypokalaemia", "--model", "rectifying-kir", "--n", "32", "--seed", "0",
            "--out", str(out), "--no-figures", "--quiet"]  # fmt: skip
    assert run_cli(argv) == 0
    api = sobol_analysis("rectifying-kir", "hypokalaemia", n=32, seed=0)
    from_cli = pd.read_csv(out / "indices.csv", keep_default_na=False)
    assert from_cli["flag"].tolist() == api.indices["flag"].tolist()
    np.testing.assert_array_equal(from_cli["value"].to_numpy(float), api.indices["value"].to_numpy())
    second = tmp_path / "again"
    assert run_cli([*argv[:-4], "--out", str(second), "--no-figures", "--quiet"]) == 0
    assert (out / "indices.csv").read_bytes() == (second / "indices.csv").read_bytes()
