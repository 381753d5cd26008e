"""The local platform's settings and its agent's wire protocol."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.contract.test_repositories import T0
from uno.core.errors import ErrorCode
from uno.core.result import Failure, Success
from uno.deployment.adapters.platforms.local import options, wire
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import new_config_id


def config_with(settings: dict, network: dict | None = None) -> object:
    given = {"app_name": "shop", "app_version": "1.0.0", "environment": "dev", "custom_settings": settings}
    if network is not None:
        given["network"] = network
    return configuring.build(new_config_id(), given, T0).value


def test_defaults_fill_what_is_not_given():
    parsed = options.options_for(config_with({"command": ["python", "app.py"], "port": 8000})).value

    assert parsed == options.LocalOptions(("python", "app.py"), 8000, "/health", None, 1.0, 5.0, 1, 3)
    assert (parsed.log_max_bytes, parsed.log_backups) == (10 * 1024 * 1024, 3)
    assert (parsed.domain, parsed.use_https, parsed.tls_cert_file, parsed.tls_key_file) == (None, False, None, None)


def test_the_network_section_gives_the_port_and_the_health_path():
    parsed = options.options_for(config_with({"command": ["python"]}, {"port": 9000, "health_check_path": "/ready"}))

    assert (parsed.value.port, parsed.value.health_path) == (9000, "/ready")


def test_the_custom_port_and_the_deprecated_health_path_win_while_set():
    settings = {"command": ["python"], "port": 8001, "health_path": "/up"}

    parsed = options.options_for(config_with(settings, {"port": 9000, "health_check_path": "/ready"}))

    assert (parsed.value.port, parsed.value.health_path) == (8001, "/up")


def _pair(folder: Path, name: str) -> tuple[str, str]:
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    argv = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    argv += ["-days", "1", "-subj", "/CN=shop.example.test", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(argv, check=True, capture_output=True)
    return str(cert), str(key)


HTTPS = {"domain": "shop.example.test", "use_https": True}


@pytest.mark.skipif(shutil.which("openssl") is None, reason="makes its certificates with openssl")
def test_a_configured_certificate_must_be_a_readable_matching_pair(tmp_path: Path):
    cert, key = _pair(tmp_path, "one")
    _, other_key = _pair(tmp_path, "two")

    pair = {"command": ["python"], "tls_cert_file": cert, "tls_key_file": key}

    served = options.options_for(config_with(pair, HTTPS))
    mismatched = options.options_for(
        config_with({"command": ["python"], "tls_cert_file": cert, "tls_key_file": other_key}, HTTPS)
    )
    missing = options.options_for(
        config_with({"command": ["python"], "tls_cert_file": str(tmp_path / "none.crt"), "tls_key_file": key}, HTTPS)
    )

    assert (served.value.use_https, served.value.tls_cert_file, served.value.tls_key_file) == (True, cert, key)
    assert mismatched.error.context["field"] == "custom_settings.tls_cert_file"
    assert f"the key {other_key} does not belong to the certificate {cert}" in mismatched.error.message
    assert f"{tmp_path / 'none.crt'} is not a readable file" in missing.error.message


@pytest.mark.skipif(shutil.which("openssl") is None, reason="makes its certificates with openssl")
def test_an_encrypted_key_is_refused_instead_of_waiting_for_a_passphrase(tmp_path: Path):
    cert, key = str(tmp_path / "c.pem"), str(tmp_path / "k.pem")
    argv = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    argv += ["-passout", "pass:secret", "-days", "1", "-subj", "/CN=shop.example.test", "-keyout", key, "-out", cert]
    subprocess.run(argv, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    encrypted = {"command": ["python"], "tls_cert_file": cert, "tls_key_file": key}

    result = options.options_for(config_with(encrypted, HTTPS))

    assert result.error.context["field"] == "custom_settings.tls_cert_file"
    assert f"{key}: the key file is encrypted" in result.error.message


@pytest.mark.parametrize(
    ("settings", "network", "field", "said"),
    [
        ({"tls_cert_file": "/etc/x.crt"}, HTTPS, "custom_settings.tls_key_file", "give both"),
        ({"tls_key_file": "/etc/x.key"}, HTTPS, "custom_settings.tls_cert_file", "give both"),
        ({"tls_cert_file": "a", "tls_key_file": "b"}, {}, "custom_settings.tls_cert_file", "use_https on"),
        ({"tls_cert_file": 3, "tls_key_file": "b"}, HTTPS, "custom_settings.tls_cert_file", "PEM file"),
    ],
)
def test_certificate_settings_that_cannot_be_served_are_refused(settings, network, field, said):
    result = options.options_for(config_with({"command": ["python"], **settings}, network))

    assert result.error.context["field"] == field
    assert said in result.error.message


def test_log_rotation_is_set_in_bytes_and_backups():
    settings = {"command": ["python"], "port": 8000, "log_max_bytes": 1024, "log_backups": 0}

    parsed = options.options_for(config_with(settings)).value

    assert (parsed.log_max_bytes, parsed.log_backups) == (1024, 0)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"port": 8000}, "custom_settings.command"),
        ({"command": "python app.py", "port": 8000}, "custom_settings.command"),
        ({"command": ["python"], "port": "8000"}, "custom_settings.port"),
        ({"command": ["python"], "port": 70000}, "custom_settings.port"),
        ({"command": ["python"], "port": 8000, "health_path": "healthz"}, "custom_settings.health_path"),
        ({"command": ["python"], "port": 8000, "health_timeout_seconds": 0}, "custom_settings.health_timeout_seconds"),
        ({"command": ["python"], "port": 8000, "log_max_bytes": 1023}, "custom_settings.log_max_bytes"),
        ({"command": ["python"], "port": 8000, "log_max_bytes": "10MB"}, "custom_settings.log_max_bytes"),
        ({"command": ["python"], "port": 8000, "log_max_bytes": 2048.0}, "custom_settings.log_max_bytes"),
        ({"command": ["python"], "port": 8000, "log_backups": -1}, "custom_settings.log_backups"),
        ({"command": ["python"], "port": 8000, "log_backups": True}, "custom_settings.log_backups"),
        ({"command": ["python"], "port": 8000, "log_backups": 101}, "custom_settings.log_backups"),
    ],
)
def test_bad_settings_name_their_field(settings, field):
    result = options.options_for(config_with(settings))

    assert result.error.code is ErrorCode.VALIDATION_ERROR
    assert result.error.context["field"] == field


def test_a_bad_log_size_says_what_is_allowed():
    result = options.options_for(config_with({"command": ["python"], "port": 8000, "log_max_bytes": 0}))

    assert "custom_settings.log_max_bytes" in str(result.error)
    assert "whole number of bytes from 1024 (1 KiB) to 1099511627776 (1 TiB)" in result.error.message


async def test_a_call_round_trips_and_a_dead_agent_is_unavailable(tmp_path: Path):
    socket_path = tmp_path / "agent.sock"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = json.loads(await reader.readline())
        if request["op"] == "fail":
            reply = wire.answer(Failure(wire.ErrorDetails(ErrorCode.NOT_FOUND, "no such version", {})))
        else:
            reply = wire.answer(Success({"echo": request["op"]}))
        writer.write(wire.encode(reply))
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_unix_server(serve, path=str(socket_path))
    async with server:
        ok = await wire.call(socket_path, {"op": "ping"}, timeout=5)
        failed = await wire.call(socket_path, {"op": "fail"}, timeout=5)
    dead = await wire.call(tmp_path / "nobody.sock", {"op": "ping"}, timeout=5)

    assert ok.value == {"echo": "ping"}
    assert (failed.error.code, failed.error.message) == (ErrorCode.NOT_FOUND, "no such version")
    assert dead.error.code is ErrorCode.UNAVAILABLE
