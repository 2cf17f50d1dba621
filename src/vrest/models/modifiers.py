"""Per-row modifiers around a model's formulas, the same for NumPy and PyTensor.

A fit's rows can differ in ways no model formula knows about; two kinds are applied here, outside the models,
so that every model (closed form or fixed point, every backend) takes them alike:

- ``<input>_scale`` (>= 0, one per row): the model sees ``input x scale`` on that row. A condition's pump block
  (``pump_mv_scale = 0``), partial block (0.4), or a blocked conductance (Ba2+ on g_k) is a scale of one shared,
  fitted parameter. dV/d(input) is multiplied by the scale (chain rule).
- ``ljp_error_mv`` (mV, a fitted nuisance): the error of an uncertain liquid-junction potential's assumed mean,
  added to V on the rows its ``ljp_error_mv_scale`` weights (1 where the condition's LJP sd is the largest, sd/sd_max
  on others, 0 on rows whose LJP is known). The rows' V_m are corrected with the assumed mean before fitting, so
  V_recorded - LJP_mean = V + weight x ljp_error_mv.
"""

from __future__ import annotations

SUFFIX = "_scale"
OFFSETS = ("ljp_error_mv",)
"""Additive terms (mV) of the predicted V, each weighted per row by its ``_scale``."""
SCALABLE = ("p_na", "p_cl", "p_ca", "g_k", "g_na", "g_cl", "pump_mv", "i_pump")
"""Model inputs a condition may scale (0 blocks): permeability ratios, conductances, the pump term."""


def split(model_inputs: tuple[str, ...], inputs: dict) -> tuple[dict, dict, dict]:
    """(the other inputs, the scales by input name, the offsets as name -> (value, weight)).

    Inputs that are neither the model's nor a modifier are left in the first dict, for the caller to refuse.
    """
    plain = {k: v for k, v in inputs.items() if k not in OFFSETS and not _is_scale(k, model_inputs)}
    scales = {k.removesuffix(SUFFIX): v for k, v in inputs.items() if _is_scale(k, model_inputs)}
    offsets = {k: (v, scales.pop(k, 1.0)) for k, v in inputs.items() if k in OFFSETS}
    return plain, scales, offsets


def scaled(values: dict, scales: dict) -> dict:
    """The model's input values (defaults filled in) with every scale applied."""
    return {k: (v * scales[k] if k in scales else v) for k, v in values.items()}


def offset(offsets: dict):
    """The additive term of V (mV): sum of offset x weight (0 without offsets)."""
    return sum((value * weight for value, weight in offsets.values()), 0.0)


def chain(grad: dict, scales: dict, offsets: dict) -> dict:
    """dV/dx for the unscaled inputs x, and dV/d(offset) = its weight, from dV/dx at the scaled inputs."""
    out = {k: (v * scales[k] if k in scales else v) for k, v in grad.items()}
    out |= {name: weight for name, (_, weight) in offsets.items()}
    return out


def _is_scale(key: str, model_inputs: tuple[str, ...]) -> bool:
    base = key.removesuffix(SUFFIX)
    return key.endswith(SUFFIX) and (base in OFFSETS or (base in SCALABLE and base in model_inputs))
