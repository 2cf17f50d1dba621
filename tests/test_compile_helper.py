"""The compile helper: a second process compiles the later part of a graph into PyTensor's cache of Numba code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = """
import json, sys
import numpy as np
import pytensor, pytensor.tensor as pt
from vrest.inference import compile_helper
from vrest.inference.compiled import PYTENSOR_FLAGS

x, a = pt.vector("x"), pt.scalar("a")
y = pt.exp(a * x).sum() + pt.log1p(a**2) * pt.sqrt(x).max() / (1 + pt.softplus(a))
with pytensor.config.change_flags(**PYTENSOR_FLAGS):  # as vrest compiles
    f = pytensor.function([x, a], [y, pytensor.grad(y, a), pytensor.grad(y, x)], mode="NUMBA")
returncode = None
if sys.argv[1] == "helper":  # the helper compiles first (to the end), then this process finds its functions
    helper = compile_helper.start(PYTENSOR_FLAGS)
    if helper is None:
        print(json.dumps({"returncode": "not started"}))
        sys.exit()
    compile_helper.send(helper, f.maker.fgraph)
    returncode = helper.wait(timeout=300)
from numba.core import event
with event.install_recorder("numba:compile") as recorder:  # Numba compiles at the first call
    values = [np.asarray(v).tolist() for v in f(np.linspace(0.1, 3.0, 7), 0.37)]
compiled = sum(1 for _, e in recorder.buffer if e.is_start)
print(json.dumps({"returncode": returncode, "values": values, "compiled": compiled}))
"""


def run(tmp_path, how: str) -> dict:
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={tmp_path / how}"}
    out = subprocess.run([sys.executable, "-c", SCRIPT, how], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_helper_caches_its_part_and_the_function_computes_the_same_bits(tmp_path):
    alone, helped = run(tmp_path, "alone"), run(tmp_path, "helper")
    if helped["returncode"] == "not started":
        pytest.skip("no compile helper here (a single usable CPU or PyTensor's cache off)")
    assert helped["returncode"] == 0
    assert any((tmp_path / "helper" / "numba").glob("*.nbi"))  # the helper's compiled operations
    assert helped["compiled"] < alone["compiled"] * 0.75  # ... which this process loaded instead of compiling
    for a, b in zip(alone["values"], helped["values"], strict=True):
        assert np.array_equal(a, b)  # bit for bit: the same machine code, compiled here or there


def test_without_a_graph_the_helper_ends_at_once():
    from vrest.inference import compile_helper

    helper = compile_helper.start({})
    if helper is None:
        pytest.skip("no compile helper here (a single usable CPU or PyTensor's cache off)")
    compile_helper.send(helper, None)
    assert helper.wait(timeout=120) == 0
    compile_helper.stop(helper)  # stopping a finished helper is harmless
