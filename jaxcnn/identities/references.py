"""Proof forms 4 and 5, and all five forms side by side.

4. ``lax.conv_transpose`` with ``transpose_kernel=True``: XLA's own transposed conv (no groups,
   so one call per group), padded ``d (k - 1) - p`` and ``d (k - 1) - p + output_padding``.
5. PyTorch ``conv_transpose2d`` in float64 -- imported only when called.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping

import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxcnn.identities._args import array_shape, as_array
from jaxcnn.identities._args import reference_args as conv_transpose_args
from jaxcnn.identities.conv_grad import conv_transpose_closed_form
from jaxcnn.identities.conv_matrix import conv_transpose_matrix
from jaxcnn.identities.zero_insertion import conv_transpose_zero_insertion
from jaxcnn.upsample.transposed import conv_transpose
from jaxcnn.validation import check_bool, check_choice, check_str

TORCH_DTYPES = ("float64", "float32")
_DEFAULTS = dict(stride=1, padding=0, output_padding=0, dilation=1, groups=1)  # conv_transpose's

__all__ = ["conv_transpose_forms", "conv_transpose_lax", "conv_transpose_torch", "max_disagreement"]


def conv_transpose_lax(y, kernel, stride=1, padding=0, output_padding=0, dilation=1, groups=1, precision=None):
    """``lax.conv_transpose`` with torch's padding rule, group by group (JAX array result)."""
    s, p, op, d, _ = conv_transpose_args(
        array_shape(y, "y"), array_shape(kernel, "kernel"), stride, padding, output_padding, dilation, groups
    )
    y, kernel = jnp.asarray(y), jnp.asarray(kernel)  # after the checks: a conversion may compile
    k = kernel.shape[:2]
    pads = [(di * (ki - 1) - pi, di * (ki - 1) - pi + opi) for ki, pi, opi, di in zip(k, p, op, d)]
    opts = dict(rhs_dilation=d, dimension_numbers=("NHWC", "HWIO", "NHWC"), transpose_kernel=True, precision=precision)
    o_g = kernel.shape[3] // groups
    group = [slice(g * o_g, (g + 1) * o_g) for g in range(groups)]
    return jnp.concatenate([lax.conv_transpose(y[..., i], kernel[..., i], s, pads, **opts) for i in group], axis=-1)


def conv_transpose_torch(
    y, kernel, stride=1, padding=0, output_padding=0, dilation=1, groups=1, dtype="float64"
) -> np.ndarray:
    """PyTorch ``conv_transpose2d`` on NHWC data and an HWIO forward kernel; NumPy result."""
    y, kernel = as_array(y, "y"), as_array(kernel, "kernel")
    check_choice(dtype, "dtype", TORCH_DTYPES)
    conv_transpose_args(np.shape(y), np.shape(kernel), stride, padding, output_padding, dilation, groups)
    import torch  # lazy: torch is an optional oracle, never a runtime dependency

    tdtype = getattr(torch, dtype)
    y_t = torch.from_numpy(np.asarray(y)).to(tdtype).permute(0, 3, 1, 2)
    w_t = torch.from_numpy(np.asarray(kernel)).to(tdtype).permute(3, 2, 0, 1)  # HWIO -> (in, out/g, kH, kW)
    out = torch.nn.functional.conv_transpose2d(y_t, w_t, None, stride, padding, output_padding, groups, dilation)
    return out.permute(0, 2, 3, 1).numpy()


FORMS: dict[str, Callable] = {
    "closed_form": conv_transpose_closed_form,
    "matrix": conv_transpose_matrix,
    "zero_insertion": conv_transpose_zero_insertion,
    "lax": conv_transpose_lax,
    "torch": conv_transpose_torch,
}


def conv_transpose_forms(y, kernel, include_torch: bool | None = None, **conv_args) -> dict[str, np.ndarray]:
    """``conv_transpose`` (the vjp) and each proof form on the same input, as float64 NumPy.

    ``include_torch=None`` adds the torch form when torch is installed. The arguments are checked
    once, before any form runs.
    """
    include_torch = check_bool(include_torch, "include_torch", allow_none=True)
    y, kernel = as_array(y, "y"), as_array(kernel, "kernel")
    unknown = sorted(set(conv_args) - set(_DEFAULTS))
    if unknown:
        raise TypeError(f"conv_transpose_forms got unknown argument(s) {unknown}; expected some of {list(_DEFAULTS)}")
    conv_transpose_args(np.shape(y), np.shape(kernel), **(_DEFAULTS | conv_args))
    if include_torch is None:
        include_torch = importlib.util.find_spec("torch") is not None
    results = {"vjp": np.asarray(conv_transpose(jnp.asarray(y), jnp.asarray(kernel), **conv_args), np.float64)}
    for name, form in FORMS.items():
        if name == "torch" and not include_torch:
            continue
        results[name] = np.asarray(form(y, kernel, **conv_args), np.float64)
    return results


def max_disagreement(results: dict[str, np.ndarray], reference: str = "vjp") -> dict[str, float]:
    """Max abs difference of every form from ``reference``.

    ``results`` maps form names to arrays of one shape (a differently shaped form would broadcast
    into a meaningless number, so it is refused); ``reference`` must be one of its keys."""
    if not isinstance(results, Mapping):
        raise TypeError(f"results must be a dict of form name -> array, got {type(results).__name__}")
    if not results:
        raise ValueError("results is empty: pass the dict that conv_transpose_forms returns")
    check_str(reference, "reference")
    if reference not in results:
        raise ValueError(f"reference {reference!r} is not among the results' forms {list(results)}")
    arrays = {k: as_array(v, f"results[{k!r}]") for k, v in results.items()}
    ref = arrays[reference]
    for k, v in arrays.items():
        if v.shape != ref.shape:
            raise ValueError(
                f"results[{k!r}] has shape {v.shape}, the reference {reference!r} has {ref.shape}: every "
                "form must have the reference's shape"
            )
    return {k: float(np.max(np.abs(v - ref))) if v.size else 0.0 for k, v in arrays.items() if k != reference}
