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

``VREST_NO_CACHE=1`` switches the disk cache off: every process compiles its models
afresh and nothing is written to (or read from) the cache folder.

A damaged entry (a truncated or garbled ``model.json`` or Numba file: a full disk, a
killed copy) is deleted by :func:`drop`, with one :class:`CacheEntryWarning`, and the
model compiled afresh into a new entry.

Numba finds the cached code through :class:`_Locator`, registered with Numba's
cache machinery (private: ``numba.core.caching``) the same way PyTensor registers its
own. Where that machinery is not as expected (:data:`LOCATOR` False) there is no disk
cache, and :mod:`vrest.inference.compiled` compiles through nutpie's public function.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import warnings
from functools import cache
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from weakref import WeakKeyDictionary

from ._atomic import write_text

try:  # Numba's private cache machinery
    from numba.core.caching import CacheImpl, _CacheLocator
except ImportError:
    CacheImpl, _CacheLocator = None, object

_KEYS: WeakKeyDictionary = WeakKeyDictionary()  # generated function -> its cache key
_STACK = ("numpy", "numba", "llvmlite", "pytensor", "pymc", "nutpie")
MAX_MODELS = 200
"""Cached models kept; the least recently used beyond this are deleted when a new one is stored."""


class CacheEntryWarning(UserWarning):
    """A damaged cache entry was deleted (its model is compiled afresh)."""


def env_flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to something other than empty, 0, false or no."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def cache_root() -> Path | None:
    """The cache folder, created if needed; None (no disk cache) with ``VREST_NO_CACHE`` set, without Numba's
    cache machinery (:data:`LOCATOR`), or if it cannot be written."""
    if env_flag("VREST_NO_CACHE") or not LOCATOR:
        return None
    base = (
        os.environ.get("VREST_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vrest"
    )
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


def njit(function, key: str, **options):
    """``numba.njit(**options)`` of ``function``, its machine code cached under ``models/<key>/`` (not cached at all
    where the cache folder cannot be written)."""
    import numba

    register(function, key)
    return numba.njit(cache=cache_root() is not None, **options)(function)


@cache
def mark_kernel(key: str, kind: str) -> None:
    """Once per process: write (or mark as used) the entry of a compiled kernel cached under ``key`` (``kind``: what
    it is), so that the cache folder counts it and prunes it like a compiled model."""
    if cache_root() is not None and read_meta(key) is None:
        write_meta(key, {"kind": kind})


def read_meta(key: str) -> dict | None:
    """``model.json`` of a cached model; None if absent or not readable, and if damaged (the entry is dropped)."""
    root = cache_root()
    if root is None:
        return None
    path = root / key / "model.json"
    try:
        meta = json.loads(path.read_text())
    except OSError:
        return None
    except ValueError as err:  # truncated or garbled (a UnicodeDecodeError is a ValueError too)
        drop(key, f"model.json: {err}")
        return None
    if not isinstance(meta, dict):
        drop(key, "model.json: not a JSON object")
        return None
    with contextlib.suppress(OSError):  # e.g. a shared cache entry owned by someone else: still usable
        os.utime(path)  # used now: pruned last
    return meta


def drop(key: str, reason: str) -> bool:
    """Delete the damaged entry ``key`` and say so (a :class:`CacheEntryWarning` naming ``reason``);
    False if there is no such entry."""
    root = cache_root()
    if root is None or not _remove(root / key):
        return False
    warnings.warn(f"the cached compiled model {key} could not be read ({reason}); deleted it, compiling afresh",
                  CacheEntryWarning, stacklevel=2)  # fmt: skip
    return True


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
        _remove(folder)


def _remove(folder: Path) -> bool:
    """Rename ``folder`` away (atomically) and delete it; False if it is gone already or not ours to move."""
    trash = folder.with_name(f".deleting-{folder.name}-{os.getpid()}")
    try:
        folder.rename(trash)
    except OSError:
        return False
    shutil.rmtree(trash, ignore_errors=True)
    return True


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


LOCATOR = isinstance(getattr(CacheImpl, "_locator_classes", None), list)
"""Whether :class:`_Locator` is registered with Numba's cache machinery (else: no disk cache)."""
if LOCATOR and _Locator not in CacheImpl._locator_classes:
    CacheImpl._locator_classes.insert(0, _Locator)
