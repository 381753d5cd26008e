"""Kubernetes quantities: what CPU and memory strings mean, and which ones are refused."""

from decimal import Decimal

import pytest

from uno.deployment.domain.quantities import QuantityError, parse_cpu, parse_memory, parse_quantity


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100m", Decimal("0.1")),
        ("0.5", Decimal("0.5")),
        ("2", Decimal(2)),
        ("256Mi", Decimal(256 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("1e3", Decimal(1000)),
        ("1.5Gi", Decimal(1610612736)),
        ("500M", Decimal(500_000_000)),
        ("1k", Decimal(1000)),
        ("2Ki", Decimal(2048)),
        ("250n", Decimal("0.00000025")),
        ("1E2", Decimal(100)),
        (" 100m ", Decimal("0.1")),
    ],
)
def test_parse_quantity_returns_the_value_in_base_units(text: str, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("100m", Decimal("0.1")), ("0.5", Decimal("0.5")), ("2", Decimal(2)), ("1e3", Decimal(1000))],
)
def test_parse_cpu_returns_cores(text: str, expected: Decimal) -> None:
    assert parse_cpu(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("256Mi", Decimal(268_435_456)),
        ("1Gi", Decimal(1_073_741_824)),
        ("1.5Gi", Decimal(1_610_612_736)),
        ("500M", Decimal(500_000_000)),
        ("1e3", Decimal(1000)),
    ],
)
def test_parse_memory_returns_bytes(text: str, expected: Decimal) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("abc", "is not a quantity"),
        ("-1", "is not a quantity"),
        ("", "is not a quantity"),
        ("   ", "is not a quantity"),
        ("1.2.3", "is not a quantity"),
        ("1Zi", "unknown suffix 'Zi'"),
        ("1e", "invalid exponent"),
    ],
)
def test_parse_quantity_rejects_what_is_not_a_quantity(text: str, hint: str) -> None:
    with pytest.raises(QuantityError) as raised:
        parse_quantity(text)

    message = str(raised.value)
    assert hint in message
    assert repr(text) in message


def test_a_quantity_error_shows_examples_of_valid_quantities() -> None:
    with pytest.raises(QuantityError, match=r"examples: 100m, 0\.5, 256Mi, 1Gi"):
        parse_quantity("abc")


def test_a_quantity_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        parse_quantity("abc")


def test_a_non_string_is_not_a_quantity() -> None:
    with pytest.raises(QuantityError, match="is not a quantity"):
        parse_quantity(5)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["256Mi", "1Gi", "2Ki"])
def test_parse_cpu_refuses_a_memory_size(text: str) -> None:
    with pytest.raises(QuantityError, match="is a memory size, not a CPU amount"):
        parse_cpu(text)


@pytest.mark.parametrize("text", ["abc", "-1", "", "1Zi"])
def test_parse_cpu_refuses_invalid_quantities(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_cpu(text)


def test_parse_memory_refuses_a_fraction_of_a_byte_and_suggests_mebibytes() -> None:
    with pytest.raises(QuantityError, match=r"'100m' is a fraction of a byte \(did you mean 100Mi\?\)"):
        parse_memory("100m")


@pytest.mark.parametrize("text", ["abc", "-1", "", "1Zi", "5n", "5u"])
def test_parse_memory_refuses_invalid_quantities(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_memory(text)


def test_an_overflowing_exponent_is_a_quantity_error() -> None:
    with pytest.raises(QuantityError):
        parse_quantity("1e1000000")
