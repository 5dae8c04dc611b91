"""The common argument checks, written once: each raises :class:`InvalidArgument`, which names the argument.

A constructor checks the values it consumes with these (``width = positive_int(width, "width", "vgg")``); the
config layer (:mod:`snnlab.instantiate`) turns the argument's name into the config key that set it
(``model.width=0``), so where a value came from is known from the structure, never guessed from a message.
This module imports nothing from snnlab.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from numbers import Integral, Real
from typing import Any


class InvalidArgument(ValueError):
    """An argument value its consumer rejects; ``argument`` is the parameter's name, ``value`` the value given."""

    def __init__(self, argument: str, value: Any, expected: str, owner: str | None = None) -> None:
        self.argument, self.value, self.expected, self.owner = argument, value, expected, owner
        super().__init__(f"{owner + ': ' if owner else ''}{argument}={value!r}: {expected}")


def is_integer(value: Any) -> bool:
    """Whether ``value`` is an integer (``True``/``False`` are not)."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def _real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def integer(value: Any, argument: str, owner: str | None = None, minimum: int | None = None) -> int:
    """``value`` as an ``int`` (at least ``minimum`` when given)."""
    if not is_integer(value) or (minimum is not None and value < minimum):
        bound = {None: "", 0: " >= 0", 1: " >= 1"}.get(minimum, f" >= {minimum}")
        raise InvalidArgument(argument, value, f"must be an integer{bound}", owner)
    return int(value)


def positive_int(value: Any, argument: str, owner: str | None = None) -> int:
    """``value`` as an integer >= 1 (a size, a count of steps)."""
    return integer(value, argument, owner, minimum=1)


def positive_ints(values: Any, argument: str, owner: str | None = None, allow_empty: bool = True) -> list[int]:
    """A list of integers >= 1 (layer widths); a single integer is refused, naming the list form."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise InvalidArgument(argument, values, "must be a list of integers >= 1, e.g. [128, 64]", owner)
    if not values and not allow_empty:
        raise InvalidArgument(argument, values, "must list at least one integer >= 1", owner)
    if not all(is_integer(v) and v >= 1 for v in values):
        raise InvalidArgument(argument, list(values), "must be a list of integers >= 1, e.g. [128, 64]", owner)
    return [int(v) for v in values]


def real(
    value: Any,
    argument: str,
    owner: str | None = None,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a ``float`` in the interval given by ``low``/``high`` (closed unless ``*_open``)."""
    ok = _real(value) and value == value  # NaN fails every bound
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        if low is None and high is None:
            expected = "must be a real number"
        elif high is None:
            expected = f"must be a real number {'>' if low_open else '>='} {low:g}"
        elif low is None:
            expected = f"must be a real number {'<' if high_open else '<='} {high:g}"
        else:
            expected = f"must be in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise InvalidArgument(argument, value, expected, owner)
    return float(value)


def positive(value: Any, argument: str, owner: str | None = None) -> float:
    """``value`` as a ``float`` > 0."""
    return real(value, argument, owner, low=0.0, low_open=True)


def probability(value: Any, argument: str, owner: str | None = None) -> float:
    """A drop probability in ``[0, 1)``."""
    return real(value, argument, owner, low=0.0, high=1.0, high_open=True)


def boolean(value: Any, argument: str, owner: str | None = None) -> bool:
    """``value`` if it is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise InvalidArgument(argument, value, "must be true or false", owner)
    return value


def one_of(value: Any, choices: Iterable[Any], argument: str, owner: str | None = None) -> Any:
    """``value`` if it is one of ``choices``; the error lists them."""
    choices = list(choices)
    if value not in choices:
        raise InvalidArgument(argument, value, f"valid: {', '.join(map(str, choices))}", owner)
    return value
