"""Raw current-clamp recordings (ABF 1/2, NWB) to resting potentials per solution epoch.

``extract_table(paths, ...)`` returns the table ``vrest fit`` reads (one row per epoch:
cell, condition, K_o_mM and any other concentration, V_m_mV, sem_mV, the window used,
the drift, the events removed, flags and ``excluded``) and the settings record;
``write_extraction`` writes it with its marker and figures. The rules are in
:mod:`vrest.traces.epochs` (where epochs come from, the tag syntax) and
:mod:`vrest.traces.steady` (settle time, spike removal, flatness, uncertainty).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..folders import write_extraction
from .epochs import classify_tag, parse_solution_text
from .extract import Extraction, check_loadable, extract_files
from .readers import open_trace
from .steady import MAX_DRIFT_MV_PER_MIN, SETTLE_S, steady_state

__all__ = ["MAX_DRIFT_MV_PER_MIN", "SETTLE_S", "Extraction", "classify_tag", "extract_files", "extract_table", "open_trace",
           "parse_solution_text", "steady_state", "write_extraction"]


def extract_table(paths: Sequence[str | Path], *, epochs: str | Path | None = None, channel: str | int | None = None,
                  settle_s: float = SETTLE_S, max_drift: float = MAX_DRIFT_MV_PER_MIN,
                  solutions: Mapping[str, Mapping[str, float]] | None = None, include_unsettled: bool = False,
                  scheduler: str | None = "none", workers: int | None = None) -> tuple[pd.DataFrame, dict]:  # fmt: skip
    """The table of resting potentials (one row per epoch; loads with ``vrest.data.load_recordings``) and the
    settings record of the extraction. Settle time in s, drift limit in mV/min; ``solutions`` maps a solution
    name to its concentrations in vrest's column names. Bad input: one-line ValueError."""
    result = extract_files(paths, epochs=epochs, channel=channel, settle_s=settle_s, max_drift=max_drift,
                     solutions=solutions, include_unsettled=include_unsettled, scheduler=scheduler, workers=workers)  # fmt: skip
    check_loadable(result.table)
    return result.table, result.settings
