"""The CLI's parts without processes: help with an example everywhere, files and lines, the remote backend's errors."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from uno.core.errors import ErrorCode
from uno.deployment.entrypoints.cli import files
from uno.deployment.entrypoints.cli.main import app
from uno.deployment.entrypoints.cli.remote import RemoteBackend


def commands(group: Any = None, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    group = group or get_command(app)
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("command", commands(), ids=" ".join)
def test_every_command_has_help_with_an_example(command: tuple[str, ...]):
    shown = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})

    assert shown.exit_code == 0
    assert re.search(r"Example: .*uno-deploy ", shown.stdout), shown.stdout


def test_the_commands_the_issue_asks_for_exist_and_completion_is_offered():
    names = {" ".join(command) for command in commands()}
    wanted = "init plan render deploy status history logs rollback approve reject promote abort cancel serve demo down"
    for name in [*wanted.split(), "config create", "config list", "config show", "config update", "config delete"]:
        assert name in names
    assert {"config validate", "db upgrade", "token create", "token list", "token revoke"} <= names
    assert "--install-completion" in CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).stdout


def test_a_file_maps_every_field_path_to_its_line():
    text = "app_name: shop\nresources:\n  cpu_min: 100m\nbuild_command:\n  - make\n  - build\n"

    parsed = files.parse(text, "shop.yaml").value

    assert parsed.origin("resources.cpu_min") == "shop.yaml:3"
    assert parsed.origin("build_command[1]") == "shop.yaml:6"
    assert parsed.origin("resources.memory_max") == "shop.yaml:2"  # the nearest field the file sets
    assert parsed.origin("network.port") == "shop.yaml"
    assert parsed.describe("resources.cpu_min", "is wrong") == "shop.yaml:3: resources.cpu_min: is wrong"


def test_sets_are_yaml_values_nested_by_their_path_and_replace_what_the_file_said():
    parsed = files.parse("app_name: shop\nresources:\n  cpu_min: 100m\n", "shop.yaml").value

    applied = files.apply_sets(
        parsed, ["resources.replicas_min=3", "build_command=[make, build]", "auto_rollback=false", "description="]
    ).value

    assert applied.values == {
        "app_name": "shop",
        "resources": {"cpu_min": "100m", "replicas_min": 3},
        "build_command": ["make", "build"],
        "auto_rollback": False,
        "description": None,
    }
    assert applied.origin("resources.replicas_min") == "--set"
    assert applied.origin("resources.cpu_min") == "shop.yaml:3"
    assert files.apply_sets(parsed, ["app_name.x=1"]).error.message == "--set 'app_name.x=1': app_name is not a mapping"


def test_a_file_naming_sections_as_the_python_api_does_is_sent_with_the_models_names():
    parsed = files.parse('{"app_name": "shop", "resource_requirements": {"cpu_min": "1"}}', "shop.json").value

    assert parsed.model_values() == {"app_name": "shop", "resources": {"cpu_min": "1"}}
    assert parsed.describe("resources.cpu_min", "x") == "shop.json:1: resource_requirements.cpu_min: x"


def backend(answer: Any) -> RemoteBackend:
    return RemoteBackend("http://uno.test", None, transport=httpx.MockTransport(answer))


async def test_a_problem_from_the_server_is_the_services_error_again():
    def answer(request: httpx.Request) -> httpx.Response:
        body = {
            "type": "https://uno-deployment.dev/problems/conflict",
            "title": "Conflict",
            "status": 409,
            "detail": "another deployment of shop to dev is running (dep-1); wait for it or cancel it",
            "code": "CONFLICT",
            "holder": "dep-1",
        }
        return httpx.Response(409, json=body, headers={"content-type": "application/problem+json"})

    refused = await backend(answer).deploy("cfg-1", "")

    assert refused.error.code is ErrorCode.CONFLICT
    assert refused.error.message.startswith("another deployment of shop to dev is running")
    assert refused.error.context == {"holder": "dep-1"}


async def test_no_token_is_named_in_an_unauthenticated_answer_and_a_stranger_is_unavailable():
    def unauthenticated(request: httpx.Request) -> httpx.Response:
        body = {"type": "x", "title": "Unauthorized", "status": 401, "detail": "a bearer token is required"}
        return httpx.Response(401, content=json.dumps(body), headers={"content-type": "application/problem+json"})

    def stranger(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="<html>not here</html>", headers={"content-type": "text/html"})

    refused = await backend(unauthenticated).deployments(None, None, 10)
    confused = await backend(stranger).deployments(None, None, 10)

    assert refused.error.code is ErrorCode.UNAUTHENTICATED
    assert refused.error.message == "a bearer token is required (give --token or set UNO_DEPLOY_TOKEN)"
    assert confused.error.code is ErrorCode.UNAVAILABLE
    assert "did not answer as an uno-deployment API server does (HTTP 404, text/html)" in confused.error.message


async def test_a_refused_connection_and_a_timeout_are_unavailable():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    refused = await backend(refuse).get_config("cfg-1")
    timed_out = await backend(slow).get_config("cfg-1")

    assert refused.error.code is ErrorCode.UNAVAILABLE
    assert refused.error.message == "cannot reach the server at http://uno.test: connection refused"
    assert timed_out.error.message == "the server at http://uno.test did not answer in time"
