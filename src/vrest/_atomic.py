"""Files and folders that appear whole or not at all, and JSON that any reader can parse.

Neutral ground: used by the output folders (:mod:`vrest.folders`) and the compile cache
(:mod:`vrest.cache`). Temporary names start with ``.<name>.tmp-`` (or ``.old-``), so a
killed run's leftovers are recognisable.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np


class OutputExistsError(FileExistsError):
    """The output exists and --force was not given (or it may not be replaced)."""


def temporary_prefix(out: Path, what: str = "tmp") -> str:
    """Name prefix of a temporary sibling of ``out`` made by this process: ``.<name>.<what>-<pid>-``."""
    return f".{out.name}.{what}-{os.getpid()}-"


def write_atomically(out: str | os.PathLike, fill: Callable[[Path], None], force: bool = False) -> Path:
    """Create folder ``out`` by filling a temporary sibling and renaming it into place.

    An existing ``out`` is replaced only with ``force`` (callers check first that it is theirs
    to replace: :func:`vrest.folders.claim`); on any error (or Ctrl-C) the temporary folder is
    removed and ``out`` is left as it was. The folder gets the permissions the umask allows.
    """
    out = Path(out)
    if out.exists() and not force:
        raise OutputExistsError(f"--out: {out} exists; use --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(out), dir=out.parent))
    try:
        fill(tmp)
        tmp.chmod(0o777 & ~current_umask())
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=temporary_prefix(out, "old"), dir=out.parent))
            os.replace(out, old / "x")
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary sibling, then a rename)."""
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path), dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def jsonable(obj: object) -> object:
    """``obj`` with NumPy scalars and arrays as Python numbers and lists, NaN/inf as None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


STACK = ("numpy", "scipy", "pandas", "pymc", "pytensor", "numba", "nutpie", "arviz", "SALib")


def versions() -> dict[str, str]:
    """Versions of Python and the numerical stack (from the installed packages' metadata: nothing is imported)."""
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "unknown"

    return {"vrest": __version__, "python": platform.python_version()} | {name: installed(name) for name in STACK}
