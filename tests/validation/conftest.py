"""Table-driven bad-input tests: each case asserts the exception type, that the message names the
argument, and that nothing was compiled on the way (the check runs at the boundary, in milliseconds).

``sweep.py`` here is a tool (run it as a script), not a test module.
"""

import re

import jax
import pytest

collect_ignore = ["sweep.py"]

_COMPILES: list[str] = []


def _listener(name, *args, **kwargs):
    if name == "/jax/core/compile/backend_compile_duration":
        _COMPILES.append(name)


jax.monitoring.register_event_duration_secs_listener(_listener)


def assert_bad_input(thunk, exc, argument, compiles: bool = False):
    """``thunk()`` raises ``exc`` naming ``argument`` (a whole word; a tuple: one of them) before any XLA
    compile (unless ``compiles``)."""
    _COMPILES.clear()
    with pytest.raises(exc) as info:
        thunk()
    if exc is ValueError:  # a wrong *type* must be a TypeError, a wrong value a plain ValueError
        assert not isinstance(info.value, TypeError), f"expected a ValueError, got {info.type.__name__}: {info.value}"
    message = str(info.value)
    names = (argument,) if isinstance(argument, str) else argument
    assert any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", message) for n in names), (
        f"message does not name {argument!r}: {message}"
    )
    assert compiles or not _COMPILES, f"{len(_COMPILES)} XLA compile(s) before the error: validate earlier"
    return message


@pytest.fixture
def bad_input():
    return assert_bad_input
