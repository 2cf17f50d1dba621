"""PSIS-LOO comparison of fits of the same data."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd


def load_fit(folder: str | Path):
    """(posterior DataTree, fit.json dict) of a vrest fit folder, or ValueError naming what is missing."""
    import xarray as xr

    folder = Path(folder)
    info_path, post_path = folder / "fit.json", folder / "posterior.nc"
    if not info_path.is_file() or not post_path.is_file():
        raise ValueError(f"{folder}: not a vrest fit folder (expected fit.json and posterior.nc)")
    info = json.loads(info_path.read_text())
    return xr.open_datatree(post_path).load(), info


def compare_fits(folders: list[str | Path]) -> pd.DataFrame:
    """elpd_loo, se, differences, stacking weights and Pareto-k counts, best model first."""
    import arviz_stats as azs

    if len(folders) < 2:
        raise ValueError("compare: expected at least two fit folders")
    trees, hashes, labels = {}, set(), []
    for folder in folders:
        tree, info = load_fit(folder)
        label = f"{info['model']} ({Path(folder).name})"
        trees[label] = tree
        hashes.add(info["data"]["sha256"])
        labels.append(label)
    if len(hashes) > 1:
        raise ValueError("compare: the fits are of different data (data sha256 differ); compare fits of one data set")
    with warnings.catch_warnings():  # Pareto-k warnings become the pareto_k_above_0.7 column
        warnings.simplefilter("ignore", UserWarning)
        table = azs.compare(trees)
        bad_k = {label: int((azs.loo(tree).pareto_k.values > 0.7).sum()) for label, tree in trees.items()}
    table = table.reset_index(names="fit")
    table["pareto_k_above_0.7"] = table["fit"].map(bad_k)
    return table
