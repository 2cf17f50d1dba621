"""Write a fit's results into a folder, atomically (the folder appears complete or not at all)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .._atomic import jsonable, versions, write_atomically


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
        (tmp / "fit.json").write_text(json.dumps(jsonable(info), indent=1))

    return write_atomically(out, fill, force)
