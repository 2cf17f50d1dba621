"""``python -m vrest.cli``: the ``vrest`` command."""

import sys

from .main import main

sys.exit(main())
