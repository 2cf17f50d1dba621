"""Fits of many recordings, each an independent seeded job on :mod:`vrest.parallel`.

:mod:`vrest.parallel` runs the jobs (serially or on a ``dask.distributed`` cluster); :mod:`.tasks` turns recordings into seeded fit jobs;
:mod:`.store` keeps the batch folder (one result folder per recording, the summary and
failure tables) resumable; :mod:`.cli` is ``vrest fit-batch``.

The modules load on first use, so importing the command line stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "FitJob": "tasks",
    "job_seed": "tasks",
}

if TYPE_CHECKING:
    from .tasks import FitJob, job_seed

__all__ = ["FitJob", "job_seed"]


__getattr__ = lazy_exports(__name__, _EXPORTS)
