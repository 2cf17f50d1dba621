"""What the report needs from fit and sensitivity folders (read by :mod:`vrest.folders`): the observations,
each condition's inputs, thinned draws, priors and assumptions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..folders import DesignRun, ExtractionRun, FitRun, SensitivityRun, read_folder
from ..inference.priors import Prior
from .kalaemia import Inputs

CITATIONS = {
    "faec39b969759348706344a83ca28c88ea7540e6120c372b96454fc13bbeebe4":
        "Teaching-lab recordings of G. Ernstrom (Middlebury College, 2019 course); protocol of Baierlein B. et al. "
        "(2011) J. Vis. Exp. 47:2322, doi:10.3791/2322. Cite the protocol paper and credit the Ernstrom course data.",
    "0c673353a6e3c053ed2751c550ee4771d236b9eea27cdf5f38b5c44210118279":
        "Gelband H. et al. (1972) Circ. Res. 30:293, doi:10.1161/01.RES.30.3.293, Fig. 6, as digitised by Clerx M., "
        "Mirams G.R., Rogers A.J., Narayan S.M. & Giles W.R. (2021) Front. Physiol. 12:651162. Cite both papers.",
}  # fmt: skip
"""Citations of the bundled data files (data/README.md), by sha256."""

REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Observations:
    """The fitted data: a table with K_o_mM, V_m_mV (and condition, sem_mV, ...) and where it came from."""

    table: pd.DataFrame
    origin: str  # "file" or "posterior.nc"


def split_runs(folders: list[str | Path]) -> tuple[list[FitRun], list[SensitivityRun], list]:
    """Read every folder; ValueError if fits of different data sets are mixed, or a sensitivity study drawn from
    the posterior of another data set's fit is given with them (naming the odd folder)."""
    if not folders:
        raise ValueError("report: give at least one fit or sensitivity folder")
    runs = [read_folder(f) for f in folders]
    fits = [r for r in runs if isinstance(r, FitRun)]
    for fit in fits[1:]:
        if fit.sha256 != fits[0].sha256:
            raise ValueError(f"{fit.folder}: fits a different data set (sha256 {fit.sha256[:12]}) than "
                             f"{fits[0].folder} ({fits[0].sha256[:12]}); report fits of one data set")  # fmt: skip
    sens = [r for r in runs if isinstance(r, SensitivityRun)]
    for run in sens:
        used = (run.info.get("posterior") or {}).get("data_sha256")
        if fits and used and used != fits[0].sha256:
            raise ValueError(f"{run.folder}: a sensitivity study drawn from a fit of another data set (sha256 "
                             f"{used[:12]}) than {fits[0].folder} ({fits[0].sha256[:12]}); report them apart")  # fmt: skip
    return fits, sens, [r for r in runs if isinstance(r, DesignRun | ExtractionRun)]


def observations(fit: FitRun) -> Observations:
    """The fitted rows from the data file (when found with the recorded sha256), else from posterior.nc."""
    from ..data import DataError, load_recordings

    data = fit.info["data"]
    mapping = data.get("column_mapping", {})
    error = next((k for k in ("sem_mV", "sd_mV") if k in mapping), None)
    for path in _candidates(data["source"], fit.folder):
        try:
            rec = load_recordings(path, error_column=mapping[error] if error else None,
                                  error_kind=error.split("_")[0] if error else None,
                                  columns={c: o for c, o in mapping.items() if c not in ("sem_mV", "sd_mV")})  # fmt: skip
        except (DataError, OSError):
            continue
        if rec.sha256 == data["sha256"]:
            table = rec.table.copy()
            if "condition" not in table:
                table["condition"] = "all"
            for label, ljp in fit.ljp_mv.items():  # the fit saw V_m = V_recorded - LJP
                table.loc[table["condition"].astype(str) == label, "V_m_mV"] -= ljp
            return Observations(table, "file")
    v = fit.tree["observed_data"]["v_m"]
    return Observations(pd.DataFrame({"obs": v["obs"].values, "V_m_mV": np.asarray(v.values)}), "posterior.nc")


def _candidates(source: str, folder: Path) -> list[Path]:
    path = Path(source)
    if path.is_absolute():
        return [path]
    return list(dict.fromkeys(p for p in (Path.cwd() / path, REPO_ROOT / path, folder.parent / path) if p.is_file()))


def thin(values: np.ndarray, max_draws: int = 1000) -> np.ndarray:
    """Every k-th draw of a (chain, draw) array, k the smallest leaving at most ``max_draws`` in all
    (but one per chain at least)."""
    return values[:, :: -(-values.shape[1] // max(1, max_draws // values.shape[0]))]


def draws(fit: FitRun, name: str, max_draws: int = 1000) -> np.ndarray:
    """Up to ``max_draws`` evenly thinned posterior draws of ``name``, shape (chain, draw)."""
    return thin(np.asarray(fit.tree["posterior"][name].values), max_draws)


def membrane_draws(fit: FitRun, max_draws: int = 200) -> dict[str, np.ndarray]:
    """Thinned posterior draws (1-D, natural units) of every fitted model input: membrane parameters and
    uncertain nuisance inputs."""
    from ..inference.priors import FITTED

    names = [*FITTED.get(fit.info["model"], ()), *fit.info.get("uncertain", [])]
    return {n: draws(fit, n, max_draws).ravel() for n in names if n in fit.tree["posterior"]}


def condition_inputs(fit: FitRun, obs: Observations) -> dict[str, Inputs] | None:
    """Each condition's fixed inputs other than K_o, as the fit used them: its assumptions (a condition's
    own over those for all rows), and data columns at the condition's first row. None when inputs came
    from the data file and it was not found."""
    from ..constants import celsius_to_kelvin
    from ..inference.design import DATA_COLUMNS
    from ..models import get_model

    mapped, model = fit.info["data"].get("column_mapping", {}), get_model(fit.info["model"])
    from_data = {n: c for n, c in DATA_COLUMNS.items() if n != "k_o" and n in model.inputs and c in mapped}
    if from_data and obs.origin != "file":
        return None
    out = {}
    for label in dict.fromkeys(str(c) for c in fit.predictive["condition"]):
        scopes = ("all rows", f"condition {label!r}")
        applying = sorted((a for a in fit.info.get("assumptions", []) if a["applies_to"] in scopes),
                          key=lambda a: a["applies_to"] != "all rows")  # fmt: skip
        values = {a["input"]: float(a["value"]) for a in applying if isinstance(a["value"], int | float)}
        if from_data:
            first = obs.table[obs.table["condition"].astype(str) == label].iloc[0]
            values |= {n: float(first[c]) for n, c in from_data.items()}
            if "temp_k" in from_data:
                values["temp_k"] = float(celsius_to_kelvin(values["temp_k"]))
        out[label] = Inputs(values, fit.na_plus_k.get(label))
    return out


def priors(fit: FitRun) -> list[Prior]:
    """The fitted parameters' priors, exactly as fitted (fit.json's prior_specs)."""
    return [p for p in fit.priors if p.name in fit.tree["posterior"]]


def assumed(fit: FitRun, name: str) -> float | None:
    """The numeric value assumed for input ``name`` for all rows (or the first one given), else None."""
    values = [a for a in fit.info.get("assumptions", []) if a["input"] == name and isinstance(a["value"], int | float)]
    everywhere = [a for a in values if a.get("applies_to") == "all rows"]
    return float((everywhere or values)[0]["value"]) if values else None
