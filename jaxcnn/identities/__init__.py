"""Reference forms used to *prove* things, each an independent implementation.

The transposed convolution five ways (``conv_transpose`` itself is the vjp in
``jaxcnn.upsample``): closed-form gradient sum, dense conv matrix Cᵀ y, zero insertion with a
flipped kernel, ``lax.conv_transpose``, and PyTorch. Plus adjoint checks via
``jax.linear_transpose``. These are references, not fast paths.
"""

from jaxcnn.identities.adjoint import adjoint_gap, transpose_of
from jaxcnn.identities.conv_grad import conv_transpose_closed_form
from jaxcnn.identities.conv_matrix import conv_matrix, conv_transpose_matrix
from jaxcnn.identities.references import (
    FORMS,
    conv_transpose_forms,
    conv_transpose_lax,
    conv_transpose_torch,
    max_disagreement,
)
from jaxcnn.identities.resnext import grouped_to_branches
from jaxcnn.identities.zero_insertion import conv_transpose_zero_insertion, insert_zeros

__all__ = [
    "adjoint_gap",
    "transpose_of",
    "conv_transpose_closed_form",
    "conv_matrix",
    "conv_transpose_matrix",
    "conv_transpose_zero_insertion",
    "insert_zeros",
    "conv_transpose_lax",
    "conv_transpose_torch",
    "conv_transpose_forms",
    "max_disagreement",
    "FORMS",
    "grouped_to_branches",
]
