"""Where compiled log-densities live between processes.

A compiled model is kept under ``$VREST_CACHE_DIR`` (default
``$XDG_CACHE_HOME/vrest`` or ``~/.cache/vrest``) in ``models/<key>/``: Numba's
cached machine code of the two C callbacks and ``model.json`` (what the sampler
needs besides them). ``key`` is a hash of the model structure, of the installed
versions of vrest's numerical stack and of vrest's own source, so a changed
formula or library never reuses old code. Deleting the folder is always safe.
A model loaded from the cache is marked as used (``model.json``'s time stamp); when
a new model is stored, the least recently used beyond :data:`MAX_MODELS` are deleted,
so the folder stays bounded (a model takes about 0.4 MB).

Numba finds the cached code through :class:`_Locator`, registered with Numba's
cache machinery the same way PyTensor registers its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
from functools import cache
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from weakref import WeakKeyDictionary

from numba.core.caching import CacheImpl, _CacheLocator

from ._atomic import write_text

_KEYS: WeakKeyDictionary = WeakKeyDictionary()  # generated function -> its cache key
_STACK = ("numpy", "numba", "llvmlite", "pytensor", "pymc", "nutpie")
MAX_MODELS = 200
"""Cached models kept; the least recently used beyond this are deleted when a new one is stored."""


def cache_root() -> Path | None:
    """The cache folder, created if needed; None (no disk cache) if it cannot be written."""
    base = os.environ.get("VREST_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vrest"
    root = Path(base) / "models"
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError:
        return None
    return root


@cache
def _environment() -> str:
    """Versions of the numerical stack and a hash of vrest's source (the code that builds the graphs)."""
    digest = hashlib.sha256(sys.version.encode())
    for name in _STACK:
        try:
            digest.update(f"{name}={version(name)}".encode())
        except PackageNotFoundError:  # not installed as a distribution: fall back to the module's own attribute
            digest.update(f"{name}={getattr(import_module(name), '__version__', '?')}".encode())
    for path in sorted(Path(__file__).resolve().parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _entries() -> list[Path]:
    """The folders of the cached models (none without a usable cache folder)."""
    root = cache_root()
    return [f for f in root.iterdir() if f.is_dir()] if root is not None else []


def usage() -> tuple[int, int]:
    """(number of cached models, bytes on disk) of the cache folder."""
    folders = _entries()
    return len(folders), sum(p.stat().st_size for f in folders for p in f.rglob("*") if p.is_file())


def clear() -> int:
    """Delete every cached model; returns how many there were."""
    folders = _entries()
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return len(folders)


def structure_key(structure: tuple) -> str:
    """The cache key (hex) of a model structure (a tuple with a stable ``repr``)."""
    return hashlib.sha256(f"{_environment()}|{structure!r}".encode()).hexdigest()[:32]


def register(function, key: str) -> None:
    """Let Numba cache ``function`` (generated from source) under ``models/<key>/``."""
    _KEYS[function] = key


def read_meta(key: str) -> dict | None:
    """``model.json`` of a cached model, or None if absent or unreadable."""
    root = cache_root()
    try:
        meta = json.loads((root / key / "model.json").read_text()) if root is not None else None
    except (OSError, ValueError):
        return None
    if meta is not None:
        with contextlib.suppress(OSError):  # e.g. a shared cache entry owned by someone else: still usable
            os.utime(root / key / "model.json")  # used now: pruned last
    return meta


def write_meta(key: str, meta: dict) -> None:
    """Write ``model.json`` atomically (it marks the entry complete)."""
    folder = cache_root() / key
    folder.mkdir(exist_ok=True)
    write_text(folder / "model.json", json.dumps(meta))
    _prune(keep=MAX_MODELS)


def _prune(keep: int) -> None:
    """Delete the least recently used complete entries beyond ``keep`` (entries still being written are left).

    An entry is first renamed away, atomically: a process loading it meanwhile finds it
    gone and compiles into a new folder of that name instead of one being deleted.
    """
    used = []
    for folder in _entries():
        try:
            used.append(((folder / "model.json").stat().st_mtime, folder))
        except OSError:  # no model.json: another process may be compiling into it
            continue
    for _, folder in sorted(used, reverse=True)[keep:]:
        trash = folder.with_name(f".deleting-{folder.name}-{os.getpid()}")
        try:
            folder.rename(trash)
        except OSError:  # gone already, or not ours to move
            continue
        shutil.rmtree(trash, ignore_errors=True)


class _Locator(_CacheLocator):
    """Numba cache locator for the functions given to :func:`register`: ``models/<key>/``."""

    def __init__(self, key: str, folder: Path):
        self._key, self._folder = key, folder
        self._py_file = f"<vrest model {key}>"  # where Numba's "cannot cache" warning says the function is from

    def ensure_cache_path(self) -> None:
        self._folder.mkdir(exist_ok=True)

    def get_cache_path(self) -> str:
        return str(self._folder)

    def get_source_stamp(self) -> str:
        return self._key  # the key already covers the source

    def get_disambiguator(self) -> str:
        return self._key

    @classmethod
    def from_function(cls, py_func, py_file):
        key = _KEYS.get(py_func)
        root = None if key is None else cache_root()  # the folder is checked once per function
        return None if root is None else cls(key, root / key)


if _Locator not in CacheImpl._locator_classes:
    CacheImpl._locator_classes.insert(0, _Locator)
