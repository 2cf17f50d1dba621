"""Batch fitting on Dask: identical to serial, failures isolated, resumable after a kill, seeds, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import vrest
from vrest.batch import job_seed
from vrest.cli import main
from vrest.folders import folder_name

FAST = ["--model", "ghk", "--k-replaces-na", "--chains", "2", "--draws", "200", "--tune", "200", "--seed", "0"]


def recordings_csv(path: Path, n: int, *, malformed: bool = False) -> Path:
    """n synthetic single-cell recordings (GHK + pump, K+ replacing Na+), optionally one malformed."""
    rng = np.random.default_rng(7)
    k_o = np.array([2.0, 4.0, 8.0, 16.0, 32.0, 64.0])
    frames = []
    for r in range(n):
        v = vrest.predict("ghk", k_o=k_o, na_o=145 - k_o, p_na=0.05 * np.exp(rng.normal(0, 0.3)), p_cl=0.3, pump_mv=-3.0)
        frames.append(pd.DataFrame({"recording": f"cell {r}", "K_o_mM": k_o, "V_m_mV": np.round(v + rng.normal(0, 1, 6), 3)}))
    table = pd.concat(frames, ignore_index=True).astype({"V_m_mV": object})
    if malformed:
        table.loc[len(table)] = {"recording": "broken", "K_o_mM": 5.0, "V_m_mV": "n/a"}
        table.loc[len(table)] = {"recording": "broken", "K_o_mM": 10.0, "V_m_mV": -60.0}
    table.to_csv(path, index=False)
    return path


def test_local_cluster_gives_bit_identical_results_to_serial_and_isolates_a_bad_recording(tmp_path, capsys):
    data = recordings_csv(tmp_path / "cells.csv", 8, malformed=True)
    args = [str(data), "--by", "recording", *FAST]
    assert main(["fit-batch", *args, "--out", str(tmp_path / "serial"), "--scheduler", "none"]) == 1  # one failed
    assert main(["fit-batch", *args, "--out", str(tmp_path / "dask"), "--scheduler", "local", "--workers", "2"]) == 1
    serial, dask = tmp_path / "serial", tmp_path / "dask"
    assert (serial / "batch_summary.csv").read_bytes() == (dask / "batch_summary.csv").read_bytes()
    summary = pd.read_csv(dask / "batch_summary.csv")
    assert sorted(summary["recording"].unique()) == [f"cell {r}" for r in range(8)]
    assert {"recording", "parameter", "mean", "sd", "q5", "q95", "r_hat", "ess_bulk"} <= set(summary.columns)
    failures = pd.read_csv(dask / "failures.csv")
    assert failures["recording"].tolist() == ["broken"]
    assert "row 50" in failures["reason"][0] and "V_m_mV" in failures["reason"][0]
    for folder in (folder_name("cell 0"), folder_name("cell 5")):  # the draws themselves, not only their summaries
        a = xr.open_datatree(serial / "recordings" / folder / "posterior.nc", engine="h5netcdf")
        b = xr.open_datatree(dask / "recordings" / folder / "posterior.nc", engine="h5netcdf")
        for name in ("p_na", "p_cl", "pump_mv", "sigma_mv"):
            np.testing.assert_array_equal(a.posterior[name].values, b.posterior[name].values)
    timings = pd.read_csv(dask / "timings.csv")
    assert timings["worker"].nunique() <= 2
    compiled = timings[timings["compile_s"] > 0]
    assert len(compiled) <= timings["worker"].nunique()  # compilation paid once per worker, not per recording
    # a lone `vrest fit` of one recording with its batch seed draws exactly what the batch drew
    seed = json.loads((serial / "recordings" / folder_name("cell 5") / "fit.json").read_text())["seed"]
    lone = tmp_path / "cell5.csv"
    pd.read_csv(data).query("recording == 'cell 5'").drop(columns="recording").to_csv(lone, index=False)
    assert main(["fit", str(lone), *FAST[:-1], str(seed), "--out", str(tmp_path / "lone")]) == 0
    a = xr.open_datatree(serial / "recordings" / folder_name("cell 5") / "posterior.nc", engine="h5netcdf")
    b = xr.open_datatree(tmp_path / "lone" / "posterior.nc", engine="h5netcdf")
    np.testing.assert_array_equal(a.posterior["pump_mv"].values, b.posterior["pump_mv"].values)


def test_a_killed_batch_resumes_without_refitting_finished_recordings(tmp_path, capsys):
    data = recordings_csv(tmp_path / "cells.csv", 8)
    out = tmp_path / "batch"
    slow = [str(data), "--by", "recording", *FAST, "--chains", "4", "--draws", "1500", "--tune", "1000", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "vrest.cli", "fit-batch", *slow, "--scheduler", "local", "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 600
    def written() -> list[Path]:  # result folders, not one still being written (.<name>.tmp-*: glob matches it too)
        return [p for p in out.glob("recordings/*/fit.json") if not p.parent.name.startswith(".")]

    while len(written()) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in written()}
    assert 2 <= len(finished) < 8, "the kill should land midway"
    assert main(["fit-batch", *slow, "--scheduler", "none"]) == 0
    err = capsys.readouterr().err
    assert f"{len(finished)} already fitted (kept), {8 - len(finished)} to fit" in err
    for name, mtime in finished.items():  # not refitted, not rewritten
        assert (out / "recordings" / name / "fit.json").stat().st_mtime_ns == mtime
    assert pd.read_csv(out / "batch_summary.csv")["recording"].nunique() == 8
    assert not list(out.glob("**/.*tmp-*")), "no half-written files or folders remain"
    assert main(["fit-batch", *slow, "--scheduler", "none"]) == 0  # a third run fits nothing
    assert "8 already fitted (kept), 0 to fit" in capsys.readouterr().err


def test_job_seeds_are_fixed_by_run_seed_and_recording_only():
    assert job_seed(0, "a") == job_seed(0, "a")  # seed 0 is a seed
    assert len({job_seed(0, "a"), job_seed(1, "a"), job_seed(0, "b")}) == 3
    assert all(0 <= job_seed(s, "cell") < 2**63 for s in (0, 1, 2**40))
    with pytest.raises(ValueError, match="--seed"):
        job_seed(-1, "a")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--by", "nope"], "--by: "),
        (["--scheduler", "carrier-pigeon"], "--scheduler: "),
        (["--model", "banana"], "--model: "),
        (["--workers", "0", "--scheduler", "local"], "--workers: "),
        (["--scheduler", "tcp://127.0.0.1:9"], "--scheduler: could not connect"),  # nothing listens on port 9
    ],
)
def test_bad_flags_give_one_line_errors_and_write_nothing(tmp_path, capsys, extra, message):
    data = recordings_csv(tmp_path / "cells.csv", 2)
    args = [str(data), "--by", "recording", *FAST, "--out", str(tmp_path / "out"), *extra]
    assert main(["fit-batch", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_other_settings_or_changed_data_never_overwrite_without_force(tmp_path, capsys):
    data = recordings_csv(tmp_path / "cells.csv", 2)
    out = tmp_path / "out"
    base = [str(data), "--by", "recording", *FAST, "--out", str(out), "--scheduler", "none"]
    assert main(["fit-batch", *base]) == 0
    before = (out / "batch_summary.csv").read_bytes()
    assert main(["fit-batch", *base, "--seed", "1"]) == 2
    assert "other settings or seed" in capsys.readouterr().err
    table = pd.read_csv(data)
    table.loc[0, "V_m_mV"] = float(table.loc[0, "V_m_mV"]) + 1.0
    table.to_csv(data, index=False)
    assert main(["fit-batch", *base]) == 2
    assert "cell 0" in capsys.readouterr().err and (out / "batch_summary.csv").read_bytes() == before
    assert main(["fit-batch", *base, "--force"]) == 0
    assert (out / "batch_summary.csv").read_bytes() != before


def test_a_folder_of_files_is_a_batch(tmp_path, capsys):
    folder = tmp_path / "files"
    folder.mkdir()
    table = pd.read_csv(recordings_csv(tmp_path / "cells.csv", 2))
    for name, group in table.groupby("recording"):
        group.drop(columns="recording").to_csv(folder / f"{name.replace(' ', '_')}.csv", index=False)
    (folder / "empty.csv").write_text("K_o_mM,V_m_mV\n")
    out = tmp_path / "out"
    assert main(["fit-batch", "--dir", str(folder), *FAST, "--out", str(out), "--scheduler", "none"]) == 1
    assert sorted(pd.read_csv(out / "batch_summary.csv")["recording"].unique()) == ["cell_0", "cell_1"]
    failures = pd.read_csv(out / "failures.csv")
    assert failures["recording"].tolist() == ["empty"] and "no data rows" in failures["reason"][0]
    info = json.loads((out / "recordings" / folder_name("cell_0") / "fit.json").read_text())
    assert info["seed"] == job_seed(0, "cell_0") and info["batch"]["recording"] == "cell_0"


def test_a_recording_folder_still_being_written_is_not_finished(tmp_path):
    """A killed or running writer's temporary sibling (``.<name>.tmp-<pid>-*``, matched by pathlib's glob) holds a
    fit.json too; only the folder renamed into place counts as a finished recording."""
    from vrest.folders import BatchFolder

    batch = BatchFolder(tmp_path / "out", {"settings_fingerprint": "s"}, force=False)
    for folder, recording in (("cell_1", "cell 1"), (f".cell_2.tmp-{os.getpid()}-x", "cell 2")):
        (batch.recordings / folder).mkdir()
        (batch.recordings / folder / "fit.json").write_text(json.dumps({"batch": {"recording": recording,
                                                                                  "fingerprint": "f"}}))  # fmt: skip
    assert batch.finished() == {"cell 1": ("cell_1", "f")}
