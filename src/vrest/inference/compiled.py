"""Compiled NUTS models: one per model structure, kept in memory and on disk.

Sampling a single cell takes well under a second; building and compiling its
log-density takes seconds. So a compiled model is keyed by the model structure
(:attr:`ModelData.key`: model, priors, coordinates, the fixed concentrations and
temperature, which inputs vary by row; not the measured values) and reused:

- within a process (a batch worker, an SBC study) from memory;
- across processes from the disk cache (:mod:`vrest.cache`): a later
  ``vrest fit`` of the same structure loads the machine code without importing PyMC
  or PyTensor.

What is compiled: PyTensor's Numba function for the log-density with its gradient
(built from the PyMC model through nutpie), wrapped in a small C callback that unpacks
one data buffer (below), cached by Numba. NUTS traces the sampled coordinates only (a
second callback copies them); :func:`.parametrisation.named_posterior` computes the
named parameters from them in NumPy afterwards, which saves Numba-compiling a second
function. A data set is bound by packing its ``pm.Data`` values into that buffer, so
one compiled model serves every data set of its structure, and a lone fit draws
exactly what the same fit in a batch draws.

Data buffer (float64): ``[length, (offset, size, rows, columns) per container, values...]``;
integer containers (cell numbers) are stored exactly as floats.

All of this uses private names: nutpie's ``compile_pymc`` internals (``_make_functions``,
``_prepare_dims_and_coords``, the fields of ``CompiledPyMCModel``), PyTensor's compiled
function internals (``vm.jit_fn``, ``maker.fgraph``, a rewrite registered in its Numba
mode, the cap on fused operands: :func:`_numba_fusion`) and Numba's cache machinery
(:mod:`vrest.cache`). :func:`compiled_model` is the one seam: with ``VREST_PUBLIC_COMPILE=1``,
or once any of those is missing or fails (a newer library; vrest then warns once, :class:`.nutpie_import.PublicCompileWarning`), every model
is compiled by the public ``nutpie.compile_pymc_model`` instead: the same PyMC model, so
the same posterior (not the same draws), compiled afresh for every fit, with no cache in
memory or on disk. ``VREST_NO_CACHE=1`` keeps the private path but without the disk
cache: nothing is read from or written to the cache folder (:mod:`vrest.cache`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
import warnings
from typing import TYPE_CHECKING

import numba
import numpy as np
import pandas as pd

from .. import cache as disk_cache
from .model_data import ModelData, flat_start
from .nutpie_import import fall_back, import_nutpie, public_path

if TYPE_CHECKING:
    from nutpie.sample import CompiledModel

PYTENSOR_FLAGS = {"numba__fastmath": False}
"""PyTensor settings of every private compile. Without fast-math the machine code computes the same
bits whether PyTensor's compiled operations come from its cache or are compiled afresh: with it, LLVM may inline
the fresh ones and reassociate, so a seeded fit drew differently (by ~1e-13) after PyTensor's cache filled."""

_MEMORY: dict[str, Compiled] = {}
_LOCK = threading.Lock()

_F64 = numba.types.CPointer(numba.types.double)
LOGP_SIGNATURE = numba.types.int64(numba.types.uint64, _F64, _F64, _F64, numba.types.voidptr)
EXPAND_SIGNATURE = numba.types.int64(numba.types.uint64, numba.types.uint64, _F64, _F64, numba.types.voidptr)

_LOGP_SOURCE = """
def vrest_logp(dim, x_, grad_, logp_, data_):
    if dim != {n_dim}:
        return -1
    x = numba.carray(x_, ({n_dim},))
    grad_out = numba.carray(grad_, ({n_dim},))
    logp_out = numba.carray(logp_, (1,))
    buf = numba.carray(data_, (int(numba.carray(data_, (1,), np.float64)[0]),), np.float64)
{unpack}
    try:
        logp, grad = logp_fn(x{args})
    except Exception:
        return 1
    logp_out[0] = logp
    finite = True
    for i in range({n_dim}):
        grad_out[i] = grad[i]
        finite = finite and np.isfinite(grad[i])
    if not finite:
        return 3
    if not np.isfinite(logp):
        return 4
    return 0
"""

_EXPAND_SOURCE = """
def vrest_expand(dim, expanded, x_, out_, data_):
    if dim != {n_dim} or expanded != {n_dim}:
        return -1
    x = numba.carray(x_, ({n_dim},))
    out = numba.carray(out_, ({n_dim},))
    for i in range({n_dim}):
        out[i] = x[i]
    return 0
"""


@dataclasses.dataclass(frozen=True)
class Compiled:
    """A compiled structure: the two C callbacks and ``meta`` (JSON: layout, coordinates, containers)."""

    logp: object  # numba CFunc
    expand: object
    meta: dict


def compiled_model(spec: ModelData) -> tuple[CompiledModel, float, str]:
    """A nutpie model for ``spec`` (its data and start point bound), the seconds spent getting it and where from.

    Where from: "compiled", "disk cache", "memory" (compiled earlier in this process: 0 s) or
    "public compile" (``nutpie.compile_pymc_model``: see the module docstring).
    """
    t0 = time.perf_counter()
    import_nutpie()  # first: where its own private step fails, this fit already takes the public path
    with _LOCK:
        if not public_path():
            try:
                model, source = _private_model(spec)
            except Exception as err:  # noqa: BLE001 - a private name missing or failing: the public path
                fall_back(f"the private compile path failed ({type(err).__name__}: {err})")
            else:
                return model, 0.0 if source == "memory" else time.perf_counter() - t0, source
        model = _public_model(spec)
    return model, time.perf_counter() - t0, "public compile"


def _private_model(spec: ModelData) -> tuple[CompiledModel, str]:
    """:func:`compiled_model` through the private path: the bound model and where it came from."""
    if not disk_cache.LOCATOR:
        raise ImportError("numba.core.caching is not laid out as vrest.cache expects")
    key = disk_cache.structure_key(spec.key)
    source = "memory"
    if key not in _MEMORY:
        loaded = _load(key)
        source = "compiled" if loaded is None else "disk cache"
        _MEMORY[key] = loaded or _compile(spec, key)
    return _bind(_MEMORY[key], spec), source


def _public_model(spec: ModelData) -> CompiledModel:
    """``spec``'s PyMC model compiled by ``nutpie.compile_pymc_model``, tracing the free variables on their
    natural scale (which :func:`.parametrisation.named_posterior` takes as it takes log-transformed ones)."""
    from .pymc_model import build_model

    model = build_model(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # numba object mode for the steady-state solver
        return import_nutpie().compile_pymc_model(model, var_names=[rv.name for rv in model.free_RVs])


def _python_function(name: str, text: str, key: str | None, **env):
    """Our generated source ``text`` as the Python function ``name``, registered for Numba's disk cache under ``key``."""
    namespace = {"np": np, "numba": numba, "__name__": __name__, **env}
    exec(compile(text, name, "exec"), namespace)  # noqa: S102 - our own generated source
    function = namespace[name]
    if key is not None:
        disk_cache.register(function, key)
    return function


def _callbacks(meta: dict, logp_fn, key: str | None) -> tuple:
    """(logp, expand) C callbacks; cached by Numba under ``key`` unless it is None."""
    lines, args = [], []
    for j, (_, ndim, dtype) in enumerate(meta["containers"]):
        h = 1 + 4 * j
        value = f"buf[int(buf[{h}]):int(buf[{h}]) + int(buf[{h + 1}])]"
        if ndim == 0:
            value += ".reshape(())"
        elif ndim == 2:
            value += f".reshape((int(buf[{h + 2}]), int(buf[{h + 3}])))"
        if dtype != "float64":
            value += f".astype(np.{dtype})"
        lines.append(f"    a{j} = {value}")
        args.append(f", a{j}")
    text = _LOGP_SOURCE.format(n_dim=meta["n_dim"], unpack="\n".join(lines), args="".join(args))
    logp = _python_function("vrest_logp", text, key, logp_fn=logp_fn)
    expand = _python_function("vrest_expand", _EXPAND_SOURCE.format(n_dim=meta["n_dim"]), key)
    cache = key is not None
    return numba.cfunc(LOGP_SIGNATURE, cache=cache)(logp), numba.cfunc(EXPAND_SIGNATURE, cache=cache)(expand)


def _load(key: str) -> Compiled | None:
    """The compiled model from the disk cache; None if it is not there or Numba cannot use it on this machine.
    A damaged entry (Numba cannot read its files, or ``model.json`` is garbled) is dropped: None."""
    meta = disk_cache.read_meta(key)
    if meta is None:
        return None
    try:  # without the PyTensor functions: the callbacks only load if Numba has their machine code
        logp, expand = _callbacks(meta, None, key)
    except numba.NumbaError:  # not cached for this machine (Numba tried to compile without the functions): compile
        return None
    except Exception as err:  # noqa: BLE001 - unreadable files, or a model.json without what the callbacks need
        disk_cache.drop(key, f"{type(err).__name__}: {err}")
        return None
    return Compiled(logp, expand, meta)


def _compile(spec: ModelData, key: str) -> Compiled:
    """Build the PyMC model, compile its functions and the callbacks; save them to the disk cache if possible."""
    import pytensor
    from nutpie.compile_pymc import _make_functions, _prepare_dims_and_coords
    from pymc.initial_point import make_initial_point_fn

    from .pymc_model import build_model

    model = build_model(spec)
    # cxx="": the other functions (shapes, default point) run in Python, so an empty PyTensor cache
    # costs no C compilation; the log-density is Numba's anyway
    with warnings.catch_warnings(), pytensor.config.change_flags(cxx="", **PYTENSOR_FLAGS):
        warnings.simplefilter("ignore", UserWarning)  # numba object mode for the steady-state solver
        point_fn = make_initial_point_fn(model=model, jitter_rvs=set(), return_transformed=True)
        with _numba_fusion():
            n_dim, _, logp_pt, _, _, shape_info, reparameterized = _make_functions(
                model, mode=_numba_mode(), compute_grad=True, join_expanded=True, pymc_initial_point_fn=point_fn,
                var_names=[],
            )  # fmt: skip
        point = point_fn(0)
    unsupported = [n for n in reparameterized if not n.endswith("_log__")]
    if unsupported:  # parametrisation.named_posterior undoes log transforms only
        raise ValueError(f"{unsupported[0]}: a transform other than log; cannot name its draws")
    dims, coords = _prepare_dims_and_coords(model, shape_info, reparameterized)
    names, slices, shapes = shape_info
    containers = list(logp_pt.get_shared())
    meta = {
        "model": spec.model,
        "n_dim": int(n_dim),
        "names": list(names),
        "slices": [[int(s.start), int(s.stop)] for s in slices],
        "shapes": [[int(d) for d in shape] for shape in shapes],
        "dims": {k: list(v) for k, v in dims.items()},
        "coords": {k: [v.item() if hasattr(v, "item") else v for v in index] for k, index in coords.items()},
        "start": [float(v) for name in names for v in np.ravel(point[name])],
        "containers": [[c.name, int(c.get_value().ndim), str(c.get_value().dtype)] for c in containers],
    }  # fmt: skip
    # the steady-state solver runs in Python (Numba object mode): its machine code holds addresses of this
    # process's objects and must never be reloaded by another process
    use_disk = disk_cache.cache_root() is not None and not _calls_python(logp_pt)
    logp_fn = logp_pt.vm.jit_fn
    try:
        logp, expand, stored = _compile_callbacks(meta, logp_fn, key if use_disk else None)
    except numba.NumbaError:
        raise
    except Exception as err:  # Numba could not read what it finds under ``key``: drop that and compile again
        if not (use_disk and disk_cache.drop(key, f"{type(err).__name__}: {err}")):
            raise
        logp, expand, stored = _compile_callbacks(meta, logp_fn, key)
    if stored:
        with contextlib.suppress(OSError):  # the folder went away (pruned, cleared): this model is not cached
            disk_cache.write_meta(key, meta)
    return Compiled(logp, expand, meta)


def _compile_callbacks(meta: dict, logp_fn, key: str | None) -> tuple:
    """(logp, expand, whether Numba cached them under ``key``): :func:`_callbacks`, noting Numba's "cannot cache"."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", numba.NumbaWarning)
        logp, expand = _callbacks(meta, logp_fn, key)
    return logp, expand, key is not None and not any("cannot cache" in str(w.message).lower() for w in caught)


def _numba_mode():
    """PyTensor's Numba mode, with constants folded after its scalarisation (which runs at position 100), and then
    every fill by a 0-d value made a fill by its one-element vector (:func:`_fill_from_vector`).

    Scalarising leaves conversions of constants (scalar from tensor, squeezes of constant arrays) as
    operations, each a function for Numba to compile; folded, the GHK + pump log-density has 150
    operations instead of 202 and compiles about 3 s faster. What it folds is computed once, in
    NumPy, instead of in every call: the same result for the conversions; the same compiled model
    reproduces its draws bit for bit either way (tests/test_compiled_cache.py).
    """
    from pytensor.compile.mode import get_mode
    from pytensor.graph.rewriting.basic import in2out
    from pytensor.tensor.rewriting.basic import topo_constant_folding

    return get_mode("NUMBA").register((topo_constant_folding, 100.5), (in2out(_fill_from_vector()), 100.6))


def _fill_from_vector():
    """A rewrite of ``Alloc(value, *shape)`` with a 0-d ``value`` (a scalar parameter broadcast to the rows) into
    ``Alloc(value[None], *shape)``: the same array, filled from the vector's one element. PyTensor's Numba code for
    the 0-d case assigns a 0-d array (``res[...] = value``), whose shape check makes Numba compile an error-message
    formatter: about 2 s of every cold compile of a model with such a fill (rectifying-ghk, rectifying-kir)."""
    from pytensor.graph.rewriting.basic import node_rewriter
    from pytensor.tensor.basic import Alloc, alloc

    @node_rewriter([Alloc])
    def fill_from_vector(fgraph, node):
        value, *shape = node.inputs
        if value.type.ndim != 0 or not shape:
            return None
        return [alloc(value[None], *shape)]

    return fill_from_vector


@contextlib.contextmanager
def _numba_fusion():
    """Elemwise fusion as PyTensor does it with a C compiler (up to 1024 operands per fused operation) while
    ``cxx=""`` keeps the other functions in Python. Without a compiler PyTensor caps a fusion at the 32 operands of
    a NumPy ufunc, which only its Python ``perform`` needs; in a Numba-compiled log-density the cap split the
    rectifier's graph into many loops: 59 us per log-density and gradient of rectifying-kir on the Gelband data
    against 24 us with it lifted (as in ``nutpie.compile_pymc_model``). A PyTensor without that function: no change."""
    from pytensor.tensor.rewriting import elemwise

    cap = getattr(elemwise, "elemwise_max_operands_fct", None)
    if cap is None:
        yield
        return
    elemwise.elemwise_max_operands_fct = lambda node: 1024
    try:
        yield
    finally:
        elemwise.elemwise_max_operands_fct = cap


def _calls_python(function) -> bool:
    """Whether the compiled PyTensor function contains the Python steady-state operation."""
    from ..symbolic import SteadyStateOp

    return any(isinstance(node.op, SteadyStateOp) for node in function.maker.fgraph.apply_nodes)


def _pack(arrays: list[np.ndarray]) -> np.ndarray:
    """The data buffer of the module docstring."""
    head = 1 + 4 * len(arrays)
    buf = np.zeros(head + sum(a.size for a in arrays))
    buf[0], offset = buf.size, head
    for j, a in enumerate(arrays):
        rows, columns = (list(a.shape) + [0, 0])[:2]
        buf[1 + 4 * j : 5 + 4 * j] = offset, a.size, rows, columns
        buf[offset : offset + a.size] = a.ravel()
        offset += a.size
    return buf


def _bind(compiled: Compiled, spec: ModelData) -> CompiledModel:
    """The nutpie model of ``compiled`` with the data and start point of ``spec``."""
    meta = compiled.meta
    arrays = []
    for name, ndim, _ in meta["containers"]:
        value = np.asarray(spec.values[name])
        if value.ndim != ndim:
            raise ValueError(f"data container {name!r}: expected {ndim} dimension(s), got {value.ndim}")
        arrays.append(value.astype(float))
    names, shapes = meta["names"], [tuple(s) for s in meta["shapes"]]
    slices = [slice(*s) for s in meta["slices"]]
    return import_nutpie().compile_pymc.CompiledPyMCModel(
        dims={k: tuple(v) for k, v in meta["dims"].items()},
        reparameterized_names=[],  # keep log-transformed coordinates in the posterior: named_posterior needs them
        compiled_logp_func=compiled.logp,
        compiled_expand_func=compiled.expand,
        initial_point_func=_start_function(meta, spec.start, spec.start_scale),
        shared_data={},
        shared_var_keys={},
        user_data=_pack(arrays),
        n_expanded=meta["n_dim"],
        shape_info=(names, slices, shapes),
        logp_func=None,
        expand_func=None,
        _n_dim=meta["n_dim"],
        _shapes=dict(zip(names, shapes, strict=True)),
        _coords={k: pd.Index(v) for k, v in meta["coords"].items()},
    )


START_CLIP = 2.0
"""Each chain's start is the Laplace mode plus at most this many Laplace sds along each of its factors."""


def _start_function(meta: dict, start: dict, scale: np.ndarray | None):
    """Initial points: PyMC's default point (``meta["start"]``) with ``start`` (the Laplace mode) put in; the
    coordinates of ``start`` move to a draw of the Laplace approximation (``scale``: its Cholesky factor, each
    standard normal clipped at START_CLIP), the others (sigma, a hierarchical model's cell terms) by uniform(-1, 1)."""
    base = np.array(meta["start"])
    where = dict(zip(meta["names"], meta["slices"], strict=True))
    order = np.concatenate([np.arange(*where[name]) for name in start]).astype(int)  # the order of ``scale``
    base[order] = flat_start(start)
    own = np.isin(np.arange(base.size), order)

    def initial_point(seed) -> np.ndarray:
        rng = np.random.default_rng(seed)
        point = base + np.where(own, 0.0, rng.uniform(-1.0, 1.0, base.size))
        if scale is not None:
            point[order] += scale @ np.clip(rng.standard_normal(order.size), -START_CLIP, START_CLIP)
        return point

    return initial_point
