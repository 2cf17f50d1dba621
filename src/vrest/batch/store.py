"""The batch folder: one fit folder per recording, and the tables that sum them up.

    DIR/batch.json           run settings, seed and their fingerprint
    DIR/recordings/<name>/   a `vrest fit` folder per recording (fit.json says which job made it)
    DIR/batch_summary.csv    recording, parameter, mean, sd, q5, q50, q95, r_hat, ess_bulk, ...
    DIR/failures.csv         recording, reason
    DIR/timings.csv          recording, worker, compile_s, sample_s, total_s

Every file appears whole or not at all (temporary file or folder, then a rename), so a
killed run leaves finished recordings intact and nothing half-written; they are
recognised on the next run by their job fingerprint (data hash and settings).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd

from .._atomic import OutputExistsError, write_text

SUMMARY_COLUMNS = ["recording", "parameter", "mean", "sd", "q5", "q50", "q95", "r_hat", "ess_bulk", "ess_tail",
                   "contraction", "divergences", "diagnostics", "seed", "folder"]  # fmt: skip
TIMING_COLUMNS = ["recording", "worker", "compile_s", "sample_s", "total_s"]


def folder_names(recordings: list[str]) -> dict[str, str]:
    """A file-system-safe, unique folder name for each recording id."""
    names: dict[str, str] = {}
    for rec in sorted(recordings):
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", rec).strip("._") or "recording"
        name, k = base, 1
        while name.lower() in {n.lower() for n in names.values()}:
            k += 1
            name = f"{base}-{k}"
        names[rec] = name
    return names


class BatchFolder:
    """The output folder of one ``fit-batch`` run (created, or resumed when its settings match)."""

    def __init__(self, out: str | os.PathLike, info: dict, force: bool) -> None:
        self.out = Path(out)
        self.recordings = self.out / "recordings"
        self.force = force
        self._open(info)

    def _open(self, info: dict) -> None:
        marker = self.out / "batch.json"
        if marker.exists() and not self.force:
            old = json.loads(marker.read_text())
            if old.get("settings_fingerprint") != info["settings_fingerprint"]:
                raise OutputExistsError(f"--out: {self.out} holds a batch run with other settings or seed; "
                                        "use --force to refit every recording, or another --out")  # fmt: skip
        elif self.out.exists() and any(self.out.iterdir()) and not marker.exists() and not self.force:
            raise OutputExistsError(f"--out: {self.out} exists and is not a vrest batch folder; use --force or another --out")
        self.recordings.mkdir(parents=True, exist_ok=True)
        for folder in (self.out, self.recordings):  # left by a killed run: never a result
            for stale in [*folder.glob(".*.tmp-*"), *folder.glob(".*.old-*")]:
                shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
        write_text(marker, json.dumps(info, indent=1, default=str))

    def finished(self) -> dict[str, str | None]:
        """Recording id -> job fingerprint of every result folder present (None: not made by a batch job)."""
        out = {}
        for fit_json in self.recordings.glob("*/fit.json"):
            batch = json.loads(fit_json.read_text()).get("batch", {})
            out[batch.get("recording", fit_json.parent.name)] = batch.get("fingerprint")
        return out

    def rows(self, folder: str) -> tuple[pd.DataFrame, dict]:
        """Summary rows and the timing row of a finished recording, read back from its folder."""
        where = self.recordings / folder
        info = json.loads((where / "fit.json").read_text())
        summary = pd.read_csv(where / "summary.csv")
        summary.insert(0, "recording", info["batch"]["recording"])
        problems = info["diagnostics"]["problems"]
        summary["divergences"] = info["diagnostics"]["divergences"]
        summary["diagnostics"] = "; ".join(problems) if problems else "ok"
        summary["seed"] = info["seed"]
        summary["folder"] = f"recordings/{folder}"
        times = info["wall_time_s"]
        timing = {"recording": info["batch"]["recording"], "worker": times.get("worker", ""),
                  **{k: times.get(k) for k in ("compile_s", "sample_s")}, "total_s": times.get("total_s")}  # fmt: skip
        return summary[SUMMARY_COLUMNS], timing

    def write_tables(self, summaries: dict[str, pd.DataFrame], timings: dict[str, dict], failures: dict[str, str]) -> None:
        """batch_summary.csv, timings.csv and failures.csv, sorted by recording, each replaced atomically."""
        frames = [summaries[k] for k in sorted(summaries)]
        summary = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SUMMARY_COLUMNS)
        write_text(self.out / "batch_summary.csv", summary.to_csv(index=False, lineterminator="\n"))
        timing = pd.DataFrame([timings[k] for k in sorted(timings)], columns=TIMING_COLUMNS)
        write_text(self.out / "timings.csv", timing.to_csv(index=False, lineterminator="\n", float_format="%.3f"))
        fail = pd.DataFrame({"recording": sorted(failures), "reason": [failures[k] for k in sorted(failures)]})
        write_text(self.out / "failures.csv", fail.to_csv(index=False, lineterminator="\n"))
