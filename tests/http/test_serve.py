"""``uno-deploy serve``: auth stays on unless the server is bound to loopback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from uno.deployment.entrypoints.cli.main import app
from uno.deployment.entrypoints.cli.serving import is_loopback


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
def test_no_auth_is_refused_off_loopback(host: str):
    result = CliRunner().invoke(app, ["serve", "--host", host, "--no-auth"])

    assert result.exit_code == 2
    assert f"--no-auth is only allowed on a loopback address, not '{host}'" in result.output


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("10.0.0.1", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool):
    assert is_loopback(host) is loopback
