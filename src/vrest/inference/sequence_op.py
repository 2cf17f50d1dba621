"""The ordered branch likelihood as one PyTensor operation (its log-likelihood and gradient from
:func:`.sequence_kernel.sequence_pass`), run by the compiled kernel inside a Numba-compiled log-density."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key


class OrderedLikelihoodOp(Op):
    """Inputs (start, lw_lower, lw_upper, lp_lower, lp_upper): vectors over the rows in sequence order (see
    :func:`.sequence_kernel.sequence_pass`). Outputs: the total log-likelihood, its gradient with respect to lw_lower
    and lw_upper, and P(lower) per row, its gradient with respect to lp_lower (1 - P(lower): to lp_upper). The
    outputs after the first are not differentiated again."""

    __props__ = ()

    def make_node(self, *inputs) -> Apply:
        inputs = [pt.as_tensor_variable(x).astype("float64") for x in inputs]  # data may come as integers
        if len(inputs) != 5 or any(x.type.ndim != 1 for x in inputs):
            raise TypeError("OrderedLikelihoodOp: expected 5 vectors over the rows in sequence order")
        return Apply(self, inputs, [pt.dscalar()] + [x.type() for x in inputs[1:4]])

    def perform(self, node, inputs, output_storage) -> None:
        from .sequence_kernel import mark_used, sequence_pass

        mark_used()
        flat = [np.ascontiguousarray(x, dtype=float) for x in inputs]
        if len({x.size for x in flat}) != 1:
            raise ValueError("OrderedLikelihoodOp: the five vectors differ in length")
        row_ll, p_lower, grad_lower, grad_upper = (np.empty(flat[0].size) for _ in range(4))
        sequence_pass(*flat, row_ll, p_lower, grad_lower, grad_upper)
        values = (np.array(row_ll.sum()), grad_lower, grad_upper, p_lower)
        for storage, value in zip(output_storage, values, strict=True):
            storage[0] = value

    def pullback(self, inputs, outputs, output_grads):
        g = output_grads[0]
        _, grad_lower, grad_upper, p_lower = outputs
        return [pt.zeros_like(inputs[0]), g * grad_lower, g * grad_upper, g * p_lower, g * (1.0 - p_lower)]


@register_funcify_default_op_cache_key(OrderedLikelihoodOp)
def _ordered_likelihood_in_numba(op, node=None, **kwargs):
    """OrderedLikelihoodOp in a Numba-compiled function: the kernel called directly (no Python, no GIL)."""
    import numba

    from .sequence_kernel import CACHE_KEY, mark_used, sequence_pass

    mark_used()

    @numba.njit
    def ordered_likelihood(start, lw_lower, lw_upper, lp_lower, lp_upper):
        n = start.size
        if lw_lower.size != n or lw_upper.size != n or lp_lower.size != n or lp_upper.size != n:
            raise ValueError("OrderedLikelihoodOp: the five vectors differ in length")
        row_ll, p_lower, grad_lower, grad_upper = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
        sequence_pass(np.ascontiguousarray(start), np.ascontiguousarray(lw_lower), np.ascontiguousarray(lw_upper),
                      np.ascontiguousarray(lp_lower), np.ascontiguousarray(lp_upper), row_ll, p_lower, grad_lower,
                      grad_upper)  # fmt: skip
        return np.asarray(row_ll.sum()), grad_lower, grad_upper, p_lower

    return ordered_likelihood, int(CACHE_KEY[:12], 16)
