"""Argument checks shared by the regularizers: a re-export of :mod:`jaxcnn.validation`."""

from jaxcnn.validation import (check_batched, check_bool, check_choice, check_floating, check_key,  # noqa: F401
                               check_probability, static_value)
