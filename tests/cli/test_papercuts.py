"""The small things that got in a new user's way (issue 16), each as they typed it: a file
named without -f, an app rolled back by its name, history's environment as an argument,
--set of a text field, init's environment, --help, serve's port, the demo beside hello.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cli.support import UNO_DEPLOY, free_port, hello_command, ok, uno_deploy, version_at
from uno.deployment.entrypoints.cli.main import app

pytestmark = pytest.mark.integration


def init_hello(directory: Path, port: int, *, environment: str = "dev", output: str = "deployment.yaml") -> None:
    arguments = ["init", "hello", "--env", environment, "--command", hello_command(), "--port", str(port)]
    ok(*arguments, "-o", output, cwd=directory)


def test_a_file_named_without_f_history_by_environment_and_a_rollback_by_app_name(tmp_path: Path):
    port = free_port()
    init_hello(tmp_path, port)

    planned = ok("plan", "deployment.yaml", cwd=tmp_path)
    assert planned.stdout.startswith("plan: deploy hello 1.0.0 to dev (not stored)\n")
    rendered = ok("render", "deployment.yaml", cwd=tmp_path)
    assert f"127.0.0.1:{port}" in rendered.stdout
    first = ok("deploy", "deployment.yaml", cwd=tmp_path)
    assert re.search(r"configuration cfg-\S+ created \(version 1\): hello 1\.0\.0 in dev", first.stderr)
    assert version_at(port) == "1.0.0"
    # app_version is text: 2.0 stays "2.0", not the float YAML would read
    ok("deploy", "deployment.yaml", "--set", "app_version=2.0", cwd=tmp_path)
    assert version_at(port) == "2.0"

    history = ok("history", "hello", "dev").stdout.splitlines()
    assert [row.split()[1:4] for row in history[1:]] == [
        ["deploy", "2.0", "succeeded"],
        ["deploy", "1.0.0", "succeeded"],
    ]
    assert ok("history", "hello", "dev").stdout == ok("history", "hello", "--env", "dev").stdout
    assert ok("history", "hello", "test").stdout.count("\n") <= 1

    rolled_back = ok("rollback", "hello")
    assert re.search(r"succeeded in [\d.]+s: rolled back to hello 1\.0\.0 in dev\n$", rolled_back.stdout)
    assert version_at(port) == "1.0.0"

    test_port = free_port()
    init_hello(tmp_path, test_port, environment="test", output="test.yaml")
    ok("deploy", "test.yaml", "--set", "security.scan_images=false", cwd=tmp_path)  # no pip-audit needed
    ambiguous = uno_deploy("rollback", "hello")
    assert ambiguous.returncode == 2
    assert ambiguous.stderr == "error: --env: hello is deployed in dev, test: say which with --env\n"
    missing = uno_deploy("rollback", "nothing")
    assert missing.returncode == 2, missing.stderr
    assert "nothing" in missing.stderr
    assert len(missing.stderr.splitlines()) == 1


def test_set_keeps_the_text_of_a_text_field_and_reads_yaml_for_the_others(tmp_path: Path):
    init_hello(tmp_path, free_port())

    created = ok(
        "config", "create", "-f", "deployment.yaml", "--json",
        "--set", "app_version=2.0", "--set", "description=1", "--set", "resources.replicas_min=3",
        "--set", "resources.replicas_max=3", "--set", "environment_variables.GREETING=true",
        "--set", "testing.run_unit_tests=false", "--set", "network.port=9000",
        cwd=tmp_path,
    )  # fmt: skip
    document = json.loads(created.stdout)

    assert document["app_version"] == "2.0"
    assert document["description"] == "1"
    assert document["environment_variables"] == {"GREETING": "true"}
    assert document["resources"]["replicas_min"] == 3
    assert document["testing"]["run_unit_tests"] is False
    assert document["network"]["port"] == 9000


def test_init_refuses_an_environment_it_does_not_know_before_writing_anything(tmp_path: Path):
    refused = uno_deploy("init", "hello", "--env", "qa", cwd=tmp_path)

    assert refused.returncode == 2
    assert refused.stderr == "error: --env: 'qa' is not one of dev, test, staging, production\n"
    assert not (tmp_path / "deployment.yaml").exists()


@pytest.mark.parametrize("command", ["deploy", "plan", "render", "rollback", "history", "status", "config create"])
def test_help_shows_no_type_on_flags_and_optional_arguments_in_one_pair_of_brackets(command: str):
    shown = CliRunner().invoke(app, [*command.split(), "--help"], env={"COLUMNS": "200"})

    assert shown.exit_code == 0
    assert "<bool>" not in shown.stdout
    assert "[[" not in shown.stdout
    assert re.search(r"--help +Show this message", shown.stdout)


def test_serve_refuses_a_taken_port_in_one_line_naming_who_holds_it():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]

        refused = uno_deploy("serve", "--no-auth", "--port", str(port))

    assert refused.returncode == 3
    assert "serving" not in refused.stdout + refused.stderr
    assert refused.stderr.startswith(
        f"error: cannot listen on 127.0.0.1:{port}: the port is taken by pid {os.getpid()} ("
    )
    assert len(refused.stderr.splitlines()) == 1


def test_serve_says_it_serves_once_its_port_answers():
    port = free_port()
    with subprocess.Popen(
        [*UNO_DEPLOY, "serve", "--no-auth", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        watchdog = threading.Timer(120, server.kill)  # a hung server must not hang the suite
        watchdog.start()
        try:
            assert server.stderr is not None
            first = server.stderr.readline()
            assert first == f"serving the uno-deployment API on http://127.0.0.1:{port} (auth off)\n"
            # no waiting: the port was bound and listening before the line was printed
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as response:
                assert json.load(response)["status"] == "ok"
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)
            watchdog.cancel()


def test_the_demo_beside_a_running_hello_deploys_on_its_port_and_leaves_it_stored(tmp_path: Path):
    port = free_port()
    init_hello(tmp_path, port)
    ok("deploy", "-f", "deployment.yaml", cwd=tmp_path)
    [stored] = json.loads(ok("config", "list", "--app", "hello", "--json").stdout)

    moved = uno_deploy("demo", "--port", str(free_port()), "--exit-after-ready")
    assert moved.returncode == 2
    assert moved.stderr.startswith(f"error: --port: hello in dev is configured on port {port} ({stored['id']})")

    shown = ok("demo", "--exit-after-ready")

    assert f"hello in dev is configured on port {port} ({stored['id']}): the demo deploys there" in shown.stdout
    assert f"hello 2.0.0 is served at http://127.0.0.1:{port}/" in shown.stdout
    assert version_at(port) == "2.0.0"
    [after] = json.loads(ok("config", "list", "--app", "hello", "--json").stdout)
    assert after["id"] == stored["id"]
    assert after["custom_settings"]["port"] == port
