"""Recordings -> seeded fit jobs, and the function a worker runs for one of them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from ..data import Recordings
from ..inference.fit import FitResult, FitSettings, fit
from ..seeding import check_seed, child_seed


def job_seed(run_seed: int, name: str) -> int:
    """The seed of job ``name`` in a run seeded ``run_seed``: fixed by the two, whatever the order or workers."""
    return child_seed(check_seed(run_seed, "--seed"), name)


def settings_fingerprint(settings: FitSettings) -> str:
    """sha256 of everything that defines a fit besides the data (not how it runs: progress, threads)."""
    fields = dataclasses.asdict(settings)
    for name in ("progress", "cores"):
        fields.pop(name)
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class FitJob:
    """One recording to fit, with its own seed and the fingerprint that recognises its finished result."""

    recording: str
    data: Recordings
    settings: FitSettings  # seed: this job's own

    @property
    def fingerprint(self) -> str:
        text = f"{self.recording}\n{self.data.sha256}\n{settings_fingerprint(self.settings)}"
        return hashlib.sha256(text.encode()).hexdigest()


def fit_job(recording: str, data: Recordings, settings: FitSettings, run_seed: int, cores: int) -> FitJob:
    """The job fitting ``data`` as recording ``recording`` of a run seeded ``run_seed``."""
    own = dataclasses.replace(settings, seed=job_seed(run_seed, recording), progress=False, cores=cores)
    return FitJob(recording, data, own)


def run_fit_job(job: FitJob) -> FitResult:
    """Fit one recording (in a worker); the timings name the worker that did it."""
    result = fit(job.data, job.settings)
    result.timings["worker"] = _worker_name()
    return result


def _worker_name() -> str:
    try:
        from dask.distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return "serial"
