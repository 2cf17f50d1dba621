"""nutpie is imported with arviz_base standing in for the arviz meta-package (see vrest.inference.nutpie_import)."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys

import pytest


def test_nutpie_uses_only_names_that_arviz_takes_unchanged_from_arviz_base():
    import arviz
    import arviz_base

    from vrest.inference.nutpie_import import _ARVIZ_NAMES, import_nutpie

    import_nutpie()
    source = inspect.getsource(sys.modules["nutpie.sample"])
    names = set(re.findall(r"\barviz\.(\w+)", source))
    assert names == set(_ARVIZ_NAMES)  # the names import_nutpie checks before standing arviz_base in
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


@pytest.mark.parametrize("why", ["VREST_PUBLIC_COMPILE=1", "the stand-in fails"])
def test_without_the_stand_in_nutpie_is_imported_as_it_is_and_the_public_path_is_taken(why):
    code = (
        "import sys, warnings\n"
        "from vrest.inference import nutpie_import\n"
        "if sys.argv[1] == 'the stand-in fails':\n"
        "    nutpie_import._ARVIZ_NAMES = ('from_dict', 'a_name_arviz_base_lacks')\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    nutpie_import.import_nutpie()\n"
        "said = [str(w.message) for w in caught if issubclass(w.category, nutpie_import.PublicCompileWarning)]\n"
        "print(nutpie_import.public_path(), sys.modules['nutpie.sample'].arviz.__name__, said)\n"
    )
    env = {**os.environ, "VREST_PUBLIC_COMPILE": "1" if why.startswith("VREST") else ""}
    out = subprocess.run([sys.executable, "-c", code, why], env=env, capture_output=True, text=True, check=True).stdout
    public, arviz, said = out.strip().split(" ", 2)
    assert public == "True" and arviz == "arviz"  # the real meta-package
    if why.startswith("VREST"):
        assert said == "[]"  # chosen: nothing to warn about
    else:
        assert "a_name_arviz_base_lacks" in said and said.count("public compile path") == 1
