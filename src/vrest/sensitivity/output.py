"""Write a sensitivity result to a directory, atomically: all files appear together or none do.

Files: ``indices.csv`` (the tidy index table), ``summary.csv`` (per scenario and K_o
level), ``uncertainty.csv`` (with a posterior: credible bands and variance shares), ``sensitivity.json`` (settings, seed, versions, run counts, failures,
findings, wall times) and the figures (PNG and SVG). Everything is written into a
temporary directory beside the target, which is then renamed into place; an
existing target is replaced only with ``force``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from pathlib import Path

from .._atomic import jsonable
from .results import SensitivityResult


def checked_out_dir(out: str | Path, force: bool) -> Path:
    """``out`` as a Path, or ValueError if it exists (without ``force``) or is a file."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"out: {path} is a file, not a directory")
    if path.exists() and not force:
        raise ValueError(f"out: {path} already exists; use --force (API: force=True) to replace it")
    return path


def write_outputs(
    result: SensitivityResult, out: str | Path, *, force: bool = False, figures: bool = True, extra: dict | None = None
) -> list[str]:
    """Write ``result`` into the directory ``out``; returns the file names written.

    ``extra`` is merged into sensitivity.json (e.g. the command line).
    """
    t0 = time.perf_counter()
    path = checked_out_dir(out, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    tmp.mkdir()
    try:
        result.indices.to_csv(tmp / "indices.csv", index=False)
        result.summary.to_csv(tmp / "summary.csv", index=False)
        files = ["indices.csv", "summary.csv", "sensitivity.json"]
        if result.uncertainty is not None:
            result.uncertainty.to_csv(tmp / "uncertainty.csv", index=False)
            files.append("uncertainty.csv")
        if figures:
            from .figures import write_figures  # matplotlib only when figures are wanted

            files += write_figures(result, tmp)
        info = {**result.info, **(extra or {}), "files": sorted(files)}
        info["wall_time_s"] = {**info.get("wall_time_s", {}), "writing": round(time.perf_counter() - t0, 3)}
        (tmp / "sensitivity.json").write_text(json.dumps(jsonable(info), indent=1, allow_nan=False) + "\n")
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old)
        else:
            tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(files)
