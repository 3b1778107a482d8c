"""Declared field checks: each constraint is written once, next to its field, and checked once, when the
module (or dataclass) is constructed. A class inherits :class:`Declared` (before ``nn.Module``), declares
fields with :func:`declare` and puts cross-field relations in ``check_relations``::

    class Block(Declared, nn.Module):
        features: int = declare(POSITIVE_INT)          # required field
        shortcut: str = declare(choice("A", "B"), "B")

        def check_relations(self):
            if self.shortcut == "A" and self.features < 2:
                raise self.field_error("features", "at least 2 with shortcut 'A'")

A :class:`Rule` lists the values it refuses (``bad``): ``tests/validation/test_declared.py`` generates
the bad-input tests from the declarations. Inherited fields are re-declared with the same default.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

from jaxcnn import validation as v

__all__ = [
    "Rule",
    "Declared",
    "declare",
    "declared_rules",
    "optional",
    "choice",
    "int_at_least",
    "number_in",
    "int_tuple",
    "int_pair",
    "POSITIVE_INT",
    "NONNEGATIVE_INT",
    "PROBABILITY",
    "FLAG",
    "SIZES",
    "OPTIONAL_SIZES",
    "DTYPE",
    "AXIS_NAME",
    "MODULE_DEF",
    "OPTIONAL_MODULE_DEF",
    "CALLABLE",
    "POSITIVE_NUMBER",
    "UNIT_INTERVAL",
    "ODD_KERNEL",
    "NAME",
]


@dataclasses.dataclass(frozen=True)
class Rule:
    """A field constraint: ``check(value, name)`` raises ``ValueError``/``TypeError`` naming ``name``, the
    value and what was expected; ``bad`` lists values it refuses; ``kind`` names it in test ids."""

    kind: str
    check: Callable[[Any, str], Any]
    bad: tuple = ()

    def __call__(self, value: Any, name: str) -> None:
        self.check(value, name)


def declare(rule: Rule, default: Any = dataclasses.MISSING) -> Any:
    """A dataclass field checked by ``rule`` at construction (``default`` omitted: a required field)."""
    return dataclasses.field(default=default, metadata={"rule": rule})


@functools.cache
def declared_rules(cls: type) -> dict[str, Rule]:
    """``{field name: rule}`` of every declared field of a dataclass (or Flax module) class."""
    return {f.name: f.metadata["rule"] for f in dataclasses.fields(cls) if "rule" in f.metadata}


def _key(value: Any) -> Any:
    """``value`` tagged with its type at every level (``2``, ``2.0`` and ``True`` differ); ``TypeError``
    if it is unhashable (an array)."""
    if isinstance(value, (list, tuple)):
        return type(value), tuple(_key(v) for v in value)
    if isinstance(value, Mapping):
        return type(value), tuple(sorted((k, _key(v)) for k, v in value.items()))
    hash(value)
    return type(value), value


# Configurations (class, field values) that passed. Linen rebuilds every submodule on every trace and
# clones modules when binding them; each distinct configuration is checked once.
_PASSED: set = set()


class Declared:
    """Mixin: checks every declared field, then ``check_relations``, once per distinct configuration
    (Linen's clones are not checked again). Errors start with the class name."""

    def __post_init__(self):
        getattr(super(), "__post_init__", lambda: None)()
        values = {name: getattr(self, name) for name in declared_rules(type(self))}
        try:
            key = (type(self), tuple(_key(value) for value in values.values()))
        except TypeError:  # an unhashable value (an array): checked every time
            key = None
        if key in _PASSED:
            return
        for name, rule in declared_rules(type(self)).items():
            try:
                rule(values[name], name)
            except (TypeError, ValueError) as e:
                shown = "" if repr(values[name]) in str(e) else f" (got {name}={values[name]!r})"  # a row names the row
                raise type(e)(f"{type(self).__name__}: {e}{shown}") from None
        self.check_relations()
        if key is not None:
            if len(_PASSED) > 4096:
                _PASSED.clear()
            _PASSED.add(key)

    def check_relations(self) -> None:
        """Cross-field constraints of the class (override; raise with :meth:`field_error`)."""

    def field_error(self, name: str, expected: str) -> ValueError:
        """A ``ValueError`` naming the class, the field ``name``, its value and ``expected``."""
        return ValueError(f"{type(self).__name__}: {name}={getattr(self, name)!r} is invalid: {expected}")


# ----------------------------------------------------------------------------- rules


def optional(rule: Rule) -> Rule:
    """``rule`` or ``None``."""
    return Rule(
        f"optional_{rule.kind}",
        lambda x, n: None if x is None else rule(x, n),
        tuple(b for b in rule.bad if b is not None),
    )


def choice(*options: str) -> Rule:
    """One of the given strings."""
    return Rule("choice", lambda x, n: v.check_choice(x, n, options), ("?", 1, None))


def int_at_least(minimum: int) -> Rule:
    """An integer (not bool, not float) >= ``minimum``."""
    return Rule(f"int>={minimum}", lambda x, n: v.check_int(x, n, minimum=minimum), (minimum - 1, 2.0, True, "3"))


def number_in(
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
) -> Rule:
    """A finite real number (not bool) in the given range."""
    bad = [math.nan, math.inf, True, "1"]
    if minimum is not None:
        bad.append(minimum - 1.0 if min_inclusive else minimum)
    if maximum is not None:
        bad.append(maximum + 1.0 if max_inclusive else maximum)
    return Rule(
        "number",
        lambda x, n: v.check_number(x, n, minimum, maximum, min_inclusive=min_inclusive, max_inclusive=max_inclusive),
        tuple(bad),
    )


def int_tuple(minimum: int | None = None, *, length: int | None = None, min_length: int = 1) -> Rule:
    """A list/tuple of integers (``length`` of them if given, at least ``min_length``), each >= ``minimum``."""
    bad = [3, (1.0,), "12"]
    if minimum is not None:
        bad.append((minimum - 1,) * (length or max(min_length, 1)))
    if min_length > 0 and length is None:
        bad.append(())
    return Rule("int_tuple", lambda x, n: v.check_int_tuple(x, n, minimum, length, min_length), tuple(bad))


def _sizes(x: Any, n: str) -> None:
    """An int >= 1 or a tuple of them (``nn.Conv``'s size fields)."""
    if isinstance(x, (list, tuple)):
        v.check_int_tuple(x, n, minimum=1)
    else:
        v.check_positive_int(x, n)


POSITIVE_INT = Rule("positive_int", v.check_positive_int, (0, -1, 2.0, True, "3", None))
NONNEGATIVE_INT = int_at_least(0)
POSITIVE_NUMBER = number_in(0.0, min_inclusive=False)
PROBABILITY = Rule("probability", v.check_probability, (-0.1, 1.5, math.nan, True, "0.5"))
FLAG = Rule("flag", v.check_bool, ("no", 1, None))
SIZES = Rule("sizes", _sizes, (0, 2.0, (0, 1), (1.5, 1), True))
OPTIONAL_SIZES = optional(SIZES)
DTYPE = Rule("dtype", v.check_dtype, ("float33", "int32", 3))
AXIS_NAME = Rule("axis_name", v.check_axis_name, (3, ("batch", 1), ""))
CALLABLE = Rule("callable", v.check_callable, (3, "relu", None))
MODULE_DEF = Rule("module_def", v.check_callable, (3, "conv", None))
OPTIONAL_MODULE_DEF = optional(MODULE_DEF)
UNIT_INTERVAL = number_in(0.0, 1.0)
ODD_KERNEL = Rule("odd_kernel", v.check_odd_kernel, (4, 0, 3.0, True))  # torch padding (k-1)//2 keeps H, W
NAME = Rule("name", v.check_str, (3, "", None))  # a non-empty string (an rng stream)


def int_pair(minimum: int) -> Rule:
    """An int or a pair of ints (torch's ``_pair``), each >= ``minimum``."""
    return Rule(
        f"int_pair>={minimum}",
        lambda x, n: v.check_int_pair(x, n, minimum),
        (minimum - 1, (minimum, minimum - 1), 1.5, (1, 2, 3), True),
    )
