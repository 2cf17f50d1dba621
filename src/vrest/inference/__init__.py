"""Bayesian fitting of the resting-potential models: recordings -> design -> PyMC/NUTS -> posterior.

Public face: :func:`fit` (also ``vrest.fit``), :class:`~.fit.FitSettings`, :class:`~.fit.FitResult`.
Reading and writing fit folders is :mod:`vrest.folders`; the commands are :mod:`vrest.cli.fit`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..data import Recordings
    from .fit import FitResult


def fit(recordings: Recordings | str | os.PathLike, model: str = "ghk", *, progress: bool = False,
        **settings: Any) -> FitResult:  # fmt: skip
    """Fit ``model`` to ``recordings`` (a :class:`vrest.data.Recordings` or the path of a CSV file).

    ``settings``: any :class:`~vrest.inference.fit.FitSettings` field (seed, preset, chains, draws,
    tune, likelihood, no_pump, fixed, conditions, uncertain, priors, hierarchical, g_tot_ns);
    seed defaults to 0. Returns a :class:`~vrest.inference.fit.FitResult`: ``.posterior`` (an
    ArviZ DataTree), ``.summary`` (a table with R-hat and ESS), ``.diagnostics`` and ``.problems``.
    """
    from ..data import Recordings, load_recordings
    from .fit import FitSettings
    from .fit import fit as run_fit

    data = recordings if isinstance(recordings, Recordings) else load_recordings(recordings)
    return run_fit(data, FitSettings(model=model, **({"seed": 0} | settings), progress=progress))


__all__ = ["fit"]
