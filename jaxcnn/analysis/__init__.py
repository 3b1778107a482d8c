"""Receptive fields (analytic, measured, effective) and cost (parameters, MACs) of CNNs."""

from jaxcnn.analysis.complexity import Complexity, count_macs, model_complexity
from jaxcnn.analysis.receptive_field import (
    FieldError,
    LayerField,
    ReceptiveField,
    UnsupportedPrimitive,
    layerwise_receptive_fields,
    model_function,
    model_receptive_fields,
    receptive_field,
    resolve_method,
)

__all__ = [
    "FieldError",
    "LayerField",
    "ReceptiveField",
    "UnsupportedPrimitive",
    "layerwise_receptive_fields",
    "model_function",
    "model_receptive_fields",
    "receptive_field",
    "resolve_method",
    "Complexity",
    "count_macs",
    "model_complexity",
]
