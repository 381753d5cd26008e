"""``uno-deploy token`` as an operator uses it: the secret it prints is the one the API accepts.

Commands run in-process (typer's CliRunner) on the SQLite file the conftest points the
settings to; what they stored is checked through the container bootstrap builds, as the
API server would read it.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from uno.core.errors import ErrorCode
from uno.deployment import bootstrap
from uno.deployment.entrypoints.cli.main import app
from uno.deployment.ports.access import Scope
from uno.deployment.settings import Settings

pytestmark = pytest.mark.integration


def uno_deploy(*arguments: str) -> Result:
    return CliRunner().invoke(app, ["token", *arguments])


def created(*arguments: str) -> str:
    made = uno_deploy("create", *arguments)
    assert made.exit_code == 0, made.stderr
    [secret] = made.stdout.splitlines()
    return secret


def authenticate(secret: str, needed: Scope) -> ErrorCode | None:
    """What the API would answer to this secret: None when it lets the request through."""

    async def check() -> ErrorCode | None:
        container = bootstrap.build(Settings())
        try:
            result = await container.access_service.authenticate(secret, needed)
            return None if result.is_success() else result.error.code
        finally:
            await container.aclose()

    return asyncio.run(check())


def test_create_prints_only_the_secret_on_stdout_and_the_api_accepts_it(tmp_path: Path):
    made = uno_deploy("create", "--name", "ci", "--scope", "deploy", "--expires-in-days", "30")

    assert made.exit_code == 0, made.stderr
    [secret] = made.stdout.splitlines()
    assert secret.startswith("uno_")
    assert "will not be shown again" in made.stderr
    assert secret not in made.stderr
    assert (tmp_path / "uno-deploy.db").exists()  # the conftest's store, not the user's
    assert authenticate(secret, Scope.DEPLOY) is None
    assert authenticate(secret, Scope.ADMIN) is ErrorCode.FORBIDDEN


def test_scopes_repeat_and_list_shows_everything_but_the_secret_and_its_digest():
    reader = created("--name", "dashboard", "--scope", "read")
    admin = created("--name", "ops", "--scope", "read", "--scope", "admin", "--expires-in-days", "7")

    listed = uno_deploy("list")

    assert listed.exit_code == 0, listed.stderr
    header, newest, oldest = listed.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "SCOPES", "CREATED", "EXPIRES", "REVOKED"]
    assert newest.startswith("tok-")
    assert newest.split()[1:3] == ["ops", "read,admin"]
    assert oldest.split()[1:3] == ["dashboard", "read"]
    assert oldest.split()[-2:] == ["never", "-"]
    for secret in (reader, admin):
        assert secret not in listed.output
        assert hashlib.sha256(secret.encode()).hexdigest() not in listed.output


def test_revoke_makes_the_secret_useless_and_list_says_when():
    secret = created("--name", "ci", "--scope", "deploy")
    [_, row] = uno_deploy("list").stdout.splitlines()
    token_id = row.split()[0]

    revoked = uno_deploy("revoke", token_id)
    again = uno_deploy("revoke", token_id)

    assert revoked.exit_code == 0, revoked.stderr
    assert revoked.stdout.startswith(f"{token_id} (ci) is revoked since ")
    assert again.stdout == revoked.stdout  # the first time stays
    assert authenticate(secret, Scope.READ) is ErrorCode.UNAUTHENTICATED
    assert uno_deploy("list").stdout.splitlines()[1].split()[-3:] == revoked.stdout.split()[-3:]


def test_an_empty_list_says_how_to_make_a_token_on_stderr():
    listed = uno_deploy("list")

    assert listed.exit_code == 0
    assert listed.stdout == ""
    assert "uno-deploy token create" in listed.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["create", "--name", "x" * 101, "--scope", "read"], "error: name: must be at most 100 characters"),
        (["create", "--name", "ci", "--scope", "read", "--expires-in-days", "0"], "error: expires_in_days: "),
        (["revoke", "tok-missing"], "error: token 'tok-missing' not found"),
        (["list", "--url", "memory://"], "error: the memory store forgets tokens"),
    ],
)
def test_a_refusal_is_one_line_on_stderr_and_exit_code_2(arguments: list[str], message: str):
    refused = uno_deploy(*arguments)

    assert refused.exit_code == 2
    assert refused.stdout == ""
    [line] = refused.stderr.splitlines()
    assert line.startswith(message)


def test_an_unknown_scope_is_a_usage_error():
    refused = uno_deploy("create", "--name", "ci", "--scope", "root")

    assert refused.exit_code == 2
    assert refused.stdout == ""
    assert "'root' is not one of" in refused.stderr


def test_an_unreachable_store_is_exit_code_3_without_the_password():
    failed = uno_deploy("list", "--url", "postgresql://someone:hunter2@127.0.0.1:1/nothing")

    assert failed.exit_code == 3
    [line] = failed.stderr.splitlines()
    assert line.startswith("error: the store at postgresql+psycopg://someone:***@127.0.0.1:1/nothing failed:")
    assert "hunter2" not in failed.output
