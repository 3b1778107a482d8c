"""One argparse formatter for every command in ``experiments/`` (the module docstring kept as
written, and every option's default shown in ``--help``), and the typed argument helpers the
commands share.

Each helper is an argparse ``type=``: it raises ``argparse.ArgumentTypeError``, which argparse
prints as ``argument --flag: <message>`` (so the error names the flag) and exits with status 2,
before any jax import or data loading. Helpers that stand in for ``type=str`` return the string
unchanged, so namespaces (and configs recorded from them) keep their types. Free of jax imports:
``classify`` must set XLA flags before jax loads.
"""

from __future__ import annotations

import argparse
import ast
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "HelpFormatter",
    "positive_int",
    "nonnegative_int",
    "positive_float",
    "nonnegative_float",
    "probability",
    "number_in",
    "existing_dir",
    "existing_dir_path",
    "key_value",
    "comma_list",
    "comma_ints",
    "weights_source",
    "flag_error",
    "parse_value",
]


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Raw description + ``(default: ...)`` after each option's help."""


def _int(text: str, what: str) -> int:
    try:
        return int(text)  # "1.5", "nan" and "" are refused, not truncated
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def _bounded(
    convert: Callable[[str, str], Any], what: str, ok: Callable[[Any], bool], name: str, doc: str
) -> Callable[[str], Any]:
    """An argparse type: ``convert`` the text, then refuse a value outside ``ok`` as "expected {what}"."""

    def parse(text: str):
        value = convert(text, what)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__, parse.__doc__ = name, doc
    return parse


positive_int = _bounded(
    _int, "a positive integer", lambda v: v >= 1, "positive_int", "An integer >= 1 (steps, sizes, counts)."
)
nonnegative_int = _bounded(
    _int,
    "an integer >= 0",
    lambda v: v >= 0,
    "nonnegative_int",
    "An integer >= 0 (seeds, optional counts where 0 means 'none').",
)


def _float(text: str, what: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value):  # float() accepts "nan" and "inf"
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r} (not finite)")
    return value


def number_in(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """A finite number in the interval [low, high] (either end open if asked)."""
    what = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def ok(value: float) -> bool:
        return (low < value if low_open else low <= value) and (value < high if high_open else value <= high)

    return _bounded(_float, what, ok, "number", f"A finite number in {what[len('a number in ') :]}.")


positive_float = _bounded(
    _float, "a positive number", lambda v: v > 0, "positive_float", "A finite number > 0 (learning rates, scales)."
)
nonnegative_float = _bounded(
    _float, "a number >= 0", lambda v: v >= 0, "nonnegative_float", "A finite number >= 0 (weight decay)."
)


probability = number_in(0.0, 1.0)
probability.__name__ = "probability"


def existing_dir(text: str) -> str:
    """An existing directory; the string is returned unchanged."""
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not an existing directory")
    return text


def existing_dir_path(text: str) -> Path:
    """An existing directory, as a ``Path`` (for flags declared ``type=Path``)."""
    return Path(existing_dir(text))


def key_value(text: str) -> str:
    """``KEY=VALUE`` with a Python identifier as KEY; the string is returned unchanged."""
    key, sep, _ = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY an option name, got {text!r}")
    return text


def comma_list(choices: Iterable[str], allow_empty: bool = False) -> Callable[[str], str]:
    """A comma list, each item one of ``choices`` (at least one item unless ``allow_empty``); the string is
    returned unchanged."""
    choices = tuple(choices)

    def parse(text: str) -> str:
        items = [s for s in text.split(",") if s]
        bad = [s for s in items if s not in choices]
        if bad or not (items or allow_empty):
            raise argparse.ArgumentTypeError(
                f"expected a comma list of {list(choices)}, got {text!r}" + (f" (unknown {bad})" if bad else "")
            )
        return text

    parse.__name__ = "comma_list"
    return parse


def comma_ints(text: str) -> str:
    """A non-empty comma list of positive integers (e.g. ``3,9``); the string is returned unchanged."""
    items = [s for s in text.split(",") if s]
    try:
        ok = bool(items) and all(int(s) >= 1 for s in items)
    except ValueError:
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"expected a comma list of positive integers, e.g. 3,9, got {text!r}")
    return text


def flag_error(parser: argparse.ArgumentParser, flag: str, message: str):
    """Exit the way argparse does for a bad ``type=`` value: ``argument FLAG: message`` (status 2)."""
    parser.error(f"argument {flag}: {message}")


def weights_source(allow_none: bool = False) -> Callable[[str], str]:
    """A shipped checkpoint name (``jaxcnn.list_pretrained()``) or an existing weights file (or ``'none'``
    if allowed); the string is returned unchanged. Imports jaxcnn (and so jax) only when called."""

    def parse(text: str) -> str:
        if (allow_none and text == "none") or Path(text).is_file():
            return text
        from jaxcnn.pretrained import list_pretrained

        if text in list_pretrained():
            return text
        extra = " or 'none'" if allow_none else ""
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a file nor a shipped checkpoint {list_pretrained()}{extra}"
        )

    parse.__name__ = "weights"
    return parse


def parse_value(text: str):
    """A ``KEY=VALUE`` value: a Python literal (``3``, ``True``, ``(2, 3)``), else the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
