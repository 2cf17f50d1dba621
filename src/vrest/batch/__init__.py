"""Fits of many recordings, each an independent seeded job on :mod:`vrest.parallel`.

:mod:`.tasks` turns recordings into seeded fit jobs; :mod:`vrest.parallel` runs them (serially
or on a ``dask.distributed`` cluster); :class:`vrest.folders.BatchFolder` keeps the batch folder
resumable; the command is ``vrest fit-batch`` (:mod:`vrest.cli.batch`).

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
