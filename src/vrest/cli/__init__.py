"""Every ``vrest`` command: one module per family, each command an ``add_parser``/``run`` pair (see :mod:`.main`).

No module outside this package imports argparse.
"""

from .main import main

__all__ = ["main"]
