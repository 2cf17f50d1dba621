"""vrest.traces: ABF/NWB current-clamp traces to resting potentials per solution epoch (``vrest extract``)."""

from __future__ import annotations

import importlib
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from traces_synthetic import make_trace, write_abf1, write_nwb

from vrest.data import load_recordings
from vrest.traces import (
    classify_tag,
    extract_files,
    extract_table,
    open_trace,
    parse_solution_text,
    steady_state,
    write_extraction,
)
from vrest.traces.readers import Tag

REAL = Path(__file__).resolve().parents[1] / "data" / "traces"
AXON = REAL / "File_axon_2.abf"
ABF2 = REAL / "2020_07_29_0062.abf"
needs_real = pytest.mark.skipif(not AXON.is_file(), reason="the real ABF files are not on this machine")
K_LEVELS = (5.0, 10.0, 20.0, 40.0, 2.5)


def _cli(argv: list[str], monkeypatch) -> int:
    """``vrest`` with the extract family registered (as the lead will register it)."""
    cli_main = importlib.import_module("vrest.cli.main")
    monkeypatch.setattr(cli_main, "FAMILIES", (*cli_main.FAMILIES, "extract"))
    return cli_main.main(argv)


def _tagged_abf(path: Path, seed: int, rate_hz: float = 200.0, epoch_s: float = 240.0, **kw):
    """A synthetic ABF whose tags say 'K <level>' at each change; returns the Synthetic."""
    rng = np.random.default_rng(seed)
    plateaus = list(rng.uniform(-85.0, -40.0, len(K_LEVELS)))
    s = make_trace(plateaus, epoch_s, rate_hz, seed, **kw)
    write_abf1(path, s.v, rate_hz, [(t, f"K {k:g}") for t, k in zip(s.starts, K_LEVELS, strict=True)])
    return s


# --------------------------------------------------------------------------- tag syntax


@pytest.mark.parametrize(("text", "expected"), [
    ("K 20", {"K_o_mM": 20.0}), ("K=20", {"K_o_mM": 20.0}), ("20 mM K", {"K_o_mM": 20.0}), ("20K", {"K_o_mM": 20.0}),
    ("[K+]o = 2.5 mM", {"K_o_mM": 2.5}), ("K+: 40mM, Na 105", {"K_o_mM": 40.0, "Na_o_mM": 105.0}),
    ("Na-free", {"Na_o_mM": 0.0}), ("500 uM Ca2+", {"Ca_o_mM": 0.5}), ("high potassium 40", {"K_o_mM": 40.0}),
])  # fmt: skip
def test_tag_comments_are_read_forgivingly(text, expected):
    assert parse_solution_text(text).values == expected


def test_named_solutions_come_from_the_mapping_and_unknown_names_are_errors():
    solutions = {"Na-free": {"K_o_mM": 5.0, "Na_o_mM": 0.0}, "high K": {"K_o_mM": 40.0}}
    assert parse_solution_text("solution: Na-free", solutions).values == {"K_o_mM": 5.0, "Na_o_mM": 0.0}
    assert parse_solution_text("High K", solutions).name == "high K"
    with pytest.raises(ValueError, match="unknown solution 'low Cl'"):
        parse_solution_text("solution: low Cl", solutions)
    assert parse_solution_text("20 mM KCl") is None  # a salt is not an ion


@pytest.mark.parametrize(("text", "kind"), [
    ("Clampex start acquisition", "acquisition marker"), ("Clampex end (1)", "acquisition marker"),
    ("Digital Outputs => 00000001", "digital output"), (r"C:\Axon\rsultats\06-05\05611005.abf", "file path"),
    ("wash", "no solution information"), ("K 20", "solution"),
])  # fmt: skip
def test_tags_without_solution_information_are_recognised(text, kind):
    assert classify_tag(Tag(1.0, text)).kind == kind


# --------------------------------------------------------------------------- accuracy and coverage


def test_known_plateaus_within_half_a_millivolt_and_the_uncertainty_covers_at_its_rate(tmp_path):
    """40 recordings x 5 epochs (noise, AR(1) noise, drift, spikes, 20-60 s transients): 95 % intervals cover."""
    paths, truths = [], []
    for seed in range(40):
        rng = np.random.default_rng(10_000 + seed)
        path = tmp_path / f"cell{seed}.abf"
        s = _tagged_abf(path, seed, drift_mv_per_min=rng.normal(0.0, 0.05), ar_tau_s=rng.uniform(0.5, 5.0))
        paths.append(str(path))
        truths += [s.truth(k, 60.0) for k in range(len(K_LEVELS))]
    table, settings = extract_table(paths)
    error = table["V_m_mV"].to_numpy() - np.array(truths)
    z = error / table["sem_mV"].to_numpy()
    assert len(table) == 200
    assert np.abs(error).max() < 0.5
    assert 0.90 <= np.mean(np.abs(z) < 1.959964) <= 0.99
    assert not table["excluded"].any()
    assert list(table["K_o_mM"][:5]) == list(K_LEVELS)
    assert table["spikes_removed"].sum() > 100
    assert settings["files"][0]["epoch_source"] == "tags"


def test_an_epoch_that_never_settles_is_flagged_and_excluded_unless_included(tmp_path):
    path = tmp_path / "slow.abf"
    _tagged_abf(path, 3, unsettled=(2,))
    table, _ = extract_table([path])
    assert "unsettled" in table["flags"][2] and table["excluded"][2]
    assert not table["excluded"].drop(index=2).any()
    included, settings = extract_table([path], include_unsettled=True)
    assert not included["excluded"].any() and settings["include_unsettled"] is True
    loaded = load_recordings(table)  # the table loads; the loader leaves the excluded epoch out, saying so
    assert len(loaded.table) == 4 and any("marked excluded were left out" in n and "unsettled" in n
                                          for n in loaded.notes)  # fmt: skip


def test_twenty_minutes_at_10_khz_in_well_under_a_second_per_epoch(tmp_path):
    path = tmp_path / "long.abf"
    _tagged_abf(path, 5, rate_hz=10_000.0)
    t0 = time.perf_counter()
    result = extract_files([path], figures=True)
    wall = time.perf_counter() - t0
    seconds = result.settings["files"][0]["seconds"]
    print(f"20 min at 10 kHz (12e6 samples): {seconds['max_epoch_s']:.3f} s per epoch at most "
          f"(mean {seconds['mean_epoch_s']:.3f} s), whole file with figure {wall:.2f} s")  # fmt: skip
    assert seconds["max_epoch_s"] < 1.0
    assert result.figures and next(iter(result.figures.values()))[:4] == b"\x89PNG"


# --------------------------------------------------------------------------- real recordings


@needs_real
def test_real_abf_tags_are_read_at_their_times_and_recognised_as_markers():
    with open_trace(AXON) as trace:
        assert (trace.channel, trace.rate_hz, trace.n_samples) == ("10Vm", 1000.0, 1_200_000)
        times = [t.time_s for t in trace.tags]
        kinds = [classify_tag(t).kind for t in trace.tags]
    assert times == pytest.approx([26.765, 426.701, 426.701, 625.373])
    assert kinds == ["acquisition marker", "file path", "acquisition marker", "acquisition marker"]
    with pytest.raises(ValueError, match="File_axon_2.abf: no solution epochs .*acquisition marker"):
        extract_table([AXON])


@needs_real
def test_real_abf_spikes_are_removed_and_counted_and_the_drift_reported(tmp_path):
    epochs = tmp_path / "epochs.csv"
    epochs.write_text("file,start_s,solution,K_o_mM\nFile_axon_2.abf,0,control,5\nFile_axon_2.abf,625.373,test,10\n")
    result = extract_files([AXON], epochs=epochs, figures=True)
    table = result.table
    assert table["drift_mV_per_min"].notna().all() and table["drift_mV_per_min"][0] > 0.5  # the slow depolarisation
    assert "unsettled" in table["flags"][0] and table["flags"][1] == ""
    with open_trace(AXON) as trace:
        for k in (0, 1):
            start, stop = table["window_start_s"][k], table["window_stop_s"][k]
            window = trace.read(trace.index(start), trace.index(stop))
            r = steady_state(window, trace.rate_hz, (start, stop), max_drift=0.5)
            times = start + np.flatnonzero(window > -30.0) / trace.rate_hz  # the large events (peaks near 0 mV)
            big = 1 + int(np.sum(np.diff(times) > 2.0))
            assert all(any(a <= t < b for a, b in r.spikes) for t in times)  # every large event removed ...
            assert table["spikes_removed"][k] == len(r.spikes) >= big  # ... and counted (with smaller events)
    assert big == 6 and table["spikes_removed"][1] == 6
    assert table["V_m_mV"][1] == pytest.approx(np.median(window), abs=0.5)  # not pulled up by the spikes
    assert table["V_m_mV"][1] < np.mean(window)
    out = write_extraction(table, result.figures, tmp_path / "axon.csv", False, result.settings)
    assert (tmp_path / "axon_figures" / "001_File_axon_2.png").stat().st_size > 20_000
    assert load_recordings(out).table["V_m_mV"].notna().all()


@needs_real
def test_the_voltage_channel_is_chosen_by_its_unit_or_by_name():
    with open_trace(ABF2) as trace:
        assert (trace.channel, trace.unit, trace.rate_hz) == ("Potential", "mV", 10_000.0)
    with open_trace(ABF2, channel="0") as trace:
        assert trace.channel == "Potential"
    with pytest.raises(ValueError, match="2020_07_29_0062.abf: channel 'I_Com' is in pA, not a voltage"), \
            open_trace(ABF2, channel="I_Com"):
        pass


# --------------------------------------------------------------------------- NWB


def test_nwb_with_an_epochs_table_gives_the_table_of_the_abf_with_an_epoch_csv(tmp_path):
    pytest.importorskip("pynwb")
    rate = 200.0
    s = make_trace([-70.0, -60.0, -52.0], 200.0, rate, 7)
    (tmp_path / "abf").mkdir()
    (tmp_path / "nwb").mkdir()
    abf = tmp_path / "abf" / "cell.abf"
    write_abf1(abf, s.v, rate)
    with open_trace(abf) as trace:
        exact = trace.read(0, trace.n_samples)  # the ABF's digitised values, stored in the NWB file too
    rows = [{"start_time": t, "stop_time": t + 200.0, "solution": name, "K_o_mM": k}
            for t, name, k in zip(s.starts, ("control", "K10", "K20"), (5.0, 10.0, 20.0), strict=True)]  # fmt: skip
    nwb = tmp_path / "nwb" / "cell.nwb"
    write_nwb(nwb, exact, rate, rows)
    epochs = tmp_path / "epochs.csv"
    pd.DataFrame([{"file": "cell.abf", "start_s": r["start_time"], "stop_s": r["stop_time"], "solution": r["solution"],
                   "K_o_mM": r["K_o_mM"]} for r in rows]).to_csv(epochs, index=False)  # fmt: skip
    from_abf, _ = extract_table([abf], epochs=epochs)
    from_nwb, settings = extract_table([nwb])
    assert settings["files"][0]["epoch_source"] == "NWB epochs table"
    different = ["file", "source"]
    pd.testing.assert_frame_equal(from_abf.drop(columns=different), from_nwb.drop(columns=different), rtol=1e-9)


# --------------------------------------------------------------------------- bad input: one line, nothing written


@pytest.fixture
def good_abf(tmp_path) -> Path:
    path = tmp_path / "good.abf"
    s = make_trace([-70.0, -60.0], 120.0, 200.0, 1)
    write_abf1(path, s.v, 200.0, [(0.0, "K 5"), (120.0, "K 10")])
    return path


def _bad_cases(tmp_path: Path, good: Path) -> dict[str, tuple[list[str], str]]:
    data = good.read_bytes()
    (tmp_path / "cut.abf").write_bytes(data[: len(data) // 2])  # the tags after the data are lost too
    write_abf1(tmp_path / "untagged.abf", np.zeros(20_000), 200.0)
    (tmp_path / "truncated.abf").write_bytes((tmp_path / "untagged.abf").read_bytes()[:30_000])
    (tmp_path / "corrupt.abf").write_bytes(b"ABF " + bytes(range(256)) * 4)
    (tmp_path / "noise.abf").write_bytes(b"not a recording at all" * 50)
    (tmp_path / "corrupt.nwb").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 500)
    write_abf1(tmp_path / "current.abf", np.zeros(2000), 200.0, [(0.0, "K 5")], units="pA", name="Im")
    (tmp_path / "outside.csv").write_text(f"file,start_s,stop_s,K_o_mM\n{good.name},0,100,5\n{good.name},400,,10\n")
    (tmp_path / "overlap.csv").write_text(f"file,start_s,stop_s,K_o_mM\n{good.name},0,100,5\n{good.name},90,,10\n")
    (tmp_path / "other.csv").write_text("file,start_s,K_o_mM\nelsewhere.abf,0,5\n")
    return {
        "truncated": (["truncated.abf"], "truncated.abf: truncated ABF file"),
        "cut": (["cut.abf"], "cut.abf: not a readable ABF file, damaged or truncated"),
        "corrupt": (["corrupt.abf"], "corrupt.abf: not a readable ABF file"),
        "not abf": (["noise.abf"], "noise.abf: not a readable ABF file"),
        "corrupt nwb": (["corrupt.nwb"], "corrupt.nwb: not a readable NWB file"),
        "no voltage": (["current.abf"], "current.abf: no voltage channel"),
        "outside": (["good.abf", "--epochs", "outside.csv"], "good.abf: epoch at 400 s .* starts outside"),
        "overlap": (["good.abf", "--epochs", "overlap.csv"], "good.abf: overlapping epochs"),
        "unknown file": (["good.abf", "--epochs", "other.csv"], "other.csv: file 'elsewhere.abf' is not among"),
    }


@pytest.mark.parametrize("case", ["truncated", "cut", "corrupt", "not abf", "corrupt nwb", "no voltage", "outside",
                                  "overlap", "unknown file"])  # fmt: skip
def test_bad_input_is_one_line_and_nothing_is_written(case, tmp_path, good_abf, monkeypatch, capsys):
    argv, message = _bad_cases(tmp_path, good_abf)[case]
    if case == "corrupt nwb":
        pytest.importorskip("pynwb")
    monkeypatch.chdir(tmp_path)
    assert _cli(["extract", *argv, "--out", "out.csv"], monkeypatch) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if line.startswith("vrest: error:")]) == 1
    assert re.search(message, err[-1]), err[-1]
    assert not any((tmp_path / name).exists() for name in ("out.csv", "out.json", "out_figures"))


def test_an_unknown_solution_name_is_an_error_when_solutions_are_given(tmp_path, good_abf):
    epochs = tmp_path / "epochs.csv"
    epochs.write_text(f"file,start_s,solution\n{good_abf.name},0,control\n{good_abf.name},120,Na-free\n")
    with pytest.raises(ValueError, match=r"row 3: unknown solution 'Na-free'; expected one of .*control"):
        extract_table([good_abf], epochs=epochs, solutions={"control": {"K_o_mM": 5.0}})
    solutions = {"control": {"K_o_mM": 5.0, "Na_o_mM": 140.0}, "Na-free": {"K_o_mM": 5.0, "Na_o_mM": 0.1}}
    table, settings = extract_table([good_abf], epochs=epochs, solutions=solutions)
    assert list(table["condition"]) == ["control", "Na-free"] and list(table["Na_o_mM"]) == [140.0, 0.1]
    assert settings["solutions"] == solutions


def test_without_pynwb_one_line_says_how_to_install_it(tmp_path, monkeypatch):
    path = tmp_path / "x.nwb"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    monkeypatch.setitem(sys.modules, "pynwb", None)
    with pytest.raises(ValueError, match=r'x.nwb: reading NWB files needs pynwb; install it with: pip install "vrest\[nwb\]"'):
        extract_table([path])


# --------------------------------------------------------------------------- writing


def test_outputs_are_written_whole_and_force_replaces_only_a_vrest_extraction(tmp_path, good_abf, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert _cli(["extract", "good.abf", "--out", "t.csv"], monkeypatch) == 0
    marker = json.loads((tmp_path / "t.json").read_text())
    assert marker["generator"] == "vrest extract" and marker["figure_files"] == ["001_good.png"]
    assert (tmp_path / "t_figures" / "001_good.png").is_file()
    loaded = load_recordings(tmp_path / "t.csv")
    assert list(loaded.table["K_o_mM"]) == [5.0, 10.0] and list(loaded.table["cell"]) == ["good", "good"]
    assert _cli(["extract", "good.abf", "--out", "t.csv"], monkeypatch) == 2
    assert "t.csv exists; use --force" in capsys.readouterr().err
    assert _cli(["extract", "good.abf", "--out", "t.csv", "--force", "--no-figures"], monkeypatch) == 0
    assert not (tmp_path / "t_figures").exists()
    (tmp_path / "mine.csv").write_text("my,own\n1,2\n")
    assert _cli(["extract", "good.abf", "--out", "mine.csv", "--force"], monkeypatch) == 2
    assert "not part of a vrest extraction" in capsys.readouterr().err
    assert (tmp_path / "mine.csv").read_text() == "my,own\n1,2\n"
    assert _cli(["extract", "good.abf", "--out", "good.csv", "--epochs", "good.csv"], monkeypatch) == 2


def test_many_files_on_a_local_cluster_give_the_serial_table(tmp_path):
    paths = []
    for seed in range(3):
        path = tmp_path / f"c{seed}.abf"
        s = make_trace([-70.0, -55.0], 120.0, 200.0, seed)
        write_abf1(path, s.v, 200.0, [(0.0, "K 5"), (120.0, "K 20")])
        paths.append(path)
    serial, _ = extract_table(paths)
    parallel, _ = extract_table(paths, scheduler="local", workers=2)
    pd.testing.assert_frame_equal(serial, parallel)
    assert list(serial["cell"].unique()) == ["c0", "c1", "c2"]
