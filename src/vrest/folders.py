"""Every output folder of vrest, written *and* read here only.

==============  ==================  ===========================================================
kind            marker              contents
==============  ==================  ===========================================================
fit             ``fit.json``        posterior.nc, summary.csv, correlations.csv, predictive_grid.csv,
                                    derived.csv, cells.csv (hierarchical fits), branches.csv (two-branch models)
models          ``models.json``     ``<model>/`` fit folders and compare.csv (``vrest fit --model all``)
sensitivity     ``sensitivity.json`` indices.csv, summary.csv, uncertainty.csv, figures (PNG, SVG)
batch           ``batch.json``      recordings/<folder>/ fit folders, batch_summary.csv, failures.csv,
                                    timings.csv, recordings.csv (id -> folder)
run             ``run.json``        fits/<model>/, compare.csv, sensitivity/, report.html, report.md,
                                    report_figures/ (``vrest run``)
report          ``<name>.html``     <name>.md and <name>_figures/ beside it (``vrest report``)
extraction      ``<name>.json``     <name>.csv and <name>_figures/ beside it (``vrest extract``)
design          ``design.json``     design.csv, design.png (``vrest design``)
==============  ==================  ===========================================================

The rules, the same for every command: a result appears whole or not at all (filled in
a temporary sibling, then renamed); an existing output is replaced only with ``--force``
and only when it is a vrest result of the same kind holding nothing vrest did not write
(:func:`claim`); an output that is, or contains, the working directory or an input is
refused; while a command writes ``out`` it holds ``.<name>.lock`` beside it, so a second
command on the same ``out`` fails at once instead of racing; temporary folders of dead
runs are cleaned up, never those of a live one. Paths recorded in the files are relative
to the output folder or as the user gave them, never a temporary folder's.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd

from ._atomic import (
    OutputExistsError,
    current_umask,
    jsonable,
    temporary_prefix,
    versions,
    write_atomically,
    write_text,
)

FORMAT = 2
"""Version of the fit.json layout: 2 stores priors, settings and conditions as data (vrest 0.2)."""

FIT_FILES = ("fit.json", "posterior.nc", "summary.csv", "correlations.csv", "predictive_grid.csv", "derived.csv")
FIT_OPTIONAL = ("cells.csv", "branches.csv", "fit.log")
SENSITIVITY_FILES = ("sensitivity.json", "indices.csv", "summary.csv")
MARKERS = {"fit": "fit.json", "models": "models.json", "sensitivity": "sensitivity.json", "batch": "batch.json",
           "run": "run.json", "design": "design.json"}  # fmt: skip
DESIGN_FILES = ("design.json", "design.csv", "design.png")


# --------------------------------------------------------------------------- claiming an output


def _contains(folder: Path, path: Path) -> bool:
    return path == folder or folder in path.parents


def _vrest_entries(folder: Path, kind: str) -> bool:
    """True when every entry of ``folder`` is one vrest writes for a result of ``kind``."""
    for entry in folder.iterdir():
        name = entry.name
        if kind == "fit":
            ok = entry.is_file() and name in (*FIT_FILES, *FIT_OPTIONAL)
        elif kind == "sensitivity":
            ok = entry.is_file() and (name in (*SENSITIVITY_FILES, "uncertainty.csv")
                                      or re.fullmatch(r"[\w.-]+\.(png|svg)", name) is not None)  # fmt: skip
        elif kind == "models":
            ok = (entry.is_file() and name in ("models.json", "compare.csv")) or (entry.is_dir() and is_result(entry, "fit"))
        elif kind == "run":
            ok = (entry.is_file() and name in ("run.json", "compare.csv", "report.html", "report.md", "traces.csv",
                                               "traces.json")) or (
                entry.is_dir() and (name == "fits" and all(is_result(f, "fit") for f in entry.iterdir())
                                    or name == "sensitivity" and is_result(entry, "sensitivity")
                                    or name == "design" and is_result(entry, "design")
                                    or name in ("report_figures", "traces_figures") and _only_figures(entry)))  # fmt: skip
        elif kind == "design":
            ok = entry.is_file() and name in DESIGN_FILES
        elif kind == "batch":
            ok = name in ("batch.json", "batch_summary.csv", "failures.csv", "timings.csv", "recordings.csv",
                          "recordings") or name.startswith(".")  # fmt: skip
        else:
            ok = False
        if not ok:
            return False
    return True


def _only_figures(folder: Path, suffixes: tuple[str, ...] = (".png", ".svg")) -> bool:
    """True when ``folder`` is a folder holding nothing but figure files (as vrest writes them)."""
    return folder.is_dir() and all(p.is_file() and p.suffix in suffixes for p in folder.iterdir())


def is_result(folder: Path, kind: str) -> bool:
    """True when ``folder`` is a vrest result of ``kind``: its marker, and nothing vrest did not write."""
    return folder.is_dir() and (folder / MARKERS[kind]).is_file() and _vrest_entries(folder, kind)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clean_stale(out: Path) -> None:
    """Remove temporary siblings of ``out`` (``.<name>.tmp-<pid>-*``, ``.old-``) whose process is gone."""
    clean_dead(out.parent, out.name)


def clean_dead(folder: Path, name: str | None = None) -> None:
    """Remove vrest's temporary entries in ``folder`` (of ``name`` only, if given) whose process is gone."""
    if not folder.is_dir():
        return
    prefix = re.escape(name) if name is not None else r".+"
    for stale in folder.glob(".*"):
        m = re.fullmatch(rf"\.{prefix}\.(tmp|old)-(\d+)-.*", stale.name)
        if m and not _alive(int(m[2])):
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)


@contextlib.contextmanager
def claim(out: str | os.PathLike, kind: str, force: bool, protect: Iterable[str | os.PathLike] = (),
          flag: str = "--out") -> Iterator[Path]:  # fmt: skip
    """Hold ``out`` for a result of ``kind`` while the block runs; refuse it (OutputExistsError/ValueError,
    one line) when it may not be written.

    Refused, even with ``force``: the working directory or a folder containing it, an input
    (``protect``) or a folder containing one, a file where a folder goes, and anything that is
    not a vrest result of ``kind``. Refused without ``force``: an existing result. A second
    command on the same ``out`` is refused while this one holds the lock.
    """
    out = Path(out)
    target = out.resolve()
    if _contains(target, Path.cwd().resolve()):
        raise ValueError(f"{flag}: {out} is or contains the working directory; choose a new folder")
    for path in protect:
        given = Path(path).resolve()
        if _contains(target, given):
            raise ValueError(f"{flag}: {out} is or contains the input {path}; choose a new folder")
        if given.is_dir() and given in target.parents:
            raise ValueError(f"{flag}: {out} is inside the input folder {path}; choose a folder outside it")
    with locked(out, flag):
        clean_stale(target)
        if out.exists() or out.is_symlink():
            if not out.is_dir():
                raise OutputExistsError(f"{flag}: {out} is a file, not a vrest {kind} folder; refusing to replace it")
            if not force:
                raise OutputExistsError(f"{flag}: {out} exists; use --force to replace it")
            if any(out.iterdir()) and not is_result(out, kind):
                raise OutputExistsError(f"{flag}: {out} is not a vrest {kind} result (it holds files vrest did not "
                                        "write); refusing to replace it, even with --force")  # fmt: skip
        yield out


@contextlib.contextmanager
def locked(out: str | os.PathLike, flag: str = "--out") -> Iterator[None]:
    """Hold ``.<name>.lock`` beside ``out`` while the block runs: a second vrest command on ``out`` is refused at once
    (OutputExistsError, one line); a lock left by a dead process is taken over."""
    target = Path(out).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = target.parent / f".{target.name}.lock"
    _lock(lock, Path(out), flag)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _lock(lock: Path, out: Path, flag: str) -> None:
    """Create ``lock`` exclusively (with this process's pid); take over a dead process's lock."""
    for _ in range(2):
        if _create(lock):
            return
        try:
            pid = int(lock.read_text().strip() or 0)
        except FileNotFoundError:  # released meanwhile
            continue
        except (OSError, ValueError):
            pid = 0
        if pid and _alive(pid):
            raise OutputExistsError(f"{flag}: another vrest command (pid {pid}) is writing {out}; "
                                    "wait for it or choose another folder") from None  # fmt: skip
        lock.unlink(missing_ok=True)  # left by a killed run
    raise OutputExistsError(f"{flag}: {out} is locked by another vrest command; try again")


def _create(lock: Path) -> bool:
    """Create ``lock`` holding this process's pid; False if it exists. The lock appears with its pid in it (a hard
    link to a file written first): created empty and then written, a second command could read it empty in between,
    take it for a killed run's and start writing too (two simultaneous fits both succeeded). Where the file system
    has no hard links: created exclusively, then written."""
    mine = lock.with_name(f"{lock.name}-{os.getpid()}")
    mine.write_text(str(os.getpid()))
    try:
        os.link(mine, lock)
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links here
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return True
    finally:
        mine.unlink(missing_ok=True)


def write_folder(out: Path, fill: Callable[[Path], None], kind: str, force: bool = True) -> Path:
    """Fill ``out`` atomically; its marker must be among what ``fill`` wrote (a folder without one is never a result)."""

    def checked(tmp: Path) -> None:
        fill(tmp)
        if not (tmp / MARKERS[kind]).is_file():
            raise RuntimeError(f"internal: a {kind} folder was filled without its marker {MARKERS[kind]}")

    return write_atomically(out, checked, force)


def write_json(path: Path, info: Mapping) -> None:
    """Strict JSON (NaN as null), indented, atomically."""
    write_text(path, json.dumps(jsonable(dict(info)), indent=1, allow_nan=False) + "\n")


# --------------------------------------------------------------------------- fit folders


def write_netcdf(tree, path: Path) -> None:
    """``tree`` (an xarray DataTree) as NetCDF-4 groups, written as ``DataTree.to_netcdf(engine="h5netcdf")`` does.

    ``to_netcdf`` asks dask which scheduler is active to choose a file lock, importing
    ``distributed`` (about 0.3 s of a 5 s fit); a fit's arrays are in memory and written
    by one thread, so the HDF5 lock is the right one and is given here.
    """
    try:
        from xarray.backends.common import ArrayWriter
        from xarray.backends.h5netcdf_ import H5NetCDFStore
        from xarray.backends.locks import HDF5_LOCK
        from xarray.backends.writers import dump_to_store
    except (ImportError, AttributeError, TypeError):  # an xarray whose internals are laid out otherwise
        tree.to_netcdf(path, engine="h5netcdf")
        return
    root = H5NetCDFStore.open(str(path), mode="w", lock=HDF5_LOCK)
    writer = ArrayWriter()
    try:
        for node in tree.subtree:
            store = root if node is tree else root.get_child_store(node.path)
            dump_to_store(node.to_dataset(inherit=node is tree), store, writer)
        writer.sync()
    finally:
        root.close()


def settings_record(settings) -> dict:
    """A FitSettings as JSON-ready data (how it ran — progress, threads — left out)."""
    out = asdict(settings)
    for name in ("progress", "cores"):
        out.pop(name, None)
    out["uncertain"] = list(out["uncertain"])
    return out


def fit_info(result, recordings, extra: Mapping | None = None) -> dict:
    """fit.json of a fit result: everything needed to read it back (structured) and to read it as a person."""
    from .inference.priors import SIGMA_PRIOR_SD_MV

    s = result.settings
    return {
        "format": FORMAT,
        "model": s.model,
        "likelihood": s.likelihood,
        "hierarchical": result.hierarchical,
        "data": {"source": recordings.source, "sha256": recordings.sha256, "rows": int(result.design.n_rows),
                 "column_mapping": recordings.mapping, "unit_conversions": dict(recordings.conversions),
                 "extra_columns": list(recordings.extra_columns)},
        "priors": [p.describe() for p in result.priors] + [f"sigma_mv ~ HalfNormal({SIGMA_PRIOR_SD_MV:g}) mV"],
        "prior_specs": [{"name": p.name, "log_scale": p.log_scale, "mean": p.mean, "sd": p.sd} for p in result.priors],
        "settings": settings_record(s),
        "assumptions": result.design.assumptions,
        "k_replaces_na": {"na_plus_k_mM": dict(result.design.na_plus_k)},
        "junction_potentials_mV": dict(result.design.ljp_mv),
        "uncertain": list(s.uncertain),
        "preset": s.preset,
        "seed": s.seed,
        "sampler": {"name": "nutpie NUTS", "chains": s.chains, "draws": s.draws, "tune": s.tune,
                    "target_accept": s.target_accept, **result.sampler},
        "structure": result.structure,
        "advice": result.advice,
        "diagnostics": {"divergences": int(result.idata.sample_stats["diverging"].sum()),
                        "max_r_hat": float(result.summary["r_hat"].max()),
                        "min_ess_bulk": float(result.summary["ess_bulk"].min()),
                        "problems": result.problems},
        "adequacy": {"flagged": bool(result.adequacy.get("flagged")), "findings": result.adequacy.get("findings", [])},
        "notes": result.notes,
        "versions": versions(),
        "wall_time_s": result.timings,
        **(extra or {}),
    }  # fmt: skip


def fill_fit(result, recordings, folder: Path, extra: Mapping | None = None, log: str = "") -> None:
    """Write a fit's files into ``folder`` (an existing, empty folder: the temporary one of an atomic write)."""
    write_netcdf(result.idata, folder / "posterior.nc")
    result.summary.to_csv(folder / "summary.csv", index=False)  # full precision: batch tables are built from it
    result.correlations.to_csv(folder / "correlations.csv", float_format="%.4f")
    result.predictive.to_csv(folder / "predictive_grid.csv", index=False, float_format="%.6g")
    result.derived.to_csv(folder / "derived.csv", index=False, float_format="%.6g")
    cells = getattr(result, "cells", None)
    if cells is not None and len(cells):
        cells.to_csv(folder / "cells.csv", index=False, float_format="%.6g")
    branches = getattr(result, "branches", None)
    if branches is not None:
        branches.to_csv(folder / "branches.csv", index=False, float_format="%.6g")
    if log:
        (folder / "fit.log").write_text(log)
    (folder / "fit.json").write_text(json.dumps(jsonable(fit_info(result, recordings, extra)), indent=1))


def write_fit(result, recordings, out: str | os.PathLike, force: bool = False, extra: Mapping | None = None,
              log: str = "") -> Path:  # fmt: skip
    """A fit folder at ``out``, atomically (see the module docstring for its files)."""
    return write_folder(Path(out), lambda tmp: fill_fit(result, recordings, tmp, extra, log), "fit", force)


@dataclass(frozen=True)
class FitRun:
    """One fit folder, read back: fit.json (``info``), the posterior DataTree and the tables."""

    folder: Path
    info: dict
    tree: object  # xarray.DataTree
    summary: pd.DataFrame
    correlations: pd.DataFrame
    predictive: pd.DataFrame
    derived: pd.DataFrame
    cells: pd.DataFrame | None = None
    branches: pd.DataFrame | None = None  # two-branch models: each row's branch probabilities

    @property
    def label(self) -> str:
        return f"{self.info['model']} ({self.folder.name})"

    @property
    def sha256(self) -> str:
        return self.info["data"]["sha256"]

    @property
    def priors(self) -> list:
        """The fitted parameters' priors (:class:`~vrest.inference.priors.Prior`), exactly as fitted."""
        from .inference.priors import Prior

        return [Prior(d["name"], bool(d["log_scale"]), float(d["mean"]), float(d["sd"]))
                for d in self.info["prior_specs"]]  # fmt: skip

    @property
    def settings(self):
        """The :class:`~vrest.inference.fit.FitSettings` of the fit (how it ran — progress, threads — as defaults)."""
        from .inference.fit import FitSettings

        known = {f.name for f in fields(FitSettings)}
        s = {k: v for k, v in self.info["settings"].items() if k in known}
        return FitSettings(**{**s, "uncertain": tuple(s.get("uncertain", ()))})

    @property
    def ljp_mv(self) -> dict[str, float]:
        """Condition -> liquid-junction potential (mV) subtracted from the recorded V_m before fitting."""
        return {k: float(v) for k, v in self.info.get("junction_potentials_mV", {}).items()}

    @property
    def na_plus_k(self) -> dict[str, float]:
        """Condition -> Na_o + K_o (mM) where K+ was raised by replacing Na+."""
        return {k: float(v) for k, v in self.info.get("k_replaces_na", {}).get("na_plus_k_mM", {}).items()}


def read_fit(folder: str | os.PathLike) -> FitRun:
    """A fit folder; ValueError (one line naming the folder) when it is not a complete, readable vrest fit."""
    import xarray as xr

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    missing = [f for f in FIT_FILES if not (folder / f).is_file()]
    if "fit.json" in missing:
        raise ValueError(f"{folder}: not a vrest fit folder (no fit.json)")
    if missing:
        raise ValueError(f"{folder}: an incomplete vrest fit folder (no {missing[0]}); refit with `vrest fit`")
    try:
        info = json.loads((folder / "fit.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{folder}: fit.json is damaged ({err}); refit with `vrest fit`") from None
    if not isinstance(info, dict) or "model" not in info or "sha256" not in info.get("data", {}):
        raise ValueError(f"{folder}: fit.json names no model or data; not a vrest fit folder")
    if info.get("format", 1) < FORMAT:
        raise ValueError(f"{folder}: a fit folder of vrest 0.1 (fit.json format 1, priors as text); this version reads "
                         f"format {FORMAT}: redo it with `vrest fit` (same data and seed give the same posterior)")  # fmt: skip
    try:
        tree = xr.open_datatree(folder / "posterior.nc").load()
    except Exception as err:  # noqa: BLE001 - h5py/netCDF raise many types for a damaged file
        raise ValueError(f"{folder}: posterior.nc is damaged or truncated ({type(err).__name__}); "
                         "refit with `vrest fit`") from None  # fmt: skip
    if "posterior" not in tree.children or "observed_data" not in tree.children:
        raise ValueError(f"{folder}: posterior.nc lacks the posterior or observed_data group; refit with `vrest fit`")
    try:
        tables = [pd.read_csv(folder / name) for name in ("summary.csv", "predictive_grid.csv", "derived.csv")]
        correlations = pd.read_csv(folder / "correlations.csv", index_col=0)
        optional = {name: pd.read_csv(folder / f"{name}.csv") if (folder / f"{name}.csv").is_file() else None
                    for name in ("cells", "branches")}  # fmt: skip
    except (OSError, ValueError) as err:
        raise ValueError(f"{folder}: a table is damaged ({err})") from None
    return FitRun(folder, info, tree, tables[0], correlations, tables[1], tables[2], **optional)


def write_models(fill: Callable[[Path], None], out: Path, info: Mapping, force: bool) -> Path:
    """A ``vrest fit --model all`` folder: ``fill`` writes ``<model>/`` and compare.csv; models.json marks it."""

    def filled(tmp: Path) -> None:
        fill(tmp)
        write_json(tmp / "models.json", {**info, "versions": versions()})

    return write_folder(out, filled, "models", force)


# --------------------------------------------------------------------------- sensitivity folders


@dataclass(frozen=True)
class SensitivityRun:
    """One sensitivity folder, read back."""

    folder: Path
    info: dict
    indices: pd.DataFrame
    summary: pd.DataFrame | None


COMPARE_COLUMNS = ("fit", "rank", "elpd_diff")
"""The first columns of a comparison table (:func:`vrest.inference.compare.compare_fits`): how one is recognised."""


def write_compare(table: pd.DataFrame, path: str | os.PathLike, force: bool = True) -> Path:
    """A PSIS-LOO comparison table as CSV at full precision (ranks must read consistently), written atomically.

    An existing file is replaced only with ``force`` and only when it is a comparison table vrest wrote (its
    header), never another file."""
    path = check_compare_target(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, table.to_csv(index=False))
    return path


def check_compare_target(path: str | os.PathLike, force: bool) -> Path:
    """``path`` if a comparison table may be written there (see :func:`write_compare`), else OutputExistsError."""
    path = Path(path)
    if path.is_dir():
        raise OutputExistsError(f"--out: {path} is a folder; give a CSV file name")
    if path.exists() and not (force and _is_compare_table(path)):
        raise OutputExistsError(f"--out: {path} exists; use --force to replace it" if not force else
                                f"--out: {path} is not a comparison table written by vrest; not replaced")  # fmt: skip
    return path


def _is_compare_table(path: Path) -> bool:
    try:
        with open(path) as f:
            return tuple(f.readline().strip().split(",")[: len(COMPARE_COLUMNS)]) == COMPARE_COLUMNS
    except (OSError, UnicodeDecodeError):
        return False


def write_sensitivity(result, out: str | os.PathLike, *, force: bool = False, figures: bool = True,
                      extra: Mapping | None = None, relative_to: str | os.PathLike | None = None) -> list[str]:  # fmt: skip
    """Write a :class:`~vrest.sensitivity.results.SensitivityResult` into the folder ``out``, atomically; returns
    the file names. ``extra`` is merged into sensitivity.json; paths in it are given relative to ``relative_to``."""
    import time

    t0 = time.perf_counter()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {out} is a file, not a directory")
    if out.exists() and not force:
        raise ValueError(f"out: {out} already exists; use --force (API: force=True) to replace it")
    written: list[str] = []

    def fill(tmp: Path) -> None:
        result.indices.to_csv(tmp / "indices.csv", index=False)
        result.summary.to_csv(tmp / "summary.csv", index=False)
        files = ["indices.csv", "summary.csv", "sensitivity.json"]
        if result.uncertainty is not None:
            result.uncertainty.to_csv(tmp / "uncertainty.csv", index=False)
            files.append("uncertainty.csv")
        if figures:
            from .sensitivity.figures import write_figures  # matplotlib only when figures are wanted

            files += write_figures(result, tmp)
        info = {**result.info, **(extra or {}), "files": sorted(files)}
        if relative_to is not None and isinstance(info.get("posterior"), dict):
            fit_dir = Path(info["posterior"]["fit_dir"])
            with contextlib.suppress(ValueError):
                info["posterior"] = {**info["posterior"], "fit_dir": os.path.relpath(fit_dir, relative_to)}
        info["wall_time_s"] = {**info.get("wall_time_s", {}), "writing": round(time.perf_counter() - t0, 3)}
        (tmp / "sensitivity.json").write_text(json.dumps(jsonable(info), indent=1, allow_nan=False) + "\n")
        written.extend(sorted(files))

    write_folder(out, fill, "sensitivity", force=True)
    return written


def read_sensitivity(folder: str | os.PathLike) -> SensitivityRun:
    """A sensitivity folder; ValueError naming the folder when it is not a readable vrest sensitivity result."""
    folder = Path(folder)
    try:
        info = json.loads((folder / "sensitivity.json").read_text())
        indices = pd.read_csv(folder / "indices.csv")
        missing = {"scenario", "K_o_mM", "input", "index", "value", "ci_low", "ci_high", "flag"} - set(indices)
        if missing:
            raise KeyError(f"indices.csv lacks {min(missing)}")
        summary = pd.read_csv(folder / "summary.csv") if (folder / "summary.csv").is_file() else None
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{folder}: not a readable vrest sensitivity folder ({err})") from None
    indices["flag"] = indices["flag"].fillna("").astype(str)
    return SensitivityRun(folder, info, indices, summary)


def read_folder(folder: str | os.PathLike) -> FitRun | SensitivityRun | DesignRun | ExtractionRun:
    """A fit, sensitivity or design folder, or an extraction's marker file, told apart by its marker; ValueError
    naming the folder otherwise."""
    folder = Path(folder)
    if folder.is_file() and folder.suffix == ".json":
        return read_extraction(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    if (folder / "fit.json").is_file():
        return read_fit(folder)
    if (folder / "design.json").is_file():
        return read_design(folder)
    if all((folder / f).is_file() for f in ("sensitivity.json", "indices.csv")):
        return read_sensitivity(folder)
    raise ValueError(f"{folder}: not a vrest fit or sensitivity folder (expected {', '.join(FIT_FILES)} "
                     "or sensitivity.json and indices.csv)")  # fmt: skip


# --------------------------------------------------------------------------- run folders


def write_run(fill: Callable[[Path], None], out: Path, info: Mapping, force: bool) -> Path:
    """A ``vrest run`` folder: ``fill`` writes fits/, compare.csv, sensitivity/ and the report; run.json marks it."""

    def filled(tmp: Path) -> None:
        fill(tmp)
        write_json(tmp / "run.json", {**info, "versions": versions()})

    return write_folder(out, filled, "run", force)


# --------------------------------------------------------------------------- reports


def report_paths(out_html: str | os.PathLike) -> tuple[Path, Path, Path]:
    """(HTML file, Markdown twin, figure folder) for ``out_html``: report.html -> report.md, report_figures/."""
    out = Path(out_html)
    return out, out.with_suffix(".md"), out.with_name(f"{out.stem}_figures")


GENERATOR = "vrest uncertainty report"
"""Title prefix that marks an HTML file as a vrest report (a report may replace only a vrest report)."""


def _is_vrest_report(html: Path, md: Path, figures: Path) -> bool:
    def ours(path: Path) -> bool:
        if not path.exists():
            return True
        if not path.is_file():
            return False
        with path.open("rb") as f:
            return GENERATOR.encode() in f.read(4096)

    return ours(html) and ours(md) and (not figures.exists() or _only_figures(figures))


def report_target(out_html: str | os.PathLike, force: bool) -> tuple[Path, Path, Path]:
    """The report's paths, checked: an .html name; existing files only with ``force`` and only a vrest report."""
    html_path, md_path, fig_dir = report_paths(out_html)
    if html_path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--out: expected a file name ending in .html, got {html_path}")
    if html_path.is_dir():
        raise ValueError(f"--out: {html_path} is a folder; give the report's file name (e.g. report.html)")
    existing = [p for p in (html_path, md_path, fig_dir) if p.exists()]
    if existing and not force:
        raise OutputExistsError(f"--out: {existing[0]} exists; use --force to replace it")
    if existing and not _is_vrest_report(html_path, md_path, fig_dir):
        raise OutputExistsError(f"--out: {existing[0]} is not part of a vrest report; refusing to replace it, "
                                "even with --force")  # fmt: skip
    return html_path, md_path, fig_dir


def write_report(out_html: str | os.PathLike, html: str, markdown: str, figures: Mapping[str, tuple[bytes, str]],
                 force: bool = False) -> Path:  # fmt: skip
    """report.html, report.md and report_figures/ (PNG and SVG) beside each other, each replaced atomically.

    An existing report is replaced only with ``force`` and only when it is a vrest report (and its
    figure folder holds only figures); anything else is refused, even with ``force``.
    """
    html_path, md_path, fig_dir = report_target(out_html, force)
    html_path.parent.mkdir(parents=True, exist_ok=True)

    tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(html_path), dir=html_path.parent))
    try:
        (tmp / "figures").mkdir()
        for name, (png, svg) in figures.items():
            (tmp / "figures" / f"{name}.png").write_bytes(png)
            (tmp / "figures" / f"{name}.svg").write_text(svg)
        (tmp / "report.html").write_text(html)
        (tmp / "report.md").write_text(markdown)
        for path in (tmp, tmp / "figures"):
            path.chmod(0o755 & ~current_umask())
        if fig_dir.exists():
            old = tmp / "old"
            os.replace(fig_dir, old)
        os.replace(tmp / "figures", fig_dir)
        os.replace(tmp / "report.md", md_path)
        os.replace(tmp / "report.html", html_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return html_path


# --------------------------------------------------------------------------- design folders (vrest design)


def write_design(ranking, out: str | os.PathLike, *, force: bool = False, extra: Mapping | None = None) -> Path:
    """A design folder at ``out`` (design.csv, design.png, design.json), atomically; returns its path.

    ``ranking``: a :class:`vrest.design.plan.Ranking`; ``extra`` is merged into design.json.
    """
    from .design.figures import design_csv, shrinkage_png

    info = {"recommendation": ranking.recommendation, "targets": ranking.targets, "settings": ranking.settings,
            "chosen": ranking.chosen, "candidates": ranking.rows, "wall_time_s": ranking.timings,
            **(extra or {}), "versions": versions()}  # fmt: skip

    def fill(tmp: Path) -> None:
        (tmp / "design.csv").write_text(design_csv(ranking))
        (tmp / "design.png").write_bytes(shrinkage_png(ranking))
        write_json(tmp / "design.json", info)

    return write_folder(Path(out), fill, "design", force)


@dataclass(frozen=True)
class DesignRun:
    """One design folder, read back: design.json (``info``) and design.csv (``table``)."""

    folder: Path
    info: dict
    table: pd.DataFrame


def read_design(folder: str | os.PathLike) -> DesignRun:
    """A design folder; ValueError naming the folder when it is not a readable vrest design."""
    folder = Path(folder)
    try:
        return DesignRun(folder, json.loads((folder / "design.json").read_text()), pd.read_csv(folder / "design.csv"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{folder}: not a readable vrest design folder ({err})") from None


# --------------------------------------------------------------------------- extractions (vrest extract)


EXTRACTION_GENERATOR = "vrest extract"
"""The marker of a ``vrest extract`` output (NAME.json beside NAME.csv)."""


def extraction_paths(out_csv: str | os.PathLike) -> tuple[Path, Path, Path]:
    """(table, marker, figure folder) of ``out_csv``: NAME.csv, NAME.json, NAME_figures/."""
    out = Path(out_csv)
    return out, out.with_suffix(".json"), out.with_name(f"{out.stem}_figures")


def _is_extraction(marker: Path) -> bool:
    try:
        return json.loads(marker.read_text()).get("generator") == EXTRACTION_GENERATOR
    except (OSError, ValueError, AttributeError):
        return False


def check_extraction_target(out_csv: str | os.PathLike, force: bool, inputs: tuple[str, ...] = ()) -> tuple[Path, Path, Path]:
    """The outputs' paths, checked before any work (OutputExistsError or ValueError, one line)."""
    table, marker, figures = extraction_paths(out_csv)
    if table.suffix.lower() != ".csv":
        raise ValueError(f"--out: expected a file name ending in .csv, got {table}")
    for path in (table, marker, figures):
        for given in inputs:
            if Path(given).resolve() == path.resolve():
                raise ValueError(f"--out: {path} is the input {given}; choose another name")
    existing = [p for p in (table, marker, figures) if p.exists() or p.is_symlink()]
    if not existing:
        return table, marker, figures
    if not force:
        raise OutputExistsError(f"--out: {existing[0]} exists; use --force to replace it")
    if table.is_dir() or marker.is_dir():
        raise OutputExistsError(f"--out: {table if table.is_dir() else marker} is a folder; refusing to replace it")
    ours = marker.is_file() and _is_extraction(marker)
    foreign_figures = figures.exists() and not _only_figures(figures, (".png",))
    if not ours or foreign_figures:
        raise OutputExistsError(f"--out: {existing[0]} is not part of a vrest extraction (no {marker.name} written "
                                "by vrest extract, or other files in the figure folder); refusing to replace it, "
                                "even with --force")  # fmt: skip
    return table, marker, figures


def write_extraction(table: pd.DataFrame, figures: Mapping[str, bytes], out_csv: str | os.PathLike, force: bool,
                     settings: Mapping) -> Path:  # fmt: skip
    """Write the table, its marker (the settings) and the figures beside it; returns the CSV's path.

    The marker is written first (so an interrupted run can be replaced with ``force``), then
    the figure folder (built in a temporary sibling, swapped in), then the CSV last.
    """
    inputs = tuple(f["file"] for f in settings.get("files", ())) + ((settings["epochs"],) if settings.get("epochs") else ())
    csv_path, marker, fig_dir = check_extraction_target(out_csv, force, inputs)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    info = {**settings, "generator": EXTRACTION_GENERATOR, "table": csv_path.name,
            "figures": f"{fig_dir.name}/" if figures else None, "figure_files": sorted(figures), "versions": versions()}  # fmt: skip
    write_text(marker, json.dumps(jsonable(info), indent=1, allow_nan=False) + "\n")
    tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(fig_dir), dir=fig_dir.parent))
    try:
        for name, png in figures.items():
            (tmp / name).write_bytes(png)
        tmp.chmod(0o777 & ~current_umask())
        if fig_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=temporary_prefix(fig_dir, "old"), dir=fig_dir.parent))
            os.replace(fig_dir, old / "x")
            shutil.rmtree(old)
        if figures:
            os.replace(tmp, fig_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_text(csv_path, table.to_csv(index=False, lineterminator="\n", float_format="%.8g"))
    return csv_path


@dataclass(frozen=True)
class ExtractionRun:
    """One ``vrest extract`` output, read back: its marker (``info``), the table and the figure files."""

    marker: Path
    info: dict
    table: pd.DataFrame
    figures: tuple[Path, ...]

    @property
    def folder(self) -> Path:
        return self.marker.parent


def read_extraction(marker: str | os.PathLike) -> ExtractionRun:
    """An extraction by its marker NAME.json; ValueError naming the file when it is not a readable one."""
    marker = Path(marker)
    if not _is_extraction(marker):
        raise ValueError(f"{marker}: not a vrest extraction marker (NAME.json written by vrest extract)")
    table, _, fig_dir = extraction_paths(marker.with_suffix(".csv"))
    try:
        info = json.loads(marker.read_text())
        frame = pd.read_csv(table)
    except (OSError, ValueError) as err:
        raise ValueError(f"{marker}: its table {table.name} is not readable ({err})") from None
    figures = tuple(fig_dir / name for name in info.get("figure_files", []) if (fig_dir / name).is_file())
    return ExtractionRun(marker, info, frame, figures)


# --------------------------------------------------------------------------- batch folders

SUMMARY_COLUMNS = ["recording", "parameter", "mean", "sd", "q5", "q50", "q95", "r_hat", "ess_bulk", "ess_tail",
                   "contraction", "divergences", "diagnostics", "seed", "folder"]  # fmt: skip
TIMING_COLUMNS = ["recording", "worker", "compile_s", "sample_s", "total_s"]


def folder_name(recording: str) -> str:
    """A file-system-safe folder name fixed by the recording id alone: a readable slug plus a short hash.

    Distinct ids always get distinct names (the hash is of the exact id), whatever other ids are
    in the batch, so adding, removing or reordering recordings never moves a result.
    """
    import hashlib

    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", recording).strip("._")[:40] or "recording"
    return f"{slug}-{hashlib.sha256(recording.encode()).hexdigest()[:8]}"


class BatchFolder:
    """The output folder of one ``fit-batch`` run (created, or resumed when its settings match).

    ``DIR/recordings/<folder>/`` is a fit folder per recording (its fit.json says which recording and
    job made it); ``recordings.csv`` maps each recording id to its folder.
    """

    def __init__(self, out: str | os.PathLike, info: dict, force: bool) -> None:
        self.out = Path(out)
        self.recordings = self.out / "recordings"
        self.force = force
        self._open(info)

    def _open(self, info: dict) -> None:
        marker = self.out / "batch.json"
        if self.out.exists() and not self.out.is_dir():
            raise OutputExistsError(f"--out: {self.out} is a file, not a batch folder; choose a folder")
        if marker.exists() and not self.force:
            try:
                old = json.loads(marker.read_text())
            except (OSError, ValueError):
                old = {}
            if old.get("settings_fingerprint") != info["settings_fingerprint"]:
                raise OutputExistsError(f"--out: {self.out} holds a batch run with other settings or seed; "
                                        "use --force to refit every recording, or another --out")  # fmt: skip
        elif self.out.exists() and any(self.out.iterdir()) and not marker.exists():
            raise OutputExistsError(f"--out: {self.out} exists and is not a vrest batch folder; choose another --out "
                                    "(--force never replaces a folder vrest did not write)")  # fmt: skip
        self.recordings.mkdir(parents=True, exist_ok=True)
        for folder in (self.out, self.recordings):  # left by a killed run: never a result
            clean_dead(folder)
        write_text(marker, json.dumps(info, indent=1, default=str))

    def finished(self) -> dict[str, tuple[str, str | None]]:
        """Recording id -> (folder name, job fingerprint) of every result folder present (not a folder still being
        written: a temporary ``.<name>.tmp-*``, which pathlib's glob also matches)."""
        out = {}
        for fit_json in self.recordings.glob("*/fit.json"):
            if fit_json.parent.name.startswith("."):
                continue
            try:
                batch = json.loads(fit_json.read_text()).get("batch", {})
            except (OSError, ValueError):
                continue
            out[batch.get("recording", fit_json.parent.name)] = (fit_json.parent.name, batch.get("fingerprint"))
        return out

    def write_result(self, name: str, result, recordings, extra: dict) -> str:
        """A recording's fit folder (replacing an earlier one of this recording); returns the folder name."""
        folder = folder_name(name)
        write_fit(result, recordings, self.recordings / folder, force=True, extra=extra)
        return folder

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

    def write_tables(self, summaries: dict[str, pd.DataFrame], timings: dict[str, dict], failures: dict[str, str],
                     names: Sequence[str]) -> None:  # fmt: skip
        """batch_summary.csv, timings.csv, failures.csv and recordings.csv (id -> folder, of this run's
        recordings ``names``), sorted by recording, each replaced atomically."""
        frames = [summaries[k] for k in sorted(summaries)]
        summary = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SUMMARY_COLUMNS)
        write_text(self.out / "batch_summary.csv", summary.to_csv(index=False, lineterminator="\n"))
        timing = pd.DataFrame([timings[k] for k in sorted(timings)], columns=TIMING_COLUMNS)
        write_text(self.out / "timings.csv", timing.to_csv(index=False, lineterminator="\n", float_format="%.3f"))
        fail = pd.DataFrame({"recording": sorted(failures), "reason": [failures[k] for k in sorted(failures)]})
        write_text(self.out / "failures.csv", fail.to_csv(index=False, lineterminator="\n"))
        ids = sorted(names)
        status = ["fitted" if k in summaries else "failed" if k in failures else "pending" for k in ids]
        mapping = pd.DataFrame({"recording": ids, "folder": [f"recordings/{folder_name(k)}" for k in ids],
                                "status": status})  # fmt: skip
        write_text(self.out / "recordings.csv", mapping.to_csv(index=False, lineterminator="\n"))
