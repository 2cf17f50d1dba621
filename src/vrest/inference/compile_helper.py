"""A second process that compiles the later part of a new log-density while this one compiles the rest.

Numba compiles a log-density's PyTensor operations (about 150 small functions) one after
another, in the order of the graph, and PyTensor keeps each in its cache of compiled
operations. With :func:`start` a helper process is started when a model is about to be
compiled (it imports PyTensor and Numba meanwhile); :func:`send` gives it the graph's
operations from :data:`SHARE_START` on, which it compiles into the same cache, and this
process then loads those from the cache instead of compiling them: 1.8 s less of a 13-16 s
compile on 2 cores, measured before constants were folded (analyses/benchmarks/RESULTS.md). Either way it is the same compiled
code. Nothing depends on the helper: if it cannot start, fails or is late, this process
compiles everything itself; :func:`stop` ends it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shlex
import subprocess
import sys
import threading

SHARE_START = 0.35
"""The helper compiles the operations after this fraction of the graph (this process reaches them last)."""


def start(settings: dict) -> subprocess.Popen | None:
    """Start the helper with these PyTensor ``settings`` (those the graph is compiled with here) and this process's
    cache folder; None with a single usable CPU, without PyTensor's cache, or when it cannot be started."""
    import pytensor

    from ..machine import usable_cpus  # imported here: this file also runs as a script (the helper)

    if usable_cpus() < 2 or not pytensor.config.numba__cache or not sys.executable or getattr(sys, "frozen", False):
        return None
    own = {"base_compiledir": pytensor.config.base_compiledir, **settings}
    flags = ",".join([os.environ.get("PYTENSOR_FLAGS") or "", *(f"{k}={shlex.quote(str(v))}" for k, v in own.items())])
    try:
        return subprocess.Popen([sys.executable, "-P", __file__], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env={**os.environ, "PYTENSOR_FLAGS": flags.lstrip(",")})  # fmt: skip
    except OSError:
        return None


def send(helper: subprocess.Popen | None, fgraph) -> None:
    """Give ``helper`` the operations of ``fgraph`` (a compiled PyTensor FunctionGraph) from :data:`SHARE_START` on;
    with ``fgraph`` None, nothing (it ends). Written from a thread: the helper may still be importing."""
    if helper is None:
        return
    try:
        payload = b"" if fgraph is None else pickle.dumps(_later_part(fgraph))
    except Exception:  # noqa: BLE001 - an operation that cannot be copied or pickled: no help
        payload = b""
    threading.Thread(target=_write_and_close, args=(helper, payload), daemon=True).start()


def _later_part(fgraph) -> tuple:
    """The operations of ``fgraph`` from :data:`SHARE_START` on, as a FunctionGraph of their own, and the Numba
    array layout of each of its inputs."""
    from pytensor.graph.basic import Constant
    from pytensor.graph.fg import FunctionGraph

    nodes = fgraph.toposort()
    later = nodes[int(SHARE_START * len(nodes)) :]
    produced = {out for node in later for out in node.outputs}
    inputs = list(dict.fromkeys(v for node in later for v in node.inputs
                                if v not in produced and not isinstance(v, Constant)))  # fmt: skip
    used = {v for node in later for v in node.inputs}
    # how this process's Numba code holds each input: C-contiguous, unless an operation's view of another array
    layouts = ["A" if v.owner is not None and v.owner.op.view_map else "C" for v in inputs]
    return FunctionGraph(inputs, [out for node in later for out in node.outputs if out not in used], clone=True), layouts


def _write_and_close(helper: subprocess.Popen, payload: bytes) -> None:
    try:
        with contextlib.suppress(OSError):  # the helper is gone (stopped): nothing to do
            helper.stdin.write(payload)
    finally:
        with contextlib.suppress(OSError):
            helper.stdin.close()


def stop(helper: subprocess.Popen | None) -> None:
    """End ``helper`` (done or not: what it has cached stays valid)."""
    if helper is not None:
        helper.kill()
        helper.wait()
        with contextlib.suppress(OSError):
            helper.stdin.close()


def _compile_sent_graph() -> None:
    """The helper: compile the graph read from stdin into PyTensor's cache of compiled operations."""
    import numba  # noqa: F401 - imported while the parent builds the graph
    import pymc  # noqa: F401 - its operations are in the graph
    from pytensor.link.numba.dispatch import numba_funcify
    from pytensor.link.numba.dispatch.basic import get_numba_type

    data = sys.stdin.buffer.read()
    if data:
        graph, layouts = pickle.loads(data)  # written by the parent process just now
        numba_funcify(graph).compile(tuple(get_numba_type(v.type, layout=lay) for v, lay in zip(graph.inputs, layouts, strict=True)))


if __name__ == "__main__":
    _compile_sent_graph()
