"""nutpie, imported without ArviZ's plotting stack; and the switch to nutpie's public compile path.

nutpie's sampling module imports the ``arviz`` meta-package only to call
``arviz.from_dict`` and ``arviz.dict_to_dataset``, which ``arviz`` re-exports unchanged
from ``arviz_base``. The meta-package also imports ``arviz_plots`` and with it
matplotlib's pyplot: 0.5-1 s of every fit on this project's machines, for nothing a
fit uses. So, unless ``arviz`` is already imported, nutpie is imported with
``arviz_base`` standing in for ``arviz``, and the stand-in is removed straight after:
a later ``import arviz`` (by vrest's report, or by the user) imports the real
package. ``tests/test_nutpie_import.py`` checks that every ``arviz.<name>`` nutpie's
source uses is the very object the real ``arviz`` exposes, and that no other module
keeps the stand-in. (Another thread importing ``arviz`` for the first time during
those moments would get ``arviz_base``; vrest's fitting code never imports ``arviz``.)

The stand-in and the compiled models of :mod:`.compiled` rely on private names of
nutpie, PyTensor, Numba and ArviZ. ``VREST_PUBLIC_COMPILE=1`` turns all of that off:
nutpie is imported as it is and every model is compiled by ``nutpie.compile_pymc_model``
(slower, no compiled-model cache; the same posterior). Where a private name is missing or
fails (a newer library), vrest takes the same public path by itself, for the rest of the
process, and says so once (:class:`PublicCompileWarning`).
"""

from __future__ import annotations

import sys
import warnings
from types import ModuleType

from ..cache import env_flag

PUBLIC_SWITCH = "VREST_PUBLIC_COMPILE"
"""The environment variable that forces the public path."""

_ARVIZ_NAMES = ("from_dict", "dict_to_dataset")
"""What nutpie takes from ``arviz`` (checked against its source by tests/test_nutpie_import.py)."""

_FAILED: list[str] = []  # why the private path failed in this process (at most one reason)


class PublicCompileWarning(UserWarning):
    """A private name vrest relies on is missing or failed: the public (slower) path is used instead."""


def public_path() -> bool:
    """Whether the public path is to be used: forced by ``VREST_PUBLIC_COMPILE``, or the private one failed."""
    return env_flag(PUBLIC_SWITCH) or bool(_FAILED)


def fall_back(reason: str) -> None:
    """Use the public path from now on in this process because of ``reason``; say so the first time."""
    if not _FAILED:
        _FAILED.append(reason)
        warnings.warn(f"{reason}; using nutpie's public compile path instead (slower, same posterior; "
                      f"set {PUBLIC_SWITCH}=1 to choose it without this warning)", PublicCompileWarning, stacklevel=3)  # fmt: skip


def import_nutpie() -> ModuleType:
    """The ``nutpie`` module (imported on first call)."""
    if "nutpie" not in sys.modules and "arviz" not in sys.modules and not public_path():
        try:
            _import_with_stand_in()
        except Exception as err:  # noqa: BLE001 - nutpie or arviz_base laid out otherwise: import nutpie as it is
            for name in [n for n in sys.modules if n == "nutpie" or n.startswith("nutpie.")]:
                del sys.modules[name]
            fall_back(f"importing nutpie with arviz_base for arviz failed ({type(err).__name__}: {err})")
    import nutpie

    return nutpie


def _import_with_stand_in() -> None:
    """Import nutpie with ``arviz_base`` as ``arviz`` (removed again afterwards)."""
    import arviz_base

    missing = [name for name in _ARVIZ_NAMES if not hasattr(arviz_base, name)]
    if missing:
        raise AttributeError(f"arviz_base has no {missing[0]}")
    sys.modules["arviz"] = arviz_base
    try:
        import nutpie  # noqa: F401 - imported here with the stand-in in place
    finally:
        if sys.modules.get("arviz") is arviz_base:
            del sys.modules["arviz"]
