"""nutpie, imported without ArviZ's plotting stack.

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
"""

from __future__ import annotations

import sys
from types import ModuleType


def import_nutpie() -> ModuleType:
    """The ``nutpie`` module (imported on first call)."""
    if "nutpie" not in sys.modules and "arviz" not in sys.modules:
        import arviz_base

        sys.modules["arviz"] = arviz_base
        try:
            import nutpie  # imported here with the stand-in in place
        finally:
            if sys.modules.get("arviz") is arviz_base:
                del sys.modules["arviz"]
    import nutpie

    return nutpie
