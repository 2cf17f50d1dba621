"""nutpie is imported with arviz_base standing in for the arviz meta-package (see vrest.inference.nutpie_import)."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys


def test_nutpie_uses_only_names_that_arviz_takes_unchanged_from_arviz_base():
    import arviz
    import arviz_base

    from vrest.inference.nutpie_import import import_nutpie

    import_nutpie()
    source = inspect.getsource(sys.modules["nutpie.sample"])
    names = set(re.findall(r"\barviz\.(\w+)", source))
    assert {"from_dict", "dict_to_dataset"} <= names
    for name in names:
        assert getattr(arviz, name) is getattr(arviz_base, name), f"arviz.{name} is not arviz_base.{name}"


def test_a_fit_imports_neither_arviz_plots_nor_matplotlib_and_arviz_stays_the_real_package():
    code = (
        "import sys\n"
        "from vrest.inference import compiled, fit\n"
        "from vrest.inference.nutpie_import import import_nutpie\n"
        "assert import_nutpie().sample is not None\n"
        "print(sorted(m for m in ('arviz', 'arviz_plots', 'matplotlib') if m in sys.modules))\n"
        "import arviz\n"
        "print(hasattr(arviz, 'plot_dist'), sys.modules['nutpie.sample'].arviz.__name__)\n"
        "import arviz_base\n"
        "print(sorted(n for n, m in list(sys.modules.items()) if getattr(m, 'arviz', None) is arviz_base))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "True arviz_base"
    assert out[2] == "['nutpie.sample']"  # the only module that kept the stand-in
