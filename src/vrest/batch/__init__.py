"""Many independent jobs (fits of many recordings, SBC simulations, Sobol' scenarios) on Dask.

:mod:`.engine` runs named jobs serially or on a ``dask.distributed`` cluster and hands
each outcome back as it completes; :mod:`.tasks` turns recordings into seeded fit jobs;
:mod:`.store` keeps the batch folder (one result folder per recording, the summary and
failure tables) resumable; :mod:`.cli` is ``vrest fit-batch``.

The modules load on first use, so importing the command line stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "Failure": "engine",
    "run_jobs": "engine",
    "FitJob": "tasks",
    "job_seed": "tasks",
}

if TYPE_CHECKING:
    from .engine import Failure, run_jobs
    from .tasks import FitJob, job_seed

__all__ = ["Failure", "FitJob", "job_seed", "run_jobs"]


__getattr__ = lazy_exports(__name__, _EXPORTS)
