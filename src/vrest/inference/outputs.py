"""Write a fit's results into a folder, atomically (the folder appears complete or not at all)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np


class OutputExistsError(FileExistsError):
    """The output folder exists and --force was not given."""


def write_atomically(out: str | os.PathLike, fill: Callable[[Path], None], force: bool = False) -> Path:
    """Create folder ``out`` by filling a temporary sibling and renaming it into place.

    An existing ``out`` is replaced only with ``force``; on any error (or Ctrl-C)
    the temporary folder is removed and ``out`` is left as it was.
    """
    out = Path(out)
    if out.exists() and not force:
        raise OutputExistsError(f"--out: {out} exists; use --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        fill(tmp)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / "x")
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary sibling, then a rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def versions() -> dict[str, str]:
    """Versions of Python and the numerical stack (from the installed packages' metadata: nothing is imported)."""
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "unknown"

    stack = ("numpy", "scipy", "pymc", "pytensor", "numba", "nutpie", "arviz")
    return {"vrest": __version__, "python": platform.python_version()} | {name: installed(name) for name in stack}


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


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
    except ImportError:  # an xarray whose internals are laid out otherwise: its public writer
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


def write_fit(result, recordings, out: str | os.PathLike, force: bool = False, extra: dict | None = None) -> Path:
    """posterior.nc, summary.csv, correlations.csv, predictive_grid.csv, derived.csv, fit.json (plus ``extra``)."""
    s = result.settings

    def fill(tmp: Path) -> None:
        write_netcdf(result.idata, tmp / "posterior.nc")
        result.summary.to_csv(tmp / "summary.csv", index=False)  # full precision: batch tables are built from it
        result.correlations.to_csv(tmp / "correlations.csv", float_format="%.4f")
        result.predictive.to_csv(tmp / "predictive_grid.csv", index=False, float_format="%.6g")
        result.derived.to_csv(tmp / "derived.csv", index=False, float_format="%.6g")
        info = {
            "model": s.model,
            "likelihood": s.likelihood,
            "hierarchical": result.hierarchical,
            "data": {"source": recordings.source, "sha256": recordings.sha256, "rows": int(result.design.n_rows),
                     "column_mapping": recordings.mapping, "extra_columns": list(recordings.extra_columns)},
            "priors": [p.describe() for p in result.priors] + ["sigma_mv ~ HalfNormal(5) mV"],
            "assumptions": result.design.assumptions,
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
            "notes": result.notes,
            "versions": versions(),
            "wall_time_s": result.timings,
            **(extra or {}),
        }  # fmt: skip
        (tmp / "fit.json").write_text(json.dumps(_jsonable(info), indent=1))

    return write_atomically(out, fill, force)
