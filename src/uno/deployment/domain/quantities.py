"""Kubernetes resource quantities (``100m``, ``0.5``, ``256Mi``, ``1Gi``, ``1e3``).

The grammar follows Kubernetes' ``resource.Quantity``: a signed decimal number followed
by a binary suffix (Ki .. Ei), a decimal suffix (n, u, m, k, M, G, T, P, E) or a decimal
exponent (``e3``). Resources are never negative, so a sign is rejected here.
"""

from __future__ import annotations

import re
from decimal import Decimal

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(r"^(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>[a-zA-Z]{0,2}|[eE][+-]?[0-9]+)$")


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(text: str) -> Decimal:
    """Return the quantity's value in base units (cores for CPU, bytes for memory)."""
    match = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise QuantityError(f"{text!r} is not a quantity (examples: 100m, 0.5, 256Mi, 1Gi)")
    number, suffix = Decimal(match["number"]), match["suffix"]
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    if suffix[:1] in ("e", "E"):
        try:
            return number * Decimal(10) ** int(suffix[1:])
        except (ArithmeticError, ValueError) as error:  # Overflow for exponents like e1000000
            raise QuantityError(f"{text!r} has an invalid exponent") from error
    raise QuantityError(f"{text!r} has an unknown suffix {suffix!r} (use m, k, M, G, Ki, Mi, Gi, ...)")


def parse_cpu(text: str) -> Decimal:
    """CPU in cores: ``100m`` is 0.1, ``2`` is 2."""
    value = parse_quantity(text)
    if text.strip()[-2:] in _BINARY:
        raise QuantityError(f"{text!r} is a memory size, not a CPU amount (examples: 100m, 0.5, 2)")
    return value


def parse_memory(text: str) -> Decimal:
    """Memory in bytes: ``256Mi`` is 268435456."""
    value = parse_quantity(text)
    if text.strip().endswith(("m", "n", "u")):
        raise QuantityError(f"{text!r} is a fraction of a byte (did you mean {text.strip()[:-1]}Mi?)")
    return value
